/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_UNIT_H
#define SPARSEFS_UNIT_H

/*
 * What every unit test shares: cmocka (which needs these headers first), a
 * small deterministic random generator, failure injection for the core's
 * allocations, and a fake backing for struct space.
 *
 * Randomized tests print their seed; SPARSEFS_TEST_SEED=<n> in the
 * environment replays one.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

/* An expression the core returns as 0 or -errno, and expects 0. */
#define assert_ok(expr) assert_int_equal((expr), 0)

struct rng {
	uint64_t s;
};

/* xorshift64*: small, fast, good enough to pick indices and bytes. */
static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

/* Uniform enough in [0, n); 0 if n is 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* The seed for test `name`: SPARSEFS_TEST_SEED, or `fallback`; printed. */
static inline struct rng rng_seed(const char *name, uint64_t fallback)
{
	const char *env = getenv("SPARSEFS_TEST_SEED");
	struct rng r = { env && *env ? strtoull(env, NULL, 0) : fallback };

	if (!r.s)
		r.s = 0x9E3779B97F4A7C15ULL;
	printf("# %s: seed %#llx (SPARSEFS_TEST_SEED to replay)\n", name,
	       (unsigned long long)r.s);
	return r;
}

/*
 * Allocation failure injection (unit.c). The test executables are linked
 * with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every malloc,
 * calloc and realloc the core (and the tests) make goes through here.
 *
 * failalloc_nth(n) makes the n-th allocation from now (0 = the next one)
 * return NULL, once; failalloc_fired() says whether it has happened since;
 * failalloc_off() disarms. Single-threaded use only.
 */
void failalloc_nth(long n);
bool failalloc_fired(void);
void failalloc_off(void);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);

/*
 * A backing for struct space that reports *(uint64_t *)arg pages free, so
 * tests do not depend on the machine's memory: space_set_backing(sp,
 * unit_backing, &pages).
 */
uint64_t unit_backing(void *arg);

/*
 * A store that forwards to another (memory or disk) and can be told to fail
 * as an exhausted or broken backing would. Each countdown lets that many
 * through before failing every call after (-1: never fails):
 *   back_pages  pages back may give (a call that would cross fails whole,
 *               with back_err, and sets it to 0)
 *   back_calls  back calls that succeed
 *   writes, reads  write / read calls that succeed; then -EIO
 * live counts the pages backed and not given back.
 */
#include "store.h"

struct faulty_store {
	struct store base;
	struct store_ops ops; /* the wrapper's, with map only where inner has it */
	struct store *inner;
	long back_pages, back_calls, writes, reads;
	int back_err;         /* what a failing back returns: -ENOMEM by default */
	long live;
	void (*on_unback)(void *arg); /* if set, called at every unback */
	void *hook_arg;
};

/* Wraps inner (which the faulty store then owns) with nothing failing. */
void faulty_init(struct faulty_store *fs, struct store *inner);

#endif
