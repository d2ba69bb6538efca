/* SPDX-License-Identifier: MIT */
/*
 * rados_pack: places packed densely, holes taken again, plans that zero, cut,
 * remove and compact a slab (a handle given back while its page moves, a
 * plan that fails), the pool's extent within the bound the store promises
 * under random churn, and allocation failure unwinding.
 */
#include <errno.h>
#include <string.h>

#include "rados_pack.h"
#include "unit.h"

#define SLAB PACK_SLAB_PAGES

static struct pack_plan plan; /* large: not on the stack */

static void ck(const struct pack *pk)
{
	assert_int_equal(pack_check(pk), 0);
}

static uint64_t pages(const struct pack *pk)
{
	return pack_extent_bytes(pk) / 4096;
}

/* Runs every queued plan to the end, each carried out (ok) or not. */
static unsigned settle(struct pack *pk, bool ok)
{
	unsigned n = 0;

	while (pack_plan(pk, &plan)) {
		pack_done(pk, &plan, ok);
		n++;
		assert_true(n < 100000);
	}
	ck(pk);
	return n;
}

static void test_dense(void **state)
{
	struct pack pk;
	uint64_t h[3000];

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, 3000, h));
	ck(&pk);
	for (unsigned i = 0; i < 3000; i++)
		assert_int_equal(pack_where(&pk, h[i]), i); /* in order: one extent per slab */
	assert_int_equal(pages(&pk), 3000);
	assert_int_equal(pk.nslabs, 3);
	assert_int_equal(settle(&pk, true), 0); /* nothing to do */
	pack_free_all(&pk);
}

static void test_holes_taken_again(void **state)
{
	struct pack pk;
	uint64_t h[SLAB], again[10];

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, SLAB, h));
	pack_release(&pk, h + 100, 10); /* a few holes: not worth moving */
	ck(&pk);
	assert_ok(pack_alloc(&pk, 10, again));
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(pack_where(&pk, again[i]), 100 + i);
	assert_int_equal(pages(&pk), SLAB);
	assert_int_equal(pk.nslabs, 1);
	/* The slab was queued to zero them; taken again, nothing is left to do. */
	settle(&pk, true);
	assert_int_equal(pages(&pk), SLAB);
	pack_free_all(&pk);
}

static void test_zeroing_not_taken(void **state)
{
	struct pack pk;
	uint64_t h[SLAB], more[10];

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, SLAB - 20, h));
	pack_release(&pk, h + 100, 10);
	assert_true(pack_plan(&pk, &plan));
	assert_int_equal(plan.nzero, 1);
	assert_int_equal(plan.zero[0].first, 100);
	assert_int_equal(plan.zero[0].n, 10);
	assert_int_equal(plan.nmove, 0);
	assert_false(plan.remove);
	/* While they are being zeroed, new pages go elsewhere (not the open
	 * slab's end either: it is busy). */
	assert_ok(pack_alloc(&pk, 10, more));
	for (unsigned i = 0; i < 10; i++)
		assert_true(pack_where(&pk, more[i]) >= SLAB);
	pack_done(&pk, &plan, true);
	ck(&pk);
	assert_ok(pack_alloc(&pk, 10, more));
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(pack_where(&pk, more[i]), 100 + i);
	pack_free_all(&pk);
}

static void test_cut_and_remove(void **state)
{
	struct pack pk;
	uint64_t h[2 * SLAB];

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, 2 * SLAB, h));
	pack_release(&pk, h + SLAB + 256, SLAB - 256); /* the second slab's tail */
	assert_true(pack_plan(&pk, &plan));
	assert_int_equal(plan.slab, 1);
	assert_int_equal(plan.truncate, 256);
	assert_int_equal(plan.nzero, 0);
	pack_done(&pk, &plan, true);
	assert_int_equal(pages(&pk), SLAB + 256);
	pack_release(&pk, h, SLAB); /* the whole first slab */
	assert_true(pack_plan(&pk, &plan));
	assert_true(plan.remove);
	assert_int_equal(plan.slab, 0);
	pack_done(&pk, &plan, true);
	ck(&pk);
	assert_int_equal(pages(&pk), 256);
	/* The empty slab is the next one filled. */
	assert_ok(pack_alloc(&pk, 1, h));
	assert_true(pack_where(&pk, h[0]) == SLAB + 256 || pack_where(&pk, h[0]) == 0);
	pack_free_all(&pk);
}

/* Every other page given back: the slab compacts to half, handles intact. */
static void test_compact_every_other(void **state)
{
	struct pack pk;
	uint64_t h[SLAB], odd[SLAB / 2], even[SLAB / 2];
	unsigned plans;

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, SLAB, h));
	for (unsigned i = 0; i < SLAB / 2; i++) {
		even[i] = h[2 * i];
		odd[i] = h[2 * i + 1];
	}
	pack_release(&pk, odd, SLAB / 2);
	plans = settle(&pk, true);
	assert_true(plans >= 1);
	assert_int_equal(pages(&pk), SLAB / 2);
	for (unsigned i = 0; i < SLAB / 2; i++)
		assert_true(pack_where(&pk, even[i]) < SLAB / 2);
	pack_free_all(&pk);
}

static void test_release_while_moving(void **state)
{
	struct pack pk;
	uint64_t h[64], gone;

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, 64, h));
	pack_release(&pk, h, 40); /* 24 live at 40..63: all move down */
	assert_true(pack_plan(&pk, &plan));
	assert_int_equal(plan.nmove, 24);
	assert_true(pk.slabs[0].moving);
	/* Nothing new lands in a slab whose pages move. */
	assert_ok(pack_alloc(&pk, 1, &gone));
	assert_true(pack_where(&pk, gone) >= SLAB);
	pack_release(&pk, &gone, 1);
	gone = plan.move[0].handle;
	pack_release(&pk, &gone, 1); /* given back before the move is done */
	pack_done(&pk, &plan, true);
	settle(&pk, true);
	assert_int_equal(pk.live, 23);
	/* The given-back page's new place is a hole (within the slack). */
	assert_int_equal(pk.slabs[0].top, 24);
	for (unsigned i = 40; i < 64; i++)
		if (h[i] != gone)
			assert_true(pack_where(&pk, h[i]) < 24);
	pack_free_all(&pk);
}

static void test_failed_plan(void **state)
{
	struct pack pk;
	uint64_t h[64], was[64];

	(void)state;
	pack_init(&pk);
	assert_ok(pack_alloc(&pk, 64, h));
	pack_release(&pk, h, 40);
	for (unsigned i = 40; i < 64; i++)
		was[i] = pack_where(&pk, h[i]);
	assert_true(pack_plan(&pk, &plan));
	pack_done(&pk, &plan, false);
	ck(&pk);
	for (unsigned i = 40; i < 64; i++)
		assert_int_equal(pack_where(&pk, h[i]), was[i]); /* nothing moved */
	assert_int_equal(pk.slabs[0].top, 64); /* the object may extend as before */
	assert_false(pack_plan(&pk, &plan)); /* not tried again by itself */
	pack_release(&pk, h + 40, 1);
	settle(&pk, true);
	assert_int_equal(pk.slabs[0].top, 23);
	pack_free_all(&pk);
}

/*
 * Random churn: pages taken and given back in random batches, plans carried
 * out now and then. Once settled, the slabs extend over at most 1.25x the
 * live pages plus the slack of each slab, whatever the order.
 */
static void test_churn_bound(void **state)
{
	struct rng r = rng_seed("churn", 0x5eed);
	struct pack pk;
	enum { N = 20000 };
	static uint64_t live[N];
	size_t nlive = 0;

	(void)state;
	pack_init(&pk);
	for (int round = 0; round < 3000; round++) {
		size_t n = 1 + rng_below(&r, 300);

		if (rng_below(&r, 2) && nlive + n <= N) {
			assert_ok(pack_alloc(&pk, n, live + nlive));
			nlive += n;
		} else {
			for (size_t k = 0; k < n && nlive; k++) {
				size_t at = rng_below(&r, nlive);

				pack_release(&pk, &live[at], 1);
				live[at] = live[--nlive];
			}
		}
		if (rng_below(&r, 4) == 0)
			settle(&pk, rng_below(&r, 10) != 0);
	}
	/* A failed plan is tried again at the slab's next change: touch each. */
	for (size_t k = 0; k < nlive && k < 64; k++) {
		uint64_t h;

		assert_ok(pack_alloc(&pk, 1, &h));
		pack_release(&pk, &h, 1);
	}
	pack_release(&pk, live, 0);
	settle(&pk, true);
	printf("# churn: %zu live pages, slabs extend over %llu\n", nlive,
	       (unsigned long long)pages(&pk));
	assert_true(pages(&pk) <= nlive + nlive / 4 + (uint64_t)pk.nslabs * 5 + SLAB);
	pack_free_all(&pk);
}

static void test_alloc_failure(void **state)
{
	struct pack pk;
	uint64_t h[3 * SLAB];

	(void)state;
	for (long nth = 0; nth < 20; nth++) {
		pack_init(&pk);
		assert_ok(pack_alloc(&pk, 10, h));
		failalloc_nth(nth);
		int ret = pack_alloc(&pk, 3 * SLAB - 10, h + 10);
		bool fired = failalloc_fired();

		failalloc_off();
		assert_int_equal(ret, fired ? -ENOMEM : 0);
		ck(&pk);
		assert_int_equal(pk.live, fired ? 10 : 3 * SLAB);
		pack_free_all(&pk);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dense),
		cmocka_unit_test(test_holes_taken_again),
		cmocka_unit_test(test_zeroing_not_taken),
		cmocka_unit_test(test_cut_and_remove),
		cmocka_unit_test(test_compact_every_other),
		cmocka_unit_test(test_release_while_moving),
		cmocka_unit_test(test_failed_plan),
		cmocka_unit_test(test_churn_bound),
		cmocka_unit_test(test_alloc_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
