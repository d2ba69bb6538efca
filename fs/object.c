/* SPDX-License-Identifier: MIT */
#include "object.h"

#include <errno.h>
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

/* Makes page idx data holding `n` bytes of src at `in`; 0 or -errno. */
static int fill_page(struct object *o, uint64_t idx, enum pm_state state, void *page,
		     const char *src, size_t in, size_t n)
{
	bool charged = false, allocated = false;
	int ret;

	if (state == PM_HOLE) {
		ret = space_charge(o->space, 1);
		if (ret)
			return ret;
		charged = true;
	}
	if (!page) {
		page = store_page_alloc(o->store);
		if (!page) {
			ret = -ENOMEM;
			goto out_uncharge;
		}
		allocated = true;
	}
	memcpy((char *)page + in, src, n);
	ret = pagemap_set(&o->map, idx, PM_DATA, page, NULL);
	if (ret)
		goto out_free;
	return 0;

out_free:
	/* A reserved page keeps its committed memory: only a new one goes back. */
	if (allocated)
		store_page_free(o->store, page);
	else
		memset((char *)page + in, 0, n);
out_uncharge:
	if (charged)
		space_release(o->space, 1);
	return ret;
}

ssize_t object_write(struct object *o, const void *buf, size_t size, uint64_t off)
{
	const char *src = buf;
	size_t done = 0;
	int err = 0;

	if (!size)
		return 0;
	if (off >= OBJECT_MAX_LENGTH)
		return -EFBIG;
	if (size > OBJECT_MAX_LENGTH - off)
		size = OBJECT_MAX_LENGTH - off;

	while (done < size) {
		uint64_t pos = off + done;
		uint64_t idx = pos >> PAGE_SHIFT;
		size_t in = pos & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		void *page;
		enum pm_state state = pagemap_get(&o->map, idx, &page);

		if (state == PM_DATA)
			memcpy((char *)page + in, src + done, n);
		else if (!is_zero(src + done, n))
			err = fill_page(o, idx, state, page, src + done, in, n);
		/* else: zeros into a hole or a reservation change nothing */
		if (err)
			break;
		done += n;
	}
	if (!done)
		return err;
	if (off + done > o->length)
		o->length = off + done;
	return (ssize_t)done;
}

size_t object_read(const struct object *o, void *buf, size_t size, uint64_t off)
{
	char *dst = buf;
	size_t done = 0;

	if (off >= o->length)
		return 0;
	if (size > o->length - off)
		size = o->length - off;
	while (done < size) {
		uint64_t pos = off + done;
		size_t in = pos & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - in < size - done ? PAGE_SIZE - in : size - done;
		void *page;

		if (pagemap_get(&o->map, pos >> PAGE_SHIFT, &page) == PM_DATA)
			memcpy(dst + done, (char *)page + in, n);
		else
			memset(dst + done, 0, n);
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

int object_truncate(struct object *o, uint64_t length)
{
	if (length > OBJECT_MAX_LENGTH)
		return -EFBIG;
	if (length < o->length) {
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
