/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store (-o backing=rados:POOL): pages live in 4 MiB objects of a
 * Ceph pool, in a namespace of the mount's own (store_rados.h shows the
 * layout), so that many mounts share a pool without seeing each other.
 *
 *   file key 12, pages 0..1023  -> object 000000000000000c.00000000000
 *                pages 1024..   -> object 000000000000000c.00000000001
 *
 * A hole costs nothing: an absent object, or a range of one never written.
 * Backing a page (a reservation) writes zeros over it (writesame), so the
 * object's size covers it and the OSDs have allocated it: Ceph refuses a
 * write into a full pool only when it grows what the pool stores, so a write
 * into a reservation still succeeds once the pool is full. A page backed for
 * a write that covers it whole (back_for_write) is allocated by that write.
 *
 * Every chunk (object) with backed pages has an entry here: which pages are
 * backed, which were given back and are still to be zeroed in the object,
 * and how far the object may extend. Giving pages back only marks them; a
 * trimmer thread then sends one operation per object (zero the pages given
 * back, truncate above the last backed page, or remove the object when none
 * is left), so freeing a fragmented file is not one round trip per page.
 * Backing a page of a chunk waits for that chunk's trim to finish first.
 *
 *   chunk table (hash of key, chunk) -> struct chunk
 *   trim list: chunks with pages to zero, oldest first -> trimmer thread
 *
 * Space: the pool's figures (MAX AVAIL, which counts replication; quota less
 * what is stored) are read by a second thread every FIGURES_MS, less what
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
#define CHUNK_PAGES (1u << (RADOS_CHUNK_SHIFT - SFS_PAGE_SHIFT))
#define WORDS (CHUNK_PAGES / 64)
#define NAME_MAX_LEN 32
#define TRIM_BATCH 64       /* objects one trim round sends at once */
#define FIGURES_MS 1000     /* read the pool's figures this often */
#define FIGURES_LAG_MS 10000 /* they may miss what was written this long before */
#define SAMPLES 64          /* allocation history, one sample per reading */

struct chunk {
	uint64_t key, no;
	uint64_t backed[WORDS]; /* [lock] pages with backing */
	uint64_t zero[WORDS];   /* [lock] given back, still to zero in the object */
	uint32_t nbacked;       /* [lock] */
	uint32_t top;           /* [lock] the object extends over at most this many pages */
	bool pending;           /* [lock] on the trim list */
	bool busy;              /* [lock] a trim of it is in flight */
	struct chunk *hnext;    /* [lock] hash chain */
	struct chunk *tnext;    /* [lock] trim list */
};

struct sample {
	int64_t ms;
	uint64_t allocated;
};

struct rados_store {
	struct store base;
	char *pool, *conf, *id;
	unsigned timeout_s;
	char ns[40];            /* RADOS_NS_PREFIX + the mount id */
	char *where;            /* "POOL/NAMESPACE", for the figures */
	rados_t cluster;
	rados_ioctx_t io;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t changed; /* [lock] a trim finished; the trim list grew; stop */
	struct chunk **table;   /* [lock] */
	size_t nbuckets, nchunks; /* [lock] */
	struct chunk *trim_head, *trim_tail; /* [lock] */
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
	_Atomic uint64_t next_slot; /* tokens handed out as slots */
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

static void object_name(char *buf, uint64_t key, uint64_t no)
{
	snprintf(buf, NAME_MAX_LEN, "%016" PRIx64 ".%011" PRIx64, key, no);
}

/* ---- chunk table (lock held) ---- */

static size_t bucket_of(const struct rados_store *rs, uint64_t key, uint64_t no)
{
	uint64_t h = (key * 0x9e3779b97f4a7c15ull) ^ (no * 0xc2b2ae3d27d4eb4full);

	return (size_t)(h >> 17) & (rs->nbuckets - 1);
}

static struct chunk *chunk_find(struct rados_store *rs, uint64_t key, uint64_t no)
{
	for (struct chunk *c = rs->table[bucket_of(rs, key, no)]; c; c = c->hnext)
		if (c->key == key && c->no == no)
			return c;
	return NULL;
}

static bool table_grow(struct rados_store *rs)
{
	size_t n = rs->nbuckets * 2;
	struct chunk **t = calloc(n, sizeof(*t)), **old = rs->table;
	size_t oldn = rs->nbuckets;

	if (!t)
		return false;
	rs->table = t;
	rs->nbuckets = n;
	for (size_t b = 0; b < oldn; b++) {
		for (struct chunk *c = old[b], *next; c; c = next) {
			size_t nb = bucket_of(rs, c->key, c->no);

			next = c->hnext;
			c->hnext = t[nb];
			t[nb] = c;
		}
	}
	free(old);
	return true;
}

static struct chunk *chunk_get(struct rados_store *rs, uint64_t key, uint64_t no)
{
	struct chunk *c = chunk_find(rs, key, no);
	size_t b;

	if (c)
		return c;
	if (rs->nchunks >= rs->nbuckets)
		table_grow(rs); /* failing, only the chains grow longer */
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = key;
	c->no = no;
	b = bucket_of(rs, key, no);
	c->hnext = rs->table[b];
	rs->table[b] = c;
	rs->nchunks++;
	return c;
}

/* Frees c if nothing refers to it any more. */
static void chunk_put(struct rados_store *rs, struct chunk *c)
{
	struct chunk **pp;

	if (c->nbacked || c->pending || c->busy)
		return;
	for (pp = &rs->table[bucket_of(rs, c->key, c->no)]; *pp != c; pp = &(*pp)->hnext)
		;
	*pp = c->hnext;
	rs->nchunks--;
	free(c);
}

/*
 * Waits until no trim of chunk (key, no) is queued or in flight, then returns
 * it (made if missing; NULL on ENOMEM). Lock held.
 */
static struct chunk *chunk_settled(struct rados_store *rs, uint64_t key, uint64_t no)
{
	struct chunk *c;

	for (;;) {
		c = chunk_find(rs, key, no);
		if (!c || (!c->pending && !c->busy))
			break;
		pthread_cond_broadcast(&rs->changed); /* the trimmer takes it now */
		pthread_cond_wait(&rs->changed, &rs->lock);
	}
	return c ? c : chunk_get(rs, key, no);
}

static bool test_bit(const uint64_t *w, unsigned i)
{
	return w[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *w, unsigned i)
{
	w[i / 64] |= 1ull << (i % 64);
}

static void clear_bit(uint64_t *w, unsigned i)
{
	w[i / 64] &= ~(1ull << (i % 64));
}

/* ---- asynchronous operations ---- */

struct pending_op {
	rados_completion_t done;
	rados_write_op_t wop;
	rados_read_op_t rop;
	char oid[NAME_MAX_LEN];
	struct chunk *chunk;    /* for trims */
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

/*
 * Waits for the k ops sent; err, or else the first op's error. Failures are
 * said, except a full pool (the caller's ENOSPC says it).
 */
static int finish_all(struct rados_store *rs, struct pending_op *ops, size_t k, int err,
		      const char *what)
{
	for (size_t i = 0; i < k; i++) {
		int r = op_finish(&ops[i]);

		if (r && !err)
			err = r;
		if (r && r != -ENOSPC && r != -EDQUOT)
			say_error(rs, what, ops[i].oid, r);
	}
	return err;
}

/* ---- the store ---- */

/* The chunks a run of pages [idx, idx + n) spans. */
static size_t chunks_in(uint64_t idx, size_t n)
{
	return n ? (size_t)((idx + n - 1) / CHUNK_PAGES - idx / CHUNK_PAGES + 1) : 0;
}

/* The pages [p, end) in p's chunk: [*first, return value) as chunk offsets. */
static unsigned span_in_chunk(uint64_t p, uint64_t end, unsigned *first)
{
	uint64_t base = p / CHUNK_PAGES * CHUNK_PAGES;

	*first = (unsigned)(p - base);
	return end - base < CHUNK_PAGES ? (unsigned)(end - base) : CHUNK_PAGES;
}

/* Marks [idx, idx + n) backed, settling each chunk first; raises top. Lock held. */
static int mark_backed(struct rados_store *rs, uint64_t key, uint64_t idx, size_t n)
{
	for (uint64_t p = idx; p < idx + n;) {
		uint64_t no = p / CHUNK_PAGES;
		unsigned first, last = span_in_chunk(p, idx + n, &first);
		struct chunk *c = chunk_settled(rs, key, no);

		if (!c)
			return -ENOMEM;
		for (unsigned i = first; i < last; i++) {
			if (!test_bit(c->backed, i)) {
				set_bit(c->backed, i);
				c->nbacked++;
				rs->allocated++;
			}
			clear_bit(c->zero, i);
		}
		if (c->top < last)
			c->top = last;
		p = no * CHUNK_PAGES + last;
	}
	return 0;
}

static void queue_trim(struct rados_store *rs, struct chunk *c)
{
	if (c->pending)
		return;
	c->pending = true;
	c->tnext = NULL;
	if (rs->trim_tail)
		rs->trim_tail->tnext = c;
	else
		rs->trim_head = c;
	rs->trim_tail = c;
	pthread_cond_broadcast(&rs->changed);
}

/* Marks [idx, idx + n) given back; the trimmer zeroes them. Lock held. */
static void mark_unbacked(struct rados_store *rs, uint64_t key, uint64_t idx, size_t n)
{
	for (uint64_t p = idx; p < idx + n;) {
		uint64_t no = p / CHUNK_PAGES;
		unsigned first, last = span_in_chunk(p, idx + n, &first);
		struct chunk *c = chunk_find(rs, key, no);

		p = no * CHUNK_PAGES + last;
		if (!c)
			continue;
		for (unsigned i = first; i < last; i++) {
			if (test_bit(c->backed, i)) {
				clear_bit(c->backed, i);
				c->nbacked--;
				rs->allocated--;
				set_bit(c->zero, i);
			}
		}
		queue_trim(rs, c);
	}
}

static int rs_back_common(struct store *st, uint64_t key, uint64_t idx, size_t n,
			     uintptr_t *slots, bool write_follows)
{
	struct rados_store *rs = (struct rados_store *)st;
	size_t nops = chunks_in(idx, n), k = 0;
	struct pending_op *ops;
	int ret, err = 0;

	/* RADOS names pages by key and index: a slot is only a distinct token. */
	for (size_t i = 0; i < n; i++)
		slots[i] = (uintptr_t)atomic_fetch_add(&rs->next_slot, 1);
	pthread_mutex_lock(&rs->lock);
	ret = mark_backed(rs, key, idx, n);
	pthread_mutex_unlock(&rs->lock);
	if (ret || write_follows)
		goto out;
	ops = calloc(nops, sizeof(*ops));
	if (!ops) {
		ret = -ENOMEM;
		goto out;
	}
	/* Zeros over the pages, one operation per object, all in flight. */
	for (uint64_t p = idx; p < idx + n; k++) {
		uint64_t no = p / CHUNK_PAGES, end = (no + 1) * CHUNK_PAGES;
		uint64_t stop = end < idx + n ? end : idx + n;
		struct pending_op *op = &ops[k];

		object_name(op->oid, key, no);
		op->wop = rados_create_write_op();
		if (!op->wop) {
			err = -ENOMEM;
			break;
		}
		rados_write_op_writesame(op->wop, zero_page, PAGE_SIZE,
					 (size_t)(stop - p) * PAGE_SIZE,
					 (p - no * CHUNK_PAGES) * PAGE_SIZE);
		err = op_send(rs, op);
		if (err)
			break;
		p = stop;
	}
	err = finish_all(rs, ops, k, err, "reserving");
	free(ops);
	ret = err ? io_errno(err) : 0;
out:
	if (ret) {
		/* Nothing stays backed; what was written is zeroed by the trimmer. */
		pthread_mutex_lock(&rs->lock);
		mark_unbacked(rs, key, idx, n);
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

	(void)slots;
	pthread_mutex_lock(&rs->lock);
	mark_unbacked(rs, key, idx, n);
	pthread_mutex_unlock(&rs->lock);
}

static uint64_t seg_pos(const struct store_seg *s)
{
	return s->idx * PAGE_SIZE + s->off;
}

/*
 * Segments in one object whose bytes follow each other in the file and in
 * memory go as one extent; segs [i, j) of one chunk, from i.
 */
static size_t extent_end(const struct store_seg *segs, size_t i, size_t n, size_t *len)
{
	size_t j = i + 1;

	*len = segs[i].len;
	while (j < n && segs[j].idx / CHUNK_PAGES == segs[i].idx / CHUNK_PAGES &&
	       seg_pos(&segs[j]) == seg_pos(&segs[i]) + *len &&
	       (char *)segs[j].buf == (char *)segs[i].buf + *len) {
		*len += segs[j].len;
		j++;
	}
	return j;
}

/* How many objects segs touch (they come in page order). */
static size_t objects_in(const struct store_seg *segs, size_t n)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		count += i == 0 || segs[i].idx / CHUNK_PAGES != segs[i - 1].idx / CHUNK_PAGES;
	return count;
}

struct read_extent {
	char *buf;
	size_t len, got;
	int rval;
};

/* Adds one extent (len bytes from seg, at off in its object) to op. */
typedef void add_extent_fn(struct pending_op *op, const struct store_seg *seg, size_t len,
			   uint64_t off, void *arg);

static void add_write(struct pending_op *op, const struct store_seg *seg, size_t len,
		      uint64_t off, void *arg)
{
	(void)arg;
	rados_write_op_write(op->wop, seg->buf, len, off);
}

/* arg: where the next read_extent goes (advanced). */
static void add_read(struct pending_op *op, const struct store_seg *seg, size_t len,
		     uint64_t off, void *arg)
{
	struct read_extent *x = (*(struct read_extent **)arg)++;

	*x = (struct read_extent){ .buf = seg->buf, .len = len };
	rados_read_op_read(op->rop, off, len, x->buf, &x->got, &x->rval);
}

/*
 * Builds and sends one op per object the segments touch (they come in page
 * order): a write op or a read op, one extent per run of segments that
 * follow each other in the object and in memory. *sent receives how many
 * went (ops[0..*sent) to finish); 0, or the error that stopped it.
 */
static int send_per_object(struct rados_store *rs, uint64_t key, const struct store_seg *segs,
			   size_t n, bool write, add_extent_fn *add, void *arg,
			   struct pending_op *ops, size_t *sent)
{
	size_t k = 0;
	int err = 0;

	for (size_t i = 0; i < n; k++) {
		uint64_t no = segs[i].idx / CHUNK_PAGES;
		struct pending_op *op = &ops[k];

		object_name(op->oid, key, no);
		if (write)
			op->wop = rados_create_write_op();
		else
			op->rop = rados_create_read_op();
		if (!op->wop && !op->rop) {
			err = -ENOMEM;
			break;
		}
		while (i < n && segs[i].idx / CHUNK_PAGES == no) {
			size_t len, j = extent_end(segs, i, n, &len);

			add(op, &segs[i], len, seg_pos(&segs[i]) - (no << RADOS_CHUNK_SHIFT), arg);
			i = j;
		}
		err = op_send(rs, op);
		if (err)
			break;
	}
	*sent = k;
	return err;
}

static int rs_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	struct rados_store *rs = (struct rados_store *)st;
	struct pending_op *ops = calloc(objects_in(segs, n), sizeof(*ops));
	size_t k;
	int err;

	if (!ops)
		return -ENOMEM;
	err = send_per_object(rs, key, segs, n, true, add_write, NULL, ops, &k);
	err = finish_all(rs, ops, k, err, "writing");
	free(ops);
	return err ? io_errno(err) : 0;
}

static int rs_read(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	struct rados_store *rs = (struct rados_store *)st;
	struct pending_op *ops = calloc(objects_in(segs, n), sizeof(*ops));
	struct read_extent *xs = calloc(n, sizeof(*xs)), *next = xs;
	size_t k;
	int err;

	if (!ops || !xs) {
		free(ops);
		free(xs);
		return -ENOMEM;
	}
	err = send_per_object(rs, key, segs, n, false, add_read, &next, ops, &k);
	/* A page read here is data: its object must exist (no silent zeros). */
	err = finish_all(rs, ops, k, err, "reading");
	for (struct read_extent *x = xs; !err && x < next; x++) {
		if (x->rval < 0)
			err = x->rval;
		else if (x->got < x->len) /* past the object's end: never written */
			memset(x->buf + x->got, 0, x->len - x->got);
	}
	free(ops);
	free(xs);
	return err ? io_errno(err) : 0;
}

/*
 * Builds the one operation that brings chunk c's object in line: remove it
 * when no page is backed, else zero the pages given back below the last
 * backed one and truncate above it. Lock held; c->zero is consumed.
 */
static int build_trim(struct chunk *c, struct pending_op *op)
{
	unsigned top = 0;

	object_name(op->oid, c->key, c->no);
	op->chunk = c;
	op->wop = rados_create_write_op();
	if (!op->wop)
		return -ENOMEM;
	/* Only what exists: a trim never makes an object. */
	rados_write_op_assert_exists(op->wop);
	if (!c->nbacked) {
		rados_write_op_remove(op->wop);
		c->top = 0;
	} else {
		for (unsigned i = 0; i < CHUNK_PAGES; i++)
			if (test_bit(c->backed, i))
				top = i + 1;
		for (unsigned i = 0, j; i < top; i = j + 1) {
			for (j = i; j < top && test_bit(c->zero, j); j++)
				;
			if (j > i)
				rados_write_op_zero(op->wop, (uint64_t)i * PAGE_SIZE,
						    (uint64_t)(j - i) * PAGE_SIZE);
		}
		if (top < c->top) {
			rados_write_op_truncate(op->wop, (uint64_t)top * PAGE_SIZE);
			c->top = top;
		}
	}
	memset(c->zero, 0, sizeof(c->zero));
	return 0;
}

/* One round: up to TRIM_BATCH queued chunks trimmed, all in flight. Lock held. */
static void trim_round(struct rados_store *rs)
{
	struct pending_op ops[TRIM_BATCH];
	size_t k = 0;

	memset(ops, 0, sizeof(ops));
	while (rs->trim_head && k < TRIM_BATCH) {
		struct chunk *c = rs->trim_head;

		rs->trim_head = c->tnext;
		if (!rs->trim_head)
			rs->trim_tail = NULL;
		c->pending = false;
		c->busy = true;
		build_trim(c, &ops[k]); /* failing (ENOMEM), the object stays as it was */
		k++;
	}
	pthread_mutex_unlock(&rs->lock);
	for (size_t i = 0; i < k; i++)
		if (ops[i].wop)
			op_send(rs, &ops[i]); /* failing, the object only stays as it was */
	for (size_t i = 0; i < k; i++) {
		int r = ops[i].done ? op_finish(&ops[i]) : 0;

		/* Failing, the space only stays taken until unmount removes it. */
		if (r && r != -ENOENT)
			say_error(rs, "giving back", ops[i].oid, r);
	}
	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < k; i++) {
		ops[i].chunk->busy = false;
		chunk_put(rs, ops[i].chunk);
	}
	pthread_cond_broadcast(&rs->changed);
}

static void *trimmer_main(void *arg)
{
	struct rados_store *rs = arg;

	pthread_mutex_lock(&rs->lock);
	while (!rs->stop) {
		if (rs->trim_head)
			trim_round(rs);
		else
			pthread_cond_wait(&rs->changed, &rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}

/* ---- the pool's figures ---- */

/* The number after "key": in json at or after from; false if there is none. */
static bool json_u64(const char *from, const char *key, uint64_t *out)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(from, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ' || *p == ':')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	*out = strtoull(p, NULL, 10);
	return true;
}

static int mon_json(rados_t cl, const char *cmd, char **out)
{
	const char *cmds[1] = { cmd };
	char *buf = NULL, *st = NULL;
	size_t len = 0, stlen = 0;
	int ret = rados_mon_command(cl, cmds, 1, "", 0, &buf, &len, &st, &stlen);

	rados_buffer_free(st);
	if (ret) {
		rados_buffer_free(buf);
		return ret;
	}
	*out = strndup(buf ? buf : "", len);
	rados_buffer_free(buf);
	return *out ? 0 : -ENOMEM;
}

/*
 * Reads the pool's MAX AVAIL and stored bytes (`ceph df`) and its quota;
 * 0 or -errno (the figures are not changed then).
 */
static int read_figures(struct rados_store *rs, rados_t cl)
{
	char cmd[512], pat[300], *df = NULL, *q = NULL;
	uint64_t max_avail = 0, stored = 0, quota = 0;
	const char *at;
	int ret;

	ret = mon_json(cl, "{\"prefix\": \"df\", \"format\": \"json\"}", &df);
	if (ret)
		return ret;
	snprintf(pat, sizeof(pat), "\"name\":\"%s\"", rs->pool);
	at = strstr(df, pat);
	if (!at || !json_u64(at, "max_avail", &max_avail) || !json_u64(at, "stored", &stored)) {
		free(df);
		return -EPROTO;
	}
	free(df);
	snprintf(cmd, sizeof(cmd),
		 "{\"prefix\": \"osd pool get-quota\", \"pool\": \"%s\", \"format\": \"json\"}",
		 rs->pool);
	ret = mon_json(cl, cmd, &q);
	if (ret)
		return ret;
	if (!json_u64(q, "quota_max_bytes", &quota)) {
		free(q);
		return -EPROTO;
	}
	free(q);
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

/* Reads the figures every FIGURES_MS and renews the mount's lock. */
static void *watcher_main(void *arg)
{
	struct rados_store *rs = arg;
	int64_t renewed = mono_ms();
	struct timeval dur = { RADOS_LOCK_S, 0 };

	pthread_mutex_lock(&rs->lock);
	while (!rs->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FIGURES_MS / 1000;
		pthread_cond_timedwait(&rs->changed, &rs->lock, &ts);
		if (rs->stop || mono_ms() - rs->read_ms < FIGURES_MS)
			continue;
		pthread_mutex_unlock(&rs->lock);
		read_figures(rs, rs->cluster); /* failing, the last figures stand */
		if (mono_ms() - renewed >= RADOS_LOCK_RENEW_S * 1000) {
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

int store_rados_connect(const char *conf, const char *id, unsigned timeout_s, rados_t *out,
			const char **why)
{
	char t[32];
	rados_t cl;
	int ret;

	*why = "cannot start librados";
	ret = rados_create(&cl, id);
	if (ret)
		return ret;
	*why = conf ? "cannot read the Ceph configuration" : "no Ceph configuration found "
							     "(CEPH_CONF, /etc/ceph/ceph.conf; "
							     "or -o ceph_conf=)";
	ret = rados_conf_read_file(cl, conf);
	if (ret)
		goto out_shutdown;
	ret = rados_conf_parse_env(cl, NULL);
	if (ret)
		goto out_shutdown;
	snprintf(t, sizeof(t), "%u", RADOS_CONNECT_TIMEOUT_S);
	rados_conf_set(cl, "client_mount_timeout", t);
	snprintf(t, sizeof(t), "%u", timeout_s);
	rados_conf_set(cl, "rados_osd_op_timeout", t);
	rados_conf_set(cl, "rados_mon_op_timeout", t);
	rados_conf_set(cl, "log_to_stderr", "false");
	rados_conf_set(cl, "err_to_stderr", "false");
	ret = rados_connect(cl);
	if (ret) {
		*why = ret == -ETIMEDOUT ? "no Ceph cluster answered within 10 s"
		       : ret == -EACCES || ret == -EPERM
			       ? "the cluster refused the credentials"
		       : ret == -ENOENT ? "no keyring found for the client (or -o ceph_id=)"
					: "cannot connect to the Ceph cluster";
		goto out_shutdown;
	}
	*out = cl;
	return 0;

out_shutdown:
	rados_shutdown(cl);
	return ret;
}

/* Connects and opens the pool; -errno after one line on stderr. */
static int open_pool(struct rados_store *rs)
{
	const char *why;
	int ret = store_rados_connect(rs->conf, rs->id, rs->timeout_s, &rs->cluster, &why);

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
	if (!ret)
		ret = rados_lock_exclusive(rs->io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME, rs->ns,
					   "sparsefs mount", &dur, 0);
	if (ret) {
		fprintf(stderr, "sparsefs: backing rados:%s: cannot claim namespace %s: %s\n",
			rs->pool, rs->ns, strerror(-ret));
		return ret;
	}
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

static const char *const rs_figures[] = { "max_avail", "quota", "stored", "io_errors", NULL };

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
	pthread_mutex_unlock(&rs->lock);
	if (strcmp(name, "io_errors") == 0)
		*value = atomic_load(&rs->io_errors);
	else if (strcmp(name, "max_avail") && strcmp(name, "quota") && strcmp(name, "stored"))
		return -ENODATA;
	return 0;
}

/* Removes every object of the namespace, the mount object last; how many are left. */
static long remove_all(rados_ioctx_t io, const char *keep_for_last)
{
	struct pending_op ops[TRIM_BATCH];
	rados_list_ctx_t list;
	long left = 0;
	bool more = true, listed = true;

	if (rados_nobjects_list_open(io, &list))
		return -1;
	while (more) {
		size_t k = 0;

		memset(ops, 0, sizeof(ops));
		while (k < TRIM_BATCH) {
			const char *oid;
			int r = rados_nobjects_list_next(list, &oid, NULL, NULL);

			if (r) {
				/* -ENOENT is the end; anything else, no cluster. */
				listed = r == -ENOENT;
				more = false;
				break;
			}
			if (keep_for_last && strcmp(oid, keep_for_last) == 0)
				continue;
			snprintf(ops[k].oid, sizeof(ops[k].oid), "%s", oid);
			if (rados_aio_create_completion2(NULL, NULL, &ops[k].done) ||
			    rados_aio_remove(io, ops[k].oid, ops[k].done)) {
				left++;
				continue;
			}
			k++;
		}
		for (size_t i = 0; i < k; i++) {
			int r = op_finish(&ops[i]);

			left += r && r != -ENOENT;
		}
	}
	rados_nobjects_list_close(list);
	if (!listed)
		return -1; /* the mount object stays: its lock lapses, sparsefs-clean sees */
	if (keep_for_last) {
		int r = rados_remove(io, keep_for_last);

		left += r && r != -ENOENT;
	}
	return left;
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
		long left = remove_all(rs->io, RADOS_MOUNT_OBJECT);

		if (left < 0)
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
	for (size_t b = 0; b < rs->nbuckets; b++) {
		for (struct chunk *c = rs->table[b], *next; c; c = next) {
			next = c->hnext;
			free(c);
		}
	}
	free(rs->table);
	free(rs->where);
	free(rs->pool);
	free(rs->conf);
	free(rs->id);
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
		rs->timeout_s = o->timeout_s;
		atomic_init(&rs->next_slot, 1);
		rs->nbuckets = 1024;
		rs->table = calloc(rs->nbuckets, sizeof(*rs->table));
		nomem |= !rs->table;
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
	ret = read_figures(rs, rs->cluster);
	close_pool(rs);
	if (ret) {
		fprintf(stderr, "sparsefs: backing rados:%s: cannot read the pool's figures: %s\n",
			rs->pool, strerror(-ret));
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
	{ "rados_timeout", "with rados: seconds before an operation the cluster does not answer "
			   "fails with EIO (default 30)" },
	{ NULL, NULL },
};

/* backing=rados:POOL and its options; NULL after one line saying why not. */
static struct store *rados_kind_create(const char *pool, const struct store_args *args)
{
	struct store_rados_opts o = { pool, store_arg(args, "ceph_conf"), store_arg(args, "ceph_id"),
				      30 };
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
