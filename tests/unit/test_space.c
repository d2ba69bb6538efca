/* SPDX-License-Identifier: MIT */
/*
 * space: charge/release, all-or-nothing ENOSPC, the inode budget, statfs,
 * the write-back overdraft, the backing (faked: unit_backing), and two threads
 * charging at once never passing the capacity.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "space.h"
#include "unit.h"

static void ck(const struct space *sp)
{
	assert_int_equal(space_check(sp), 0);
}

/* Charges n pages and backs them at once, as a store that populates at once. */
static int take(struct space *sp, uint64_t n)
{
	int ret = space_charge(sp, n);

	if (!ret)
		space_backed(sp, n);
	return ret;
}

static int take_wb(struct space *sp, uint64_t n)
{
	int ret = space_charge_wb(sp, n);

	if (!ret)
		space_backed(sp, n);
	return ret;
}

/* What the fake backing reports: plenty, unless a test says otherwise. */
static uint64_t backing = UINT64_MAX / 2;

/* space_init with the fake backing, so results do not depend on the machine. */
static void init(struct space *sp, uint64_t capacity, uint64_t max_inodes)
{
	space_init(sp, capacity, max_inodes);
	space_set_backing(sp, unit_backing, &backing);
	backing = UINT64_MAX / 2;
}

static void test_charge_release(void **state)
{
	struct space sp;

	(void)state;
	init(&sp, 100, 0);
	ck(&sp);
	assert_int_equal(space_used(&sp), 0);
	assert_ok(take(&sp, 5));
	ck(&sp);
	assert_int_equal(space_used(&sp), 5);
	assert_ok(take(&sp, 0));
	assert_int_equal(space_used(&sp), 5);
	space_release(&sp, 2);
	ck(&sp);
	assert_int_equal(space_used(&sp), 3);
	space_release(&sp, 3);
	ck(&sp);
	assert_int_equal(space_used(&sp), 0);
	assert_ok(take(&sp, 100));
	ck(&sp);
	assert_int_equal(space_used(&sp), 100);
}

static void test_all_or_nothing(void **state)
{
	struct space sp;

	(void)state;
	init(&sp, 10, 0);
	assert_ok(take(&sp, 8));
	assert_int_equal(take(&sp, 3), -ENOSPC);
	ck(&sp);
	assert_int_equal(space_used(&sp), 8); /* nothing of the 3 was taken */
	assert_ok(take(&sp, 2));
	assert_int_equal(space_used(&sp), 10);
	assert_int_equal(take(&sp, 1), -ENOSPC);
	assert_ok(take(&sp, 0)); /* nothing always fits */
	assert_int_equal(space_used(&sp), 10);
	ck(&sp);
	/* Counts that would wrap the arithmetic are refused, not wrapped. */
	space_release(&sp, 10);
	assert_int_equal(take(&sp, UINT64_MAX), -ENOSPC);
	assert_int_equal(take(&sp, UINT64_MAX - 5), -ENOSPC);
	assert_int_equal(take(&sp, 11), -ENOSPC);
	assert_int_equal(space_used(&sp), 0);
	assert_ok(take(&sp, 7));
	assert_int_equal(take(&sp, UINT64_MAX - 6), -ENOSPC);
	assert_int_equal(space_used(&sp), 7);
	ck(&sp);

	/* A space of nothing takes nothing. */
	init(&sp, 0, 0);
	assert_int_equal(take(&sp, 1), -ENOSPC);
	assert_ok(take(&sp, 0));
	ck(&sp);
	/* The largest space (on the largest machine): everything fits once. */
	init(&sp, UINT64_MAX, 0);
	backing = UINT64_MAX;
	assert_ok(take(&sp, UINT64_MAX - 1));
	assert_ok(take(&sp, 1));
	assert_int_equal(take(&sp, 1), -ENOSPC);
	assert_int_equal(space_used(&sp), UINT64_MAX);
	ck(&sp);
}

static void test_inodes(void **state)
{
	struct space sp;
	struct statvfs st;

	(void)state;
	init(&sp, 10, 3);
	for (int i = 0; i < 3; i++) {
		assert_ok(space_inode_charge(&sp));
		ck(&sp);
	}
	assert_int_equal(space_inode_charge(&sp), -ENOSPC);
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_files, 3);
	assert_int_equal(st.f_ffree, 0);
	space_inode_release(&sp);
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_ffree, 1);
	assert_ok(space_inode_charge(&sp));
	assert_int_equal(space_inode_charge(&sp), -ENOSPC);
	/* Inodes and pages are separate budgets. */
	assert_ok(take(&sp, 10));
	ck(&sp);

	/* Unlimited: any number, and statfs says 0/0. */
	init(&sp, 10, 0);
	for (int i = 0; i < 100000; i++)
		assert_ok(space_inode_charge(&sp));
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_files, 0);
	assert_int_equal(st.f_ffree, 0);
	for (int i = 0; i < 100000; i++)
		space_inode_release(&sp);
	ck(&sp);
}

static void test_statfs(void **state)
{
	struct space sp;
	struct statvfs st;

	(void)state;
	init(&sp, 1000, 0);
	assert_ok(take(&sp, 250));
	memset(&st, 0x5a, sizeof(st));
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bsize, 4096);
	assert_int_equal(st.f_frsize, 4096);
	assert_int_equal(st.f_blocks, 1000);
	assert_int_equal(st.f_bfree, 750);
	/* No overdraft in this space: what is free is available. */
	assert_int_equal(st.f_bavail, 750);
	assert_int_equal(st.f_files, 0);
	assert_int_equal(st.f_ffree, 0);
	assert_int_equal(st.f_namemax, 255);

	/* Full. */
	assert_ok(take(&sp, 750));
	space_statfs(&sp, &st);
	assert_int_equal(st.f_blocks, 1000);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0);

	/* With an inode budget. */
	init(&sp, 1ULL << 40, 100);
	for (int i = 0; i < 7; i++)
		assert_ok(space_inode_charge(&sp));
	assert_ok(take(&sp, 1));
	space_statfs(&sp, &st);
	assert_int_equal(st.f_blocks, 1ULL << 40);
	assert_int_equal(st.f_bfree, (1ULL << 40) - 1);
	assert_true(st.f_bavail <= st.f_bfree);
	assert_int_equal(st.f_files, 100);
	assert_int_equal(st.f_ffree, 93);
	assert_int_equal(st.f_favail, 93);
	assert_int_equal(st.f_namemax, 255);
	ck(&sp);
}

static void test_overdraft(void **state)
{
	struct space sp;
	struct statvfs st;

	(void)state;
	init(&sp, 100, 0);
	space_configure(&sp, 10, SPACE_ALWAYS);
	assert_int_equal(sp.overdraft, 10);
	assert_ok(take(&sp, 90));
	assert_int_equal(take(&sp, 1), -ENOSPC);
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_blocks, 100);
	assert_int_equal(st.f_bfree, 10);
	assert_int_equal(st.f_bavail, 0);
	/* Write-back may go on into the overdraft, and no further. */
	assert_int_equal(take_wb(&sp, 11), -ENOSPC);
	assert_int_equal(space_used(&sp), 90);
	assert_ok(take_wb(&sp, 10));
	assert_int_equal(take_wb(&sp, 1), -ENOSPC);
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0); /* floored, not wrapped */
	space_release(&sp, 25);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 25);
	assert_int_equal(st.f_bavail, 15);
	ck(&sp);

	/* An overdraft larger than the capacity is the capacity. */
	init(&sp, 5, 0);
	space_configure(&sp, 50, SPACE_NEVER);
	assert_int_equal(sp.overdraft, 5);
	assert_int_equal(sp.policy, SPACE_NEVER);
	assert_int_equal(take(&sp, 1), -ENOSPC);
	assert_ok(take_wb(&sp, 5));
	ck(&sp);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bavail, 0);
}

static void test_default_overdraft(void **state)
{
	(void)state;
	/* The smaller of 64 MiB (16384 pages) and 1/8 of the capacity. */
	assert_int_equal(space_default_overdraft(0), 0);
	assert_int_equal(space_default_overdraft(7), 0);
	assert_int_equal(space_default_overdraft(8), 1);
	assert_int_equal(space_default_overdraft(80), 10);
	assert_int_equal(space_default_overdraft(8 * 16384), 16384);
	assert_int_equal(space_default_overdraft(8 * 16384 + 8), 16384);
	assert_int_equal(space_default_overdraft(1ULL << 40), 16384);
	assert_int_equal(space_default_overdraft(UINT64_MAX), 16384);
}

static void test_backing(void **state)
{
	struct space sp;
	struct statvfs st;

	(void)state;
	init(&sp, 100, 0);
	space_configure(&sp, 10, SPACE_ALWAYS);
	backing = 5;
	assert_int_equal(space_backing_free(&sp), 5);
	/* The machine cannot give 6: nothing is charged. */
	assert_int_equal(take(&sp, 6), -ENOSPC);
	assert_int_equal(take_wb(&sp, 6), -ENOSPC);
	assert_int_equal(space_used(&sp), 0);
	ck(&sp);
	assert_ok(take(&sp, 5));
	assert_int_equal(space_used(&sp), 5);
	/* statfs takes the smaller of the budget and the machine. */
	backing = 3;
	space_statfs(&sp, &st);
	assert_int_equal(st.f_blocks, 100);
	assert_int_equal(st.f_bfree, 3);
	assert_int_equal(st.f_bavail, 3);
	backing = 50;
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 50);
	assert_int_equal(st.f_bavail, 50);
	backing = 1000;
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 95);
	assert_int_equal(st.f_bavail, 85);
	/* Nearly exhausted, the backing is asked at every charge: a machine
	 * that just ran out refuses the very next one. */
	backing = 100;
	assert_ok(take(&sp, 1));
	backing = 0;
	assert_int_equal(take(&sp, 1), -ENOSPC);
	assert_int_equal(take_wb(&sp, 1), -ENOSPC);
	assert_int_equal(space_used(&sp), 6);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0);
	ck(&sp);
	/* The pages charged since the last reading count against it: a reading
	 * 100 pages above the low-water mark (256 MiB) serves a charge of 50
	 * once, and the next 60 bring it below the mark, so the backing is asked
	 * again and, now empty, refuses. */
	space_release(&sp, 6);
	init(&sp, 1ULL << 30, 0);
	backing = (256u << 20) / 4096 + 100;
	assert_ok(take(&sp, 50));
	backing = 0;
	assert_int_equal(take(&sp, 60), -ENOSPC);
	assert_int_equal(space_used(&sp), 50);
	space_release(&sp, 44);
	/* Releasing needs no backing. */
	space_release(&sp, 6);
	assert_int_equal(space_used(&sp), 0);
	ck(&sp);
}

/*
 * A charge whose pages are not backed yet (a large fallocate populating) is
 * invisible to a reading of the backing: every reading is taken less it, so
 * that two reservations together never promise more than there is.
 */
static void test_unbacked(void **state)
{
	struct space sp;
	struct statvfs st;

	(void)state;
	init(&sp, 1000, 0);
	backing = 100;
	assert_ok(space_charge(&sp, 60));
	ck(&sp);
	/* A new reading still shows the 100: the 60 are not forgotten. */
	assert_int_equal(space_backing_free(&sp), 40);
	space_statfs(&sp, &st);
	assert_int_equal(st.f_bfree, 40);
	assert_int_equal(space_charge(&sp, 41), -ENOSPC);
	assert_int_equal(space_charge_wb(&sp, 41), -ENOSPC);
	assert_ok(space_charge(&sp, 40));
	assert_int_equal(space_charge(&sp, 1), -ENOSPC);
	ck(&sp);
	/* The first 60 get their memory: the machine shows it, and nothing is
	 * counted twice. */
	backing = 40;
	space_backed(&sp, 60);
	assert_int_equal(space_backing_free(&sp), 0);
	/* The other 40 are never backed (the fallocate failed): given back. */
	space_uncharge(&sp, 40);
	ck(&sp);
	assert_int_equal(space_used(&sp), 60);
	assert_int_equal(space_backing_free(&sp), 40);
	space_release(&sp, 60);
	assert_int_equal(space_used(&sp), 0);
	ck(&sp);
}

static void test_dropped(void **state)
{
	struct space sp;

	(void)state;
	init(&sp, 10, 0);
	assert_int_equal(space_dropped(&sp), 0);
	assert_int_equal(space_count_dropped(&sp, 3), 3);
	assert_int_equal(space_count_dropped(&sp, 2), 5);
	assert_int_equal(space_dropped(&sp), 5);
	assert_int_equal(space_used(&sp), 0);
	ck(&sp);
}

/* ---- two threads ---- */

struct racer {
	struct space *sp;
	unsigned seed;
	uint64_t held;        /* pages this thread holds at the end */
	uint64_t got, refused;
	atomic_int *go;
	bool over;            /* saw used > capacity */
};

/* Charges one page at a time until the space is full. */
static void *fill_racer(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(r->go))
		;
	for (;;) {
		if (take(r->sp, 1))
			break;
		r->held++;
		if (space_used(r->sp) > r->sp->capacity)
			r->over = true;
	}
	return NULL;
}

/* Charges and releases random amounts near a full space. */
static void *churn_racer(void *arg)
{
	struct racer *r = arg;
	struct rng g = { 0x1234567ULL * (r->seed + 1) };

	while (!atomic_load(r->go))
		;
	for (int i = 0; i < 300000; i++) {
		uint64_t n = 1 + rng_below(&g, 7);

		if (take(r->sp, n) == 0) {
			r->held += n;
			r->got++;
		} else {
			r->refused++;
		}
		if (space_used(r->sp) > r->sp->capacity || space_check(r->sp))
			r->over = true;
		if (r->held && rng_below(&g, 2)) {
			uint64_t m = 1 + rng_below(&g, r->held);

			space_release(r->sp, m);
			r->held -= m;
		}
	}
	return NULL;
}

static void race(void *(*fn)(void *), uint64_t capacity, struct racer out[2])
{
	static struct space sp;
	atomic_int go = 0;
	pthread_t t[2];

	init(&sp, capacity, 0);
	for (int i = 0; i < 2; i++) {
		out[i] = (struct racer){ .sp = &sp, .seed = (unsigned)i, .go = &go };
		assert_int_equal(pthread_create(&t[i], NULL, fn, &out[i]), 0);
	}
	atomic_store(&go, 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_false(out[0].over);
	assert_false(out[1].over);
	ck(&sp);
	assert_int_equal(space_used(&sp), out[0].held + out[1].held);
}

static void test_concurrent(void **state)
{
	struct racer r[2];

	(void)state;
	/* Filling page by page: together they take exactly the capacity. */
	for (int round = 0; round < 5; round++) {
		race(fill_racer, 200000, r);
		assert_int_equal(r[0].held + r[1].held, 200000);
	}
	/* Random charges and releases around a small capacity: often refused,
	 * never over. */
	race(churn_racer, 64, r);
	assert_true(r[0].refused + r[1].refused > 0);
	assert_true(r[0].got + r[1].got > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_charge_release),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_inodes),
		cmocka_unit_test(test_statfs),
		cmocka_unit_test(test_overdraft),
		cmocka_unit_test(test_default_overdraft),
		cmocka_unit_test(test_backing),
		cmocka_unit_test(test_unbacked),
		cmocka_unit_test(test_dropped),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests_name("space", tests, NULL, NULL);
}
