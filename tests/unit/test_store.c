/* SPDX-License-Identifier: MIT */
/*
 * The memory store: every page it hands out reads as zeros — new, recycled
 * while still resident, or given back to the kernel and brought back — and
 * pages freed in bulk really return their memory.
 */
#include "unit.h"

#include <string.h>

#include "store.h"

#define PAGE 4096u
#define MANY 40000u /* more than twice the store's resident free-page cache */

static uint64_t rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int all_zero(const char *p)
{
	for (unsigned i = 0; i < PAGE; i++)
		if (p[i])
			return 0;
	return 1;
}

static void test_pages_read_zero_through_every_path(void **state)
{
	struct store *st = store_mem_create();
	char **pages = calloc(MANY, sizeof(*pages));

	(void)state;
	assert_non_null(st);
	assert_non_null(pages);
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < MANY; i++) {
			pages[i] = store_page_alloc(st);
			assert_non_null(pages[i]);
			assert_int_equal((uintptr_t)pages[i] % PAGE, 0);
			if (!all_zero(pages[i]))
				fail_msg("round %d: page %u handed out dirty", round, i);
			assert_int_equal(store_page_commit(st, pages[i]), 0);
			memset(pages[i], 0xa5, PAGE);
		}
		/* Every page distinct. */
		for (unsigned i = 1; i < MANY; i += 997)
			assert_ptr_not_equal(pages[i], pages[i - 1]);
		/* Free in a scattered order so that trimming must sort and coalesce. */
		for (unsigned i = 0; i < MANY; i += 2)
			store_page_free(st, pages[i]);
		for (unsigned i = 1; i < MANY; i += 2)
			store_page_free(st, pages[i]);
	}
	store_destroy(st);
	free(pages);
}

static void test_bulk_free_returns_memory(void **state)
{
	struct store *st = store_mem_create();
	char **pages = calloc(MANY, sizeof(*pages));
	uint64_t before, held, after;

	(void)state;
	assert_non_null(pages);
	before = rss_kb();
	for (unsigned i = 0; i < MANY; i++) {
		pages[i] = store_page_alloc(st);
		memset(pages[i], 1, PAGE);
	}
	held = rss_kb();
	for (unsigned i = 0; i < MANY; i++)
		store_page_free(st, pages[i]);
	after = rss_kb();
	/* 40000 pages are 160000 kB; at most 32 MiB of freed pages stay resident
	 * (plus the rest of the last arena), the rest goes back. */
	if (held - before < 150000)
		fail_msg("RSS grew only %llu kB for %u pages", (unsigned long long)(held - before),
			 MANY);
	if (after > before + 2 * 32768 + 4096)
		fail_msg("after freeing, RSS %llu kB (was %llu before, %llu held)",
			 (unsigned long long)after, (unsigned long long)before,
			 (unsigned long long)held);
	store_destroy(st);
	free(pages);
}

/* Free pages with memory count as backing; pages given back do not. */
static void test_resident_free(void **state)
{
	struct store *st = store_mem_create();
	char **pages = calloc(MANY, sizeof(*pages));
	size_t r0, r;

	(void)state;
	assert_non_null(pages);
	assert_int_equal(store_resident_free(st), 0);
	pages[0] = store_page_alloc(st);
	/* The rest of the first arena (2 MiB, populated at once) is resident. */
	r0 = store_resident_free(st);
	assert_int_equal(r0, 511);
	for (unsigned i = 1; i < MANY; i++)
		pages[i] = store_page_alloc(st);
	r = store_resident_free(st);
	assert_true(r < 512);
	for (unsigned i = 0; i < 1000; i++)
		store_page_free(st, pages[i]);
	assert_int_equal(store_resident_free(st), r + 1000);
	/* Freeing everything: what is given back no longer counts. */
	for (unsigned i = 1000; i < MANY; i++)
		store_page_free(st, pages[i]);
	r = store_resident_free(st);
	if (r > 2 * 8192 + 512 || r < 8192)
		fail_msg("%zu free pages still resident after freeing %u", r, MANY);
	/* Reusing GONE pages brings them back: counted as they are taken. */
	for (unsigned i = 0; i < MANY; i++)
		pages[i] = store_page_alloc(st);
	assert_true(store_resident_free(st) < 512);
	for (unsigned i = 0; i < MANY; i++)
		store_page_free(st, pages[i]);
	store_destroy(st);
	free(pages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_read_zero_through_every_path),
		cmocka_unit_test(test_bulk_free_returns_memory),
		cmocka_unit_test(test_resident_free),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
