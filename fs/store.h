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
 *   about     where its pages are, on what, and what else draws on that
 *             backing (struct store_about), for the mount's figures.
 *   figures   (optional) names of figures of its own (NULL-terminated), read
 *             with figure: user.sparsefs.store.NAME.
 *   destroy   frees the store and everything it holds.
 *   threads   how many requests are worth serving at once (0: one per CPU):
 *             a store whose calls wait on a network wants more.
 *   readahead_kb  the mount's readahead, where the kernel's 128 KiB is too
 *             little (0: the kernel's): each read round trip costs more.
 *
 * Locking: every function is safe to call from any thread; calls for one
 * page are serialized by the caller (the inode's lock).
 */

#include <errno.h>
#include <stdbool.h>
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

/*
 * What a store says of itself (store_ops.about, and the kernel stores' too):
 * strings the store owns, valid while it lives.
 */
struct store_about {
	const char *where;  /* "-" where nothing names it (memory), a directory, "POOL/NAMESPACE" */
	const char *fstype; /* what holds the pages: "-", "ext4", "tmpfs", "ceph" */
	const char *shared; /* what else takes from the same backing, as a phrase */
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
	void (*about)(struct store *st, struct store_about *out);
	const char *const *figures;
	int (*figure)(struct store *st, const char *name, uint64_t *value);
	void (*destroy)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* The memory store: pages carved from anonymous mappings. NULL on ENOMEM. */
struct store *store_mem_create(void);
extern const struct store_kind store_kind_memory, store_kind_disk, store_kind_rados;

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
 * The type of the filesystem mounted on device dev, from mountinfo (the last
 * mount of it wins, as the one on top); "?" if not found.
 */
void store_fstype(dev_t dev, char *out, size_t size);

/*
 * The RADOS store: objects in a namespace of its own in pool (rados:POOL).
 * conf and id as the rados command takes them (NULL: CEPH_CONF or
 * /etc/ceph/ceph.conf, client.admin); timeout_s bounds every operation.
 * NULL after one line on stderr naming the problem (no configuration, no
 * cluster within 10 s, credentials refused, no such pool).
 */
struct store_rados_opts {
	const char *pool, *conf, *id, *keyring; /* NULL: librados's defaults */
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

static inline void store_about(struct store *st, struct store_about *out)
{
	st->ops->about(st, out);
}

/* A figure of the store's own (store_ops.figures): 0, or -ENODATA. */
static inline int store_figure(struct store *st, const char *name, uint64_t *value)
{
	return st->ops->figure ? st->ops->figure(st, name, value) : -ENODATA;
}

/*
 * The registry of stores (stores.c): every kind of backing= a mount may name,
 * each with its own -o options. Adding a store is one source file that
 * defines its kind, one line in stores.c, and one file of test hooks
 * (tests/mount/stores/NAME.sh); nothing else branches on a store's name.
 */
struct store_option {
	const char *name; /* -o NAME=VALUE */
	const char *help; /* one line for -h */
};

/* The store options a mount was given, by name (store_arg). */
#define STORE_ARGS_MAX 16
struct store_args {
	const char *names[STORE_ARGS_MAX];
	const char *values[STORE_ARGS_MAX];
	size_t n;
};

/* The value given for option name, or NULL. */
const char *store_arg(const struct store_args *a, const char *name);

struct kstore;

struct store_kind {
	const char *name;   /* user.sparsefs.store */
	const char *syntax; /* how backing= names it, for messages and -h */
	const char *prefix; /* backing= values starting so are this kind's (what follows:
			       where), or NULL */
	bool any_path;      /* backing= values no other kind claims are its (a directory) */
	const char *help;   /* -h: what its pages live in */
	const struct store_option *options; /* its own -o options, ended by a NULL name */
	/* The daemon path's store: NULL after one line on stderr naming the problem. */
	struct store *(*create)(const char *where, const struct store_args *args);
	/* The kernel path's (kfile.h), or NULL where it has none; NULL with errno set,
	 * or after one line on stderr. */
	struct kstore *(*create_kernel)(const char *where, uint64_t capacity_bytes);
};

/* Every kind, NULL-terminated: memory first (the default). */
extern const struct store_kind *const store_registry[];

/* The kind backing (NULL: the default) names, *where what it names within it;
 * NULL if none does. */
const struct store_kind *store_kind_of(const char *backing, const char **where);

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
