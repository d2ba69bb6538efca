/* SPDX-License-Identifier: MIT */
/*
 * pagemap: states, find/find_not across leaf (64-page) and node boundaries,
 * the ends of the index space, teardown to an empty map, memory overhead, and
 * a randomized run against a plain sorted-array model.
 *
 * Page pointers are opaque to the map, so most tests use made-up non-NULL
 * tokens and never dereference them.
 */
#include <errno.h>
#include <string.h>

#include "pagemap.h"
#include "unit.h"

#define MAX PAGEMAP_MAX_INDEX

/* A distinct non-NULL pointer for page idx; never dereferenced. */
static void *tok(uint64_t idx, unsigned gen)
{
	return (void *)(uintptr_t)(((idx * 8 + gen) << 4) | 8);
}

static void check(const struct pagemap *pm)
{
	assert_int_equal(pagemap_check(pm), 0);
}

static void set_ok(struct pagemap *pm, uint64_t idx, enum pm_state st, void *page)
{
	assert_int_equal(pagemap_set(pm, idx, st, page, NULL), 0);
	check(pm);
}

/* ---- reference model: a sorted array of present pages ---- */

struct ent {
	uint64_t idx;
	enum pm_state st;
	void *page;
};

struct model {
	struct ent *v;
	size_t n, cap;
	uint64_t nr_data, nr_resv;
};

static size_t model_lb(const struct model *m, uint64_t idx)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void model_count(struct model *m, enum pm_state st, int d)
{
	if (st == PM_DATA)
		m->nr_data += (uint64_t)(int64_t)d;
	else if (st == PM_RESERVED)
		m->nr_resv += (uint64_t)(int64_t)d;
}

static void model_set(struct model *m, uint64_t idx, enum pm_state st, void *page)
{
	size_t i = model_lb(m, idx);
	bool present = i < m->n && m->v[i].idx == idx;

	if (present) {
		model_count(m, m->v[i].st, -1);
		if (st == PM_HOLE) {
			memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
			m->n--;
			return;
		}
		m->v[i].st = st;
		m->v[i].page = page;
		model_count(m, st, 1);
		return;
	}
	if (st == PM_HOLE)
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		assert_non_null(m->v);
	}
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
	m->v[i] = (struct ent){ idx, st, page };
	m->n++;
	model_count(m, st, 1);
}

static enum pm_state model_get(const struct model *m, uint64_t idx, void **page)
{
	size_t i = model_lb(m, idx);

	if (i < m->n && m->v[i].idx == idx) {
		*page = m->v[i].page;
		return m->v[i].st;
	}
	*page = NULL;
	return PM_HOLE;
}

static bool model_find(const struct model *m, uint64_t from, unsigned mask, uint64_t *out)
{
	for (size_t i = model_lb(m, from); i < m->n; i++) {
		if (m->v[i].st & mask) {
			*out = m->v[i].idx;
			return true;
		}
	}
	return false;
}

static uint64_t model_find_not(const struct model *m, uint64_t from, unsigned mask)
{
	uint64_t p = from;

	if (from > MAX)
		return from;
	for (size_t i = model_lb(m, from); i < m->n && m->v[i].idx == p && (m->v[i].st & mask);
	     i++)
		p++;
	return p;
}

/* find and find_not from `from` with every mask agree with the model. */
static void compare_finds(const struct pagemap *pm, const struct model *m, uint64_t from)
{
	static const unsigned masks[] = { PM_DATA, PM_RESERVED, PM_ANY };

	for (size_t k = 0; k < 3; k++) {
		uint64_t got = UINT64_MAX, want = UINT64_MAX;
		bool g = pagemap_find(pm, from, masks[k], &got);
		bool w = model_find(m, from, masks[k], &want);

		if (g != w || (g && got != want)) {
			fprintf(stderr, "find(%#llx, mask %u): got %d/%#llx, want %d/%#llx\n",
				(unsigned long long)from, masks[k], g, (unsigned long long)got, w,
				(unsigned long long)want);
			fail();
		}
		got = pagemap_find_not(pm, from, masks[k]);
		want = model_find_not(m, from, masks[k]);
		if (got != want) {
			fprintf(stderr, "find_not(%#llx, mask %u): got %#llx, want %#llx\n",
				(unsigned long long)from, masks[k], (unsigned long long)got,
				(unsigned long long)want);
			fail();
		}
	}
}

/* Every page of the model reads back, and walking the map finds exactly them. */
static void compare_all(const struct pagemap *pm, const struct model *m)
{
	uint64_t idx, from = 0;
	size_t i = 0;

	assert_int_equal(pm->nr_data, m->nr_data);
	assert_int_equal(pm->nr_reserved, m->nr_resv);
	while (from <= MAX && pagemap_find(pm, from, PM_ANY, &idx)) {
		void *page;

		assert_true(i < m->n);
		assert_int_equal(idx, m->v[i].idx);
		assert_int_equal(pagemap_get(pm, idx, &page), m->v[i].st);
		assert_ptr_equal(page, m->v[i].page);
		i++;
		from = idx + 1;
	}
	assert_int_equal(i, m->n);
}

/* ---- tests ---- */

static void test_empty(void **state)
{
	struct pagemap pm;
	void *page = tok(1, 1);
	uint64_t idx = 12345;

	(void)state;
	pagemap_init(&pm);
	check(&pm);
	assert_int_equal(pagemap_get(&pm, 0, &page), PM_HOLE);
	assert_null(page);
	assert_int_equal(pagemap_get(&pm, MAX, NULL), PM_HOLE);
	assert_false(pagemap_find(&pm, 0, PM_ANY, &idx));
	assert_false(pagemap_find(&pm, 0, PM_DATA, &idx));
	assert_false(pagemap_find(&pm, 0, PM_RESERVED, &idx));
	assert_int_equal(idx, 12345);
	assert_int_equal(pagemap_find_not(&pm, 0, PM_ANY), 0);
	assert_int_equal(pagemap_find_not(&pm, MAX, PM_ANY), MAX);
	assert_int_equal(pagemap_find_not(&pm, MAX + 5, PM_ANY), MAX + 5);
	assert_int_equal(pagemap_overhead(&pm), 0);
	/* Removing what is not there is not an error. */
	assert_int_equal(pagemap_set(&pm, 77, PM_HOLE, NULL, &page), 0);
	assert_null(page);
	assert_null(pm.root);
	check(&pm);
	pagemap_destroy(&pm, NULL, NULL);
}

static void test_states(void **state)
{
	static const uint64_t where[] = {
		0, 1, 63, 64, 65, 127, 4095, 4096, 262143, 262144, (1ULL << 24) - 1, 1ULL << 24,
		1ULL << 40, (1ULL << 45) + 17, MAX - 64, MAX - 63, MAX - 1, MAX,
	};
	size_t n = sizeof(where) / sizeof(where[0]);
	struct pagemap pm;
	void *page, *old;

	(void)state;
	pagemap_init(&pm);
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = where[i];

		/* hole -> data */
		old = tok(0, 7);
		assert_int_equal(pagemap_set(&pm, idx, PM_DATA, tok(idx, 0), &old), 0);
		assert_null(old);
		check(&pm);
		assert_int_equal(pagemap_get(&pm, idx, &page), PM_DATA);
		assert_ptr_equal(page, tok(idx, 0));
		assert_int_equal(pm.nr_data, 1);
		assert_int_equal(pm.nr_reserved, 0);
		/* data -> reserved without memory: the old page comes back */
		assert_int_equal(pagemap_set(&pm, idx, PM_RESERVED, NULL, &old), 0);
		assert_ptr_equal(old, tok(idx, 0));
		check(&pm);
		assert_int_equal(pagemap_get(&pm, idx, &page), PM_RESERVED);
		assert_null(page);
		assert_int_equal(pm.nr_data, 0);
		assert_int_equal(pm.nr_reserved, 1);
		/* reserved -> reserved with memory */
		assert_int_equal(pagemap_set(&pm, idx, PM_RESERVED, tok(idx, 1), &old), 0);
		assert_null(old);
		check(&pm);
		assert_int_equal(pagemap_get(&pm, idx, &page), PM_RESERVED);
		assert_ptr_equal(page, tok(idx, 1));
		/* reserved -> data */
		assert_int_equal(pagemap_set(&pm, idx, PM_DATA, tok(idx, 2), &old), 0);
		assert_ptr_equal(old, tok(idx, 1));
		check(&pm);
		assert_int_equal(pm.nr_data, 1);
		assert_int_equal(pm.nr_reserved, 0);
		/* Neighbours are untouched holes. */
		if (idx > 0)
			assert_int_equal(pagemap_get(&pm, idx - 1, NULL), PM_HOLE);
		if (idx < MAX)
			assert_int_equal(pagemap_get(&pm, idx + 1, NULL), PM_HOLE);
		/* data -> hole */
		assert_int_equal(pagemap_set(&pm, idx, PM_HOLE, NULL, &old), 0);
		assert_ptr_equal(old, tok(idx, 2));
		check(&pm);
		assert_int_equal(pagemap_get(&pm, idx, &page), PM_HOLE);
		assert_null(page);
		assert_int_equal(pm.nr_data + pm.nr_reserved, 0);
		assert_null(pm.root);
		assert_int_equal(pagemap_overhead(&pm), 0);
	}

	/* All of them at once, each in its own state. */
	for (size_t i = 0; i < n; i++)
		set_ok(&pm, where[i], i % 2 ? PM_RESERVED : PM_DATA, tok(where[i], 3));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pagemap_get(&pm, where[i], &page), i % 2 ? PM_RESERVED : PM_DATA);
		assert_ptr_equal(page, tok(where[i], 3));
	}
	assert_int_equal(pm.nr_data, (n + 1) / 2);
	assert_int_equal(pm.nr_reserved, n / 2);
	pagemap_destroy(&pm, NULL, NULL);
	assert_null(pm.root);
	check(&pm);
}

static void test_invalid(void **state)
{
	struct pagemap pm;
	void *old;

	(void)state;
	pagemap_init(&pm);
	set_ok(&pm, 5, PM_DATA, tok(5, 0));
	assert_int_equal(pagemap_set(&pm, MAX + 1, PM_DATA, tok(1, 0), NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, MAX + 1, PM_RESERVED, NULL, NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, UINT64_MAX, PM_DATA, tok(1, 0), NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, 1ULL << 62, PM_RESERVED, NULL, NULL), -EINVAL);
	/* data needs a page; a hole has none; 3 is no state */
	assert_int_equal(pagemap_set(&pm, 6, PM_DATA, NULL, NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, 5, PM_DATA, NULL, NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, 5, PM_HOLE, tok(5, 1), NULL), -EINVAL);
	assert_int_equal(pagemap_set(&pm, 5, (enum pm_state)3, tok(5, 1), NULL), -EINVAL);
	check(&pm);
	/* Nothing changed. */
	assert_int_equal(pagemap_get(&pm, 5, &old), PM_DATA);
	assert_ptr_equal(old, tok(5, 0));
	assert_int_equal(pagemap_get(&pm, 6, NULL), PM_HOLE);
	assert_int_equal(pm.nr_data, 1);
	assert_int_equal(pm.nr_reserved, 0);
	assert_int_equal(pagemap_get(&pm, MAX + 1, NULL), PM_HOLE);
	assert_int_equal(pagemap_get(&pm, UINT64_MAX, NULL), PM_HOLE);
	/* The tree did not grow for the refused index. */
	assert_true(pagemap_overhead(&pm) < 256);
	pagemap_destroy(&pm, NULL, NULL);
}

static void test_find_boundaries(void **state)
{
	struct pagemap pm;
	uint64_t idx;

	(void)state;
	pagemap_init(&pm);
	set_ok(&pm, 62, PM_DATA, tok(62, 0));
	set_ok(&pm, 63, PM_RESERVED, NULL);      /* last page of leaf 0 */
	set_ok(&pm, 64, PM_DATA, tok(64, 0));    /* first page of leaf 1 */
	set_ok(&pm, 127, PM_RESERVED, NULL);
	set_ok(&pm, 4095, PM_DATA, tok(4095, 0)); /* end of the first level-1 node */
	set_ok(&pm, 4096, PM_RESERVED, NULL);
	set_ok(&pm, 262144, PM_DATA, tok(262144, 0)); /* a new level-2 subtree */
	set_ok(&pm, 1ULL << 30, PM_RESERVED, NULL);

	assert_true(pagemap_find(&pm, 0, PM_ANY, &idx));
	assert_int_equal(idx, 62);
	assert_true(pagemap_find(&pm, 0, PM_RESERVED, &idx));
	assert_int_equal(idx, 63);
	assert_true(pagemap_find(&pm, 63, PM_DATA, &idx));
	assert_int_equal(idx, 64);
	assert_true(pagemap_find(&pm, 64, PM_RESERVED, &idx));
	assert_int_equal(idx, 127);
	assert_true(pagemap_find(&pm, 65, PM_DATA, &idx));
	assert_int_equal(idx, 4095);
	assert_true(pagemap_find(&pm, 128, PM_RESERVED, &idx));
	assert_int_equal(idx, 4096);
	assert_true(pagemap_find(&pm, 4096, PM_DATA, &idx));
	assert_int_equal(idx, 262144);
	assert_true(pagemap_find(&pm, 4097, PM_ANY, &idx));
	assert_int_equal(idx, 262144);
	assert_true(pagemap_find(&pm, 262145, PM_ANY, &idx));
	assert_int_equal(idx, 1ULL << 30);
	assert_false(pagemap_find(&pm, 262145, PM_DATA, &idx));
	assert_false(pagemap_find(&pm, (1ULL << 30) + 1, PM_ANY, &idx));
	assert_false(pagemap_find(&pm, MAX, PM_ANY, &idx));

	assert_int_equal(pagemap_find_not(&pm, 0, PM_ANY), 0);
	assert_int_equal(pagemap_find_not(&pm, 62, PM_ANY), 65);
	assert_int_equal(pagemap_find_not(&pm, 62, PM_DATA), 63);
	assert_int_equal(pagemap_find_not(&pm, 63, PM_RESERVED), 64);
	assert_int_equal(pagemap_find_not(&pm, 63, PM_DATA), 63);
	assert_int_equal(pagemap_find_not(&pm, 4095, PM_ANY), 4097);
	assert_int_equal(pagemap_find_not(&pm, 4095, PM_DATA), 4096);
	assert_int_equal(pagemap_find_not(&pm, 262144, PM_DATA), 262145);
	assert_int_equal(pagemap_find_not(&pm, 1ULL << 30, PM_RESERVED), (1ULL << 30) + 1);

	/* 65 full leaves (across the level-1 boundary at page 4096), alternating
	 * state by leaf: find_not must step over whole leaves. */
	pagemap_destroy(&pm, NULL, NULL);
	for (uint64_t i = 0; i < 65 * 64; i++)
		set_ok(&pm, i, (i / 64) % 2 ? PM_RESERVED : PM_DATA, tok(i, 0));
	assert_int_equal(pagemap_find_not(&pm, 0, PM_ANY), 65 * 64);
	assert_int_equal(pagemap_find_not(&pm, 100, PM_ANY), 65 * 64);
	assert_int_equal(pagemap_find_not(&pm, 0, PM_DATA), 64);
	assert_int_equal(pagemap_find_not(&pm, 64, PM_RESERVED), 128);
	assert_int_equal(pagemap_find_not(&pm, 4096, PM_DATA), 65 * 64);
	assert_int_equal(pagemap_find_not(&pm, 4095, PM_RESERVED), 4096);
	assert_true(pagemap_find(&pm, 4033, PM_DATA, &idx));
	assert_int_equal(idx, 4096);
	assert_true(pagemap_find(&pm, 4033, PM_RESERVED, &idx));
	assert_int_equal(idx, 4033);
	assert_false(pagemap_find(&pm, 65 * 64, PM_ANY, &idx));
	pagemap_destroy(&pm, NULL, NULL);
	check(&pm);
}

static void test_near_max(void **state)
{
	struct pagemap pm;
	uint64_t idx;

	(void)state;
	pagemap_init(&pm);
	set_ok(&pm, MAX, PM_DATA, tok(MAX, 0));
	assert_true(pagemap_overhead(&pm) < 1024); /* one page costs a chain, not 2^51 */
	set_ok(&pm, MAX - 1, PM_RESERVED, NULL);
	set_ok(&pm, 0, PM_DATA, tok(0, 0));
	assert_true(pagemap_find(&pm, 1, PM_DATA, &idx));
	assert_int_equal(idx, MAX);
	assert_true(pagemap_find(&pm, 1, PM_RESERVED, &idx));
	assert_int_equal(idx, MAX - 1);
	assert_true(pagemap_find(&pm, MAX, PM_ANY, &idx));
	assert_int_equal(idx, MAX);
	assert_false(pagemap_find(&pm, MAX + 1, PM_ANY, &idx));
	assert_false(pagemap_find(&pm, UINT64_MAX, PM_ANY, &idx));
	assert_int_equal(pagemap_find_not(&pm, MAX - 1, PM_ANY), MAX + 1);
	assert_int_equal(pagemap_find_not(&pm, MAX - 1, PM_DATA), MAX - 1);
	assert_int_equal(pagemap_find_not(&pm, MAX, PM_RESERVED), MAX);
	assert_int_equal(pagemap_find_not(&pm, MAX, PM_DATA), MAX + 1);
	assert_int_equal(pagemap_find_not(&pm, MAX + 1, PM_ANY), MAX + 1);
	assert_int_equal(pagemap_find_not(&pm, UINT64_MAX, PM_ANY), UINT64_MAX);
	assert_int_equal(pagemap_find_not(&pm, 0, PM_ANY), 1);

	/* The whole last leaf full. */
	for (uint64_t i = MAX - 63; i <= MAX; i++)
		set_ok(&pm, i, PM_DATA, tok(i, 1));
	assert_int_equal(pagemap_find_not(&pm, MAX - 63, PM_DATA), MAX + 1);
	assert_int_equal(pagemap_find_not(&pm, MAX - 64, PM_DATA), MAX - 64);
	assert_int_equal(pagemap_find_not(&pm, MAX - 63, PM_RESERVED), MAX - 63);
	assert_true(pagemap_find(&pm, 1, PM_ANY, &idx));
	assert_int_equal(idx, MAX - 63);
	assert_false(pagemap_find(&pm, 1, PM_RESERVED, &idx));

	/* Taking it all away leaves nothing behind. */
	for (uint64_t i = MAX - 63; i <= MAX; i++)
		set_ok(&pm, i, PM_HOLE, NULL);
	set_ok(&pm, 0, PM_HOLE, NULL);
	assert_null(pm.root);
	assert_int_equal(pm.height, 0);
	assert_int_equal(pagemap_overhead(&pm), 0);
	pagemap_destroy(&pm, NULL, NULL);
}

static void test_remove_all(void **state)
{
	struct rng r = rng_seed("remove_all", 0x5EED0001);
	struct pagemap pm;
	uint64_t *idx;
	size_t n = 0;

	(void)state;
	idx = malloc(6000 * sizeof(*idx));
	assert_non_null(idx);
	pagemap_init(&pm);
	for (uint64_t i = 0; i < 4200; i++) /* dense, across a level-1 boundary */
		idx[n++] = i;
	for (uint64_t i = 0; i < 1000; i++) /* sparse and huge */
		idx[n++] = (rng_next(&r) & MAX) | (1ULL << 40);
	for (uint64_t i = 0; i < 64; i++)   /* the very end */
		idx[n++] = MAX - i;
	for (size_t i = 0; i < n; i++)
		set_ok(&pm, idx[i], i % 3 ? PM_DATA : PM_RESERVED, tok(idx[i], 0));
	assert_int_equal(pm.nr_data + pm.nr_reserved, n); /* no two sparse ones collide */

	for (size_t i = n; i > 1; i--) { /* shuffle */
		size_t j = rng_below(&r, i);
		uint64_t t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		void *old = NULL;

		assert_int_equal(pagemap_set(&pm, idx[i], PM_HOLE, NULL, &old), 0);
		assert_ptr_equal(old, tok(idx[i], 0));
		assert_int_equal(pagemap_get(&pm, idx[i], NULL), PM_HOLE);
		assert_int_equal(pm.nr_data + pm.nr_reserved, n - i - 1);
		if (i % 16 == 0 || n - i < 100)
			check(&pm);
	}
	check(&pm);
	assert_null(pm.root);
	assert_int_equal(pm.height, 0);
	assert_int_equal(pagemap_overhead(&pm), 0);
	free(idx);
}

static unsigned long freed_pages;

static void count_free(void *page, void *arg)
{
	assert_ptr_equal(arg, &freed_pages);
	assert_non_null(page);
	freed_pages++;
}

static void test_destroy_frees(void **state)
{
	struct pagemap pm;

	(void)state;
	pagemap_init(&pm);
	for (uint64_t i = 0; i < 300; i++)
		set_ok(&pm, i * 37, PM_DATA, tok(i, 0));
	for (uint64_t i = 0; i < 100; i++)
		set_ok(&pm, (1ULL << 33) + i, PM_RESERVED, tok(i, 1)); /* committed memory */
	for (uint64_t i = 0; i < 50; i++)
		set_ok(&pm, (1ULL << 34) + i, PM_RESERVED, NULL);      /* none: not passed on */
	freed_pages = 0;
	pagemap_destroy(&pm, count_free, &freed_pages);
	assert_int_equal(freed_pages, 400);
	assert_null(pm.root);
	assert_int_equal(pm.nr_data + pm.nr_reserved, 0);
	check(&pm);
	/* A destroyed map is an empty map, usable again. */
	set_ok(&pm, 9, PM_DATA, tok(9, 0));
	pagemap_destroy(&pm, NULL, NULL);
}

/* Indices that exercise a dense region, two node boundaries, the sparse
 * expanse and the very end of the index space. */
static uint64_t pick_index(struct rng *r, const struct model *m)
{
	unsigned k = (unsigned)rng_below(r, 100);

	if (k < 30)
		return rng_below(r, 5000);                               /* dense */
	if (k < 45)
		return (1ULL << 24) - 1500 + rng_below(r, 3000);        /* level-3 edge */
	if (k < 55)
		return rng_next(r) & MAX;                                /* anywhere */
	if (k < 65)
		return MAX - rng_below(r, 300);                         /* the end */
	if (k < 70)
		return (rng_next(r) & MAX) >> rng_below(r, 50);          /* all magnitudes */
	if (m->n)
		return m->v[rng_below(r, m->n)].idx;                     /* existing */
	return 0;
}

static void test_random_model(void **state)
{
	struct rng r = rng_seed("random_model", 0x5EED0002);
	struct model m = { 0 };
	struct pagemap pm;
	const unsigned ops = 40000;

	(void)state;
	pagemap_init(&pm);
	for (unsigned op = 0; op < ops; op++) {
		uint64_t idx = pick_index(&r, &m);
		unsigned k = (unsigned)rng_below(&r, 100);
		/* Lean towards removal once the map is big, so it churns. */
		unsigned hole_pct = m.n > 8000 ? 60 : 35;
		enum pm_state st = k < hole_pct ? PM_HOLE
				 : k < hole_pct + (100 - hole_pct) / 2 ? PM_DATA
								       : PM_RESERVED;
		void *page = st == PM_DATA ? tok(idx, op % 8)
			   : st == PM_RESERVED && (op & 1) ? tok(idx, op % 8) : NULL;
		void *want_old, *old = tok(1, 1), *got;

		model_get(&m, idx, &want_old);
		assert_int_equal(pagemap_set(&pm, idx, st, page, &old), 0);
		assert_ptr_equal(old, want_old);
		model_set(&m, idx, st, page);
		/* The map is checked after every change while it is small, then
		 * every 16th: a full check walks every leaf. */
		if (op < 4000 || op % 16 == 0)
			check(&pm);
		assert_int_equal(pm.nr_data, m.nr_data);
		assert_int_equal(pm.nr_reserved, m.nr_resv);
		assert_int_equal(pagemap_get(&pm, idx, &got), st);
		assert_ptr_equal(got, page);

		compare_finds(&pm, &m, pick_index(&r, &m));
		compare_finds(&pm, &m, idx);
		if (idx)
			compare_finds(&pm, &m, idx - 1);
		if (op % 1000 == 0) {
			compare_finds(&pm, &m, 0);
			compare_finds(&pm, &m, MAX + 1);
			compare_all(&pm, &m);
		}
	}
	check(&pm);
	compare_all(&pm, &m);
	printf("# random_model: %zu pages at the end, %llu bytes of nodes\n", m.n,
	       (unsigned long long)pagemap_overhead(&pm));

	/* Empty it through the model: nothing may be left. */
	while (m.n) {
		uint64_t idx = m.v[m.n - 1].idx;

		assert_int_equal(pagemap_set(&pm, idx, PM_HOLE, NULL, NULL), 0);
		model_set(&m, idx, PM_HOLE, NULL);
		if (m.n % 64 == 0)
			check(&pm);
	}
	check(&pm);
	assert_null(pm.root);
	assert_int_equal(pagemap_overhead(&pm), 0);
	free(m.v);
}

static void test_overhead_sparse(void **state)
{
	struct pagemap pm;
	uint64_t bytes;

	(void)state;
	pagemap_init(&pm);
	for (uint64_t i = 0; i < 1000; i++)
		set_ok(&pm, i << 18, PM_DATA, tok(i, 0));
	bytes = pagemap_overhead(&pm);
	printf("# 1000 pages 2^18 apart: %llu bytes\n", (unsigned long long)bytes);
	assert_true(bytes > 0);
	assert_true(bytes < (1u << 20));
	pagemap_destroy(&pm, NULL, NULL);
	assert_int_equal(pagemap_overhead(&pm), 0);
}

static void test_overhead_dense(void **state)
{
	struct pagemap pm;
	uint64_t bytes;

	(void)state;
	pagemap_init(&pm);
	for (uint64_t i = 0; i < 65536; i++) {
		assert_int_equal(pagemap_set(&pm, i, PM_DATA, tok(i, 0), NULL), 0);
		if (i % 4096 == 4095)
			check(&pm);
	}
	bytes = pagemap_overhead(&pm);
	printf("# 65536 dense pages: %llu bytes, %.2f per page\n", (unsigned long long)bytes,
	       (double)bytes / 65536);
	assert_true(bytes < 12 * 65536);
	assert_int_equal(pagemap_find_not(&pm, 0, PM_DATA), 65536);
	/* Emptying all but one page per leaf gives the slot memory back. */
	for (uint64_t i = 0; i < 65536; i++)
		if (i % 64)
			assert_int_equal(pagemap_set(&pm, i, PM_HOLE, NULL, NULL), 0);
	check(&pm);
	assert_true(pagemap_overhead(&pm) < bytes / 4);
	pagemap_destroy(&pm, NULL, NULL);
}

/*
 * -ENOMEM leaves the map as it was. Each set is retried with the n-th
 * allocation failing, for n = 0, 1, ... until one goes through untouched.
 */
static void test_enomem(void **state)
{
	struct rng r = rng_seed("enomem", 0x5EED0003);
	struct model m = { 0 };
	struct pagemap pm;
	unsigned failures = 0;

	(void)state;
	pagemap_init(&pm);
	for (unsigned op = 0; op < 600; op++) {
		uint64_t idx = pick_index(&r, &m);
		enum pm_state st = op % 5 == 4 ? PM_HOLE : op % 2 ? PM_DATA : PM_RESERVED;
		void *page = st == PM_HOLE ? NULL : tok(idx, op % 8);

		for (long n = 0;; n++) {
			int ret;

			failalloc_nth(n);
			ret = pagemap_set(&pm, idx, st, page, NULL);
			failalloc_off();
			if (!failalloc_fired()) {
				assert_int_equal(ret, 0);
				break;
			}
			/* An allocation failed: either it was dispensable (a shrink)
			 * and the set went through, or the map is unchanged. */
			check(&pm);
			if (ret == 0)
				break;
			assert_int_equal(ret, -ENOMEM);
			failures++;
			compare_all(&pm, &m);
		}
		model_set(&m, idx, st, page);
		check(&pm);
		if (op % 50 == 0)
			compare_all(&pm, &m);
	}
	compare_all(&pm, &m);
	assert_true(failures > 100);
	pagemap_destroy(&pm, NULL, NULL);
	free(m.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_find_boundaries),
		cmocka_unit_test(test_near_max),
		cmocka_unit_test(test_remove_all),
		cmocka_unit_test(test_destroy_frees),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_overhead_sparse),
		cmocka_unit_test(test_overhead_dense),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests_name("pagemap", tests, NULL, NULL);
}
