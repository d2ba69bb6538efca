/* SPDX-License-Identifier: MIT */
#include "object.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#define PAGE_SIZE SFS_PAGE_SIZE
#define PAGE_SHIFT SFS_PAGE_SHIFT

/* What holes read as, handed out by object_read_iov. */
static const char zero_buf[128 * 1024];

static uint64_t pages_for(uint64_t length)
{
	return (length >> PAGE_SHIFT) + ((length & (PAGE_SIZE - 1)) != 0);
}

static bool is_zero(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	/* Word at a time once aligned; data that is not zero fails in the first word. */
	while (n && ((uintptr_t)p & 7)) {
		if (*p)
			return false;
		p++;
		n--;
	}
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		if (w)
			return false;
	}
	while (n--)
		if (*p++)
			return false;
	return true;
}

void object_init(struct object *o, struct space *sp, struct store *st, uint64_t key)
{
	o->length = 0;
	pagemap_init(&o->map);
	o->space = sp;
	o->store = st;
	o->key = key;
}

/*
 * Gives pages back to the store a run at a time: pages next to each other in
 * the file whose slots are next to each other too go in one call.
 */
struct unbacker {
	struct object *o;
	uint64_t idx;       /* first page of the pending run */
	size_t n;
	uintptr_t slots[256];
};

static void unback_flush(struct unbacker *u)
{
	if (u->n)
		store_unback(u->o->store, u->o->key, u->idx, u->n, u->slots);
	u->n = 0;
}

static void unback_page(struct unbacker *u, uint64_t idx, uintptr_t slot)
{
	if (u->n && (u->n == sizeof(u->slots) / sizeof(u->slots[0]) || idx != u->idx + u->n))
		unback_flush(u);
	if (!u->n)
		u->idx = idx;
	u->slots[u->n++] = slot;
}

/* Frees every page in [first, end) of a state in mask; returns how many. */
static uint64_t drop_pages(struct object *o, uint64_t first, uint64_t end, unsigned mask)
{
	struct unbacker u = { .o = o };
	uint64_t idx, dropped = 0;

	while (first < end && pagemap_find(&o->map, first, mask, &idx) && idx < end) {
		void *slot;

		pagemap_set(&o->map, idx, PM_HOLE, NULL, &slot);
		unback_page(&u, idx, (uintptr_t)slot);
		dropped++;
		first = idx + 1;
	}
	unback_flush(&u);
	space_release(o->space, dropped);
	return dropped;
}

/* What a change did to the page counts, told to the mount-wide totals. */
struct counts {
	uint64_t data, reserved;
};

static struct counts counts_of(const struct object *o)
{
	return (struct counts){ o->map.nr_data, o->map.nr_reserved };
}

static void tell_totals(struct object *o, struct counts before)
{
	space_note_pages(o->space, (int64_t)(o->map.nr_data - before.data),
			 (int64_t)(o->map.nr_reserved - before.reserved));
}

void object_destroy(struct object *o)
{
	struct counts before = counts_of(o);

	drop_pages(o, 0, PAGEMAP_MAX_INDEX + 1, PM_ANY);
	tell_totals(o, before);
	pagemap_destroy(&o->map, NULL, NULL);
	o->length = 0;
}

uint64_t object_blocks(const struct object *o)
{
	return (o->map.nr_data + o->map.nr_reserved) * (PAGE_SIZE / 512);
}

static int charge(struct object *o, uint64_t n, bool wb)
{
	return wb ? space_charge_wb(o->space, n) : space_charge(o->space, n);
}

static bool cancelled(const struct object_cancel *c)
{
	return c && c->requested(c->arg);
}

/* Pages in [first, end) that are reserved or data. */
static uint64_t count_present(const struct object *o, uint64_t first, uint64_t end)
{
	uint64_t idx, n = 0;

	while (first < end && pagemap_find(&o->map, first, PM_ANY, &idx) && idx < end) {
		n++;
		first = idx + 1;
	}
	return n;
}

struct run {
	uint64_t start, end;
};

/* Gives back the pages reserve_holes made out of holes. */
static void unreserve_runs(struct object *o, const struct run *runs, size_t nruns)
{
	struct unbacker u = { .o = o };

	for (size_t r = 0; r < nruns; r++) {
		for (uint64_t p = runs[r].start; p < runs[r].end; p++) {
			void *slot;

			pagemap_set(&o->map, p, PM_HOLE, NULL, &slot);
			unback_page(&u, p, (uintptr_t)slot);
		}
	}
	unback_flush(&u);
}

/* Records run [start, end) in *runs, growing it; false if memory ran out. */
static bool add_run(struct run **runs, size_t *nruns, size_t *cap, uint64_t start, uint64_t end)
{
	if (*nruns == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct run *moved = realloc(*runs, ncap * sizeof(**runs));

		if (!moved)
			return false;
		*runs = moved;
		*cap = ncap;
	}
	(*runs)[(*nruns)++] = (struct run){ start, end };
	return true;
}

/*
 * Turns every hole in pages [first, end) into a reserved page the store has
 * backed: all of them, or (on -ENOSPC / -ENOMEM / -EIO, or -EINTR when cancel
 * asks between chunks) none. One store call per run of holes, in chunks of
 * OBJECT_CANCEL_CHUNK pages.
 */
static int reserve_holes(struct object *o, uint64_t first, uint64_t end, bool wb,
			 const struct object_cancel *cancel)
{
	uint64_t need, p = first;
	struct run *runs = NULL;
	size_t nruns = 0, cap = 0;
	uintptr_t *slots = NULL;
	int ret;

	if (first >= end)
		return 0;
	need = (end - first) - count_present(o, first, end);
	if (!need)
		return 0;
	ret = charge(o, need, wb);
	if (ret)
		return ret;
	ret = -ENOMEM;
	slots = malloc(OBJECT_CANCEL_CHUNK * sizeof(*slots));
	if (!slots)
		goto out_undo;
	for (uint64_t done = 0, next_ask = OBJECT_CANCEL_CHUNK; done < need;) {
		uint64_t q, idx;
		size_t n;

		if (done >= next_ask) {
			next_ask += OBJECT_CANCEL_CHUNK;
			if (cancelled(cancel)) {
				ret = -EINTR;
				goto out_undo;
			}
		}
		p = pagemap_find_not(&o->map, p, PM_ANY);
		/* The run of holes from p, at most one chunk. */
		q = pagemap_find(&o->map, p, PM_ANY, &idx) && idx < end ? idx : end;
		n = q - p < OBJECT_CANCEL_CHUNK ? (size_t)(q - p) : OBJECT_CANCEL_CHUNK;
		/* Room for the run first, so that nothing below needs memory. */
		ret = -ENOMEM;
		if (!add_run(&runs, &nruns, &cap, p, p))
			goto out_undo;
		ret = store_back(o->store, o->key, p, n, slots);
		if (ret)
			goto out_undo;
		for (size_t k = 0; k < n; k++) {
			if (pagemap_set(&o->map, p + k, PM_RESERVED, (void *)slots[k], NULL)) {
				store_unback(o->store, o->key, p + k, n - k, slots + k);
				ret = -ENOMEM;
				goto out_undo;
			}
			runs[nruns - 1].end = p + k + 1;
		}
		p += n;
		done += n;
	}
	free(slots);
	free(runs);
	space_backed(o->space, need);
	return 0;

out_undo:
	unreserve_runs(o, runs, nruns);
	free(runs);
	free(slots);
	space_uncharge(o->space, need);
	return ret;
}

/* Does end lie past what one file may reach under heuristic (the capacity)? */
static bool past_capacity(const struct object *o, uint64_t end)
{
	uint64_t cap = o->space->capacity;

	return o->space->policy == SPACE_HEURISTIC && cap <= OBJECT_MAX_LENGTH / PAGE_SIZE &&
	       end > cap * PAGE_SIZE;
}

/* May the length grow to newlen under the policy? EFBIG under heuristic if not. */
static int length_allowed(const struct object *o, uint64_t newlen)
{
	if (newlen > OBJECT_MAX_LENGTH)
		return -EFBIG;
	if (newlen > o->length && past_capacity(o, newlen))
		return -EFBIG;
	return 0;
}

/*
 * Backs the pages [first, end) a change will need, plus under the never
 * policy every page between the old and the new length: all or nothing.
 */
static int back_range(struct object *o, uint64_t first, uint64_t end, uint64_t newlen, bool wb,
		      const struct object_cancel *cancel)
{
	int ret = length_allowed(o, newlen);

	if (ret)
		return ret;
	if (o->space->policy == SPACE_NEVER && newlen > o->length) {
		uint64_t from = pages_for(o->length), to = pages_for(newlen);

		/* The two ranges meet whenever both are non-empty: a growing
		 * fallocate ends where the new length does. */
		if (from < to && first >= end) {
			first = from;
			end = to;
		} else if (from < to) {
			first = from < first ? from : first;
			end = to > end ? to : end;
		}
	}
	return reserve_holes(o, first, end, wb, cancel);
}

/*
 * The holes of [off, off + size) that the write fills with something not all
 * zeros: how many, at most limit; *cut (if not NULL) receives where the one
 * after the limit starts, or size.
 */
static uint64_t holes_to_fill(const struct object *o, const char *src, size_t size, uint64_t off,
			      uint64_t limit, size_t *cut)
{
	uint64_t n = 0;
	size_t done = 0;

	for (size_t len; done < size; done += len) {
		uint64_t pos = off + done;

		len = PAGE_SIZE - (pos & (PAGE_SIZE - 1));
		if (len > size - done)
			len = size - done;
		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, NULL) == PM_HOLE &&
		    !is_zero(src + done, len) && n++ == limit)
			break;
	}
	if (cut)
		*cut = done < size ? done : size;
	return n > limit ? limit : n;
}

/* Pages one store call carries at most: a 1 MiB request spans 257. */
#define BATCH_PAGES 257

/*
 * One store call's worth of a write, at most BATCH_PAGES pages: the holes it
 * fills are backed (one store call per run), every page's bytes go to the
 * store in one call, and only then do the pages change state. A page that
 * becomes data is written whole, zeros around the new bytes. The holes were
 * charged by the caller; *filled counts those backed. 0 or -errno, with no
 * page's state changed (though a data page's bytes may be, after -EIO).
 */
static int write_batch(struct object *o, const char *src, size_t size, uint64_t off,
		       uint64_t *filled)
{
	struct store_seg seg[BATCH_PAGES];
	enum pm_state was[BATCH_PAGES];
	char edge[2][PAGE_SIZE];
	size_t nseg = 0, nedge = 0, set = 0, backed = 0;
	int ret = 0;

	for (size_t done = 0, n; done < size; done += n) {
		uint64_t pos = off + done, idx = pos >> PAGE_SHIFT;
		size_t in = pos & (PAGE_SIZE - 1);
		void *slot;
		enum pm_state state = pagemap_get(&o->map, idx, &slot);
		struct store_seg *sg = &seg[nseg];

		n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		if (state != PM_DATA && is_zero(src + done, n))
			continue; /* zeros into a hole or a reservation change nothing */
		*sg = (struct store_seg){ idx, (uintptr_t)slot, (uint32_t)in, (uint32_t)n,
					  (void *)(src + done) };
		if (state != PM_DATA && n < PAGE_SIZE) {
			memset(edge[nedge], 0, PAGE_SIZE);
			memcpy(edge[nedge] + in, src + done, n);
			*sg = (struct store_seg){ idx, (uintptr_t)slot, 0, PAGE_SIZE, edge[nedge++] };
		}
		was[nseg++] = state;
	}
	/* Back the holes, a run of consecutive pages per call. */
	for (size_t j; backed < nseg; backed = j) {
		uintptr_t slots[BATCH_PAGES];

		j = backed + 1;
		if (was[backed] != PM_HOLE)
			continue;
		while (j < nseg && was[j] == PM_HOLE && seg[j].idx == seg[j - 1].idx + 1)
			j++;
		ret = store_back_for_write(o->store, o->key, seg[backed].idx, j - backed, slots);
		if (ret)
			goto out_unback;
		for (size_t k = backed; k < j; k++)
			seg[k].slot = slots[k - backed];
	}
	for (; set < nseg; set++) {
		if (was[set] != PM_DATA &&
		    pagemap_set(&o->map, seg[set].idx, PM_DATA, (void *)seg[set].slot, NULL)) {
			ret = -ENOMEM;
			goto out_unset;
		}
	}
	ret = store_write(o->store, o->key, seg, nseg);
	if (ret)
		goto out_unset;
	for (size_t i = 0; i < nseg; i++)
		*filled += was[i] == PM_HOLE;
	return 0;

out_unset:
	while (set--)
		if (was[set] != PM_DATA)
			pagemap_set(&o->map, seg[set].idx, was[set],
				    was[set] == PM_RESERVED ? (void *)seg[set].slot : NULL, NULL);
out_unback:
	for (size_t i = 0; i < backed; i++)
		if (was[i] == PM_HOLE)
			store_unback(o->store, o->key, seg[i].idx, 1, &seg[i].slot);
	return ret;
}

/*
 * The holes a write fills are charged at once, one charge per request. When
 * they do not all fit, write-back gets -ENOSPC with nothing stored (the
 * kernel ignores a write-back's count: a short one would be silent loss),
 * while write(2) stores the part that fits and returns that count.
 */
static ssize_t write_common(struct object *o, const void *buf, size_t size, uint64_t off,
			    bool wb)
{
	const char *src = buf;
	uint64_t need, filled = 0;
	size_t done = 0;
	int err = 0;

	if (!size)
		return 0;
	if (off >= OBJECT_MAX_LENGTH || (wb && size > OBJECT_MAX_LENGTH - off))
		return -EFBIG;
	if (size > OBJECT_MAX_LENGTH - off)
		size = OBJECT_MAX_LENGTH - off;
	if (off + size > o->length) {
		err = back_range(o, 0, 0, off + size, wb, NULL);
		if (err)
			return err;
	}
	need = holes_to_fill(o, src, size, off, UINT64_MAX, NULL);
	err = charge(o, need, wb);
	if (err && wb)
		return err;
	if (err) {
		/* Short of room for all: as many pages as can be had, one by one. */
		uint64_t got = 0;

		while (got < need && !charge(o, 1, wb))
			got++;
		holes_to_fill(o, src, size, off, got, &size);
		need = got;
		if (!size)
			return -ENOSPC;
	}
	while (done < size) {
		uint64_t pos = off + done;
		size_t n = size - done, room = BATCH_PAGES * PAGE_SIZE - (pos & (PAGE_SIZE - 1));

		/* A batch ends on a page boundary, except at the end. */
		if (n > room - PAGE_SIZE)
			n = room - PAGE_SIZE;
		err = write_batch(o, src + done, n, pos, &filled);
		if (err)
			break;
		done += n;
	}
	space_backed(o->space, filled);
	space_uncharge(o->space, need - filled);
	if (done && off + done > o->length)
		o->length = off + done;
	if (!done || (wb && err))
		return err;
	return (ssize_t)done;
}

ssize_t object_write(struct object *o, const void *buf, size_t size, uint64_t off)
{
	struct counts before = counts_of(o);
	ssize_t ret = write_common(o, buf, size, off, false);

	tell_totals(o, before);
	return ret;
}

ssize_t object_write_wb(struct object *o, const void *buf, size_t size, uint64_t off)
{
	struct counts before = counts_of(o);
	ssize_t ret = write_common(o, buf, size, off, true);

	tell_totals(o, before);
	return ret;
}

ssize_t object_read(const struct object *o, void *buf, size_t size, uint64_t off)
{
	struct store_seg seg[BATCH_PAGES];
	char *dst = buf;
	size_t done = 0, nseg = 0;
	int ret;

	if (off >= o->length)
		return 0;
	if (size > o->length - off)
		size = o->length - off;
	for (size_t n; done < size; done += n) {
		uint64_t pos = off + done;
		size_t in = pos & (PAGE_SIZE - 1);
		void *slot;

		n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, &slot) != PM_DATA) {
			memset(dst + done, 0, n);
			continue;
		}
		seg[nseg++] = (struct store_seg){ pos >> PAGE_SHIFT, (uintptr_t)slot, (uint32_t)in,
						  (uint32_t)n, dst + done };
		if (nseg == BATCH_PAGES) {
			ret = store_read(o->store, o->key, seg, nseg);
			if (ret)
				return ret;
			nseg = 0;
		}
	}
	ret = store_read(o->store, o->key, seg, nseg);
	return ret ? ret : (ssize_t)done;
}

bool object_maps(const struct object *o)
{
	return o->store->ops->map != NULL;
}

size_t object_read_iov(const struct object *o, size_t size, uint64_t off, struct iovec *iov,
		       int maxiov, int *iovcnt)
{
	size_t done = 0;
	int cnt = 0;

	*iovcnt = 0;
	if (off >= o->length || !object_maps(o))
		return 0;
	if (size > o->length - off)
		size = o->length - off;
	while (done < size) {
		uint64_t pos = off + done;
		size_t in = pos & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		void *slot;
		const char *base;
		struct iovec *last = cnt ? &iov[cnt - 1] : NULL;

		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, &slot) == PM_DATA) {
			base = (const char *)store_map(o->store, (uintptr_t)slot) + in;
			/* Pages next to each other in memory (the store hands them out
			 * in address order) make one entry. */
			if (last && (const char *)last->iov_base + last->iov_len == base) {
				last->iov_len += n;
				done += n;
				continue;
			}
		} else {
			if (last && last->iov_base == (void *)zero_buf &&
			    last->iov_len + n <= sizeof(zero_buf)) {
				last->iov_len += n;
				done += n;
				continue;
			}
			base = zero_buf;
		}
		if (cnt == maxiov)
			break;
		iov[cnt].iov_base = (void *)base;
		iov[cnt].iov_len = n;
		cnt++;
		done += n;
	}
	*iovcnt = cnt;
	return done;
}

/* Zeroes bytes [from, to) of one page, if it holds data; 0 or -EIO. */
static int zero_in_page(struct object *o, uint64_t from, uint64_t to)
{
	void *slot;
	struct store_seg seg;

	if (from >= to || pagemap_get(&o->map, from >> PAGE_SHIFT, &slot) != PM_DATA)
		return 0;
	seg = (struct store_seg){ from >> PAGE_SHIFT, (uintptr_t)slot,
				  (uint32_t)(from & (PAGE_SIZE - 1)), (uint32_t)(to - from),
				  (void *)zero_buf };
	return store_write(o->store, o->key, &seg, 1);
}

/* Zeroes [off, end) of the partial pages at its edges; 0 or -EIO. */
static int zero_edges(struct object *o, uint64_t off, uint64_t end)
{
	uint64_t head_end = (off | (PAGE_SIZE - 1)) + 1;
	int ret = 0;

	if (off & (PAGE_SIZE - 1))
		ret = zero_in_page(o, off, end < head_end ? end : head_end);
	if (ret)
		return ret;
	if ((end & (PAGE_SIZE - 1)) && (end >> PAGE_SHIFT) != (off >> PAGE_SHIFT))
		ret = zero_in_page(o, end & ~(uint64_t)(PAGE_SIZE - 1), end);
	else if ((end & (PAGE_SIZE - 1)) && !(off & (PAGE_SIZE - 1)))
		ret = zero_in_page(o, off, end);
	return ret;
}

/*
 * Data pages in [first, end) become reserved pages, keeping their backing:
 * a reserved page reads zeros whatever its slot holds (store.h).
 */
static void data_to_reserved(struct object *o, uint64_t first, uint64_t end)
{
	uint64_t idx;

	while (first < end && pagemap_find(&o->map, first, PM_DATA, &idx) && idx < end) {
		void *slot;

		pagemap_get(&o->map, idx, &slot);
		pagemap_set(&o->map, idx, PM_RESERVED, slot, NULL);
		first = idx + 1;
	}
}

static int fallocate_pages(struct object *o, int mode, uint64_t off, uint64_t len,
			   const struct object_cancel *cancel)
{
	uint64_t end, newlen, first, last, full_first, full_end;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	int ret;

	if (!len)
		return -EINVAL;
	if (__builtin_add_overflow(off, len, &end) || end > OBJECT_MAX_LENGTH)
		return -EFBIG;
	first = off >> PAGE_SHIFT;
	last = pages_for(end);
	full_first = pages_for(off);
	full_end = end >> PAGE_SHIFT;
	newlen = keep || end <= o->length ? o->length : end;

	switch (mode & ~FALLOC_FL_KEEP_SIZE) {
	case 0:
		/* Under heuristic a reservation no write could reach is refused too. */
		if (past_capacity(o, end))
			return -EFBIG;
		ret = back_range(o, first, last, newlen, false, cancel);
		break;
	case FALLOC_FL_PUNCH_HOLE:
		if (!keep)
			return -EOPNOTSUPP;
		ret = zero_edges(o, off, end);
		if (ret)
			return ret;
		if (full_first < full_end && o->space->policy == SPACE_NEVER) {
			uint64_t backed = pages_for(o->length);

			data_to_reserved(o, full_first, full_end < backed ? full_end : backed);
			if (full_end > backed)
				drop_pages(o, backed > full_first ? backed : full_first, full_end,
					   PM_ANY);
		} else if (full_first < full_end) {
			drop_pages(o, full_first, full_end, PM_ANY);
		}
		return 0;
	case FALLOC_FL_ZERO_RANGE:
		if (past_capacity(o, end))
			return -EFBIG;
		ret = back_range(o, first, last, newlen, false, cancel);
		if (ret)
			return ret;
		/* A backing that fails to write here leaves the range reserved. */
		ret = zero_edges(o, off, end);
		if (ret)
			return ret;
		data_to_reserved(o, full_first, full_end);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!ret)
		o->length = newlen;
	return ret;
}

int object_fallocate(struct object *o, int mode, uint64_t off, uint64_t len,
		     const struct object_cancel *cancel)
{
	struct counts before = counts_of(o);
	int ret = fallocate_pages(o, mode, off, len, cancel);

	tell_totals(o, before);
	return ret;
}

static int truncate_pages(struct object *o, uint64_t length, const struct object_cancel *cancel)
{
	int ret;

	if (length > o->length) {
		ret = back_range(o, 0, 0, length, false, cancel);
		if (ret)
			return ret;
	} else {
		/* Not growing, even to the same length: what lies past the end —
		 * KEEP_SIZE reservations too — goes, as on tmpfs and ext4, so that
		 * ftruncate(fd, st_size) gives preallocated space back. */
		ret = zero_in_page(o, length, pages_for(length) << PAGE_SHIFT);
		if (ret)
			return ret;
		drop_pages(o, pages_for(length), PAGEMAP_MAX_INDEX + 1, PM_ANY);
	}
	o->length = length;
	return 0;
}

int object_truncate(struct object *o, uint64_t length, const struct object_cancel *cancel)
{
	struct counts before = counts_of(o);
	int ret = truncate_pages(o, length, cancel);

	tell_totals(o, before);
	return ret;
}

int64_t object_seek(const struct object *o, uint64_t off, int whence)
{
	uint64_t idx, pos;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off >= o->length)
		return -ENXIO;
	if (whence == SEEK_DATA) {
		if (!pagemap_find(&o->map, off >> PAGE_SHIFT, PM_DATA, &idx) ||
		    idx << PAGE_SHIFT >= o->length)
			return -ENXIO;
		pos = idx << PAGE_SHIFT;
	} else {
		idx = pagemap_find_not(&o->map, off >> PAGE_SHIFT, PM_DATA);
		pos = idx > PAGEMAP_MAX_INDEX ? o->length : idx << PAGE_SHIFT;
		if (pos > o->length)
			pos = o->length;
	}
	return (int64_t)(pos > off ? pos : off);
}

/* Whether bytes [tail, PAGE_SIZE) of data page idx read as zeros. */
static bool tail_is_zero(const struct object *o, uint64_t idx, uintptr_t slot, size_t tail)
{
	char page[PAGE_SIZE];
	struct store_seg seg = { idx, slot, 0, PAGE_SIZE, page };

	return store_read(o->store, o->key, &seg, 1) == 0 && is_zero(page + tail, PAGE_SIZE - tail);
}

int object_check(const struct object *o)
{
	uint64_t idx;
	size_t tail = o->length & (PAGE_SIZE - 1);
	void *page;

	if (pagemap_check(&o->map))
		return -1;
	if (o->length > OBJECT_MAX_LENGTH) {
		fprintf(stderr, "object: length %llu too large\n", (unsigned long long)o->length);
		return -1;
	}
	for (uint64_t p = 0; pagemap_find(&o->map, p, PM_RESERVED, &idx); p = idx + 1) {
		if (pagemap_get(&o->map, idx, &page) != PM_RESERVED || !page) {
			fprintf(stderr, "object: reserved page %llu has no backing\n",
				(unsigned long long)idx);
			return -1;
		}
	}
	if (o->space->policy == SPACE_NEVER &&
	    (idx = pagemap_find_not(&o->map, 0, PM_ANY)) < pages_for(o->length)) {
		fprintf(stderr, "object: hole at page %llu under overcommit=never\n",
			(unsigned long long)idx);
		return -1;
	}
	if (pagemap_find(&o->map, pages_for(o->length), PM_DATA, &idx)) {
		fprintf(stderr, "object: data page %llu past length %llu\n",
			(unsigned long long)idx, (unsigned long long)o->length);
		return -1;
	}
	if (tail && pagemap_get(&o->map, o->length >> PAGE_SHIFT, &page) == PM_DATA &&
	    !tail_is_zero(o, o->length >> PAGE_SHIFT, (uintptr_t)page, tail)) {
		fprintf(stderr, "object: bytes past length %llu are not zero\n",
			(unsigned long long)o->length);
		return -1;
	}
	return 0;
}
