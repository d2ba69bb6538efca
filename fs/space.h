/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_SPACE_H
#define SPARSEFS_SPACE_H

/*
 * space: the mount's page and inode budget, and the only source of statfs.
 *
 * Everything is counted in 4096-byte pages:
 *   capacity      fixed at mount (-o size=)
 *   used          reserved + data pages over all objects
 *   overdraft     the top slice of capacity that only write-back may take
 *   backing_free  what the backing can really still give (the store says:
 *                 store.h), less the pages charged but not yet backed
 *
 *   0                         capacity - overdraft          capacity
 *   |======= used =======|.... ordinary writes ....|..write-back only..|
 *
 * A charge succeeds only if it fits under its limit AND the backing can give
 * it: ENOSPC otherwise, with nothing charged.
 * Invariant: used <= capacity, and used == sum of st_blocks / 8 over every
 * object (each object charges before it takes a page and releases after it
 * gives one back). Inodes are budgeted the same way when max_inodes != 0.
 *
 * A charged page is "unbacked" until its caller says its memory is real
 * (space_backed): a reading of the backing cannot see it yet, so every reading
 * is taken less the unbacked pages, and a new reading never forgets them. A
 * large fallocate populating its pages is what this guards: without it, a
 * second reservation made meanwhile could be promised the same memory.
 *
 *   left = reading - unbacked - backed since the reading
 *
 * Locking: lock-free. Counters are atomics; a charge is all-or-nothing. The
 * backing is read at most every few milliseconds while it has room to spare,
 * at every charge once it is nearly exhausted.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "page.h"


/* -o overcommit=: how much of a file's length must be backed (DESIGN.md). */
enum space_policy {
	SPACE_ALWAYS,     /* lengths are free; pages are taken when written */
	SPACE_HEURISTIC,  /* as always, but no file grows past the capacity */
	SPACE_NEVER,      /* every page below a file's length is reserved or data */
};

/* Pages the backing could still give (the store's figure, store.h). */
typedef uint64_t (*space_backing_fn)(void *arg);

struct space {
	uint64_t capacity;          /* pages; set once by space_init */
	uint64_t max_inodes;        /* 0 = unlimited; set once */
	uint64_t overdraft;         /* pages; set once (space_set_overdraft) */
	enum space_policy policy;   /* set once */
	bool kernel;                /* set once: the kernel path (space_note_used) */
	space_backing_fn backing;   /* set once */
	void *backing_arg;
	_Atomic uint64_t used;      /* pages charged */
	_Atomic uint64_t inodes;    /* inodes charged */
	_Atomic uint64_t dropped;   /* write-back pages that could not be stored */
	_Atomic uint64_t data_pages;     /* over every object, by state: what */
	_Atomic uint64_t reserved_pages; /* user.sparsefs.data/.reserved say */
	_Atomic uint64_t bf_pages;  /* backing reading... */
	_Atomic uint64_t bf_taken;  /* ...less the pages backed since it... */
	_Atomic uint64_t unbacked;  /* ...less the pages charged, not yet backed */
	_Atomic int64_t bf_when_ms; /* when it was read (CLOCK_MONOTONIC) */
};

/* Sets the budget up with no overdraft, policy always, and no backing (a
 * backing without limit) until space_set_backing. */
void space_init(struct space *sp, uint64_t capacity_pages, uint64_t max_inodes);

/* The default overdraft: the smaller of 64 MiB and 1/8 of capacity. */
uint64_t space_default_overdraft(uint64_t capacity_pages);

/* Sets the overdraft (pages, at most capacity) and policy. Before any charge. */
void space_configure(struct space *sp, uint64_t overdraft_pages, enum space_policy policy);

/* Sets the backing (the store's, or a fake in tests). Before any charge. */
void space_set_backing(struct space *sp, space_backing_fn fn, void *arg);

/* What the backing can give now: a fresh reading, less the unbacked pages. */
uint64_t space_backing_free(struct space *sp);

/* Charges n pages for an ordinary writer (not into the overdraft):
 * 0, or -ENOSPC with nothing charged. The pages are unbacked until
 * space_backed, or space_uncharge if they never get memory. */
int space_charge(struct space *sp, uint64_t n);

/* The same for kernel write-back (mmap), which may use the overdraft. */
int space_charge_wb(struct space *sp, uint64_t n);

/* n charged pages now hold real backing (the store populated them). */
void space_backed(struct space *sp, uint64_t n);

/* Gives back n charged pages that were never backed. */
void space_uncharge(struct space *sp, uint64_t n);

/* Counts n write-back pages that could not be stored; returns the new total. */
uint64_t space_count_dropped(struct space *sp, uint64_t n);
uint64_t space_dropped(const struct space *sp);

/* Gives back n backed pages (their memory goes back to the backing). */
void space_release(struct space *sp, uint64_t n);

/*
 * The kernel path (kfile.h): the kernel files took (n > 0) or gave back
 * (n < 0) pages that the kernel, not a charge, allowed. There used may pass
 * the capacity on a disk, whose kernel files only the disk bounds.
 */
void space_note_used(struct space *sp, int64_t n);

/* Charges one inode: 0, or -ENOSPC when max_inodes are in use. */
int space_inode_charge(struct space *sp);
void space_inode_release(struct space *sp);

uint64_t space_used(const struct space *sp);

/* Objects tell the mount-wide totals of data and reserved pages how they moved. */
void space_note_pages(struct space *sp, int64_t data, int64_t reserved);
uint64_t space_data_pages(const struct space *sp);
uint64_t space_reserved_pages(const struct space *sp);

/*
 * Fills every statvfs field the kernel passes on (sizes in SFS_PAGE_SIZE
 * units): f_blocks = capacity, f_bfree = min(capacity - used, backing_free),
 * f_bavail = min(capacity - used - overdraft, backing_free) floored at 0.
 */
void space_statfs(struct space *sp, struct statvfs *st);

/* 0 if the counters are within their bounds, else -1 after printing why. */
int space_check(const struct space *sp);

#endif
