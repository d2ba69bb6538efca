/* SPDX-License-Identifier: MIT */
/*
 * The memory store. Pages come from 2 MiB anonymous mappings ("arenas") and
 * wait on one stack when free, each entry tagged with what it costs to use:
 *
 *   FRESH  resident and zero: a new arena (populated in one MADV_POPULATE_WRITE,
 *          far cheaper than 512 page faults) or a run of GONE pages repopulated
 *   DIRTY  resident, old contents: freed recently; zeroed (memset) when reused
 *   GONE   handed back to the kernel with MADV_DONTNEED: no memory, reads zero
 *
 * Freeing only pushes a DIRTY entry. Once more than 2 * DIRTY_MAX are waiting,
 * the oldest are given back in address order until DIRTY_MAX remain, coalesced
 * into runs — one madvise a run rather than a page: freeing 1 GiB page by page
 * took seconds. So at most 2 * DIRTY_MAX pages (plus the unused rest of one
 * arena) are held beyond what the files hold, and every page handed out reads
 * as zeros. Those are counted as backing (resident_free): MemAvailable cannot
 * see that they are ours to reuse.
 * Tags live in the low bits of the page address (pages are 4096-aligned).
 */
#include "store.h"
#include "kfile.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE_SIZE SFS_PAGE_SIZE
#define ARENA_SIZE (2u << 20)
#define ARENA_PAGES (ARENA_SIZE / PAGE_SIZE)
#define DIRTY_MAX 8192u       /* 32 MiB of freed pages kept for reuse */
#define REPOPULATE_MAX 64u    /* GONE pages brought back in one call */

enum { FRESH = 0, DIRTY = 1, GONE = 2, TAG_MASK = 3 };

struct mem_store {
	struct store base;
	pthread_mutex_t lock;
	uintptr_t *free;   /* [lock] stack of free pages | tag */
	size_t nfree;      /* [lock] */
	size_t free_cap;   /* [lock] room for every page of every arena */
	size_t ndirty;     /* [lock] DIRTY entries on the stack */
	size_t ngone;      /* [lock] GONE entries on the stack */
	void **arenas;     /* [lock] every mapping, for destroy */
	size_t narenas;    /* [lock] */
};

static inline char *addr_of(uintptr_t e)
{
	return (char *)(e & ~(uintptr_t)TAG_MASK);
}

static inline unsigned tag_of(uintptr_t e)
{
	return (unsigned)(e & TAG_MASK);
}

/* A new arena's pages onto the free stack; -1 if memory ran out. Lock held. */
static int add_arena(struct mem_store *ms)
{
	size_t want = (ms->narenas + 1) * ARENA_PAGES;
	void **arenas;
	char *base;

	/* Room for every page of every arena, so that page_free never allocates. */
	if (want > ms->free_cap) {
		size_t cap = ms->free_cap ? ms->free_cap * 2 : 4 * ARENA_PAGES;
		uintptr_t *moved;

		while (cap < want)
			cap *= 2;
		moved = realloc(ms->free, cap * sizeof(*moved));
		if (!moved)
			return -1;
		ms->free = moved;
		ms->free_cap = cap;
	}
	arenas = realloc(ms->arenas, (ms->narenas + 1) * sizeof(void *));
	if (!arenas)
		return -1;
	ms->arenas = arenas;
	base = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	/* Freed 4 KiB pages must really go back: keep the arena in small pages. */
	madvise(base, ARENA_SIZE, MADV_NOHUGEPAGE);
	/* Before Linux 5.14 this fails, and pages are faulted in one by one. */
	madvise(base, ARENA_SIZE, MADV_POPULATE_WRITE);
	ms->arenas[ms->narenas++] = base;
	/* Lowest address on top, so an arena fills from its start. */
	for (size_t i = ARENA_PAGES; i > 0; i--)
		ms->free[ms->nfree++] = (uintptr_t)(base + (i - 1) * PAGE_SIZE) | FRESH;
	return 0;
}

/*
 * The GONE page on top may start a run of GONE pages stacked in address order
 * (trim leaves them so): populate the run at once and mark it FRESH.
 */
static void repopulate(struct mem_store *ms)
{
	size_t top = ms->nfree - 1, n = 1;
	char *start = addr_of(ms->free[top]);

	while (n < REPOPULATE_MAX && n <= top && tag_of(ms->free[top - n]) == GONE &&
	       addr_of(ms->free[top - n]) == start + n * PAGE_SIZE)
		n++;
	if (madvise(start, n * PAGE_SIZE, MADV_POPULATE_WRITE))
		return; /* the pages still work: they fault in one by one */
	for (size_t k = 0; k < n; k++)
		ms->free[top - k] = (uintptr_t)addr_of(ms->free[top - k]) | FRESH;
	ms->ngone -= n;
}

static void *page_alloc(struct mem_store *ms)
{
	uintptr_t e;

	pthread_mutex_lock(&ms->lock);
	if (!ms->nfree && add_arena(ms)) {
		pthread_mutex_unlock(&ms->lock);
		return NULL;
	}
	if (tag_of(ms->free[ms->nfree - 1]) == GONE)
		repopulate(ms);
	e = ms->free[--ms->nfree];
	if (tag_of(e) == DIRTY)
		ms->ndirty--;
	else if (tag_of(e) == GONE)
		ms->ngone--; /* repopulate failed: it faults in when written */
	pthread_mutex_unlock(&ms->lock);
	if (tag_of(e) == DIRTY)
		memset(addr_of(e), 0, PAGE_SIZE);
	return addr_of(e);
}

static void page_commit(void *page)
{
	/* A write fault gives the page real memory (if it has none yet); a read
	 * would map the shared zero page and promise nothing. */
	*(volatile char *)page = 0;
}

static int by_address_desc(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Gives the oldest DIRTY pages back until DIRTY_MAX remain: the bottom of the
 * stack is sorted by address (highest first, so that pops come in address
 * order) and each run of adjacent DIRTY pages goes in one madvise. Lock held.
 */
static void trim(struct mem_store *ms)
{
	size_t excess = ms->ndirty - DIRTY_MAX, bottom = 0, seen = 0;

	/* The bottom segment holding `excess` DIRTY entries, oldest first. */
	while (seen < excess)
		seen += tag_of(ms->free[bottom++]) == DIRTY;
	qsort(ms->free, bottom, sizeof(*ms->free), by_address_desc);
	for (size_t i = 0; i < bottom;) {
		size_t j = i + 1;

		if (tag_of(ms->free[i]) != DIRTY) {
			i++;
			continue;
		}
		/* Descending order: the run's pages sit at falling addresses. */
		while (j < bottom && tag_of(ms->free[j]) == DIRTY &&
		       addr_of(ms->free[j]) == addr_of(ms->free[j - 1]) - PAGE_SIZE)
			j++;
		madvise(addr_of(ms->free[j - 1]), (j - i) * PAGE_SIZE, MADV_DONTNEED);
		for (size_t k = i; k < j; k++)
			ms->free[k] = (uintptr_t)addr_of(ms->free[k]) | GONE;
		ms->ndirty -= j - i;
		ms->ngone += j - i;
		i = j;
	}
}

static void page_free(struct mem_store *ms, void *page)
{
	pthread_mutex_lock(&ms->lock);
	/* The stack has room for every page: this cannot fail. */
	ms->free[ms->nfree++] = (uintptr_t)page | DIRTY;
	/* Trim in batches, so its sort is paid once per DIRTY_MAX frees. */
	if (++ms->ndirty > 2 * DIRTY_MAX)
		trim(ms);
	pthread_mutex_unlock(&ms->lock);
}

static size_t resident_free(struct mem_store *ms)
{
	size_t n;

	pthread_mutex_lock(&ms->lock);
	n = ms->nfree - ms->ngone;
	pthread_mutex_unlock(&ms->lock);
	return n;
}

/* A reservation is committed memory: each page is written into at once. */
static int mem_back(struct store *st, uint64_t key, uint64_t idx, size_t n, uintptr_t *slots)
{
	struct mem_store *ms = (struct mem_store *)st;

	(void)key;
	(void)idx;
	for (size_t k = 0; k < n; k++) {
		void *page = page_alloc(ms);

		if (!page) {
			while (k--)
				page_free(ms, (void *)slots[k]);
			return -ENOMEM;
		}
		page_commit(page);
		slots[k] = (uintptr_t)page;
	}
	return 0;
}

static void mem_unback(struct store *st, uint64_t key, uint64_t idx, size_t n,
		       const uintptr_t *slots)
{
	(void)key;
	(void)idx;
	for (size_t k = 0; k < n; k++)
		page_free((struct mem_store *)st, (void *)slots[k]);
}

static int mem_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	(void)st;
	(void)key;
	for (size_t k = 0; k < n; k++)
		memcpy((char *)segs[k].slot + segs[k].off, segs[k].buf, segs[k].len);
	return 0;
}

static int mem_read(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	(void)st;
	(void)key;
	for (size_t k = 0; k < n; k++)
		memcpy(segs[k].buf, (const char *)segs[k].slot + segs[k].off, segs[k].len);
	return 0;
}

static void *mem_map(struct store *st, uintptr_t slot)
{
	(void)st;
	return (void *)slot;
}

void store_mem_meminfo(struct meminfo *mi)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long v;
	char line[256];

	memset(mi, 0, sizeof(*mi));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
			mi->total = (uint64_t)v * 1024;
		else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
			mi->available = (uint64_t)v * 1024;
		else if (sscanf(line, "SwapFree: %llu kB", &v) == 1)
			mi->swap_free = (uint64_t)v * 1024;
	}
	fclose(f);
}

/*
 * What memory can still give: MemAvailable + SwapFree, plus the free pages
 * this store keeps resident, which MemAvailable cannot see are ours to reuse.
 */
static uint64_t mem_backing_free(struct store *st)
{
	struct meminfo mi;

	store_mem_meminfo(&mi);
	return (mi.available + mi.swap_free) / PAGE_SIZE + resident_free((struct mem_store *)st);
}

/* As tmpfs: N% is of RAM, the default half of it. */
static int mem_size(struct store *st, struct store_size *out)
{
	struct meminfo mi;

	(void)st;
	store_mem_meminfo(&mi);
	if (!mi.total)
		return -ENOENT;
	out->pct_base = mi.total;
	out->default_bytes = mi.total / PAGE_SIZE / 2 * PAGE_SIZE;
	return 0;
}

static void mem_about(struct store *st, struct store_about *out)
{
	(void)st;
	out->where = "-";
	out->fstype = "-";
	out->shared = "the machine's memory, which other processes use too";
}

static void mem_destroy(struct store *st)
{
	struct mem_store *ms = (struct mem_store *)st;

	for (size_t i = 0; i < ms->narenas; i++)
		munmap(ms->arenas[i], ARENA_SIZE);
	free(ms->arenas);
	free(ms->free);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

static const struct store_ops mem_ops = {
	.name = "memory",
	.back = mem_back,
	.unback = mem_unback,
	.write = mem_write,
	.read = mem_read,
	.map = mem_map,
	.backing_free = mem_backing_free,
	.size = mem_size,
	.about = mem_about,
	.destroy = mem_destroy,
};

struct store *store_mem_create(void)
{
	struct mem_store *ms = calloc(1, sizeof(*ms));

	if (!ms)
		return NULL;
	ms->base.ops = &mem_ops;
	pthread_mutex_init(&ms->lock, NULL);
	return &ms->base;
}

static struct store *mem_kind_create(const char *where, const struct store_args *args)
{
	struct store *st;

	(void)where;
	(void)args;
	st = store_mem_create();
	if (!st)
		fprintf(stderr, "sparsefs: out of memory\n");
	return st;
}

static struct kstore *mem_kind_kernel(const char *where, uint64_t capacity_bytes)
{
	(void)where;
	return kstore_memory(capacity_bytes);
}

const struct store_kind store_kind_memory = {
	.name = "memory",
	.syntax = "memory",
	.help = "pages in the daemon's memory (the kernel path: a private tmpfs)",
	.options = (const struct store_option[]){ { NULL, NULL } },
	.create = mem_kind_create,
	.create_kernel = mem_kind_kernel,
};
