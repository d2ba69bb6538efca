/* SPDX-License-Identifier: MIT */
/*
 * dir: add/lookup/remove, name limits, cookies, compaction, growth of the
 * hash, and readdir resumed by cookie while the directory changes between
 * calls. dir_check after every change. Entries point at made-up inodes,
 * never dereferenced.
 */
#include <errno.h>
#include <string.h>

#include "dir.h"
#include "unit.h"

static struct inode *fake(size_t i)
{
	return (struct inode *)(uintptr_t)(0x10000 + 16 * i);
}

static void ck(const struct dir *d)
{
	assert_int_equal(dir_check(d), 0);
}

static struct dentry *add(struct dir *d, const char *name, size_t id)
{
	struct dentry *de = NULL;

	assert_int_equal(dir_add(d, name, strlen(name), fake(id), &de), 0);
	ck(d);
	assert_non_null(de);
	assert_ptr_equal(dir_lookup(d, name, strlen(name)), de);
	return de;
}

static void rm(struct dir *d, const char *name)
{
	struct dentry *de = dir_lookup(d, name, strlen(name));

	assert_non_null(de);
	dir_remove(d, de);
	ck(d);
	assert_null(dir_lookup(d, name, strlen(name)));
}

static void test_basic(void **state)
{
	struct dir d;
	struct dentry *a, *b, *de;

	(void)state;
	dir_init(&d);
	ck(&d);
	assert_null(dir_lookup(&d, "a", 1));
	assert_null(dir_next(&d, 0));
	a = add(&d, "a", 1);
	b = add(&d, "bb", 2);
	assert_int_equal(d.count, 2);
	assert_string_equal(a->name, "a");
	assert_int_equal(a->len, 1);
	assert_ptr_equal(a->inode, fake(1));
	assert_int_equal(a->cookie, DIR_FIRST_COOKIE);
	assert_int_equal(b->cookie, DIR_FIRST_COOKIE + 1);
	/* Lookup compares the whole name, by length. */
	assert_ptr_equal(dir_lookup(&d, "bbb", 2), b);
	assert_null(dir_lookup(&d, "b", 1));
	assert_null(dir_lookup(&d, "bb", 1));
	assert_null(dir_lookup(&d, "bbb", 3));
	assert_null(dir_lookup(&d, "c", 1));
	/* A name is len bytes: the input needs no NUL, the entry has one. */
	{
		char raw[4] = { 'x', 'y', 'z', 'w' };

		assert_int_equal(dir_add(&d, raw, 3, fake(4), &de), 0);
		ck(&d);
		assert_string_equal(de->name, "xyz");
		assert_ptr_equal(dir_lookup(&d, "xyz", 3), de);
	}
	/* readdir order is insertion order. */
	assert_ptr_equal(dir_next(&d, 0), a);
	assert_ptr_equal(dir_next(&d, a->cookie), a);
	assert_ptr_equal(dir_next(&d, a->cookie + 1), b);
	rm(&d, "a");
	assert_int_equal(d.count, 2);
	assert_ptr_equal(dir_next(&d, 0), b);
	assert_ptr_equal(dir_lookup(&d, "bb", 2), b);
	rm(&d, "bb");
	rm(&d, "xyz");
	assert_int_equal(d.count, 0);
	assert_null(dir_next(&d, 0));
	/* Cookies are never reused, even in an emptied directory. */
	a = add(&d, "a", 1);
	assert_true(a->cookie > DIR_FIRST_COOKIE + 2);
	dir_destroy(&d);
	ck(&d);
	assert_int_equal(d.count, 0);
}

static void test_name_limits(void **state)
{
	char name[300];
	struct dir d;
	struct dentry *de = NULL;

	(void)state;
	dir_init(&d);
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	add(&d, name, 1);
	name[255] = 'n';
	name[256] = '\0';
	assert_int_equal(dir_add(&d, name, 256, fake(2), &de), -ENAMETOOLONG);
	assert_null(de);
	assert_int_equal(dir_add(&d, name, 299, fake(2), NULL), -ENAMETOOLONG);
	ck(&d);
	assert_int_equal(d.count, 1);
	assert_null(dir_lookup(&d, name, 256));
	de = dir_lookup(&d, name, 255);
	assert_non_null(de);
	assert_int_equal(de->len, 255);
	assert_int_equal(strlen(de->name), 255);
	/* One byte is a name. */
	add(&d, "x", 3);
	dir_destroy(&d);
}

/* Removing many entries and adding again squeezes out the dead slots but
 * keeps the order. */
static void test_compaction(void **state)
{
	char name[32];
	struct dir d;
	size_t order[200], n = 0;
	uint64_t last;

	(void)state;
	dir_init(&d);
	for (size_t i = 0; i < 128; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		add(&d, name, i);
	}
	assert_int_equal(d.norder, 128);
	for (size_t i = 0; i < 128; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		if (i % 5)
			rm(&d, name);
		else
			order[n++] = i;
	}
	assert_int_equal(d.count, 26);
	for (size_t i = 128; i < 160; i++) {
		snprintf(name, sizeof(name), "f%zu", i);
		add(&d, name, i);
		order[n++] = i;
	}
	/* More than half were dead and the array was full: it was compacted. */
	assert_true(d.norder < 128);
	last = 0;
	for (size_t i = 0; i < n; i++) {
		struct dentry *de = dir_next(&d, last);

		snprintf(name, sizeof(name), "f%zu", order[i]);
		assert_non_null(de);
		assert_string_equal(de->name, name);
		assert_ptr_equal(de->inode, fake(order[i]));
		assert_true(de->cookie >= last);
		last = de->cookie + 1;
	}
	assert_null(dir_next(&d, last));
	dir_destroy(&d);
}

static void test_many(void **state)
{
	enum { N = 10000 };
	struct rng r = rng_seed("many", 0x5EED0101);
	size_t *perm = malloc(N * sizeof(*perm)), longest = 0;
	char name[32];
	struct dir d;

	(void)state;
	assert_non_null(perm);
	dir_init(&d);
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "file-%05zu", i);
		add(&d, name, i);
		assert_int_equal(d.count, i + 1);
	}
	for (size_t i = 0; i < N; i++) {
		struct dentry *de;

		snprintf(name, sizeof(name), "file-%05zu", i);
		de = dir_lookup(&d, name, strlen(name));
		assert_non_null(de);
		assert_ptr_equal(de->inode, fake(i));
	}
	/* The hash grew with the entries: chains stay short. */
	assert_true(d.nbuckets >= 4096);
	assert_int_equal(d.nbuckets & (d.nbuckets - 1), 0);
	for (size_t b = 0; b < d.nbuckets; b++) {
		size_t len = 0;

		for (struct dentry *de = d.buckets[b]; de; de = de->hnext)
			len++;
		if (len > longest)
			longest = len;
	}
	printf("# %d entries: %zu buckets, longest chain %zu\n", N, d.nbuckets, longest);
	assert_true(longest < 16);

	for (size_t i = 0; i < N; i++)
		perm[i] = i;
	for (size_t i = N; i > 1; i--) {
		size_t j = rng_below(&r, i), t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "file-%05zu", perm[i]);
		rm(&d, name);
		assert_int_equal(d.count, N - i - 1);
	}
	assert_null(dir_next(&d, 0));
	dir_destroy(&d);
	free(perm);
}

/*
 * A listing resumed by cookie, a few entries per call, while entries come and
 * go between calls: every entry that exists throughout is seen exactly once,
 * none twice, and none after it was removed.
 */
static void test_readdir_churn(void **state)
{
	enum { IDS = 20000 };
	struct rng r = rng_seed("readdir_churn", 0x5EED0102);
	bool *live = calloc(IDS, 1), *throughout = calloc(IDS, 1);
	unsigned *seen = calloc(IDS, sizeof(unsigned));
	size_t next_id = 0, compactions = 0;
	char name[32];
	struct dir d;

	(void)state;
	assert_non_null(live);
	assert_non_null(throughout);
	assert_non_null(seen);
	dir_init(&d);
	for (; next_id < 500; next_id++) {
		snprintf(name, sizeof(name), "e%zu", next_id);
		add(&d, name, next_id);
		live[next_id] = true;
	}
	for (int round = 0; round < 12; round++) {
		uint64_t cookie = round % 2 ? 0 : DIR_FIRST_COOKIE, last_cookie = 0;
		size_t norder = d.norder;

		memcpy(throughout, live, IDS);
		memset(seen, 0, IDS * sizeof(unsigned));
		for (;;) {
			size_t batch = 1 + rng_below(&r, 10), got = 0;
			struct dentry *de = NULL;

			while (got < batch && (de = dir_next(&d, cookie))) {
				size_t id = strtoul(de->name + 1, NULL, 10);

				assert_true(id < next_id);
				assert_true(live[id]);
				assert_ptr_equal(de->inode, fake(id));
				assert_true(de->cookie > last_cookie);
				last_cookie = de->cookie;
				seen[id]++;
				cookie = de->cookie + 1;
				got++;
			}
			if (!de)
				break;
			/* Change the directory between two calls: remove some
			 * (seen or not), add some. Rounds alternate growing and
			 * shrinking, so the order array both grows and compacts. */
			for (int k = (int)rng_below(&r, 6); k > 0; k--) {
				size_t id = rng_below(&r, next_id);

				if (!live[id])
					continue;
				snprintf(name, sizeof(name), "e%zu", id);
				rm(&d, name);
				live[id] = false;
				throughout[id] = false;
			}
			for (int k = (int)rng_below(&r, round % 3 == 2 ? 2 : 7); k > 0; k--) {
				if (next_id == IDS)
					break;
				snprintf(name, sizeof(name), "e%zu", next_id);
				add(&d, name, next_id);
				live[next_id++] = true;
			}
			if (d.norder < norder)
				compactions++;
			norder = d.norder;
		}
		for (size_t id = 0; id < next_id; id++) {
			assert_true(seen[id] <= 1);
			if (throughout[id] && seen[id] != 1) {
				fprintf(stderr, "round %d: e%zu existed throughout, seen %u times\n",
					round, id, seen[id]);
				fail();
			}
		}
		/* Thin it out between rounds. */
		for (size_t id = 0; id < next_id; id++) {
			if (live[id] && rng_below(&r, 3) == 0) {
				snprintf(name, sizeof(name), "e%zu", id);
				rm(&d, name);
				live[id] = false;
			}
		}
	}
	printf("# readdir_churn: %zu ids, %zu live, %zu compactions seen\n", next_id, d.count,
	       compactions);
	assert_true(compactions > 0);
	dir_destroy(&d);
	free(live);
	free(throughout);
	free(seen);
}

/* dir_add out of memory changes nothing that can be seen. */
static void test_enomem(void **state)
{
	char name[32];
	struct dir d;
	unsigned failures = 0;

	(void)state;
	dir_init(&d);
	for (size_t i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "n%zu", i);
		if (i % 3 == 2) {
			snprintf(name, sizeof(name), "n%zu", i - 1);
			rm(&d, name);
			snprintf(name, sizeof(name), "n%zu", i);
		}
		for (long n = 0;; n++) {
			size_t count = d.count;
			int ret;

			failalloc_nth(n);
			ret = dir_add(&d, name, strlen(name), fake(i), NULL);
			failalloc_off();
			ck(&d);
			if (ret == 0)
				break;
			assert_int_equal(ret, -ENOMEM);
			assert_true(failalloc_fired());
			assert_int_equal(d.count, count);
			assert_null(dir_lookup(&d, name, strlen(name)));
			failures++;
		}
		assert_ptr_equal(dir_lookup(&d, name, strlen(name))->inode, fake(i));
	}
	assert_true(failures >= 300);
	dir_destroy(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_readdir_churn),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests_name("dir", tests, NULL, NULL);
}
