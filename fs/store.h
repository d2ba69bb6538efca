/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_STORE_H
#define SPARSEFS_STORE_H

/*
 * store: where the bytes of pages live, behind one const function table
 * chosen at mount (memory, a disk pool, RADOS). The core (object.c) never
 * knows which store it has; it decides every page's state, the store only
 * gives pages real backing and moves their bytes.
 *
 * A page the store backs is named by the file's key (its inode number), its
 * page index and the slot the store gave it when it backed it; each store
 * uses what it needs (memory: the slot is the page's address; a disk pool:
 * the slot is a place in the pool; RADOS: key and index).
 *
 *   file key 12:  idx 0    idx 1    idx 2 ...   (the core's page map)
 *                 slot 7   -        slot 3      (what the store handed out)
 *                   |                 |
 *   pool:   [ 0 ][ 1 ][ 2 ][ 3 ][ 4 ][ 5 ][ 6 ][ 7 ]...
 *
 * Slots are never 0 (STORE_NO_SLOT). The bytes of a page that is not data
 * (reserved) are the store's business: the core never reads them, and when
 * a page becomes data the core writes all of it.
 *
 *   start     (optional) called once in the process that serves the mount,
 *             after it has become a daemon: threads and connections that
 *             must not cross fork() are made here. 0 or -errno (said).
 *   back      gives pages [idx, idx + n) of a file real backing, fills
 *             slots[0..n): memory committed, disk blocks allocated, cluster
 *             space written. All or nothing: 0, -ENOSPC (the backing has no
 *             room: another process filled the disk), -ENOMEM, -EIO.
 *   back_for_write  (optional) the same, for pages the caller's next write
 *             covers whole: a store whose writes allocate may leave the
 *             allocation to that write, which may then fail with -ENOSPC
 *             (the caller gives the pages back then). Defaults to back.
 *   unback    gives n pages back (slots as back gave them; a run or single
 *             pages); cannot fail: a store that cannot return the space at
 *             once keeps the slots for reuse.
 *   write     copies the segments into the pages they name; 0 or -EIO (or
 *             -ENOSPC where the store cannot promise an overwrite: see its
 *             file). A failed write may have written some segments.
 *   read      copies the pages' bytes into the segments; 0 or -EIO.
 *   map       (optional) the page's bytes in memory, for zero-copy reads;
 *             valid until the page is unbacked.
 *   backing_free  pages the backing can still give (a fresh reading).
 *   size      what size= means here (struct store_size).
 *   describe  one line for user.sparsefs.backing: "KIND WHERE FSTYPE FREE".
 *   destroy   frees the store and everything it holds.
 *   threads   how many requests are worth serving at once (0: one per CPU):
 *             a store whose calls wait on a network wants more.
 *   readahead_kb  the mount's readahead, where the kernel's 128 KiB is too
 *             little (0: the kernel's): each read round trip costs more.
 *
 * Locking: every function is safe to call from any thread; calls for one
 * page are serialized by the caller (the inode's lock).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "page.h"

#define STORE_NO_SLOT ((uintptr_t)0)

struct store;

/* One piece of one page: bytes [off, off + len) of page idx (slot) <-> buf. */
struct store_seg {
	uint64_t idx;
	uintptr_t slot;
	uint32_t off, len;
	void *buf;
};

/*
 * How big a mount on this store is by default, and what "N%" of size= means:
 * pct_base the bytes 100% stands for, default the capacity without size=.
 */
struct store_size {
	uint64_t pct_base;
	uint64_t default_bytes;
};

struct store_ops {
	const char *name;
	unsigned threads;
	unsigned readahead_kb;
	int (*start)(struct store *st);
	int (*back)(struct store *st, uint64_t key, uint64_t idx, size_t n, uintptr_t *slots);
	int (*back_for_write)(struct store *st, uint64_t key, uint64_t idx, size_t n,
			      uintptr_t *slots);
	void (*unback)(struct store *st, uint64_t key, uint64_t idx, size_t n,
		       const uintptr_t *slots);
	int (*write)(struct store *st, uint64_t key, const struct store_seg *segs, size_t n);
	int (*read)(struct store *st, uint64_t key, const struct store_seg *segs, size_t n);
	void *(*map)(struct store *st, uintptr_t slot);
	uint64_t (*backing_free)(struct store *st);
	int (*size)(struct store *st, struct store_size *out);
	int (*describe)(struct store *st, char *buf, size_t size);
	void (*destroy)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* The memory store: pages carved from anonymous mappings. NULL on ENOMEM. */
struct store *store_mem_create(void);

/* Fields of /proc/meminfo in bytes (0 where unreadable): the one reader. */
struct meminfo {
	uint64_t total, available, swap_free;
};
void store_mem_meminfo(struct meminfo *mi);

/*
 * The disk store: a private pool file on the filesystem holding dir, gone
 * with the process however it ends. NULL after one line on stderr naming the
 * problem (missing, not a directory, not writable, on sparsefs itself, no
 * hole punching).
 */
struct store *store_disk_create(const char *dir);

/*
 * The RADOS store: objects in a namespace of its own in pool (rados:POOL).
 * conf and id as the rados command takes them (NULL: CEPH_CONF or
 * /etc/ceph/ceph.conf, client.admin); timeout_s bounds every operation.
 * NULL after one line on stderr naming the problem (no configuration, no
 * cluster within 10 s, credentials refused, no such pool).
 */
struct store_rados_opts {
	const char *pool, *conf, *id;
	unsigned timeout_s;
};
struct store *store_rados_create(const struct store_rados_opts *o);

static inline int store_start(struct store *st)
{
	return st->ops->start ? st->ops->start(st) : 0;
}

/* Sizes for size= (see struct store_size); 0 or -errno. */
static inline int store_size(struct store *st, struct store_size *out)
{
	return st->ops->size(st, out);
}

static inline int store_describe(struct store *st, char *buf, size_t size)
{
	return st->ops->describe(st, buf, size);
}

static inline int store_back(struct store *st, uint64_t key, uint64_t idx, size_t n,
			     uintptr_t *slots)
{
	return st->ops->back(st, key, idx, n, slots);
}

static inline int store_back_for_write(struct store *st, uint64_t key, uint64_t idx, size_t n,
				       uintptr_t *slots)
{
	return st->ops->back_for_write ? st->ops->back_for_write(st, key, idx, n, slots)
				       : st->ops->back(st, key, idx, n, slots);
}

static inline void store_unback(struct store *st, uint64_t key, uint64_t idx, size_t n,
				const uintptr_t *slots)
{
	st->ops->unback(st, key, idx, n, slots);
}

static inline int store_write(struct store *st, uint64_t key, const struct store_seg *segs,
			      size_t n)
{
	return n ? st->ops->write(st, key, segs, n) : 0;
}

static inline int store_read(struct store *st, uint64_t key, const struct store_seg *segs,
			     size_t n)
{
	return n ? st->ops->read(st, key, segs, n) : 0;
}

/* NULL where the store has no zero-copy view of its pages. */
static inline void *store_map(struct store *st, uintptr_t slot)
{
	return st->ops->map ? st->ops->map(st, slot) : NULL;
}

static inline uint64_t store_backing_free(struct store *st)
{
	return st->ops->backing_free(st);
}

static inline void store_destroy(struct store *st)
{
	st->ops->destroy(st);
}

#endif
