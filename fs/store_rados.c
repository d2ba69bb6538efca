/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store (-o backing=rados:POOL): pages live packed in 4 MiB slab
 * objects of a Ceph pool, in a namespace of the mount's own (store_rados.h
 * shows the layout), so that many mounts share a pool without seeing each
 * other.
 *
 * Ceph counts an object's size up to its highest byte (STORED, quotas, MAX
 * AVAIL), so a page may not sit alone at the far end of an object: a page
 * that gets backing takes a place in a slab (rados_pack.c: the lowest hole,
 * else the end of the open slab), whatever file and offset it belongs to,
 * and the slot the core keeps for it is a handle to that place. The pool
 * then stores about what the mount holds: holes of files cost nothing, and
 * neither does the shape of a write pattern.
 *
 *   file 12 page 0 -> handle 5 -> slab.00000000000 page 3
 *   file 12 page 9 -> handle 6 -> slab.00000000000 page 4
 *   file 40 page 1 -> handle 2 -> slab.00000000001 page 0
 *
 * Backing a page (a reservation) writes zeros over its place, so the
 * object's size covers it and the OSDs have allocated it: Ceph refuses a
 * write into a full pool only when it grows what the pool stores, so a write
 * into a reservation still succeeds once the pool is full. A page backed for
 * a write that covers it whole (back_for_write) is allocated by that write.
 *
 * Giving pages back only marks their places; a trimmer thread then sends one
 * operation per slab object: zero the places given back (BlueStore frees
 * them), move the highest pages down into the holes when these have grown
 * past a quarter of the slab's pages (read, then write them at once with the
 * cut), cut the object after its last page, or remove it when none is left.
 * No request touches a slab while its pages move: I/O to it waits, and the
 * move waits for the I/O in flight (pack_slab.inflight). Moves never grow an
 * object, so they work in a full pool too.
 *
 * Space: the pool's figures (MAX AVAIL, which counts replication; quota less
 * what is stored) are read by a second thread every second while the mount
 * writes or the pool is near full, every 15 s otherwise, less what
 * this mount allocated in the FIGURES_LAG_MS before the reading (the cluster's
 * own figures lag by seconds). The same thread renews the mount's lock.
 *
 * Every operation has a bound (-o rados_timeout=, rados_osd_op_timeout):
 * a cluster that does not answer is EIO to that request, never a hang.
 * librados is told to try writes to a full pool (full_try) so that a full
 * pool or a reached quota is ENOSPC at once instead of a paused write.
 *
 * librados keeps threads, which do not survive fork: store_rados_create only
 * checks the cluster and the pool and reads the figures; start, called in the
 * process that serves the mount, connects for good.
 */
#include "store.h"
#include "store_rados.h"
#include "rados_pack.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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

static const char zero_page[PAGE_SIZE];

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line for a failed operation, at most one a second. */
static void say_error(struct rados_store *rs, const char *what, const char *oid, int err)
{
	int64_t now = mono_ms();
	bool say;

	atomic_fetch_add(&rs->io_errors, 1);
	pthread_mutex_lock(&rs->lock);
	say = now - rs->said_ms >= 1000;
	if (say)
		rs->said_ms = now;
	pthread_mutex_unlock(&rs->lock);
	if (say)
		fprintf(stderr, "sparsefs: rados %s/%s: %s %s: %s\n", rs->pool, rs->ns, what, oid,
			strerror(-err));
}

/* What a caller sees of a librados error. */
static int io_errno(int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return -ENOSPC;
	return err == -ENOMEM ? -ENOMEM : -EIO;
}


static void object_name(char *buf, uint64_t slab)
{
	snprintf(buf, RADOS_OID_MAX, RADOS_SLAB_PREFIX "%011" PRIx64, slab);
}

/* ---- asynchronous operations ---- */

struct pending_op {
	rados_completion_t done;
	rados_write_op_t wop;
	rados_read_op_t rop;
	char oid[RADOS_OID_MAX];
	uint64_t slab;          /* the object's, pinned while the op is in flight */
	bool pinned;
};

static void op_release(struct pending_op *op)
{
	if (op->done)
		rados_aio_release(op->done);
	if (op->wop)
		rados_release_write_op(op->wop);
	if (op->rop)
		rados_release_read_op(op->rop);
	op->done = NULL;
	op->wop = op->rop = NULL;
}

/* Waits for op and releases it; its result. */
static int op_finish(struct pending_op *op)
{
	int ret;

	if (!op->done)
		return -EIO;
	rados_aio_wait_for_complete(op->done);
	ret = rados_aio_get_return_value(op->done);
	op_release(op);
	return ret;
}

/* Sends op (its wop or rop built); 0, or the error with op released. */
static int op_send(struct rados_store *rs, struct pending_op *op)
{
	int ret = rados_aio_create_completion2(NULL, NULL, &op->done);

	if (ret)
		op->done = NULL;
	else if (op->wop)
		ret = rados_aio_write_op_operate(op->wop, rs->io, op->done, op->oid, NULL,
						 LIBRADOS_OPERATION_FULL_TRY);
	else
		ret = rados_aio_read_op_operate(op->rop, rs->io, op->done, op->oid,
						LIBRADOS_OPERATION_NOFLAG);
	if (ret)
		op_release(op);
	return ret;
}

/* An op for slab's object, pinned: the slab's pages do not move while it is
 * in flight. Lock held; the slab is not moving. */
static void op_start(struct rados_store *rs, struct pending_op *op, uint64_t slab, bool write)
{
	op->slab = slab;
	object_name(op->oid, slab);
	op->pinned = true;
	rs->pack.slabs[slab].inflight++;
	if (write)
		op->wop = rados_create_write_op();
	else
		op->rop = rados_create_read_op();
}

/* Unpins the k ops; lock held. A move waiting for a slab's I/O is woken. */
static void ops_unpin(struct rados_store *rs, struct pending_op *ops, size_t k)
{
	bool wake = false;

	for (size_t i = 0; i < k; i++) {
		struct pack_slab *s;

		if (!ops[i].pinned)
			continue;
		s = &rs->pack.slabs[ops[i].slab];
		ops[i].pinned = false;
		wake |= --s->inflight == 0 && s->moving;
	}
	if (wake)
		pthread_cond_broadcast(&rs->changed);
}

/*
 * Waits for the k ops sent (and unpins all n); err, or else the first op's
 * error. Failures are said, except a full pool (the caller's ENOSPC says it).
 */
static int finish_all(struct rados_store *rs, struct pending_op *ops, size_t k, size_t n,
		      int err, const char *what)
{
	for (size_t i = 0; i < k; i++) {
		int r = op_finish(&ops[i]);

		if (r && !err)
			err = r;
		if (r && r != -ENOSPC && r != -EDQUOT)
			say_error(rs, what, ops[i].oid, r);
	}
	for (size_t i = k; i < n; i++)
		op_release(&ops[i]);
	pthread_mutex_lock(&rs->lock);
	ops_unpin(rs, ops, n);
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* ---- the store ---- */

static uint64_t slab_of(uint64_t place)
{
	return place >> PACK_SLAB_SHIFT;
}

static uint64_t offset_of(uint64_t place)
{
	return (place & (PACK_SLAB_PAGES - 1)) * PAGE_SIZE;
}

/* Waits until no segment's slab is moving pages. Lock held. */
static void wait_unmoving(struct rados_store *rs, const struct store_seg *segs, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (pack_slab(&rs->pack, pack_where(&rs->pack, segs[i].slot))->moving) {
			pthread_cond_wait(&rs->changed, &rs->lock);
			i = 0; /* anything may have moved meanwhile */
		} else {
			i++;
		}
	}
}

static int rs_back_common(struct store *st, uint64_t key, uint64_t idx, size_t n,
			  uintptr_t *slots, bool write_follows)
{
	struct rados_store *rs = (struct rados_store *)st;
	uint64_t *handles = (uint64_t *)slots;
	struct pending_op *ops = NULL;
	size_t k = 0, nops = 0;
	int ret, err = 0;

	(void)key;
	(void)idx;
	if (!write_follows) {
		ops = calloc(n, sizeof(*ops));
		if (!ops)
			return -ENOMEM;
	}
	pthread_mutex_lock(&rs->lock);
	ret = pack_alloc(&rs->pack, n, handles);
	if (ret || write_follows) {
		rs->allocated += ret ? 0 : n;
		pthread_mutex_unlock(&rs->lock);
		return ret;
	}
	rs->allocated += n;
	/* Zeros over the places, one operation per slab, one extent per run;
	 * new places are in no moving slab, and pinned they stay where they are. */
	for (size_t i = 0; i < n; i++) {
		uint64_t place = pack_where(&rs->pack, handles[i]);
		size_t j = i + 1;

		if (!nops || ops[nops - 1].slab != slab_of(place))
			op_start(rs, &ops[nops++], slab_of(place), true);
		while (j < n && pack_where(&rs->pack, handles[j]) == place + (j - i) &&
		       slab_of(place + (j - i)) == slab_of(place))
			j++;
		if (ops[nops - 1].wop)
			rados_write_op_writesame(ops[nops - 1].wop, zero_page, PAGE_SIZE,
						 (j - i) * PAGE_SIZE, offset_of(place));
		i = j - 1;
	}
	pthread_mutex_unlock(&rs->lock);
	for (; k < nops; k++) {
		err = ops[k].wop ? op_send(rs, &ops[k]) : -ENOMEM;
		if (err)
			break;
	}
	err = finish_all(rs, ops, k, nops, err, "reserving");
	free(ops);
	ret = err ? io_errno(err) : 0;
	if (ret) {
		/* Nothing stays backed; what was written is zeroed by the trimmer. */
		pthread_mutex_lock(&rs->lock);
		pack_release(&rs->pack, handles, n);
		rs->allocated -= n;
		pthread_cond_broadcast(&rs->changed);
		pthread_mutex_unlock(&rs->lock);
	}
	return ret;
}

static int rs_back(struct store *st, uint64_t key, uint64_t idx, size_t n, uintptr_t *slots)
{
	return rs_back_common(st, key, idx, n, slots, false);
}

static int rs_back_for_write(struct store *st, uint64_t key, uint64_t idx, size_t n,
			     uintptr_t *slots)
{
	return rs_back_common(st, key, idx, n, slots, true);
}

static void rs_unback(struct store *st, uint64_t key, uint64_t idx, size_t n,
		      const uintptr_t *slots)
{
	struct rados_store *rs = (struct rados_store *)st;

	(void)key;
	(void)idx;
	pthread_mutex_lock(&rs->lock);
	pack_release(&rs->pack, (const uint64_t *)slots, n);
	rs->allocated -= n;
	pthread_cond_broadcast(&rs->changed); /* the trimmer has work */
	pthread_mutex_unlock(&rs->lock);
}

struct read_extent {
	char *buf;
	size_t len, got;
	int rval;
};

/*
 * Builds one op per run of segments in one slab (a write op or a read op),
 * one extent per run of segments that follow each other in the object and in
 * memory, every op pinned; *nops receives how many were built. Waits first
 * for the slabs' moves to end. A read's extents go to xs. 0 or -ENOMEM.
 */
static int build_io(struct rados_store *rs, const struct store_seg *segs, size_t n, bool write,
		    struct pending_op *ops, size_t *nops, struct read_extent *xs)
{
	size_t k = 0;
	int err = 0;

	pthread_mutex_lock(&rs->lock);
	wait_unmoving(rs, segs, n);
	for (size_t i = 0; i < n;) {
		uint64_t place = pack_where(&rs->pack, segs[i].slot);
		uint64_t at = offset_of(place) + segs[i].off;
		size_t len = segs[i].len, j = i + 1;
		struct pending_op *op;

		if (!k || ops[k - 1].slab != slab_of(place))
			op_start(rs, &ops[k++], slab_of(place), write);
		op = &ops[k - 1];
		while (j < n) {
			uint64_t next = pack_where(&rs->pack, segs[j].slot);

			if (slab_of(next) != slab_of(place) ||
			    offset_of(next) + segs[j].off != at + len ||
			    (char *)segs[j].buf != (char *)segs[i].buf + len)
				break;
			len += segs[j].len;
			j++;
		}
		if (!op->wop && !op->rop) {
			err = -ENOMEM;
		} else if (write) {
			rados_write_op_write(op->wop, segs[i].buf, len, at);
		} else {
			struct read_extent *x = &xs[i];

			*x = (struct read_extent){ .buf = segs[i].buf, .len = len };
			rados_read_op_read(op->rop, at, len, x->buf, &x->got, &x->rval);
		}
		i = j;
	}
	pthread_mutex_unlock(&rs->lock);
	*nops = k;
	return err;
}

/* Builds, sends and finishes the I/O for segs; 0 or the first error. */
static int do_io(struct rados_store *rs, const struct store_seg *segs, size_t n, bool write,
		 struct read_extent *xs)
{
	struct pending_op *ops = calloc(n, sizeof(*ops));
	size_t k = 0, nops = 0;
	int err;

	if (!ops)
		return -ENOMEM;
	err = build_io(rs, segs, n, write, ops, &nops, xs);
	for (; !err && k < nops; k++) {
		err = op_send(rs, &ops[k]);
		if (err)
			break;
	}
	err = finish_all(rs, ops, k, nops, err, write ? "writing" : "reading");
	free(ops);
	return err;
}

static int rs_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	int err;

	(void)key;
	err = do_io((struct rados_store *)st, segs, n, true, NULL);
	return err ? io_errno(err) : 0;
}

static int rs_read(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	struct read_extent *xs = calloc(n, sizeof(*xs));
	int err;

	(void)key;
	if (!xs)
		return -ENOMEM;
	err = do_io((struct rados_store *)st, segs, n, false, xs);
	/* A page read here is data: its object must exist (no silent zeros). */
	for (size_t i = 0; !err && i < n; i++) {
		struct read_extent *x = &xs[i];

		if (!x->buf)
			continue;
		if (x->rval < 0)
			err = x->rval;
		else if (x->got < x->len) /* past the object's end: never written */
			memset(x->buf + x->got, 0, x->len - x->got);
	}
	free(xs);
	return err ? io_errno(err) : 0;
}

/* ---- the trimmer ---- */

/* The write op that carries out plan p (moved pages' bytes in buf). */
static void build_plan_op(const struct pack_plan *p, struct pending_op *op, const char *buf)
{
	rados_write_op_t w = op->wop;

	/* Only what exists: a trim never makes an object. */
	rados_write_op_assert_exists(w);
	if (p->remove) {
		rados_write_op_remove(w);
		return;
	}
	for (size_t m = 0; m < p->nmove; m++)
		rados_write_op_write(w, buf + m * PAGE_SIZE, PAGE_SIZE,
				     (uint64_t)p->move[m].to * PAGE_SIZE);
	for (size_t z = 0; z < p->nzero; z++)
		rados_write_op_zero(w, (uint64_t)p->zero[z].first * PAGE_SIZE,
				    (uint64_t)p->zero[z].n * PAGE_SIZE);
	if (p->truncate < p->top)
		rados_write_op_truncate(w, (uint64_t)p->truncate * PAGE_SIZE);
}

/*
 * Reads the pages plan p moves into buf (zeros past the object's end: a page
 * backed for a write that has not come yet); 0 or -errno.
 */
static int read_moved(struct rados_store *rs, const struct pack_plan *p, char *buf)
{
	struct pending_op op = { 0 };
	size_t *got = calloc(p->nmove, sizeof(*got));
	int *rval = calloc(p->nmove, sizeof(*rval));
	int ret = -ENOMEM;

	object_name(op.oid, p->slab);
	op.rop = rados_create_read_op();
	if (got && rval && op.rop) {
		for (size_t m = 0; m < p->nmove; m++)
			rados_read_op_read(op.rop, (uint64_t)p->move[m].from * PAGE_SIZE, PAGE_SIZE,
					   buf + m * PAGE_SIZE, &got[m], &rval[m]);
		ret = op_send(rs, &op);
		if (!ret)
			ret = op_finish(&op);
		for (size_t m = 0; !ret && m < p->nmove; m++) {
			if (rval[m] < 0)
				ret = rval[m];
			else
				memset(buf + m * PAGE_SIZE + got[m], 0, PAGE_SIZE - got[m]);
		}
	} else {
		op_release(&op);
	}
	free(got);
	free(rval);
	return ret;
}

/*
 * One round: up to TRIM_BATCH queued slabs planned, their moves read, and
 * every plan's operation in flight at once. Lock held (dropped meanwhile).
 */
static void trim_round(struct rados_store *rs)
{
	struct pack_plan *plans = rs->plans;
	struct pending_op ops[TRIM_BATCH];
	char *bufs[TRIM_BATCH] = { NULL };
	int res[TRIM_BATCH];
	size_t k = 0, moving = 0;

	memset(ops, 0, sizeof(ops));
	while (k < TRIM_BATCH && moving < MOVE_PLANS && pack_plan(&rs->pack, &plans[k]))
		moving += plans[k++].nmove > 0;
	/* A move waits for the I/O in flight to its slab (new I/O waits for it). */
	for (size_t i = 0; i < k; i++)
		while (plans[i].nmove && rs->pack.slabs[plans[i].slab].inflight)
			pthread_cond_wait(&rs->changed, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
	for (size_t i = 0; i < k; i++) {
		res[i] = 0;
		object_name(ops[i].oid, plans[i].slab);
		if (plans[i].nmove) {
			bufs[i] = malloc(plans[i].nmove * PAGE_SIZE);
			res[i] = bufs[i] ? read_moved(rs, &plans[i], bufs[i]) : -ENOMEM;
		}
		if (!res[i]) {
			ops[i].wop = rados_create_write_op();
			res[i] = ops[i].wop ? 0 : -ENOMEM;
		}
		if (!res[i]) {
			build_plan_op(&plans[i], &ops[i], bufs[i]);
			res[i] = op_send(rs, &ops[i]);
		}
	}
	for (size_t i = 0; i < k; i++) {
		int r = ops[i].done ? op_finish(&ops[i]) : res[i];

		/* An object that does not exist had nothing to zero or cut. */
		if (r == -ENOENT && !plans[i].nmove)
			r = 0;
		res[i] = r;
		free(bufs[i]);
		/* Failing, the space only stays taken until the slab changes again
		 * or unmount removes it. A full pool refuses a move whose page
		 * lands past the object's end (a page backed for a write that has
		 * not come): not worth a line, as for any write to a full pool. */
		if (r && r != -ENOSPC && r != -EDQUOT)
			say_error(rs, "trimming", ops[i].oid, r);
	}
	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < k; i++) {
		pack_done(&rs->pack, &plans[i], res[i] == 0);
		rs->moved += res[i] == 0 ? plans[i].nmove : 0;
	}
	pthread_cond_broadcast(&rs->changed);
}

static void *trimmer_main(void *arg)
{
	struct rados_store *rs = arg;

	pthread_mutex_lock(&rs->lock);
	while (!rs->stop) {
		if (rs->pack.qhead)
			trim_round(rs);
		else
			pthread_cond_wait(&rs->changed, &rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

/* ---- the pool's figures ---- */

/*
 * Reads the pool's figures (rados_pool_figures) into the store; 0 or -errno
 * (the figures are not changed then).
 */
static int read_figures(struct rados_store *rs, rados_t cl)
{
	struct rados_figures f;
	uint64_t max_avail, stored, quota;
	int ret = rados_pool_figures(cl, rs->pool, &f);

	if (ret)
		return ret;
	max_avail = f.max_avail;
	stored = f.stored;
	quota = f.quota;
	pthread_mutex_lock(&rs->lock);
	rs->max_avail = max_avail;
	rs->stored = stored;
	rs->quota = quota;
	rs->free_bytes = max_avail;
	if (quota)
		rs->free_bytes = stored >= quota ? 0 : quota - stored < max_avail ? quota - stored
									    : max_avail;
	rs->read_ms = mono_ms();
	rs->have_figures = true;
	/* What was allocated up to now, for backing_free's look back. */
	rs->samples[rs->sample_at] = (struct sample){ rs->read_ms, rs->allocated };
	rs->sample_at = (rs->sample_at + 1) % SAMPLES;
	if (rs->nsamples < SAMPLES)
		rs->nsamples++;
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

/*
 * Pages allocated since FIGURES_LAG_MS before the last reading, which the
 * figures may not show yet; pages given back meanwhile count only against
 * those (they may be in the figures already). Lock held.
 */
static uint64_t allocated_since_figures(const struct rados_store *rs)
{
	int64_t then = rs->read_ms - FIGURES_LAG_MS;
	uint64_t base = rs->nsamples ? rs->allocated : 0;

	/* The newest sample taken at or before then; else the oldest one. */
	for (unsigned k = 0; k < rs->nsamples; k++) {
		const struct sample *s = &rs->samples[(rs->sample_at + SAMPLES - 1 - k) % SAMPLES];

		base = s->allocated;
		if (s->ms <= then)
			break;
	}
	return rs->allocated > base ? rs->allocated - base : 0;
}

static uint64_t rs_backing_free(struct store *st)
{
	struct rados_store *rs = (struct rados_store *)st;
	uint64_t pages, since;

	pthread_mutex_lock(&rs->lock);
	pages = rs->free_bytes / PAGE_SIZE;
	since = allocated_since_figures(rs);
	pthread_mutex_unlock(&rs->lock);
	return pages > since ? pages - since : 0;
}

/*
 * How long the last figures may stand: FIGURES_BUSY_MS while the mount has
 * changed what it holds in the last BUSY_MS or the pool is near full (where
 * a late figure matters), FIGURES_IDLE_MS otherwise, so that an idle mount
 * costs the monitors one command per 15 s rather than two a second: hundreds
 * of mounts share a cluster. Lock held.
 */
static int64_t figures_period(const struct rados_store *rs, int64_t now, int64_t changed_ms)
{
	bool near_full = rs->free_bytes < NEAR_FULL_BYTES ||
			 rs->free_bytes < (rs->stored + rs->free_bytes) / NEAR_FULL_SHARE;

	return now - changed_ms < BUSY_MS || near_full ? FIGURES_BUSY_MS : FIGURES_IDLE_MS;
}

/* Reads the figures (figures_period) and renews the mount's lock. */
static void *watcher_main(void *arg)
{
	struct rados_store *rs = arg;
	int64_t renewed = mono_ms(), changed_ms = mono_ms();
	uint64_t seen;
	struct timeval dur = { RADOS_LOCK_S, 0 };

	pthread_mutex_lock(&rs->lock);
	seen = rs->allocated;
	while (!rs->stop) {
		struct timespec ts;
		int64_t now;
		bool read, renew;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FIGURES_BUSY_MS / 1000;
		pthread_cond_timedwait(&rs->changed, &rs->lock, &ts);
		now = mono_ms();
		if (rs->allocated != seen) {
			seen = rs->allocated;
			changed_ms = now;
		}
		read = now - rs->read_ms >= figures_period(rs, now, changed_ms);
		renew = now - renewed >= RADOS_LOCK_RENEW_S * 1000;

		if (rs->stop || (!read && !renew))
			continue;
		pthread_mutex_unlock(&rs->lock);
		if (read)
			read_figures(rs, rs->cluster); /* failing, the last figures stand */
		if (renew) {
			int r = rados_lock_exclusive(rs->io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME,
						     rs->ns, "sparsefs mount", &dur,
						     LIBRADOS_LOCK_FLAG_MAY_RENEW);

			if (r)
				say_error(rs, "renewing the lock on", RADOS_MOUNT_OBJECT, r);
			else
				renewed = mono_ms();
		}
		pthread_mutex_lock(&rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

/* ---- life ---- */

/* Connects and opens the pool; -errno after one line on stderr. */
static int open_pool(struct rados_store *rs)
{
	const char *why;
	int ret = store_rados_connect(rs->conf, rs->id, rs->keyring, rs->timeout_s, &rs->cluster,
				      &why);

	if (ret) {
		fprintf(stderr, "sparsefs: backing rados:%s: %s (%s)\n", rs->pool, why,
			strerror(-ret));
		return ret;
	}
	ret = rados_ioctx_create(rs->cluster, rs->pool, &rs->io);
	if (ret) {
		fprintf(stderr, "sparsefs: backing rados:%s: %s\n", rs->pool,
			ret == -ENOENT ? "no such pool" : strerror(-ret));
		rados_shutdown(rs->cluster);
		rs->cluster = NULL;
		return ret;
	}
	return 0;
}

static void close_pool(struct rados_store *rs)
{
	if (rs->io)
		rados_ioctx_destroy(rs->io);
	if (rs->cluster)
		rados_shutdown(rs->cluster);
	rs->io = NULL;
	rs->cluster = NULL;
}

static int rs_start(struct store *st)
{
	struct rados_store *rs = (struct rados_store *)st;
	struct timeval dur = { RADOS_LOCK_S, 0 };
	char host[256] = "?", desc[512];
	rados_write_op_t op;
	int ret;

	ret = open_pool(rs);
	if (ret)
		return ret;
	rados_ioctx_set_namespace(rs->io, rs->ns);
	rados_set_pool_full_try(rs->io);
	/* The mount object first, so that the namespace is never unclaimed. */
	gethostname(host, sizeof(host) - 1);
	snprintf(desc, sizeof(desc), "sparsefs mount on %s, pid %ld\n", host, (long)getpid());
	op = rados_create_write_op();
	if (!op)
		return -ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	rados_write_op_write_full(op, desc, strlen(desc));
	/* A few bytes even in a pool that is full (to its quota or not): a full
	 * pool still mounts, and says so in df. */
	ret = rados_write_op_operate(op, rs->io, RADOS_MOUNT_OBJECT, NULL,
				     LIBRADOS_OPERATION_FULL_FORCE);
	rados_release_write_op(op);
	if (!ret) {
		ret = rados_lock_exclusive(rs->io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME, rs->ns,
					   "sparsefs mount", &dur, 0);
		if (ret) /* no namespace of ours left behind */
			rados_remove(rs->io, RADOS_MOUNT_OBJECT);
	}
	if (ret == -EPERM || ret == -EACCES)
		fprintf(stderr, "sparsefs: backing rados:%s: the client may not claim namespace %s: "
				"its osd caps must allow 'rw pool=%s, pool=%s class lock'\n",
			rs->pool, rs->ns, rs->pool, rs->pool);
	else if (ret)
		fprintf(stderr, "sparsefs: backing rados:%s: cannot claim namespace %s: %s\n",
			rs->pool, rs->ns, strerror(-ret));
	if (ret)
		return ret;
	rs->started = true;
	read_figures(rs, rs->cluster);
	if (pthread_create(&rs->trimmer, NULL, trimmer_main, rs))
		return -EAGAIN;
	if (pthread_create(&rs->watcher, NULL, watcher_main, rs)) {
		pthread_mutex_lock(&rs->lock);
		rs->stop = true;
		pthread_cond_broadcast(&rs->changed);
		pthread_mutex_unlock(&rs->lock);
		pthread_join(rs->trimmer, NULL);
		return -EAGAIN;
	}
	rs->threads = true;
	return 0;
}

static int rs_size(struct store *st, struct store_size *out)
{
	struct rados_store *rs = (struct rados_store *)st;
	uint64_t free_bytes;

	pthread_mutex_lock(&rs->lock);
	free_bytes = rs->free_bytes;
	pthread_mutex_unlock(&rs->lock);
	out->pct_base = free_bytes;
	out->default_bytes = free_bytes / PAGE_SIZE * PAGE_SIZE;
	return 0;
}

static void rs_about(struct store *st, struct store_about *out)
{
	struct rados_store *rs = (struct rados_store *)st;

	out->where = rs->where;
	out->fstype = "ceph";
	out->shared = "the pool, which other clients write to";
}

static const char *const rs_figures[] = { "max_avail", "quota", "stored", "io_errors",
					  "extent", "moved", NULL };

static int rs_figure(struct store *st, const char *name, uint64_t *value)
{
	struct rados_store *rs = (struct rados_store *)st;

	pthread_mutex_lock(&rs->lock);
	if (strcmp(name, "max_avail") == 0)
		*value = rs->max_avail;
	else if (strcmp(name, "quota") == 0)
		*value = rs->quota;
	else if (strcmp(name, "stored") == 0)
		*value = rs->stored;
	else if (strcmp(name, "extent") == 0)
		*value = pack_extent_bytes(&rs->pack);
	else if (strcmp(name, "moved") == 0)
		*value = rs->moved;
	pthread_mutex_unlock(&rs->lock);
	if (strcmp(name, "io_errors") == 0)
		*value = atomic_load(&rs->io_errors);
	else if (strcmp(name, "max_avail") && strcmp(name, "quota") && strcmp(name, "stored") &&
		 strcmp(name, "extent") && strcmp(name, "moved"))
		return -ENODATA;
	return 0;
}

static void rs_destroy(struct store *st)
{
	struct rados_store *rs = (struct rados_store *)st;

	if (rs->threads) {
		/* They end after what they have in flight; meanwhile the objects go. */
		pthread_mutex_lock(&rs->lock);
		rs->stop = true;
		pthread_cond_broadcast(&rs->changed);
		pthread_mutex_unlock(&rs->lock);
	}
	if (rs->started) {
		/* Pending trims need not be sent: everything goes. Removing the
		 * mount object last drops the lock with it. */
		long removed = 0, left = 0;

		if (rados_remove_namespace(rs->io, &removed, &left))
			fprintf(stderr,
				"sparsefs: rados %s: cannot list namespace %s: its objects stay "
				"until `sparsefs-clean rados:%s` removes them\n",
				rs->pool, rs->ns, rs->pool);
		else if (left)
			fprintf(stderr,
				"sparsefs: rados %s: %ld object(s) of namespace %s left behind: "
				"`sparsefs-clean rados:%s` removes them\n",
				rs->pool, left, rs->ns, rs->pool);
	}
	if (rs->threads) {
		pthread_join(rs->trimmer, NULL);
		pthread_join(rs->watcher, NULL);
	}
	close_pool(rs);
	pack_free_all(&rs->pack);
	free(rs->plans);
	free(rs->where);
	free(rs->pool);
	free(rs->conf);
	free(rs->id);
	free(rs->keyring);
	pthread_cond_destroy(&rs->changed);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static const struct store_ops rs_ops = {
	.name = "rados",
	.threads = 16, /* each request waits a round trip: keep 16 in flight */
	.readahead_kb = 1024, /* seq reads 1.6x faster than at 128 KiB (one 1 MiB READ) */
	.start = rs_start,
	.back = rs_back,
	.back_for_write = rs_back_for_write,
	.unback = rs_unback,
	.write = rs_write,
	.read = rs_read,
	.backing_free = rs_backing_free,
	.size = rs_size,
	.about = rs_about,
	.figures = rs_figures,
	.figure = rs_figure,
	.destroy = rs_destroy,
};

static char *dup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*failed = true;
	return d;
}

struct store *store_rados_create(const struct store_rados_opts *o)
{
	struct rados_store *rs = calloc(1, sizeof(*rs));
	bool nomem = !rs;
	uint64_t id;
	int ret;

	if (rs) {
		rs->base.ops = &rs_ops;
		rs->pool = dup_or_null(o->pool, &nomem);
		rs->conf = dup_or_null(o->conf, &nomem);
		rs->id = dup_or_null(o->id, &nomem);
		rs->keyring = dup_or_null(o->keyring, &nomem);
		rs->timeout_s = o->timeout_s;
		pack_init(&rs->pack);
		rs->plans = calloc(TRIM_BATCH, sizeof(*rs->plans));
		nomem |= !rs->plans;
		pthread_mutex_init(&rs->lock, NULL);
		pthread_cond_init(&rs->changed, NULL);
	}
	if (nomem) {
		fprintf(stderr, "sparsefs: out of memory\n");
		if (rs)
			rs_destroy(&rs->base);
		return NULL;
	}
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	snprintf(rs->ns, sizeof(rs->ns), RADOS_NS_PREFIX "%016" PRIx64, id);
	if (asprintf(&rs->where, "%s/%s", rs->pool, rs->ns) < 0) {
		rs->where = NULL;
		fprintf(stderr, "sparsefs: out of memory\n");
		goto out_destroy;
	}
	/* Check now, where the error can still be said; connect for good in start. */
	ret = open_pool(rs);
	if (ret)
		goto out_destroy;
	/* A pool created just now is missing from the figures until the manager
	 * has seen it: wait for it, as long as for any operation. */
	for (int64_t t0 = mono_ms();;) {
		ret = read_figures(rs, rs->cluster);
		if (ret != -ENOENT || mono_ms() - t0 >= (int64_t)rs->timeout_s * 1000)
			break;
		usleep(250 * 1000);
	}
	close_pool(rs);
	if (ret == -ENOENT) {
		fprintf(stderr, "sparsefs: backing rados:%s: the cluster's figures (ceph df) do not "
				"list the pool after %u s (rados_timeout): a pool is listed once the "
				"manager has seen it\n", rs->pool, rs->timeout_s);
		goto out_destroy;
	}
	if (ret) {
		fprintf(stderr, "sparsefs: backing rados:%s: cannot read the pool's figures "
				"(ceph df, osd pool get-quota): %s\n", rs->pool,
			ret == -EPROTO ? "the answer lacks them" : strerror(-ret));
		goto out_destroy;
	}
	return &rs->base;

out_destroy:
	rs_destroy(&rs->base);
	return NULL;
}

static const struct store_option rados_options[] = {
	{ "ceph_conf", "with rados: the Ceph configuration (default as the rados command: "
		       "$CEPH_CONF, /etc/ceph/ceph.conf)" },
	{ "ceph_id", "with rados: the client's id (default admin)" },
	{ "ceph_keyring", "with rados: the keyring holding the client's key (default as the "
			  "rados command: the configuration's keyring)" },
	{ "rados_timeout", "with rados: seconds before an operation the cluster does not answer "
			   "fails with EIO (default 30)" },
	{ NULL, NULL },
};

/* backing=rados:POOL and its options; NULL after one line saying why not. */
static struct store *rados_kind_create(const char *pool, const struct store_args *args)
{
	struct store_rados_opts o = { pool, store_arg(args, "ceph_conf"), store_arg(args, "ceph_id"),
				      store_arg(args, "ceph_keyring"), 30 };
	const char *s = store_arg(args, "rados_timeout");

	if (!*pool) {
		fprintf(stderr, "sparsefs: bad backing 'rados:': expected rados:POOL\n");
		return NULL;
	}
	if (s) {
		char *end;
		unsigned long secs;

		errno = 0;
		secs = strtoul(s, &end, 10);
		if (*s < '0' || *s > '9' || *end || errno || secs == 0 || secs > 86400) {
			fprintf(stderr, "sparsefs: bad rados_timeout '%s': %s (expected whole seconds "
					"from 1 to 86400)\n", s,
				secs > 86400 ? "too large" : "not a valid value");
			return NULL;
		}
		o.timeout_s = (unsigned)secs;
	}
	return store_rados_create(&o);
}

const struct store_kind store_kind_rados = {
	.name = "rados",
	.syntax = "rados:POOL",
	.prefix = "rados:",
	.help = "objects in a Ceph RADOS pool, a namespace per mount",
	.options = rados_options,
	.create = rados_kind_create,
};
