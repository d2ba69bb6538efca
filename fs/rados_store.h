/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_RADOS_STORE_H
#define SPARSEFS_RADOS_STORE_H

/*
 * Inside the RADOS store (store_rados.c says how it works), one job a file:
 *
 *   store_rados.c  the store's operations (back, read, write, ...) and its life
 *   rados_ops.c    asynchronous operations on slab objects, pinned while in flight
 *   rados_trim.c   the trimmer: zero, move, cut and remove, as rados_pack.c plans
 *   rados_watch.c  the pool's figures, how often they are read; the mount's lock
 *   rados_pack.c   where each page lives (no I/O)
 *   rados_pool.c   what sparsefs-clean shares: connect, figures, namespace removal
 */
#include "store.h"
#include "store_rados.h"
#include "rados_pack.h"

#include <pthread.h>
#include <rados/librados.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define PAGE_SIZE SFS_PAGE_SIZE
#define TRIM_BATCH 64       /* slab plans one trim round sends at once */
#define MOVE_PLANS 8        /* of which at most this many move pages (1 MiB each) */
#define FIGURES_BUSY_MS 1000  /* read the pool's figures this often while busy, */
#define FIGURES_IDLE_MS 15000 /* this often otherwise (one `df detail` each) */
#define BUSY_MS 30000         /* a change to what the mount holds keeps it busy so long */
#define NEAR_FULL_BYTES (1ull << 30) /* busy too while the pool has less free, */
#define NEAR_FULL_SHARE 8     /* or less than 1/8 of what it holds */
#define FIGURES_LAG_MS 10000  /* they may miss what was written this long before */
#define SAMPLES 64          /* allocation history, one sample per reading */

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "slots hold pack handles");
_Static_assert(PACK_SLAB_PAGES * PAGE_SIZE == 1u << RADOS_SLAB_SHIFT, "one slab, one object");

struct sample {
	int64_t ms;
	uint64_t allocated;
};

struct rados_store {
	struct store base;
	char *pool, *conf, *id, *keyring;
	unsigned timeout_s;
	char ns[40];            /* RADOS_NS_PREFIX + the mount id */
	char *where;            /* "POOL/NAMESPACE", for the figures */
	rados_t cluster;
	rados_ioctx_t io;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t changed; /* [lock] a plan was queued or done; I/O ended; stop */
	struct pack pack;       /* [lock] where every backed page lives */
	struct pack_plan *plans; /* the trimmer's, TRIM_BATCH of them */
	bool stop;              /* [lock] the threads end */
	pthread_t trimmer, watcher;
	bool threads;

	/* Space, in bytes, from the last reading; [lock]. */
	uint64_t max_avail, quota, stored, free_bytes;
	int64_t read_ms;
	bool have_figures;
	uint64_t allocated;     /* [lock] pages this mount has backed now */
	struct sample samples[SAMPLES]; /* [lock] ring */
	unsigned nsamples, sample_at;   /* [lock] */

	int64_t said_ms;        /* [lock] last error line, rate-limited */
	_Atomic uint64_t io_errors;
	uint64_t moved;         /* [lock] pages the trimmer moved down */
};

/* One operation on a slab object. */
struct pending_op {
	rados_completion_t done;
	rados_write_op_t wop;
	rados_read_op_t rop;
	char oid[RADOS_OID_MAX];
	uint64_t slab;          /* the object's, pinned while the op is in flight */
	bool pinned;
};

static inline int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- rados_ops.c ---- */

/* One line for a failed operation, at most one a second; counted in io_errors. */
void rs_say_error(struct rados_store *rs, const char *what, const char *oid, int err);

/* What a caller sees of a librados error: ENOSPC, ENOMEM or EIO. */
int rs_errno(int err);

/* The object name of a slab, into buf (RADOS_OID_MAX). */
void slab_object_name(char *buf, uint64_t slab);

/* Releases op's completion and operation. */
void pending_release(struct pending_op *op);

/* Waits for op and releases it; its result. */
int pending_finish(struct pending_op *op);

/* Sends op (its wop or rop built); 0, or the error with op released. */
int pending_send(struct rados_store *rs, struct pending_op *op);

/* An op for slab's object, pinned: the slab's pages do not move while it is in
 * flight. Lock held; the slab is not moving. */
void pending_start(struct rados_store *rs, struct pending_op *op, uint64_t slab, bool write);

/* Unpins the k ops; lock held. A move waiting for a slab's I/O is woken. */
void pending_unpin(struct rados_store *rs, struct pending_op *ops, size_t k);

/* Waits for the k ops sent (and unpins all n); err, or else the first op's
 * error. Failures are said, except a full pool (the caller's ENOSPC says it). */
int pending_finish_all(struct rados_store *rs, struct pending_op *ops, size_t k, size_t n,
		       int err, const char *what);

/* ---- rados_trim.c ---- */

/* The trimmer thread: runs the plans rados_pack.c queues, until rs->stop. */
void *rs_trimmer(void *arg);

/* ---- rados_watch.c ---- */

/* Reads the pool's figures into the store; 0 or -errno (they stand then). */
int rs_read_figures(struct rados_store *rs, rados_t cl);

/* The store's backing_free: the figures' free pages, less what the mount
 * allocated since FIGURES_LAG_MS before they were read. */
uint64_t rs_backing_free(struct store *st);

/* The watcher thread: reads the figures (often while busy or near full,
 * rarely when idle) and renews the mount's lock, until rs->stop. */
void *rs_watcher(void *arg);

#endif
