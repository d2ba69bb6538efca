/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_SPACE_H
#define SPARSEFS_SPACE_H

/*
 * space: the mount's page and inode budget, and the only source of statfs.
 *
 * Everything is counted in 4096-byte pages:
 *   capacity  fixed at mount (-o size=)
 *   used      reserved + data pages over all objects
 * Invariant: used <= capacity, and used == sum of st_blocks / 8 over every
 * object (each object charges before it takes a page and releases after it
 * gives one back). Inodes are budgeted the same way when max_inodes != 0.
 *
 * Locking: lock-free. Counters are atomics; a charge is all-or-nothing.
 */

#include <stdint.h>
#include <sys/statvfs.h>

#define SPACE_PAGE_SIZE 4096u

struct space {
	uint64_t capacity;         /* pages; set once by space_init */
	uint64_t max_inodes;       /* 0 = unlimited; set once */
	_Atomic uint64_t used;     /* pages charged */
	_Atomic uint64_t inodes;   /* inodes charged */
};

void space_init(struct space *sp, uint64_t capacity_pages, uint64_t max_inodes);

/* Charges n pages: 0, or -ENOSPC with nothing charged. */
int space_charge(struct space *sp, uint64_t n);

/* Gives back n pages charged earlier. */
void space_release(struct space *sp, uint64_t n);

/* Charges one inode: 0, or -ENOSPC when max_inodes are in use. */
int space_inode_charge(struct space *sp);
void space_inode_release(struct space *sp);

uint64_t space_used(const struct space *sp);

/* Fills every statvfs field the kernel passes on (sizes in SPACE_PAGE_SIZE units). */
void space_statfs(const struct space *sp, struct statvfs *st);

/* 0 if the counters are within their bounds, else -1 after printing why. */
int space_check(const struct space *sp);

#endif
