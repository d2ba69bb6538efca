/* SPDX-License-Identifier: MIT */
#include "space.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Re-read the backing after this long, or at every charge below LOW_WATER. */
#define BACKING_TTL_MS 20
#define LOW_WATER_PAGES (256u << 8) /* 256 MiB */

void space_init(struct space *sp, uint64_t capacity_pages, uint64_t max_inodes)
{
	sp->capacity = capacity_pages;
	sp->max_inodes = max_inodes;
	sp->overdraft = 0;
	sp->policy = SPACE_ALWAYS;
	sp->backing = NULL;
	sp->backing_arg = NULL;
	atomic_init(&sp->used, 0);
	atomic_init(&sp->inodes, 0);
	atomic_init(&sp->dropped, 0);
	atomic_init(&sp->data_pages, 0);
	atomic_init(&sp->reserved_pages, 0);
	atomic_init(&sp->bf_pages, 0);
	atomic_init(&sp->bf_taken, 0);
	atomic_init(&sp->unbacked, 0);
	atomic_init(&sp->bf_when_ms, INT64_MIN / 2);
}

uint64_t space_default_overdraft(uint64_t capacity_pages)
{
	uint64_t cap64m = (64u << 20) / SFS_PAGE_SIZE;
	uint64_t eighth = capacity_pages / 8;

	return eighth < cap64m ? eighth : cap64m;
}

void space_configure(struct space *sp, uint64_t overdraft_pages, enum space_policy policy)
{
	sp->overdraft = overdraft_pages < sp->capacity ? overdraft_pages : sp->capacity;
	sp->policy = policy;
}

void space_set_backing(struct space *sp, space_backing_fn fn, void *arg)
{
	sp->backing = fn;
	sp->backing_arg = arg;
	atomic_store(&sp->bf_when_ms, INT64_MIN / 2);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* A fresh reading; the pages backed since the last one are in it now. */
static uint64_t read_backing(struct space *sp)
{
	uint64_t pages = sp->backing ? sp->backing(sp->backing_arg) : UINT64_MAX;

	atomic_store_explicit(&sp->bf_pages, pages, memory_order_relaxed);
	atomic_store_explicit(&sp->bf_taken, 0, memory_order_relaxed);
	atomic_store_explicit(&sp->bf_when_ms, now_ms(), memory_order_relaxed);
	return pages;
}

uint64_t space_backing_free(struct space *sp)
{
	uint64_t pages = read_backing(sp);

	return sub_floor(pages, atomic_load_explicit(&sp->unbacked, memory_order_relaxed));
}

/*
 * Can the backing give n more pages? Counts them as unbacked if so. The
 * backing is read afresh when the last reading is old or nearly spent, at
 * most once per charge: one request charges once, however many pages.
 */
static int backing_take(struct space *sp, uint64_t n)
{
	uint64_t have = atomic_load_explicit(&sp->bf_pages, memory_order_relaxed);
	int64_t when = atomic_load_explicit(&sp->bf_when_ms, memory_order_relaxed);
	uint64_t unbacked = atomic_load_explicit(&sp->unbacked, memory_order_relaxed);
	uint64_t taken = atomic_load_explicit(&sp->bf_taken, memory_order_relaxed);

	if (sub_floor(have, taken + unbacked) < n + LOW_WATER_PAGES ||
	    now_ms() - when > BACKING_TTL_MS) {
		have = read_backing(sp);
		taken = 0;
	}
	do {
		if (sub_floor(have, taken + unbacked) < n)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak_explicit(&sp->unbacked, &unbacked, unbacked + n,
							memory_order_relaxed,
							memory_order_relaxed));
	return 0;
}

static int charge(_Atomic uint64_t *counter, uint64_t limit, uint64_t n)
{
	uint64_t cur = atomic_load_explicit(counter, memory_order_relaxed);

	do {
		if (n > limit || cur > limit - n)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak_explicit(counter, &cur, cur + n,
							memory_order_relaxed,
							memory_order_relaxed));
	return 0;
}

static int charge_pages(struct space *sp, uint64_t limit, uint64_t n)
{
	int ret;

	if (!n)
		return 0;
	ret = charge(&sp->used, limit, n);
	if (ret)
		return ret;
	ret = backing_take(sp, n);
	if (ret)
		atomic_fetch_sub_explicit(&sp->used, n, memory_order_relaxed);
	return ret;
}

int space_charge(struct space *sp, uint64_t n)
{
	return charge_pages(sp, sp->capacity - sp->overdraft, n);
}

int space_charge_wb(struct space *sp, uint64_t n)
{
	return charge_pages(sp, sp->capacity, n);
}

uint64_t space_count_dropped(struct space *sp, uint64_t n)
{
	return atomic_fetch_add_explicit(&sp->dropped, n, memory_order_relaxed) + n;
}

uint64_t space_dropped(const struct space *sp)
{
	return atomic_load_explicit(&sp->dropped, memory_order_relaxed);
}

void space_backed(struct space *sp, uint64_t n)
{
	/* Taken before unbacked drops, so that a charge in between sees too
	 * little left, never too much. */
	atomic_fetch_add_explicit(&sp->bf_taken, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&sp->unbacked, n, memory_order_relaxed);
}

void space_uncharge(struct space *sp, uint64_t n)
{
	atomic_fetch_sub_explicit(&sp->unbacked, n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&sp->used, n, memory_order_relaxed);
}

void space_release(struct space *sp, uint64_t n)
{
	atomic_fetch_sub_explicit(&sp->used, n, memory_order_relaxed);
}

void space_note_used(struct space *sp, int64_t n)
{
	/* Unsigned wrap-around adds a negative change exactly. */
	atomic_fetch_add_explicit(&sp->used, (uint64_t)n, memory_order_relaxed);
}

int space_inode_charge(struct space *sp)
{
	if (!sp->max_inodes) {
		atomic_fetch_add_explicit(&sp->inodes, 1, memory_order_relaxed);
		return 0;
	}
	return charge(&sp->inodes, sp->max_inodes, 1);
}

void space_inode_release(struct space *sp)
{
	atomic_fetch_sub_explicit(&sp->inodes, 1, memory_order_relaxed);
}

uint64_t space_used(const struct space *sp)
{
	return atomic_load_explicit(&sp->used, memory_order_relaxed);
}

void space_note_pages(struct space *sp, int64_t data, int64_t reserved)
{
	/* Unsigned wrap-around adds a negative change exactly. */
	if (data)
		atomic_fetch_add_explicit(&sp->data_pages, (uint64_t)data, memory_order_relaxed);
	if (reserved)
		atomic_fetch_add_explicit(&sp->reserved_pages, (uint64_t)reserved,
					  memory_order_relaxed);
}

uint64_t space_data_pages(const struct space *sp)
{
	return atomic_load_explicit(&sp->data_pages, memory_order_relaxed);
}

uint64_t space_reserved_pages(const struct space *sp)
{
	return atomic_load_explicit(&sp->reserved_pages, memory_order_relaxed);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void space_statfs(struct space *sp, struct statvfs *st)
{
	uint64_t used = space_used(sp);
	uint64_t backing = space_backing_free(sp);
	uint64_t free_pages = used < sp->capacity ? sp->capacity - used : 0;
	uint64_t avail = free_pages > sp->overdraft ? free_pages - sp->overdraft : 0;
	uint64_t inodes = atomic_load_explicit(&sp->inodes, memory_order_relaxed);

	memset(st, 0, sizeof(*st));
	st->f_bsize = SFS_PAGE_SIZE;
	st->f_frsize = SFS_PAGE_SIZE;
	st->f_blocks = sp->capacity;
	st->f_bfree = min_u64(free_pages, backing);
	st->f_bavail = min_u64(avail, backing);
	/* Unlimited inodes read as 0/0, as tmpfs reports them. */
	if (sp->max_inodes) {
		st->f_files = sp->max_inodes;
		st->f_ffree = inodes < sp->max_inodes ? sp->max_inodes - inodes : 0;
		st->f_favail = st->f_ffree;
	}
	st->f_namemax = 255;
}

int space_check(const struct space *sp)
{
	uint64_t used = space_used(sp);
	uint64_t inodes = atomic_load_explicit(&sp->inodes, memory_order_relaxed);

	if (used > sp->capacity && !sp->kernel) {
		fprintf(stderr, "space: used %llu > capacity %llu\n", (unsigned long long)used,
			(unsigned long long)sp->capacity);
		return -1;
	}
	if (atomic_load_explicit(&sp->unbacked, memory_order_relaxed) > used) {
		fprintf(stderr, "space: %llu pages unbacked > %llu used\n",
			(unsigned long long)atomic_load_explicit(&sp->unbacked, memory_order_relaxed),
			(unsigned long long)used);
		return -1;
	}
	if (sp->max_inodes && inodes > sp->max_inodes) {
		fprintf(stderr, "space: %llu inodes > limit %llu\n", (unsigned long long)inodes,
			(unsigned long long)sp->max_inodes);
		return -1;
	}
	return 0;
}
