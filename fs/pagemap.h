/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_PAGEMAP_H
#define SPARSEFS_PAGEMAP_H

/*
 * pagemap: a sparse index from page number to page state (and page memory).
 *
 * Every page index is in exactly one state: a hole (absent), reserved, or data.
 * Memory grows with the number of pages present, never with the largest index:
 * a map whose only page is number 2^50 costs a few hundred bytes.
 *
 * Shape: a radix tree of 64-way nodes, six bits of the index per level. Nodes
 * are bitmap-compressed: a node holds only the slots whose bit is set, packed
 * in bit order, so a node with one child costs one pointer.
 *
 *   root (height h) ── node ── ... ── node ── leaf
 *                      map: 0b...1001 │       present = data | resv
 *                      slot[0], slot[1]        data:  0b...0001
 *                                              resv:  0b...1000
 *                                              page[popcount(present below i)]
 *
 * A leaf covers 64 consecutive pages; page[] has one pointer per present page
 * (data pages always point at their bytes; a reserved page may point at memory
 * committed for it, or be NULL). Interior levels above the leaves number
 * `height`; the tree grows upward when an index beyond its reach is set.
 *
 * Invariants (pagemap_check): no empty node or leaf is linked; data & resv == 0
 * in every leaf; nr_data / nr_reserved equal the bit counts; every data slot is
 * non-NULL.
 *
 * Locking: none inside. The owner (an object, under its inode lock) serialises.
 */

#include <stdbool.h>
#include <stdint.h>

#include "page.h"

/* Pages needed for any length up to INT64_MAX bytes. */
#define PAGEMAP_MAX_INDEX ((uint64_t)INT64_MAX >> SFS_PAGE_SHIFT)

/* Page states; also usable as masks for the find functions. */
enum pm_state {
	PM_HOLE = 0,
	PM_RESERVED = 1,
	PM_DATA = 2,
};
#define PM_ANY (PM_RESERVED | PM_DATA)

struct pagemap {
	void *root;           /* leaf if height == 0, else interior node */
	unsigned height;      /* interior levels above the leaves */
	uint64_t nr_data;     /* pages in state data */
	uint64_t nr_reserved; /* pages in state reserved */
};

void pagemap_init(struct pagemap *pm);

/*
 * Frees every node. free_page (may be NULL) is called for each non-NULL page
 * pointer, data and reserved alike. The map is empty afterwards.
 */
void pagemap_destroy(struct pagemap *pm, void (*free_page)(void *page, void *arg),
		     void *arg);

/* The state of page idx; *page (if non-NULL) receives its pointer or NULL. */
enum pm_state pagemap_get(const struct pagemap *pm, uint64_t idx, void **page);

/*
 * Puts page idx in `state` with pointer `page` (must be non-NULL for PM_DATA,
 * NULL for PM_HOLE). *old (if non-NULL) receives the pointer the slot held
 * before, which the caller now owns. Returns 0, -EINVAL for an index beyond
 * PAGEMAP_MAX_INDEX or a bad state, -ENOMEM if a node could not be allocated
 * (the map is then unchanged). Setting PM_HOLE never fails.
 */
int pagemap_set(struct pagemap *pm, uint64_t idx, enum pm_state state, void *page,
		void **old);

/*
 * The first page >= from whose state is in `mask` (PM_DATA, PM_RESERVED or
 * PM_ANY). Returns true and sets *idx, or false if there is none.
 */
bool pagemap_find(const struct pagemap *pm, uint64_t from, unsigned mask, uint64_t *idx);

/*
 * The first page >= from whose state is NOT in `mask` (PM_HOLE always
 * qualifies). Returns it; past PAGEMAP_MAX_INDEX every page is a hole, so the
 * answer is at most max(from, PAGEMAP_MAX_INDEX + 1).
 */
uint64_t pagemap_find_not(const struct pagemap *pm, uint64_t from, unsigned mask);

/* Bytes of node memory the map holds (for tests and the benchmark). */
uint64_t pagemap_overhead(const struct pagemap *pm);

/* Verifies the invariants above; returns 0, or -1 after printing what broke. */
int pagemap_check(const struct pagemap *pm);

#endif
