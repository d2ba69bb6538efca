/* SPDX-License-Identifier: MIT */
/*
 * Stores. One conformance suite that every store passes unchanged (memory,
 * a disk pool in a temporary directory, and RADOS where a test cluster
 * runs): backing runs, bytes through
 * write and read at every alignment, pages given back and reused, slots
 * distinct, backing_free moving with what is backed, and I/O errors passed
 * on (through the faulty wrapper of unit.c). Then what only the memory store
 * promises: pages freed in bulk return their memory, free resident pages
 * count as backing; and what only the disk store promises: the pool has no
 * name, its blocks come back to the filesystem, and directories it cannot
 * use are refused.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store.h"

#define PAGE 4096u
#define MANY 40000u /* more than twice the memory store's resident free-page cache */

static char tmpdir[64];

/*
 * 0 memory, 1 disk, 2 RADOS: a pool of the test cluster tests/run starts
 * (SPARSEFS_CEPH_CONF, SPARSEFS_CEPH_POOL); skipped where there is none.
 */
static struct store *make(int kind)
{
	struct store *st;

	if (kind == 2) {
#ifdef SPARSEFS_RADOS
		const char *conf = getenv("SPARSEFS_CEPH_CONF"), *pool = getenv("SPARSEFS_CEPH_POOL");
		struct store_rados_opts o = { pool ? pool : "sparsefs", conf, NULL, NULL, 30 };

		if (!conf || !*conf) {
			printf("# rados: no test cluster (SPARSEFS_CEPH_CONF): skipped\n");
			skip();
		}
		st = store_rados_create(&o);
		assert_non_null(st);
		assert_ok(store_start(st));
		return st;
#else
		printf("# rados: built without librados: skipped\n");
		skip();
#endif
	}
	st = kind ? store_disk_create(tmpdir) : store_mem_create();
	assert_non_null(st);
	assert_ok(store_start(st));
	return st;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 7 + seed * 13) % 251 + 1);
}

/* Writes a whole page and reads it back through every alignment. */
static void check_bytes(struct store *st, uint64_t idx, uintptr_t slot, unsigned seed)
{
	char want[PAGE], got[PAGE];
	struct store_seg w = { idx, slot, 0, PAGE, want };

	fill(want, PAGE, seed);
	assert_ok(store_write(st, 1, &w, 1));
	for (uint32_t off = 0; off < PAGE; off += 1021) {
		uint32_t len = PAGE - off < 777 ? PAGE - off : 777;
		struct store_seg r = { idx, slot, off, len, got };

		memset(got, 0, PAGE);
		assert_ok(store_read(st, 1, &r, 1));
		assert_memory_equal(got, want + off, len);
	}
	/* A partial write changes just its bytes. */
	memset(got, 0x5a, 100);
	w = (struct store_seg){ idx, slot, 1000, 100, got };
	assert_ok(store_write(st, 1, &w, 1));
	memcpy(want + 1000, got, 100);
	w = (struct store_seg){ idx, slot, 0, PAGE, got };
	assert_ok(store_read(st, 1, &w, 1));
	assert_memory_equal(got, want, PAGE);
}

static void conformance(int kind)
{
	struct store *st = make(kind);
	enum { N = 300 };
	uintptr_t slots[N], more[N];
	struct store_seg segs[N];
	char *buf = malloc((size_t)N * PAGE), *got = malloc((size_t)N * PAGE);
	struct store_size sz;
	struct store_about ab;

	assert_non_null(buf);
	assert_non_null(got);
	/* A run backed in one call: distinct slots, never STORE_NO_SLOT. */
	assert_ok(store_back(st, 1, 0, N, slots));
	for (size_t i = 0; i < N; i++) {
		assert_true(slots[i] != STORE_NO_SLOT);
		for (size_t j = 0; j < i; j += 17)
			assert_true(slots[i] != slots[j]);
	}
	for (size_t i = 0; i < N; i += 37)
		check_bytes(st, i, slots[i], (unsigned)i);
	/* Many segments in one call, one byte range each page. */
	fill(buf, (size_t)N * PAGE, 3);
	for (size_t i = 0; i < N; i++)
		segs[i] = (struct store_seg){ i, slots[i], 0, PAGE, buf + i * PAGE };
	assert_ok(store_write(st, 1, segs, N));
	for (size_t i = 0; i < N; i++)
		segs[i].buf = got + i * PAGE;
	assert_ok(store_read(st, 1, segs, N));
	assert_memory_equal(got, buf, (size_t)N * PAGE);
	/* Every other page given back, singly; the rest keep their bytes. */
	for (size_t i = 0; i < N; i += 2)
		store_unback(st, 1, i, 1, &slots[i]);
	for (size_t i = 1; i < N; i += 2) {
		struct store_seg r = { i, slots[i], 0, PAGE, got };

		assert_ok(store_read(st, 1, &r, 1));
		assert_memory_equal(got, buf + i * PAGE, PAGE);
	}
	/* Slots given back are reused without disturbing those still held. */
	assert_ok(store_back(st, 2, 0, N / 2, more));
	for (size_t i = 0; i < N / 2; i++) {
		struct store_seg w = { i, more[i], 0, PAGE, buf };

		for (size_t j = 1; j < N; j += 2)
			assert_true(more[i] != slots[j]);
		assert_ok(store_write(st, 2, &w, 1));
	}
	for (size_t i = 1; i < N; i += 2) {
		struct store_seg r = { i, slots[i], 0, PAGE, got };

		assert_ok(store_read(st, 1, &r, 1));
		assert_memory_equal(got, buf + i * PAGE, PAGE);
	}
	store_unback(st, 2, 0, N / 2, more);
	for (size_t i = 1; i < N; i += 2)
		store_unback(st, 1, i, 1, &slots[i]);
	/* Figures: a size, a free figure, a description naming the store. */
	assert_ok(store_size(st, &sz));
	assert_true(sz.pct_base > 0);
	assert_true(sz.default_bytes > 0 && sz.default_bytes % PAGE == 0);
	assert_true(store_backing_free(st) > 0);
	store_about(st, &ab);
	assert_non_null(ab.where);
	assert_non_null(ab.fstype);
	assert_non_null(ab.shared);
	printf("# %s: %s on %s, shared with %s\n", st->ops->name, ab.where, ab.fstype, ab.shared);
	for (const char *const *f = st->ops->figures; f && *f; f++) {
		uint64_t v;

		assert_ok(store_figure(st, *f, &v));
		printf("#   %s = %llu\n", *f, (unsigned long long)v);
	}
	assert_int_equal(store_figure(st, "no such figure", &(uint64_t){ 0 }), -ENODATA);
	store_destroy(st);
	free(buf);
	free(got);
}

static void test_conformance_memory(void **state)
{
	(void)state;
	conformance(0);
}

static void test_conformance_disk(void **state)
{
	(void)state;
	conformance(1);
}

static void test_conformance_rados(void **state)
{
	(void)state;
	conformance(2);
}

/*
 * Churn: threads back, write, overwrite, read back and give back pages at
 * random, each on pages of its own, so that a store that moves or reuses
 * places behind the caller's back (RADOS compacts its slab objects) is
 * caught handing one page another's bytes. Every read is checked.
 */
#define CHURN_THREADS 4
#define CHURN_PAGES 300 /* per thread */

struct churn {
	struct store *st;
	unsigned id;
	uint64_t seed;
	unsigned ops, bad;
};

static void churn_fill(char *p, uint64_t tag)
{
	for (size_t i = 0; i < PAGE; i += 8)
		memcpy(p + i, &tag, 8);
	tag ^= 0x5a5a5a5a5a5a5a5aULL;
	memcpy(p + PAGE - 8, &tag, 8);
}

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	struct rng r = { c->seed };
	uintptr_t slot[CHURN_PAGES] = { 0 };
	uint64_t tag[CHURN_PAGES] = { 0 }; /* 0: reserved, bytes unknown */
	char page[PAGE], want[PAGE];
	uint64_t key = 100 + c->id;

	for (unsigned op = 0; op < c->ops; op++) {
		unsigned i = (unsigned)rng_below(&r, CHURN_PAGES);
		unsigned what = (unsigned)rng_below(&r, 10);
		unsigned n = 1 + (unsigned)rng_below(&r, 8);
		struct store_seg seg = { i, slot[i], 0, PAGE, page };

		if (!slot[i]) {
			/* A run of holes from i gets backing, for a write or reserved. */
			uintptr_t got[8];
			bool write = what < 6;

			while (i + n > CHURN_PAGES)
				n--;
			for (unsigned k = 1; k < n; k++)
				if (slot[i + k]) {
					n = k;
					break;
				}
			if ((write ? store_back_for_write(c->st, key, i, n, got)
				   : store_back(c->st, key, i, n, got)) != 0) {
				c->bad++;
				continue;
			}
			for (unsigned k = 0; k < n; k++) {
				slot[i + k] = got[k];
				tag[i + k] = 0;
				if (write) {
					tag[i + k] = r.s | 1;
					churn_fill(page, tag[i + k]);
					seg = (struct store_seg){ i + k, got[k], 0, PAGE, page };
					if (store_write(c->st, key, &seg, 1))
						c->bad++;
					rng_next(&r);
				}
			}
		} else if (what < 3) {
			store_unback(c->st, key, i, 1, &slot[i]);
			slot[i] = 0;
		} else if (what < 6) {
			tag[i] = r.s | 1;
			churn_fill(page, tag[i]);
			if (store_write(c->st, key, &seg, 1))
				c->bad++;
			rng_next(&r);
		} else if (tag[i]) {
			memset(page, 0, PAGE);
			churn_fill(want, tag[i]);
			if (store_read(c->st, key, &seg, 1) || memcmp(page, want, PAGE)) {
				if (!c->bad)
					printf("# churn: thread %u page %u: read not what was written\n",
					       c->id, i);
				c->bad++;
			}
		}
	}
	for (unsigned i = 0; i < CHURN_PAGES; i++)
		if (slot[i])
			store_unback(c->st, key, i, 1, &slot[i]);
	return NULL;
}

static void churn(int kind, unsigned ops)
{
	struct rng r = rng_seed("churn", 0xc4u);
	struct churn c[CHURN_THREADS];
	pthread_t t[CHURN_THREADS];
	struct store *st = make(kind);

	for (unsigned k = 0; k < CHURN_THREADS; k++) {
		c[k] = (struct churn){ st, k, rng_next(&r), ops, 0 };
		assert_int_equal(pthread_create(&t[k], NULL, churn_main, &c[k]), 0);
	}
	for (unsigned k = 0; k < CHURN_THREADS; k++) {
		pthread_join(t[k], NULL);
		assert_int_equal(c[k].bad, 0);
	}
	if (kind == 2) {
		uint64_t moved = 0;

		/* The trimmer's moves ran beside the I/O (given time to catch up). */
		for (int i = 0; i < 50 && !moved; i++, usleep(100000))
			assert_ok(store_figure(st, "moved", &moved));
		printf("# churn: %llu pages moved while the threads ran\n", (unsigned long long)moved);
		assert_true(moved > 0);
	}
	store_destroy(st);
}

static void test_churn_memory(void **state)
{
	(void)state;
	churn(0, 20000);
}

static void test_churn_disk(void **state)
{
	(void)state;
	churn(1, 20000);
}

static void test_churn_rados(void **state)
{
	(void)state;
	churn(2, 20000);
}

/* A backing that fails: the wrapper's errors reach the caller unchanged. */
static void faults(int kind)
{
	struct faulty_store fs;
	uintptr_t slots[4];
	char page[PAGE] = { 1 };
	struct store_seg seg;

	faulty_init(&fs, make(kind));
	fs.back_err = -ENOSPC;
	fs.back_pages = 3;
	assert_int_equal(store_back(&fs.base, 1, 0, 4, slots), -ENOSPC);
	assert_int_equal(fs.live, 0);
	fs.back_pages = -1;
	assert_ok(store_back(&fs.base, 1, 0, 4, slots));
	seg = (struct store_seg){ 0, slots[0], 0, PAGE, page };
	fs.writes = 0;
	assert_int_equal(store_write(&fs.base, 1, &seg, 1), -EIO);
	fs.writes = -1;
	assert_ok(store_write(&fs.base, 1, &seg, 1));
	fs.reads = 0;
	assert_int_equal(store_read(&fs.base, 1, &seg, 1), -EIO);
	fs.reads = -1;
	assert_ok(store_read(&fs.base, 1, &seg, 1));
	store_unback(&fs.base, 1, 0, 4, slots);
	assert_int_equal(fs.live, 0);
	store_destroy(&fs.base);
}

static void test_faults_memory(void **state)
{
	(void)state;
	faults(0);
}

static void test_faults_disk(void **state)
{
	(void)state;
	faults(1);
}

static void test_faults_rados(void **state)
{
	(void)state;
	faults(2);
}

/* ---- the memory store ---- */

static uint64_t rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void test_memory_bulk_free_returns_memory(void **state)
{
	struct store *st = store_mem_create();
	uintptr_t *slots = calloc(MANY, sizeof(*slots));
	uint64_t before, held, after;

	(void)state;
	assert_non_null(slots);
	before = rss_kb();
	assert_ok(store_back(st, 1, 0, MANY, slots));
	held = rss_kb();
	store_unback(st, 1, 0, MANY, slots);
	after = rss_kb();
	/* 40000 pages are 160000 kB, committed when backed; at most 32 MiB of
	 * freed pages stay resident (plus the rest of the last arena). */
	if (held - before < 150000)
		fail_msg("RSS grew only %llu kB for %u pages", (unsigned long long)(held - before),
			 MANY);
	if (after > before + 2 * 32768 + 4096)
		fail_msg("after freeing, RSS %llu kB (was %llu before, %llu held)",
			 (unsigned long long)after, (unsigned long long)before,
			 (unsigned long long)held);
	store_destroy(st);
	free(slots);
}

/* Free pages with memory count as backing; pages given back do not. */
static void test_memory_resident_free(void **state)
{
	struct store *st = store_mem_create();
	uintptr_t *slots = calloc(MANY, sizeof(*slots));
	struct meminfo mi;
	uint64_t b0, b1;

	(void)state;
	assert_non_null(slots);
	store_mem_meminfo(&mi);
	assert_true(mi.total > 0 && mi.available > 0);
	assert_ok(store_back(st, 1, 0, 1, slots));
	/* The rest of the first arena (2 MiB, populated at once) is ours. */
	b0 = store_backing_free(st);
	store_mem_meminfo(&mi);
	b1 = (mi.available + mi.swap_free) / PAGE;
	if (b0 < b1 + 511 - 64 || b0 > b1 + 511 + 64)
		fail_msg("backing_free %llu, MemAvailable+SwapFree %llu pages",
			 (unsigned long long)b0, (unsigned long long)b1);
	store_unback(st, 1, 0, 1, slots);
	store_destroy(st);
	free(slots);
}

/* ---- the disk store ---- */

static uint64_t dir_avail_pages(void)
{
	struct statvfs sv;

	assert_ok(statvfs(tmpdir, &sv));
	return (uint64_t)sv.f_bavail * sv.f_frsize / PAGE;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* Backing takes the filesystem's blocks; giving back returns them (past a cache). */
static void test_disk_blocks(void **state)
{
	struct store *st = make(1);
	enum { N = 40000 }; /* 156 MiB: more than the 64 MiB cache */
	uintptr_t *slots = calloc(N, sizeof(*slots));
	uint64_t a0, a1, a2;

	(void)state;
	assert_non_null(slots);
	a0 = dir_avail_pages();
	assert_ok(store_back(st, 1, 0, N, slots));
	a1 = dir_avail_pages();
	if (a0 - a1 < N - 256)
		fail_msg("backing %u pages took only %llu of the disk's", N,
			 (unsigned long long)(a0 - a1));
	store_unback(st, 1, 0, N, slots);
	a2 = dir_avail_pages();
	/* At most the cache (16384 pages) stays allocated, and counts as ours. */
	if (a0 - a2 > 16384 + 256)
		fail_msg("after giving back, %llu pages still taken", (unsigned long long)(a0 - a2));
	assert_true(store_backing_free(st) >= a2 + 16384 - 256);
	/* Nothing in the directory: the pool has no name. */
	assert_int_equal(entries(tmpdir), 0);
	store_destroy(st);
	free(slots);
}

static void test_disk_refused(void **state)
{
	char file[128];
	int fd;

	(void)state;
	assert_null(store_disk_create("/nonexistent-sparsefs-dir"));
	snprintf(file, sizeof(file), "%s/file", tmpdir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(store_disk_create(file));
	unlink(file);
}

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/sparsefs-store.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * The registry: backing= names each kind one way, memory is the default, a
 * path is a directory's, and no two kinds claim the same -o option.
 */
static void test_registry(void **state)
{
	const char *where;

	(void)state;
	assert_ptr_equal(store_kind_of(NULL, &where), &store_kind_memory);
	assert_ptr_equal(store_kind_of("memory", &where), &store_kind_memory);
	assert_string_equal(where, "");
	assert_ptr_equal(store_kind_of("rados:scratch", &where), &store_kind_rados);
	assert_string_equal(where, "scratch");
	assert_ptr_equal(store_kind_of("/var/tmp", &where), &store_kind_disk);
	assert_string_equal(where, "/var/tmp");
	assert_ptr_equal(store_kind_of("relative/dir", &where), &store_kind_disk);
	assert_null(store_kind_of("", &where));
	for (const struct store_kind *const *k = store_registry; *k; k++) {
		assert_non_null((*k)->create);
		for (const struct store_option *o = (*k)->options; o->name; o++)
			for (const struct store_kind *const *j = store_registry; *j; j++)
				for (const struct store_option *p = (*j)->options; p->name; p++)
					if (o != p)
						assert_string_not_equal(o->name, p->name);
	}
	/* The kernel path: the local stores have kernel files, RADOS has none. */
	assert_non_null(store_kind_memory.create_kernel);
	assert_non_null(store_kind_disk.create_kernel);
	assert_null(store_kind_rados.create_kernel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_conformance_memory),
		cmocka_unit_test(test_conformance_disk),
		cmocka_unit_test(test_faults_memory),
		cmocka_unit_test(test_faults_disk),
		cmocka_unit_test(test_conformance_rados),
		cmocka_unit_test(test_faults_rados),
		cmocka_unit_test(test_churn_memory),
		cmocka_unit_test(test_churn_disk),
		cmocka_unit_test(test_churn_rados),
		cmocka_unit_test(test_memory_bulk_free_returns_memory),
		cmocka_unit_test(test_memory_resident_free),
		cmocka_unit_test(test_disk_blocks),
		cmocka_unit_test(test_disk_refused),
	};

	return cmocka_run_group_tests_name("store", tests, make_tmpdir, remove_tmpdir);
}
