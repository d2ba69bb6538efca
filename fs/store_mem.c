/* SPDX-License-Identifier: MIT */
/*
 * The memory store. Pages come from 2 MiB anonymous mappings ("arenas");
 * a freed page is handed back to the kernel with MADV_DONTNEED, which both
 * returns its memory and makes it read as zeros when it is next used, so every
 * page given out is already zero. Free pages wait on a stack (not threaded
 * through the pages themselves, whose contents DONTNEED discards).
 */
#include "store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE_SIZE 4096u
#define ARENA_SIZE (2u << 20)
#define ARENA_PAGES (ARENA_SIZE / PAGE_SIZE)

struct mem_store {
	struct store base;
	pthread_mutex_t lock;
	void **free;       /* [lock] stack of free pages */
	size_t nfree;      /* [lock] */
	size_t free_cap;   /* [lock] */
	void **arenas;     /* [lock] every mapping, for destroy */
	size_t narenas;    /* [lock] */
};

static int reserve_slots(void ***v, size_t *cap, size_t want)
{
	size_t n = *cap ? *cap : 64;
	void **moved;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	moved = realloc(*v, n * sizeof(void *));
	if (!moved)
		return -1;
	*v = moved;
	*cap = n;
	return 0;
}

/* A new arena's pages onto the free stack; -1 if memory ran out. Lock held. */
static int add_arena(struct mem_store *ms)
{
	void **arenas;
	char *base;

	/* Room for every page of every arena, so that page_free never allocates. */
	if (reserve_slots(&ms->free, &ms->free_cap, (ms->narenas + 1) * ARENA_PAGES))
		return -1;
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
	ms->arenas[ms->narenas++] = base;
	/* Lowest address on top, so an arena fills from its start. */
	for (size_t i = ARENA_PAGES; i > 0; i--)
		ms->free[ms->nfree++] = base + (i - 1) * PAGE_SIZE;
	return 0;
}

static void *mem_page_alloc(struct store *st)
{
	struct mem_store *ms = (struct mem_store *)st;
	void *page = NULL;

	pthread_mutex_lock(&ms->lock);
	if (ms->nfree || add_arena(ms) == 0)
		page = ms->free[--ms->nfree];
	pthread_mutex_unlock(&ms->lock);
	return page;
}

static int mem_page_commit(struct store *st, void *page)
{
	(void)st;
	/* A write fault gives the page real memory; a read would map the shared
	 * zero page and promise nothing. */
	*(volatile char *)page = 0;
	return 0;
}

static void mem_page_free(struct store *st, void *page)
{
	struct mem_store *ms = (struct mem_store *)st;

	madvise(page, PAGE_SIZE, MADV_DONTNEED);
	pthread_mutex_lock(&ms->lock);
	/* The stack was sized for every page of every arena: this cannot fail. */
	ms->free[ms->nfree++] = page;
	pthread_mutex_unlock(&ms->lock);
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
	.page_alloc = mem_page_alloc,
	.page_commit = mem_page_commit,
	.page_free = mem_page_free,
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
