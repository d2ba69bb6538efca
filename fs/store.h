/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_STORE_H
#define SPARSEFS_STORE_H

/*
 * store: where the bytes of data pages live, behind a const function table so
 * that a disk pool can join the memory store later.
 *
 *   page_alloc  a 4096-byte, 4096-aligned page that reads as zeros, or NULL
 *               (out of memory: the caller answers ENOMEM, never ENOSPC —
 *               space is charged in struct space before a page is asked for)
 *   page_commit makes the page's memory real now (a reservation is a promise
 *               that a later write will not find the backing empty); 0 or
 *               -ENOMEM
 *   page_free   gives a page back; its memory returns to the system
 *   resident_free  (optional) free pages that still hold memory: a file can
 *               take them without the system giving any more
 *   destroy     frees the store; every page must have been freed or be
 *               abandoned with it
 *
 * Locking: a store is safe to call from any thread.
 */

#include <stddef.h>

struct store;

struct store_ops {
	const char *name;
	void *(*page_alloc)(struct store *st);
	int (*page_commit)(struct store *st, void *page);
	void (*page_free)(struct store *st, void *page);
	size_t (*resident_free)(struct store *st);
	void (*destroy)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* The memory store: pages carved from anonymous mappings. NULL on ENOMEM. */
struct store *store_mem_create(void);

static inline void *store_page_alloc(struct store *st)
{
	return st->ops->page_alloc(st);
}

static inline int store_page_commit(struct store *st, void *page)
{
	return st->ops->page_commit(st, page);
}

static inline void store_page_free(struct store *st, void *page)
{
	st->ops->page_free(st, page);
}

static inline size_t store_resident_free(struct store *st)
{
	return st->ops->resident_free ? st->ops->resident_free(st) : 0;
}

static inline void store_destroy(struct store *st)
{
	st->ops->destroy(st);
}

#endif
