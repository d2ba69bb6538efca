/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_RADOS_PACK_H
#define SPARSEFS_RADOS_PACK_H

/*
 * Where a RADOS mount's pages live: packed into slab objects of 4 MiB, so
 * that the pool stores about what the mount holds, whatever the files' shape.
 *
 * Ceph counts an object's size up to its highest byte (pool STORED, quotas,
 * MAX AVAIL), so a page alone at the end of an object of its own would cost
 * up to a whole object. Here a page that gets backing takes the lowest free
 * place in a slab whose object already covers it, else the next place at the
 * end of the open slab; a page given back leaves a hole that the trimmer
 * zeroes (BlueStore frees it) and that the next page takes. When a slab's
 * holes grow past a quarter of its live pages, the trimmer moves its highest
 * pages down into them and truncates the object: a slab's object never
 * stays much longer than the pages it holds.
 *
 *   handle (the core's slot) --loc--> place: slab * 1024 + page in the slab
 *   slab 0: [h7][h3][  ][h9][h1] | end of the object
 *   slab 1: [h2][h4] |
 *
 * A handle stays the same for the life of its page; only its place moves.
 * Nothing here does I/O or locks: the store (store_rados.c) holds its lock
 * around every call, sends what a plan says, and keeps I/O off a slab while
 * its pages move (inflight, moving).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACK_SLAB_SHIFT 10
#define PACK_SLAB_PAGES (1u << PACK_SLAB_SHIFT) /* 4 MiB of 4 KiB pages */
#define PACK_WORDS (PACK_SLAB_PAGES / 64)
#define PACK_MOVE_MAX 256 /* pages one plan moves: 1 MiB read and written */

struct pack_slab {
	uint64_t used[PACK_WORDS];    /* a live page is here */
	uint64_t zero[PACK_WORDS];    /* given back, to be zeroed by the next plan */
	uint64_t zeroing[PACK_WORDS]; /* given back, a plan in flight zeroes it */
	uint64_t *rev;                /* the handle at each used place */
	uint32_t nused;
	uint32_t top;                 /* the object extends over at most [0, top) */
	uint32_t inflight;            /* I/O sent to the object (the store's count) */
	bool queued;                  /* on the plan queue */
	bool busy;                    /* a plan of it is in flight */
	bool moving;                  /* ... and it moves pages: no I/O to it */
	uint64_t qnext;               /* the plan queue, by slab number + 1 */
};

struct pack {
	struct pack_slab *slabs;
	uint64_t nslabs, cap;
	uint64_t open;                /* the slab that new places are appended to */
	uint64_t hole_hint;           /* no slab below it has a hole to give */
	uint64_t *loc;                /* handle -> place + 1; 0: free handle */
	uint64_t nhandles, loc_cap;   /* handles 1 .. nhandles - 1 were handed out */
	uint64_t *free_handles;
	uint64_t nfree, free_cap;
	uint64_t qhead, qtail;        /* slab number + 1; 0: empty */
	uint64_t live;                /* handles in use */
};

struct pack_extent {
	uint32_t first, n; /* pages of the slab */
};

struct pack_move {
	uint32_t from, to;
	uint64_t handle;
};

/*
 * What one round does to one slab's object, in one write operation (after
 * one read of the pages that move): remove it, or write the moved pages at
 * their new places, zero the holes and cut it at truncate pages.
 */
struct pack_plan {
	uint64_t slab;
	bool remove;
	uint32_t top;      /* the object's extent before */
	uint32_t truncate; /* after; == top: no cut */
	size_t nzero, nmove;
	struct pack_extent zero[PACK_SLAB_PAGES / 2];
	struct pack_move move[PACK_MOVE_MAX];
};

void pack_init(struct pack *pk);
void pack_free_all(struct pack *pk);

/*
 * Places for n pages, handles into handles[0..n): holes first, then the end
 * of the open slab; never in a slab whose pages move. 0 or -ENOMEM (nothing
 * taken).
 */
int pack_alloc(struct pack *pk, size_t n, uint64_t *handles);

/* Gives the handles' places back; queues their slabs for a plan. */
void pack_release(struct pack *pk, const uint64_t *handles, size_t n);

/* The place (slab * PACK_SLAB_PAGES + page) of a live handle. */
static inline uint64_t pack_where(const struct pack *pk, uint64_t handle)
{
	return pk->loc[handle] - 1;
}

static inline struct pack_slab *pack_slab(struct pack *pk, uint64_t place)
{
	return &pk->slabs[place >> PACK_SLAB_SHIFT];
}

/* The next queued slab's plan into *p (the slab turns busy, and moving if
 * pages move); false when none is queued. */
bool pack_plan(struct pack *pk, struct pack_plan *p);

/*
 * The plan was carried out (ok) or not: moved handles take their new places
 * (unless given back meanwhile), zeroed places become holes, the slab is no
 * longer busy, and is queued again if it still has work.
 */
void pack_done(struct pack *pk, const struct pack_plan *p, bool ok);

/* Bytes the slab objects extend over, by this mount's own count. */
uint64_t pack_extent_bytes(const struct pack *pk);

/* 0 if every invariant holds (no plan in flight), else which one broke (< 0). */
int pack_check(const struct pack *pk);

#endif
