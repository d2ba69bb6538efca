/* SPDX-License-Identifier: MIT */
#include "object.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#define PAGE_SIZE OBJECT_PAGE_SIZE
#define PAGE_SHIFT PAGEMAP_SHIFT

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

void object_init(struct object *o, struct space *sp, struct store *st)
{
	o->length = 0;
	pagemap_init(&o->map);
	o->space = sp;
	o->store = st;
}

static void free_page_cb(void *page, void *arg)
{
	store_page_free(arg, page);
}

void object_destroy(struct object *o)
{
	space_release(o->space, o->map.nr_data + o->map.nr_reserved);
	pagemap_destroy(&o->map, free_page_cb, o->store);
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

/*
 * Makes page idx data holding n bytes of src at in. A hole's page must have
 * been charged by the caller; on failure that charge is the caller's to give
 * back, and a reserved page keeps its memory. 0 or -ENOMEM.
 */
static int fill_page(struct object *o, uint64_t idx, void *page, const char *src, size_t in,
		     size_t n)
{
	bool allocated = false;

	if (!page) {
		page = store_page_alloc(o->store);
		if (!page)
			return -ENOMEM;
		allocated = true;
	}
	memcpy((char *)page + in, src, n);
	if (pagemap_set(&o->map, idx, PM_DATA, page, NULL)) {
		if (allocated)
			store_page_free(o->store, page);
		else
			memset((char *)page + in, 0, n);
		return -ENOMEM;
	}
	return 0;
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
	for (size_t r = 0; r < nruns; r++) {
		for (uint64_t p = runs[r].start; p < runs[r].end; p++) {
			void *page;

			pagemap_set(&o->map, p, PM_HOLE, NULL, &page);
			store_page_free(o->store, page);
		}
	}
}

/*
 * Turns every hole in pages [first, end) into a reserved page with committed
 * memory: all of them, or (on -ENOSPC / -ENOMEM, or -EINTR when cancel asks
 * between chunks) none.
 */
static int reserve_holes(struct object *o, uint64_t first, uint64_t end, bool wb,
			 const struct object_cancel *cancel)
{
	uint64_t need, done = 0, p = first;
	struct run *runs = NULL;
	size_t nruns = 0, cap = 0;
	int ret;

	if (first >= end)
		return 0;
	need = (end - first) - count_present(o, first, end);
	if (!need)
		return 0;
	ret = charge(o, need, wb);
	if (ret)
		return ret;
	for (; done < need; done++, p++) {
		void *page;

		if (done % OBJECT_CANCEL_CHUNK == OBJECT_CANCEL_CHUNK - 1 && cancelled(cancel)) {
			ret = -EINTR;
			goto out_undo;
		}
		ret = -ENOMEM;
		p = pagemap_find_not(&o->map, p, PM_ANY);
		if (!nruns || runs[nruns - 1].end != p) {
			if (nruns == cap) {
				size_t ncap = cap ? cap * 2 : 4;
				struct run *moved = realloc(runs, ncap * sizeof(*runs));

				if (!moved)
					goto out_undo;
				runs = moved;
				cap = ncap;
			}
			runs[nruns++] = (struct run){ p, p };
		}
		page = store_page_alloc(o->store);
		if (!page)
			goto out_undo;
		if (store_page_commit(o->store, page) ||
		    pagemap_set(&o->map, p, PM_RESERVED, page, NULL)) {
			store_page_free(o->store, page);
			goto out_undo;
		}
		runs[nruns - 1].end = p + 1;
	}
	free(runs);
	space_backed(o->space, need);
	return 0;

out_undo:
	unreserve_runs(o, runs, nruns);
	free(runs);
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

/* Holes of [off, off + size) that the write fills with something not all zeros. */
static uint64_t holes_to_fill(const struct object *o, const char *src, size_t size, uint64_t off)
{
	uint64_t n = 0;

	for (size_t done = 0, len; done < size; done += len) {
		uint64_t pos = off + done;

		len = PAGE_SIZE - (pos & (PAGE_SIZE - 1));
		if (len > size - done)
			len = size - done;
		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, NULL) == PM_HOLE &&
		    !is_zero(src + done, len))
			n++;
	}
	return n;
}

/*
 * The holes a write fills are charged at once, one charge per request. When
 * they do not all fit, write-back gets -ENOSPC with nothing stored (the
 * kernel ignores a write-back's count: a short one would be silent loss),
 * while write(2) stores what fits page by page and returns that count.
 */
static ssize_t write_common(struct object *o, const void *buf, size_t size, uint64_t off,
			    bool wb)
{
	const char *src = buf;
	uint64_t prepaid, filled = 0;
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
	prepaid = holes_to_fill(o, src, size, off);
	err = charge(o, prepaid, wb);
	if (err && wb)
		return err;
	if (err)
		prepaid = 0;

	while (done < size) {
		uint64_t pos = off + done;
		uint64_t idx = pos >> PAGE_SHIFT;
		size_t in = pos & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		void *page;
		enum pm_state state = pagemap_get(&o->map, idx, &page);

		err = 0;
		if (state == PM_DATA) {
			memcpy((char *)page + in, src + done, n);
		} else if (!is_zero(src + done, n)) {
			bool hole = state == PM_HOLE, own = hole && !prepaid;

			/* Short of room for all: one page at a time, as far as it goes. */
			if (own && (err = charge(o, 1, wb)))
				break;
			prepaid -= hole && !own;
			err = fill_page(o, idx, page, src + done, in, n);
			if (err && hole)
				space_uncharge(o->space, 1);
			if (err)
				break;
			if (own)
				space_backed(o->space, 1);
			else
				filled += hole;
		}
		/* else: zeros into a hole or a reservation change nothing */
		done += n;
	}
	space_uncharge(o->space, prepaid);
	space_backed(o->space, filled);
	if (done && off + done > o->length)
		o->length = off + done;
	if (!done || (wb && err))
		return err;
	return (ssize_t)done;
}

ssize_t object_write(struct object *o, const void *buf, size_t size, uint64_t off)
{
	return write_common(o, buf, size, off, false);
}

ssize_t object_write_wb(struct object *o, const void *buf, size_t size, uint64_t off)
{
	return write_common(o, buf, size, off, true);
}

size_t object_read(const struct object *o, void *buf, size_t size, uint64_t off)
{
	struct iovec iov[64];
	char *dst = buf;
	size_t done = 0, n;
	int cnt;

	/* The zero-copy walk, in slices, with the copying done here. */
	while (done < size && (n = object_read_iov(o, size - done, off + done, iov, 64, &cnt))) {
		for (int i = 0; i < cnt; i++) {
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
			dst += iov[i].iov_len;
		}
		done += n;
	}
	return done;
}

size_t object_read_iov(const struct object *o, size_t size, uint64_t off, struct iovec *iov,
		       int maxiov, int *iovcnt)
{
	size_t done = 0;
	int cnt = 0;

	*iovcnt = 0;
	if (off >= o->length)
		return 0;
	if (size > o->length - off)
		size = o->length - off;
	while (done < size) {
		uint64_t pos = off + done;
		size_t in = pos & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		void *page;
		const char *base;
		struct iovec *last = cnt ? &iov[cnt - 1] : NULL;

		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, &page) == PM_DATA) {
			base = (const char *)page + in;
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

/* Frees every page in [first, end) of a state in mask; returns how many. */
static uint64_t drop_pages(struct object *o, uint64_t first, uint64_t end, unsigned mask)
{
	uint64_t idx, dropped = 0;

	while (first < end && pagemap_find(&o->map, first, mask, &idx) && idx < end) {
		void *page;

		pagemap_set(&o->map, idx, PM_HOLE, NULL, &page);
		if (page)
			store_page_free(o->store, page);
		dropped++;
		first = idx + 1;
	}
	space_release(o->space, dropped);
	return dropped;
}

/* Zeroes bytes [from, to) of one page, if it holds data. */
static void zero_in_page(struct object *o, uint64_t from, uint64_t to)
{
	void *page;

	if (from < to && pagemap_get(&o->map, from >> PAGE_SHIFT, &page) == PM_DATA)
		memset((char *)page + (from & (PAGE_SIZE - 1)), 0, to - from);
}

/* Zeroes [off, end) of the partial pages at its edges. */
static void zero_edges(struct object *o, uint64_t off, uint64_t end)
{
	uint64_t head_end = (off | (PAGE_SIZE - 1)) + 1;

	if (off & (PAGE_SIZE - 1))
		zero_in_page(o, off, end < head_end ? end : head_end);
	if ((end & (PAGE_SIZE - 1)) && (end >> PAGE_SHIFT) != (off >> PAGE_SHIFT))
		zero_in_page(o, end & ~(uint64_t)(PAGE_SIZE - 1), end);
	else if ((end & (PAGE_SIZE - 1)) && !(off & (PAGE_SIZE - 1)))
		zero_in_page(o, off, end);
}

/* Data pages in [first, end) become reserved pages reading zeros (same memory). */
static void data_to_reserved(struct object *o, uint64_t first, uint64_t end)
{
	uint64_t idx;

	while (first < end && pagemap_find(&o->map, first, PM_DATA, &idx) && idx < end) {
		void *page;

		pagemap_get(&o->map, idx, &page);
		memset(page, 0, PAGE_SIZE);
		pagemap_set(&o->map, idx, PM_RESERVED, page, NULL);
		first = idx + 1;
	}
}

int object_fallocate(struct object *o, int mode, uint64_t off, uint64_t len,
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
		zero_edges(o, off, end);
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
		zero_edges(o, off, end);
		data_to_reserved(o, full_first, full_end);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!ret)
		o->length = newlen;
	return ret;
}

int object_truncate(struct object *o, uint64_t length, const struct object_cancel *cancel)
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
		size_t tail = length & (PAGE_SIZE - 1);
		void *page;

		drop_pages(o, pages_for(length), PAGEMAP_MAX_INDEX + 1, PM_ANY);
		if (tail && pagemap_get(&o->map, length >> PAGE_SHIFT, &page) == PM_DATA)
			memset((char *)page + tail, 0, PAGE_SIZE - tail);
	}
	o->length = length;
	return 0;
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
			fprintf(stderr, "object: reserved page %llu has no memory\n",
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
	    !is_zero((char *)page + tail, PAGE_SIZE - tail)) {
		fprintf(stderr, "object: bytes past length %llu are not zero\n",
			(unsigned long long)o->length);
		return -1;
	}
	return 0;
}
