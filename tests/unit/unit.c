/* SPDX-License-Identifier: MIT */
/* Shared test support: allocation failure injection and a fake backing (unit.h). */
#include "unit.h"

#include <errno.h>

static long countdown = -1; /* allocations to let through before one fails */
static bool fired;

void failalloc_nth(long n)
{
	countdown = n;
	fired = false;
}

bool failalloc_fired(void)
{
	return fired;
}

void failalloc_off(void)
{
	countdown = -1;
}

static bool should_fail(void)
{
	if (countdown < 0)
		return false;
	if (countdown-- > 0)
		return false;
	fired = true;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return should_fail() ? NULL : __real_realloc(p, size);
}

uint64_t unit_backing(void *arg)
{
	return *(const uint64_t *)arg;
}

/* Takes one from a countdown: false if it has run out (the call fails). */
static bool let_through(long *left)
{
	if (*left < 0)
		return true;
	if (*left == 0)
		return false;
	(*left)--;
	return true;
}

static int faulty_back_common(struct store *st, uint64_t key, uint64_t idx, size_t n,
			      uintptr_t *slots, bool for_write)
{
	struct faulty_store *fs = (struct faulty_store *)st;
	int ret;

	if (fs->back_pages >= 0 && (size_t)fs->back_pages < n) {
		fs->back_pages = 0;
		return fs->back_err;
	}
	if (!let_through(&fs->back_calls))
		return fs->back_err;
	ret = for_write ? store_back_for_write(fs->inner, key, idx, n, slots)
			: store_back(fs->inner, key, idx, n, slots);
	if (ret)
		return ret;
	if (fs->back_pages >= 0)
		fs->back_pages -= (long)n;
	fs->live += (long)n;
	return 0;
}

static int faulty_back(struct store *st, uint64_t key, uint64_t idx, size_t n, uintptr_t *slots)
{
	return faulty_back_common(st, key, idx, n, slots, false);
}

static int faulty_back_for_write(struct store *st, uint64_t key, uint64_t idx, size_t n,
				 uintptr_t *slots)
{
	return faulty_back_common(st, key, idx, n, slots, true);
}

static void faulty_unback(struct store *st, uint64_t key, uint64_t idx, size_t n,
			  const uintptr_t *slots)
{
	struct faulty_store *fs = (struct faulty_store *)st;

	if (fs->on_unback)
		fs->on_unback(fs->hook_arg);
	fs->live -= (long)n;
	store_unback(fs->inner, key, idx, n, slots);
}

static int faulty_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	struct faulty_store *fs = (struct faulty_store *)st;

	return let_through(&fs->writes) ? store_write(fs->inner, key, segs, n) : -EIO;
}

static int faulty_read(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	struct faulty_store *fs = (struct faulty_store *)st;

	return let_through(&fs->reads) ? store_read(fs->inner, key, segs, n) : -EIO;
}

static void *faulty_map(struct store *st, uintptr_t slot)
{
	return store_map(((struct faulty_store *)st)->inner, slot);
}

static uint64_t faulty_backing_free(struct store *st)
{
	return store_backing_free(((struct faulty_store *)st)->inner);
}

static int faulty_size(struct store *st, struct store_size *out)
{
	return store_size(((struct faulty_store *)st)->inner, out);
}

static void faulty_about(struct store *st, struct store_about *out)
{
	store_about(((struct faulty_store *)st)->inner, out);
}

static void faulty_destroy(struct store *st)
{
	store_destroy(((struct faulty_store *)st)->inner);
}

static const struct store_ops faulty_ops = {
	.name = "faulty",
	.back = faulty_back,
	.back_for_write = faulty_back_for_write,
	.unback = faulty_unback,
	.write = faulty_write,
	.read = faulty_read,
	.map = faulty_map,
	.backing_free = faulty_backing_free,
	.size = faulty_size,
	.about = faulty_about,
	.destroy = faulty_destroy,
};

void faulty_init(struct faulty_store *fs, struct store *inner)
{
	*fs = (struct faulty_store){
		.ops = faulty_ops,
		.inner = inner,
		.back_pages = -1,
		.back_calls = -1,
		.writes = -1,
		.reads = -1,
		.back_err = -ENOMEM,
	};
	if (!inner->ops->map)
		fs->ops.map = NULL;
	fs->base.ops = &fs->ops;
}
