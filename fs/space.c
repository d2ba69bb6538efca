/* SPDX-License-Identifier: MIT */
#include "space.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

void space_init(struct space *sp, uint64_t capacity_pages, uint64_t max_inodes)
{
	sp->capacity = capacity_pages;
	sp->max_inodes = max_inodes;
	atomic_init(&sp->used, 0);
	atomic_init(&sp->inodes, 0);
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

int space_charge(struct space *sp, uint64_t n)
{
	return n ? charge(&sp->used, sp->capacity, n) : 0;
}

void space_release(struct space *sp, uint64_t n)
{
	atomic_fetch_sub_explicit(&sp->used, n, memory_order_relaxed);
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

void space_statfs(const struct space *sp, struct statvfs *st)
{
	uint64_t used = space_used(sp);
	uint64_t free_pages = used < sp->capacity ? sp->capacity - used : 0;
	uint64_t inodes = atomic_load_explicit(&sp->inodes, memory_order_relaxed);

	memset(st, 0, sizeof(*st));
	st->f_bsize = SPACE_PAGE_SIZE;
	st->f_frsize = SPACE_PAGE_SIZE;
	st->f_blocks = sp->capacity;
	st->f_bfree = free_pages;
	st->f_bavail = free_pages;
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

	if (used > sp->capacity) {
		fprintf(stderr, "space: used %llu > capacity %llu\n", (unsigned long long)used,
			(unsigned long long)sp->capacity);
		return -1;
	}
	if (sp->max_inodes && inodes > sp->max_inodes) {
		fprintf(stderr, "space: %llu inodes > limit %llu\n", (unsigned long long)inodes,
			(unsigned long long)sp->max_inodes);
		return -1;
	}
	return 0;
}
