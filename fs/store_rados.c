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
 *
 * This file holds the store's operations and its life; rados_store.h lists
 * the others (operations, trimmer, watcher, packing, what sparsefs-clean shares).
 */
#include "rados_store.h"

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

static const char zero_page[PAGE_SIZE];

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
			pending_start(rs, &ops[nops++], slab_of(place), true);
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
		err = ops[k].wop ? pending_send(rs, &ops[k]) : -ENOMEM;
		if (err)
			break;
	}
	err = pending_finish_all(rs, ops, k, nops, err, "reserving");
	free(ops);
	ret = err ? rs_errno(err) : 0;
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
			pending_start(rs, &ops[k++], slab_of(place), write);
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
		err = pending_send(rs, &ops[k]);
		if (err)
			break;
	}
	err = pending_finish_all(rs, ops, k, nops, err, write ? "writing" : "reading");
	free(ops);
	return err;
}

static int rs_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	int err;

	(void)key;
	err = do_io((struct rados_store *)st, segs, n, true, NULL);
	return err ? rs_errno(err) : 0;
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
	return err ? rs_errno(err) : 0;
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
	rs_read_figures(rs, rs->cluster);
	if (pthread_create(&rs->trimmer, NULL, rs_trimmer, rs))
		return -EAGAIN;
	if (pthread_create(&rs->watcher, NULL, rs_watcher, rs)) {
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
		ret = rs_read_figures(rs, rs->cluster);
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

