/* SPDX-License-Identifier: MIT */
/*
 * object: reads and writes across page edges, zero-page detection, truncate,
 * the 2^63-1 limit, ENOSPC and ENOMEM, zero-copy reads, SEEK_DATA/SEEK_HOLE,
 * fallocate (every mode, all or nothing), the three overcommit policies, the
 * write-back overdraft and the backing, and a randomized run under each policy
 * against a byte-for-byte shadow with a model of every page's state.
 *
 * Every test runs on a real space (with a fake backing, so the machine's free
 * memory does not matter) and the memory store behind a counting wrapper, and
 * checks object_check, space_check, used == blocks / 8 and "every page present
 * has memory" after each step.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <linux/falloc.h>

#include "object.h"
#include "unit.h"

#define PS 4096u
#define MAXLEN OBJECT_MAX_LENGTH

struct fx {
	struct space sp;
	struct faulty_store ts;
	struct object o;
	uint64_t backing; /* pages the machine could still give, less what we hold */
};

/* The backing the space sees: what is left of f->backing after the pages the
 * store holds, as MemAvailable shrinks when pages are used. */
static uint64_t fx_backing(void *arg)
{
	struct fx *f = arg;
	uint64_t held = (uint64_t)f->ts.live;

	return f->backing > held ? f->backing - held : 0;
}

/* (Re)configures the empty object's space. */
static void reinit(struct fx *f, uint64_t capacity, uint64_t overdraft, enum space_policy policy)
{
	assert_int_equal(space_used(&f->sp), 0);
	space_init(&f->sp, capacity, 0);
	space_set_backing(&f->sp, fx_backing, f);
	space_configure(&f->sp, overdraft, policy);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store *inner;

	if (!f)
		return -1;
	f->backing = 1ULL << 40;
	inner = store_mem_create();
	if (!inner)
		return -1;
	faulty_init(&f->ts, inner);
	reinit(f, 1u << 20, 0, SPACE_ALWAYS);
	object_init(&f->o, &f->sp, &f->ts.base, 1);
	*state = f;
	return 0;
}

static void ck(struct fx *f)
{
	assert_int_equal(object_check(&f->o), 0);
	assert_int_equal(space_check(&f->sp), 0);
	assert_int_equal(space_used(&f->sp), object_blocks(&f->o) / 8);
	assert_int_equal(object_blocks(&f->o) % 8, 0);
	/* Every page present has memory: data its bytes, reserved committed. */
	assert_int_equal((uint64_t)f->ts.live, f->o.map.nr_data + f->o.map.nr_reserved);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	object_destroy(&f->o);
	assert_int_equal(object_check(&f->o), 0);
	assert_int_equal(object_blocks(&f->o), 0);
	assert_int_equal(f->o.length, 0);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(f->ts.live, 0);
	store_destroy(&f->ts.base);
	free(f);
	return 0;
}

/* object_write that must write all of it. */
static void wr(struct fx *f, const void *buf, size_t size, uint64_t off)
{
	assert_int_equal(object_write(&f->o, buf, size, off), (ssize_t)size);
	ck(f);
}

/* object_fallocate that must succeed. */
static void fa(struct fx *f, int mode, uint64_t off, uint64_t len)
{
	assert_int_equal(object_fallocate(&f->o, mode, off, len, NULL), 0);
	ck(f);
}

static void fill(void *buf, size_t n, unsigned seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(((i + seed) * 131 + (i >> 8)) % 251 + 1); /* never 0 */
}

static bool all_zero(const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static enum pm_state state_of(struct fx *f, uint64_t idx)
{
	return pagemap_get(&f->o.map, idx, NULL);
}

/* The states of pages [0, n) as a string: '.' hole, 'r' reserved, 'D' data. */
static const char *states(struct fx *f, unsigned n)
{
	static char s[256];

	assert_true(n < sizeof(s));
	for (unsigned i = 0; i < n; i++)
		s[i] = ".rD"[state_of(f, i)];
	s[n] = '\0';
	return s;
}

static void test_write_read_unaligned(void **state)
{
	struct fx *f = *state;
	size_t size = 3 * PS + 123;
	uint64_t off = PS - 77;
	char *buf = malloc(size), *got = malloc(size + 100);

	assert_non_null(buf);
	assert_non_null(got);
	fill(buf, size, 1);
	wr(f, buf, size, off);
	assert_int_equal(f->o.length, off + size);
	/* pages 0..4 touched: [4019, 16430) */
	assert_int_equal(object_blocks(&f->o), 5 * 8);

	assert_int_equal(object_read(&f->o, got, size, off), size);
	assert_memory_equal(got, buf, size);
	/* The hole before it reads as zeros. */
	assert_int_equal(object_read(&f->o, got, off, 0), off);
	assert_true(all_zero(got, off));
	/* Every small window across the page edges. */
	for (uint64_t o = off - 5; o < off + size; o += 997) {
		size_t n = 4200, want = off + size - o < n ? off + size - o : n;

		assert_int_equal(object_read(&f->o, got, n, o), want);
		for (size_t i = 0; i < want; i++) {
			char expect = o + i < off ? 0 : buf[o + i - off];

			assert_int_equal(got[i], expect);
		}
	}
	/* Overwrite across an edge, unaligned on both sides. */
	memset(buf + PS - 10, 'x', 20);
	wr(f, buf + PS - 10, 20, off + PS - 10);
	assert_int_equal(object_read(&f->o, got, size, off), size);
	assert_memory_equal(got, buf, size);
	assert_int_equal(object_blocks(&f->o), 5 * 8);
	assert_int_equal(f->o.length, off + size);
	/* A write of nothing changes nothing. */
	assert_int_equal(object_write(&f->o, buf, 0, 1ULL << 40), 0);
	assert_int_equal(f->o.length, off + size);
	ck(f);
	free(buf);
	free(got);
}

static void test_zero_pages(void **state)
{
	struct fx *f = *state;
	char zeros[2 * PS] = { 0 }, got[2 * PS], one = 'z';
	void *page;

	/* A whole page of zeros into a hole: length grows, nothing is held. */
	wr(f, zeros, PS, 0);
	assert_int_equal(f->o.length, PS);
	assert_int_equal(object_blocks(&f->o), 0);
	/* Part of a page of zeros, across an edge. */
	wr(f, zeros, 1000, 2 * PS - 500);
	assert_int_equal(f->o.length, 2 * PS + 500);
	assert_int_equal(object_blocks(&f->o), 0);
	assert_int_equal(pagemap_get(&f->o.map, 1, NULL), PM_HOLE);
	/* One non-zero byte makes a page of data: 8 blocks. */
	wr(f, &one, 1, 3 * PS + 5);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(pagemap_get(&f->o.map, 3, NULL), PM_DATA);
	assert_int_equal(object_read(&f->o, got, 2 * PS, 2 * PS), 3 * PS + 6 - 2 * PS);
	assert_true(all_zero(got, PS + 5));
	assert_int_equal(got[PS + 5], 'z');
	/* Zeros over that data page keep it: it stays data, 8 blocks. */
	wr(f, zeros, PS, 3 * PS);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(pagemap_get(&f->o.map, 3, &page), PM_DATA);
	assert_non_null(page);
	assert_int_equal(object_read(&f->o, got, PS, 3 * PS), PS);
	assert_true(all_zero(got, PS));
	/* Zeros spanning that data page and a hole: the hole stays one. */
	wr(f, zeros, 2 * PS, 3 * PS + 100);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(pagemap_get(&f->o.map, 4, NULL), PM_HOLE);
	assert_int_equal(f->o.length, 5 * PS + 100);
	/* A mostly-zero buffer whose last byte is not zero is data. */
	memset(got, 0, PS);
	got[PS - 1] = 1;
	wr(f, got, PS, 6 * PS);
	assert_int_equal(object_blocks(&f->o), 16);
	/* ... and whose first byte is not zero, unaligned. */
	memset(got, 0, PS);
	got[0] = 1;
	wr(f, got, 100, 8 * PS + 3);
	assert_int_equal(object_blocks(&f->o), 24);
}

static void test_read_past_eof(void **state)
{
	struct fx *f = *state;
	char buf[PS], got[2 * PS];

	fill(buf, sizeof(buf), 2);
	wr(f, buf, 100, 9900);
	assert_int_equal(f->o.length, 10000);
	memset(got, 'q', sizeof(got));
	assert_int_equal(object_read(&f->o, got, 100, 9950), 50);
	assert_memory_equal(got, buf + 50, 50);
	assert_int_equal(got[50], 'q'); /* nothing written past the count */
	assert_int_equal(object_read(&f->o, got, 100, 10000), 0);
	assert_int_equal(object_read(&f->o, got, 100, 20000), 0);
	assert_int_equal(object_read(&f->o, got, 100, UINT64_MAX), 0);
	assert_int_equal(object_read(&f->o, got, 2 * PS, 0), 2 * PS);
	assert_int_equal(object_read(&f->o, got, 0, 0), 0);
	ck(f);
}

static void test_truncate(void **state)
{
	struct fx *f = *state;
	char *buf = malloc(3 * PS), *got = malloc(6 * PS);

	assert_non_null(buf);
	assert_non_null(got);
	memset(buf, 0xAA, 3 * PS);
	wr(f, buf, 3 * PS, 0);
	assert_int_equal(object_blocks(&f->o), 24);

	/* Down to mid-page: page 2 goes, page 1 keeps its first 100 bytes. */
	assert_ok(object_truncate(&f->o, PS + 100, NULL));
	ck(f);
	assert_int_equal(f->o.length, PS + 100);
	assert_int_equal(object_blocks(&f->o), 16);
	assert_int_equal(space_used(&f->sp), 2);
	assert_int_equal(pagemap_get(&f->o.map, 2, NULL), PM_HOLE);
	/* Back up: what lay past the cut reads as zeros. */
	assert_ok(object_truncate(&f->o, 3 * PS, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 16); /* growing adds only holes */
	assert_int_equal(object_read(&f->o, got, 3 * PS, 0), 3 * PS);
	assert_memory_equal(got, buf, PS + 100);
	assert_true(all_zero(got + PS + 100, 2 * PS - 100));

	/* To a page boundary: the page wholly past the end goes. */
	assert_ok(object_truncate(&f->o, PS, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 8);
	/* To the same length: nothing changes. */
	assert_ok(object_truncate(&f->o, PS, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(object_read(&f->o, got, PS, 0), PS);
	assert_memory_equal(got, buf, PS);
	/* To one byte, then grow by writing far away. */
	assert_ok(object_truncate(&f->o, 1, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 8);
	wr(f, buf, 10, 5 * PS);
	assert_int_equal(object_read(&f->o, got, 5 * PS, 0), 5 * PS);
	assert_int_equal((unsigned char)got[0], 0xAA);
	assert_true(all_zero(got + 1, 5 * PS - 1));
	/* To zero: everything goes. */
	assert_ok(object_truncate(&f->o, 0, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 0);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(f->ts.live, 0);
	assert_null(f->o.map.root);
	free(buf);
	free(got);
}

static void test_truncate_huge(void **state)
{
	struct fx *f = *state;
	char buf[10], got[20];

	assert_ok(object_truncate(&f->o, MAXLEN, NULL));
	ck(f);
	assert_int_equal(f->o.length, MAXLEN);
	assert_int_equal(object_blocks(&f->o), 0);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(pagemap_overhead(&f->o.map), 0);
	assert_int_equal(object_truncate(&f->o, MAXLEN + 1, NULL), -EFBIG);
	assert_int_equal(object_truncate(&f->o, UINT64_MAX, NULL), -EFBIG);
	assert_int_equal(f->o.length, MAXLEN);
	ck(f);
	assert_int_equal(object_read(&f->o, got, sizeof(got), MAXLEN - 5), 5);
	assert_true(all_zero(got, 5));

	/* A page at each end of the largest file. */
	fill(buf, sizeof(buf), 3);
	wr(f, buf, 10, 0);
	wr(f, buf, 7, MAXLEN - 7);
	assert_int_equal(f->o.length, MAXLEN);
	assert_int_equal(object_blocks(&f->o), 16);
	assert_true(pagemap_overhead(&f->o.map) < 4096);
	assert_int_equal(object_read(&f->o, got, sizeof(got), MAXLEN - 7), 7);
	assert_memory_equal(got, buf, 7);
	/* Down to the middle frees the far page. */
	assert_ok(object_truncate(&f->o, 1ULL << 62, NULL));
	ck(f);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(object_read(&f->o, got, 10, 0), 10);
	assert_memory_equal(got, buf, 10);
}

static void test_write_limits(void **state)
{
	struct fx *f = *state;
	char buf[100], got[100];

	fill(buf, sizeof(buf), 4);
	assert_int_equal(object_write(&f->o, buf, 10, MAXLEN), -EFBIG);
	assert_int_equal(object_write(&f->o, buf, 10, MAXLEN + 1), -EFBIG);
	assert_int_equal(object_write(&f->o, buf, 10, UINT64_MAX), -EFBIG);
	assert_int_equal(object_write(&f->o, buf, 1, UINT64_MAX - 4095), -EFBIG);
	assert_int_equal(f->o.length, 0);
	ck(f);
	/* Near the end the count is clamped, not wrapped. */
	assert_int_equal(object_write(&f->o, buf, 10, MAXLEN - 4), 4);
	ck(f);
	assert_int_equal(f->o.length, MAXLEN);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(object_read(&f->o, got, 100, MAXLEN - 4), 4);
	assert_memory_equal(got, buf, 4);
	assert_int_equal(object_write(&f->o, buf, 100, MAXLEN - 1), 1);
	ck(f);
	assert_int_equal(object_write(&f->o, buf, SIZE_MAX, MAXLEN - 1), 1);
	ck(f);
	assert_int_equal(object_write(&f->o, buf, 1, MAXLEN), -EFBIG);
	assert_int_equal(f->o.length, MAXLEN);
	assert_int_equal(object_blocks(&f->o), 8);
}

static void test_enospc(void **state)
{
	struct fx *f = *state;
	const uint64_t N = 8;
	size_t size = (N + 2) * PS;
	char *buf = malloc(size), *got = malloc(size);
	ssize_t ret;

	assert_non_null(buf);
	assert_non_null(got);
	reinit(f, N, 0, SPACE_ALWAYS);
	fill(buf, size, 5);
	/* N pages fit, the rest does not: a short count. */
	ret = object_write(&f->o, buf, size, 0);
	ck(f);
	assert_int_equal(ret, N * PS);
	assert_int_equal(f->o.length, N * PS);
	assert_int_equal(space_used(&f->sp), N);
	assert_int_equal(object_blocks(&f->o), N * 8);
	/* The next write needs a page and gets none. */
	assert_int_equal(object_write(&f->o, buf, 1, N * PS), -ENOSPC);
	assert_int_equal(object_write(&f->o, buf, PS, 100 * PS), -ENOSPC);
	ck(f);
	assert_int_equal(f->o.length, N * PS);
	/* What needs no page still works: overwriting data, writing zeros. */
	wr(f, buf + 7, 3 * PS, 100);
	memset(got, 0, PS);
	wr(f, got, PS, 50 * PS);
	assert_int_equal(f->o.length, 51 * PS);
	assert_int_equal(object_read(&f->o, got, N * PS, 0), N * PS);
	assert_memory_equal(got, buf, 100);
	assert_memory_equal(got + 100, buf + 7, 3 * PS);
	assert_memory_equal(got + 100 + 3 * PS, buf + 100 + 3 * PS, N * PS - 100 - 3 * PS);

	/* A write that starts in the last free page and runs over the edge. */
	assert_ok(object_truncate(&f->o, (N - 1) * PS, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), N - 1);
	ret = object_write(&f->o, buf, PS, (N - 1) * PS + PS / 2);
	ck(f);
	assert_int_equal(ret, PS / 2);
	assert_int_equal(f->o.length, N * PS);
	assert_int_equal(space_used(&f->sp), N);

	/* Space comes back with the pages. */
	assert_ok(object_truncate(&f->o, 0, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(object_write(&f->o, buf, size, 0), N * PS);
	ck(f);
	free(buf);
	free(got);
}

static void test_destroy(void **state)
{
	struct fx *f = *state;
	char buf[PS];

	fill(buf, sizeof(buf), 6);
	for (uint64_t i = 0; i < 50; i++)
		wr(f, buf, 100 + i, i * i * 7919 * PS + i);
	fa(f, FALLOC_FL_KEEP_SIZE, 3 * PS, 1);
	fa(f, FALLOC_FL_KEEP_SIZE, 1ULL << 47, 2);
	assert_int_equal(space_used(&f->sp), 52);
	object_destroy(&f->o);
	assert_int_equal(object_check(&f->o), 0);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(f->ts.live, 0);
	assert_int_equal(f->o.length, 0);
	assert_int_equal(object_blocks(&f->o), 0);
	assert_null(f->o.map.root);
	/* Usable again. */
	wr(f, buf, 10, 0);
	assert_int_equal(space_used(&f->sp), 1);
}

/* Reserved pages: zeros to read, holes to SEEK_DATA, counted, and a promise:
 * writing them needs no more space. */
static void test_reserved(void **state)
{
	struct fx *f = *state;
	char buf[3 * PS], got[4 * PS], zeros[PS] = { 0 };
	void *committed, *page;

	reinit(f, 3, 0, SPACE_ALWAYS);
	assert_ok(object_truncate(&f->o, 4 * PS, NULL));
	fa(f, FALLOC_FL_KEEP_SIZE, PS, 2 * PS);
	fa(f, FALLOC_FL_KEEP_SIZE, 6 * PS + 5, 1); /* past EOF */
	assert_string_equal(states(f, 8), ".rr...r.");
	assert_int_equal(f->o.length, 4 * PS);
	assert_int_equal(object_blocks(&f->o), 24);
	assert_int_equal(space_used(&f->sp), 3);
	assert_int_equal(pagemap_get(&f->o.map, 2, &committed), PM_RESERVED);
	assert_non_null(committed);
	assert_int_equal(object_read(&f->o, got, 4 * PS, 0), 4 * PS);
	assert_true(all_zero(got, 4 * PS));
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, PS + 5, SEEK_HOLE), PS + 5);
	/* Zeros into a reserved page leave it reserved. */
	wr(f, zeros, PS, PS);
	assert_int_equal(state_of(f, 1), PM_RESERVED);
	assert_int_equal(object_blocks(&f->o), 24);
	/* The space is full, yet data goes into the reserved pages. */
	fill(buf, sizeof(buf), 7);
	assert_int_equal(space_charge(&f->sp, 1), -ENOSPC);
	wr(f, buf, 2 * PS - 10, PS + 5);
	assert_int_equal(space_used(&f->sp), 3);
	assert_int_equal(object_blocks(&f->o), 24);
	assert_string_equal(states(f, 8), ".DD...r.");
	assert_int_equal(pagemap_get(&f->o.map, 2, &page), PM_DATA);
	assert_ptr_equal(page, committed); /* its committed memory is used */
	assert_int_equal(object_read(&f->o, got, 3 * PS, 0), 3 * PS);
	assert_true(all_zero(got, PS + 5));
	assert_memory_equal(got + PS + 5, buf, 2 * PS - 10);
	assert_true(all_zero(got + 3 * PS - 5, 5));
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), PS);
	assert_int_equal(object_seek(&f->o, PS, SEEK_HOLE), 3 * PS);
	/* ... and past EOF, into the one reserved there. */
	wr(f, buf, 10, 6 * PS + 100);
	assert_int_equal(f->o.length, 6 * PS + 110);
	assert_int_equal(space_used(&f->sp), 3);
	/* A hole still needs space it cannot have. */
	assert_int_equal(object_write(&f->o, buf, 1, 0), -ENOSPC);
	assert_int_equal(object_write(&f->o, buf, 1, 7 * PS), -ENOSPC);
	ck(f);
	assert_int_equal(f->o.length, 6 * PS + 110);
	/* Shrinking frees every page past the end, reserved ones beyond EOF too. */
	assert_ok(object_truncate(&f->o, 6 * PS, NULL));
	ck(f);
	assert_string_equal(states(f, 10), ".DD.......");
	fa(f, FALLOC_FL_KEEP_SIZE, 9 * PS, 1);
	assert_string_equal(states(f, 10), ".DD......r");
	assert_ok(object_truncate(&f->o, 2 * PS + 1, NULL));
	ck(f);
	assert_string_equal(states(f, 10), ".DD.......");
	assert_int_equal(object_blocks(&f->o), 16);
	assert_ok(object_truncate(&f->o, 0, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), 0);
}

/* ftruncate to the current size drops KEEP_SIZE preallocation past EOF, as on
 * tmpfs (shmem_setattr truncates whenever newsize <= oldsize), ext4 and xfs:
 * the usual way to give such space back. */
static void test_truncate_same_length(void **state)
{
	struct fx *f = *state;
	char buf[PS];

	fill(buf, sizeof(buf), 19);
	wr(f, buf, 100, 0);
	fa(f, FALLOC_FL_KEEP_SIZE, 0, 4 * PS);
	assert_string_equal(states(f, 5), "Drrr.");
	assert_int_equal(space_used(&f->sp), 4);
	assert_ok(object_truncate(&f->o, 100, NULL));
	ck(f);
	assert_int_equal(f->o.length, 100);
	assert_string_equal(states(f, 5), "D....");
	assert_int_equal(space_used(&f->sp), 1);
}

static void test_fallocate(void **state)
{
	struct fx *f = *state;
	char buf[8 * PS], got[8 * PS];

	fill(buf, sizeof(buf), 11);
	/* Mode 0 on an empty file: the length grows, every page is reserved. */
	fa(f, 0, 0, 3 * PS + 1);
	assert_int_equal(f->o.length, 3 * PS + 1);
	assert_string_equal(states(f, 5), "rrrr.");
	assert_int_equal(object_blocks(&f->o), 32);
	assert_int_equal(object_read(&f->o, got, 8 * PS, 0), 3 * PS + 1);
	assert_true(all_zero(got, 3 * PS + 1));
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, 0, SEEK_HOLE), 0);
	/* Over data and holes: only holes are charged, data stays. */
	wr(f, buf, PS, 5 * PS);
	assert_string_equal(states(f, 8), "rrrr.D..");
	fa(f, 0, 2 * PS + 7, 5 * PS);
	assert_string_equal(states(f, 9), "rrrrrDrr.");
	assert_int_equal(f->o.length, 7 * PS + 7);
	assert_int_equal(space_used(&f->sp), 8);
	assert_int_equal(object_read(&f->o, got, PS, 5 * PS), PS);
	assert_memory_equal(got, buf, PS);
	/* Inside the length: the length stays. */
	fa(f, 0, 0, PS);
	assert_int_equal(f->o.length, 7 * PS + 7);
	/* KEEP_SIZE past EOF: pages beyond it, length unchanged. */
	fa(f, FALLOC_FL_KEEP_SIZE, 10 * PS, 2 * PS);
	assert_int_equal(f->o.length, 7 * PS + 7);
	assert_string_equal(states(f, 13), "rrrrrDrr..rr.");
	assert_int_equal(object_seek(&f->o, 6 * PS, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, 7 * PS, SEEK_HOLE), 7 * PS);
	/* Again over the same range: nothing more to charge. */
	fa(f, FALLOC_FL_KEEP_SIZE, 10 * PS, 2 * PS);
	assert_int_equal(space_used(&f->sp), 10);
	/* ... and without KEEP_SIZE it only moves the length. */
	fa(f, 0, 10 * PS, 2 * PS);
	assert_int_equal(f->o.length, 12 * PS);
	assert_int_equal(space_used(&f->sp), 10);
	assert_int_equal(object_read(&f->o, got, 8 * PS, 7 * PS), 5 * PS);
	assert_true(all_zero(got, 5 * PS));

	/* Arguments. */
	assert_int_equal(object_fallocate(&f->o, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(object_fallocate(&f->o, 0, MAXLEN, 1, NULL), -EFBIG);
	assert_int_equal(object_fallocate(&f->o, 0, MAXLEN - 10, 11, NULL), -EFBIG);
	assert_int_equal(object_fallocate(&f->o, 0, UINT64_MAX - 1, 10, NULL), -EFBIG);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_KEEP_SIZE, 10, UINT64_MAX, NULL), -EFBIG);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_PUNCH_HOLE, 0, PS, NULL), -EOPNOTSUPP);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_COLLAPSE_RANGE, 0, PS, NULL), -EOPNOTSUPP);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_INSERT_RANGE, 0, PS, NULL), -EOPNOTSUPP);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
						 FALLOC_FL_KEEP_SIZE, 0, PS, NULL),
			 -EOPNOTSUPP);
	ck(f);
	assert_int_equal(f->o.length, 12 * PS);
	assert_int_equal(space_used(&f->sp), 10);
	/* At the very end of the largest file. */
	assert_ok(object_truncate(&f->o, 0, NULL));
	fa(f, 0, MAXLEN - 1, 1);
	assert_int_equal(f->o.length, MAXLEN);
	assert_int_equal(object_blocks(&f->o), 8);
	assert_int_equal(pagemap_overhead(&f->o.map) < 4096, true);
}

/* All or nothing: a fallocate that cannot have every page takes none. */
static void test_fallocate_enospc(void **state)
{
	struct fx *f = *state;
	char buf[8 * PS], before[256];

	reinit(f, 10, 0, SPACE_ALWAYS);
	fill(buf, sizeof(buf), 12);
	wr(f, buf, 2 * PS, 2 * PS);
	wr(f, buf, 2 * PS, 8 * PS);
	assert_string_equal(states(f, 12), "..DD....DD..");
	/* [0, 12) has 8 holes; 6 pages are free. */
	snprintf(before, sizeof(before), "%s", states(f, 16));
	assert_int_equal(object_fallocate(&f->o, 0, 0, 12 * PS, NULL), -ENOSPC);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_KEEP_SIZE, 0, 12 * PS, NULL), -ENOSPC);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_ZERO_RANGE, 0, 12 * PS, NULL), -ENOSPC);
	ck(f);
	assert_string_equal(states(f, 16), before);
	assert_int_equal(f->o.length, 10 * PS);
	assert_int_equal(space_used(&f->sp), 4);
	/* ZERO_RANGE refused: not a byte was zeroed. */
	assert_int_equal(object_read(&f->o, buf + PS, PS, 2 * PS), PS);
	assert_memory_equal(buf + PS, buf, PS);
	/* Exactly what is free fits. */
	fa(f, 0, 0, 2 * PS);
	fa(f, FALLOC_FL_KEEP_SIZE, 4 * PS, 4 * PS);
	assert_string_equal(states(f, 12), "rrDDrrrrDD..");
	assert_int_equal(space_used(&f->sp), 10);
	assert_int_equal(object_fallocate(&f->o, 0, 10 * PS, 1, NULL), -ENOSPC);
	/* Once it succeeded, every write into it succeeds, though the space is
	 * full: ordinary writes and write-back alike. */
	for (unsigned p = 0; p < 8; p++) {
		assert_int_equal(object_write(&f->o, buf, PS, p * PS), PS);
		ck(f);
	}
	fa(f, FALLOC_FL_ZERO_RANGE, 0, 8 * PS);
	assert_int_equal(object_write_wb(&f->o, buf, 8 * PS - 3, 3), 8 * PS - 3);
	ck(f);
	assert_int_equal(space_used(&f->sp), 10);
	assert_int_equal(object_write(&f->o, buf, 1, 10 * PS), -ENOSPC);
}

/* A fallocate that runs out of memory part way gives back what it took. */
static void test_fallocate_enomem(void **state)
{
	struct fx *f = *state;
	char buf[PS], before[256];
	unsigned failures = 0;

	fill(buf, sizeof(buf), 13);
	wr(f, buf, PS, 3 * PS);
	wr(f, buf, PS, 40 * PS);
	snprintf(before, sizeof(before), "%s", states(f, 50));
	/* The store refuses at each page (43 are needed, in 3 runs), then at
	 * each of its calls. */
	for (long n = 0; n < 43 + 3; n++) {
		f->ts.back_pages = n < 43 ? n : -1;
		f->ts.back_calls = n < 43 ? -1 : n - 43;
		assert_int_equal(object_fallocate(&f->o, 0, 0, 45 * PS, NULL), -ENOMEM);
		ck(f);
		assert_string_equal(states(f, 50), before);
		assert_int_equal(space_used(&f->sp), 2);
		assert_int_equal(f->o.length, 40 * PS + PS);
		failures++;
	}
	f->ts.back_pages = f->ts.back_calls = -1;
	/* The page map's own allocations, one at a time. */
	for (long n = 0;; n++) {
		int ret;

		failalloc_nth(n);
		ret = object_fallocate(&f->o, FALLOC_FL_KEEP_SIZE, 0, 200 * PS, NULL);
		failalloc_off();
		ck(f);
		if (ret == 0)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_string_equal(states(f, 50), before);
		assert_int_equal(space_used(&f->sp), 2);
		failures++;
	}
	assert_int_equal(space_used(&f->sp), 200);
	assert_true(failures > 45);
}

/* Says "give up" at its n-th question. */
static bool cancel_at(void *arg)
{
	int *left = arg;

	return --*left == 0;
}

/* An interrupted reservation (fallocate, or growing under never) is undone whole. */
static void test_fallocate_cancel(void **state)
{
	struct fx *f = *state;
	const uint64_t big = 5 * OBJECT_CANCEL_CHUNK + 7;
	char buf[PS], before[256];
	int left;
	struct object_cancel cancel = { cancel_at, &left, NULL };

	fill(buf, sizeof(buf), 21);
	wr(f, buf, PS, 3 * PS);
	snprintf(before, sizeof(before), "%s", states(f, 50));
	for (int at = 1; at <= 5; at++) {
		left = at;
		assert_int_equal(object_fallocate(&f->o, 0, 0, big * PS, &cancel), -EINTR);
		ck(f);
		assert_int_equal(left, 0); /* asked once per chunk, and at the at-th it stopped */
		assert_string_equal(states(f, 50), before);
		assert_int_equal(space_used(&f->sp), 1);
		assert_int_equal(f->o.length, 4 * PS);
		assert_int_equal(f->ts.live, 1);
	}
	/* Asked too late to matter: done. */
	left = 6;
	assert_ok(object_fallocate(&f->o, FALLOC_FL_KEEP_SIZE, 0, big * PS, &cancel));
	ck(f);
	assert_int_equal(space_used(&f->sp), big);
	assert_ok(object_truncate(&f->o, 0, NULL));
	/* The never policy reserves what a truncate adds, and gives up the same way. */
	reinit(f, 1ULL << 30, 0, SPACE_NEVER);
	left = 2;
	assert_int_equal(object_truncate(&f->o, big * PS, &cancel), -EINTR);
	ck(f);
	assert_int_equal(f->o.length, 0);
	assert_int_equal(space_used(&f->sp), 0);
	assert_int_equal(f->ts.live, 0);
}

static void test_punch_hole(void **state)
{
	struct fx *f = *state;
	const int PH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	char buf[6 * PS], got[6 * PS];

	fill(buf, sizeof(buf), 14);
	wr(f, buf, 5 * PS + 100, 0);
	assert_string_equal(states(f, 7), "DDDDDD.");
	/* Pages 2 and 3 wholly inside go; the edges in pages 1 and 4 are zeroed. */
	fa(f, PH, PS + 100, 3 * PS - 50);
	assert_string_equal(states(f, 7), "DD..DD.");
	assert_int_equal(space_used(&f->sp), 4);
	assert_int_equal(f->o.length, 5 * PS + 100);
	assert_int_equal(object_read(&f->o, got, sizeof(got), 0), 5 * PS + 100);
	assert_memory_equal(got, buf, PS + 100);
	assert_true(all_zero(got + PS + 100, 3 * PS - 50));
	assert_memory_equal(got + 4 * PS + 50, buf + 4 * PS + 50, PS + 50);
	assert_int_equal(object_seek(&f->o, PS, SEEK_HOLE), 2 * PS);
	assert_int_equal(object_seek(&f->o, 2 * PS, SEEK_DATA), 4 * PS);
	/* Inside one page: zeroed, kept. */
	fa(f, PH, 10, 20);
	assert_string_equal(states(f, 7), "DD..DD.");
	assert_int_equal(object_read(&f->o, got, 40, 0), 40);
	assert_memory_equal(got, buf, 10);
	assert_true(all_zero(got + 10, 20));
	assert_memory_equal(got + 30, buf + 30, 10);
	/* Reserved pages, and pages past EOF, are punched too. */
	fa(f, FALLOC_FL_KEEP_SIZE, 2 * PS, 2 * PS);
	fa(f, FALLOC_FL_KEEP_SIZE, 8 * PS, 2 * PS);
	assert_string_equal(states(f, 11), "DDrrDD..rr.");
	fa(f, PH, 3 * PS, 6 * PS);
	assert_string_equal(states(f, 11), "DDr......r.");
	assert_int_equal(f->o.length, 5 * PS + 100);
	assert_int_equal(space_used(&f->sp), 4);
	/* The partial last page: its tail past the range keeps its bytes. */
	fa(f, PH, 0, PS + 50);
	assert_string_equal(states(f, 3), ".Dr");
	assert_int_equal(object_read(&f->o, got, 2 * PS, 0), 2 * PS);
	assert_true(all_zero(got, PS + 50));
	assert_memory_equal(got + PS + 50, buf + PS + 50, 50);
	/* Nothing there: nothing to do. */
	fa(f, PH, 100 * PS, PS);
	assert_int_equal(space_used(&f->sp), 3);
}

static void test_zero_range(void **state)
{
	struct fx *f = *state;
	const int ZR = FALLOC_FL_ZERO_RANGE;
	char buf[6 * PS], got[8 * PS];

	fill(buf, sizeof(buf), 15);
	wr(f, buf, 2 * PS, 0);
	wr(f, buf, 2 * PS, 4 * PS);
	assert_string_equal(states(f, 7), "DD..DD.");
	/* [PS+100, 5PS+50): edges zeroed in place, whole pages reserved, the
	 * holes between backed. */
	fa(f, ZR, PS + 100, 4 * PS - 50);
	assert_string_equal(states(f, 7), "DDrrrD.");
	assert_int_equal(space_used(&f->sp), 6);
	assert_int_equal(f->o.length, 6 * PS);
	assert_int_equal(object_read(&f->o, got, 6 * PS, 0), 6 * PS);
	assert_memory_equal(got, buf, PS + 100);
	assert_true(all_zero(got + PS + 100, 4 * PS - 50));
	assert_memory_equal(got + 5 * PS + 50, buf + PS + 50, PS - 50);
	/* Past EOF: the length grows, unless KEEP_SIZE. */
	fa(f, ZR, 6 * PS + 10, 100);
	assert_int_equal(f->o.length, 6 * PS + 110);
	assert_string_equal(states(f, 8), "DDrrrDr.");
	fa(f, ZR | FALLOC_FL_KEEP_SIZE, 7 * PS, 3 * PS);
	assert_int_equal(f->o.length, 6 * PS + 110);
	assert_string_equal(states(f, 11), "DDrrrDrrrr.");
	assert_int_equal(object_read(&f->o, got, 8 * PS, 0), 6 * PS + 110);
	assert_true(all_zero(got + PS + 100, 4 * PS - 50));
	assert_memory_equal(got + 5 * PS + 50, buf + PS + 50, PS - 50);
	assert_true(all_zero(got + 6 * PS, 110));
	/* Over data with a page-aligned range: the data pages become reserved. */
	fa(f, ZR, 0, PS);
	assert_string_equal(states(f, 3), "rDr");
	assert_int_equal(object_read(&f->o, got, PS, 0), PS);
	assert_true(all_zero(got, PS));
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), PS);
	ck(f);
}

/* overcommit=never: every byte of length is backed. */
static void test_policy_never(void **state)
{
	struct fx *f = *state;
	const int PH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	char buf[PS];

	reinit(f, 10, 0, SPACE_NEVER);
	fill(buf, sizeof(buf), 16);
	/* Growing reserves. */
	assert_ok(object_truncate(&f->o, 3 * PS + 1, NULL));
	ck(f);
	assert_string_equal(states(f, 5), "rrrr.");
	assert_int_equal(space_used(&f->sp), 4);
	/* Shrinking gives back. */
	assert_ok(object_truncate(&f->o, PS, NULL));
	ck(f);
	assert_string_equal(states(f, 5), "r....");
	/* A write past EOF backs the gap first. */
	wr(f, buf, 10, 4 * PS + 5);
	assert_string_equal(states(f, 6), "rrrrD.");
	assert_int_equal(f->o.length, 4 * PS + 15);
	/* Zeros past EOF: backed as well. */
	memset(buf + 100, 0, 100);
	wr(f, buf + 100, 100, 6 * PS);
	assert_string_equal(states(f, 8), "rrrrDrr.");
	fill(buf, sizeof(buf), 16);
	/* 7 held, 3 free: growing by 4 pages fails whole, by 3 works. */
	assert_int_equal(object_truncate(&f->o, 11 * PS, NULL), -ENOSPC);
	ck(f);
	assert_int_equal(f->o.length, 6 * PS + 100);
	assert_int_equal(object_write(&f->o, buf, 1, 11 * PS - 1), -ENOSPC);
	assert_int_equal(object_fallocate(&f->o, 0, 0, 11 * PS, NULL), -ENOSPC);
	ck(f);
	assert_int_equal(f->o.length, 6 * PS + 100);
	assert_int_equal(space_used(&f->sp), 7);
	assert_ok(object_truncate(&f->o, 10 * PS, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), 10);
	/* Every page below the length is backed: writes cannot fail. */
	for (unsigned p = 0; p < 10; p++)
		assert_int_equal(object_write(&f->o, buf, PS, p * PS), PS);
	ck(f);
	/* Punching keeps the pages reserved below the length. */
	fa(f, PH, PS, 3 * PS);
	assert_string_equal(states(f, 11), "DrrrDDDDDD.");
	assert_int_equal(space_used(&f->sp), 10);
	/* Heuristic and never both refuse nothing a shrink asks. */
	assert_ok(object_truncate(&f->o, 0, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), 0);
}

/* overcommit=heuristic: no file grows past the whole capacity. */
static void test_policy_heuristic(void **state)
{
	struct fx *f = *state;
	char buf[PS];

	reinit(f, 10, 0, SPACE_HEURISTIC);
	fill(buf, sizeof(buf), 17);
	assert_ok(object_truncate(&f->o, 10 * PS, NULL));
	ck(f);
	assert_int_equal(space_used(&f->sp), 0); /* lengths are still free */
	assert_int_equal(object_truncate(&f->o, 10 * PS + 1, NULL), -EFBIG);
	assert_int_equal(object_write(&f->o, buf, 1, 10 * PS), -EFBIG);
	assert_int_equal(object_fallocate(&f->o, 0, 9 * PS, PS + 1, NULL), -EFBIG);
	ck(f);
	assert_int_equal(f->o.length, 10 * PS);
	wr(f, buf, 1, 10 * PS - 1);
	fa(f, 0, 0, PS);
	assert_int_equal(f->o.length, 10 * PS);
	assert_ok(object_truncate(&f->o, 5, NULL));
	ck(f);
}

/* The overdraft is for write-back only; the backing bounds everything. */
static void test_overdraft_backing(void **state)
{
	struct fx *f = *state;
	char buf[12 * PS];
	struct statvfs st;

	fill(buf, sizeof(buf), 18);
	reinit(f, 10, 3, SPACE_ALWAYS);
	assert_int_equal(object_write(&f->o, buf, 10 * PS, 0), 7 * PS);
	ck(f);
	assert_int_equal(object_write(&f->o, buf, PS, 7 * PS), -ENOSPC);
	assert_int_equal(object_fallocate(&f->o, 0, 7 * PS, PS, NULL), -ENOSPC);
	space_statfs(&f->sp, &st);
	assert_int_equal(st.f_blocks, 10);
	assert_int_equal(st.f_bfree, 3);
	assert_int_equal(st.f_bavail, 0);
	/* Write-back is stored whole or not at all (the kernel ignores a short
	 * count): 4 pages do not fit in the 3 left, and nothing is stored. */
	assert_int_equal(object_write_wb(&f->o, buf, 4 * PS, 7 * PS), -ENOSPC);
	ck(f);
	assert_int_equal(space_used(&f->sp), 7);
	assert_int_equal(f->o.length, 7 * PS);
	assert_int_equal(object_write_wb(&f->o, buf, 3 * PS, 7 * PS), 3 * PS);
	ck(f);
	assert_int_equal(object_write_wb(&f->o, buf, PS, 10 * PS), -ENOSPC);
	assert_int_equal(space_used(&f->sp), 10);
	assert_int_equal(object_truncate(&f->o, 5 * PS, NULL), 0);
	ck(f);
	space_statfs(&f->sp, &st);
	assert_int_equal(st.f_bfree, 5);
	assert_int_equal(st.f_bavail, 2);
	assert_ok(object_truncate(&f->o, 0, NULL));

	/* The machine has 4 pages left though the capacity says 100. */
	reinit(f, 100, 0, SPACE_ALWAYS);
	f->backing = 4;
	assert_int_equal(object_write(&f->o, buf, 6 * PS, 0), 4 * PS);
	ck(f);
	assert_int_equal(object_write(&f->o, buf, 1, 4 * PS), -ENOSPC);
	assert_int_equal(object_fallocate(&f->o, FALLOC_FL_KEEP_SIZE, 10 * PS, PS, NULL), -ENOSPC);
	ck(f);
	space_statfs(&f->sp, &st);
	assert_int_equal(st.f_blocks, 100);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0);
	f->backing = 1ULL << 40;
}

/* Gathers what read_iov returned and compares it with object_read. */
static void iov_compare(struct fx *f, uint64_t off, size_t size, int maxiov)
{
	struct iovec iov[64];
	char *want = malloc(size + 1), *got = malloc(size + 1);
	size_t nwant, ngot, sum = 0;
	int cnt = -1;

	assert_true(maxiov <= 64);
	assert_non_null(want);
	assert_non_null(got);
	nwant = object_read(&f->o, want, size, off);
	ngot = object_read_iov(&f->o, size, off, iov, maxiov, &cnt);
	assert_true(cnt >= 0 && cnt <= maxiov);
	for (int i = 0; i < cnt; i++) {
		assert_true(iov[i].iov_len > 0);
		memcpy(got + sum, iov[i].iov_base, iov[i].iov_len);
		sum += iov[i].iov_len;
	}
	assert_int_equal(sum, ngot);
	assert_true(ngot <= nwant);
	assert_memory_equal(got, want, ngot);
	if (ngot < nwant)
		assert_int_equal(cnt, maxiov); /* only running out of entries stops it */
	if (maxiov > 0 && nwant > 0)
		assert_true(ngot > 0);
	/* One entry a page (plus one for an unaligned start) always suffices. */
	if ((uint64_t)maxiov >= (size + PS - 1) / PS + 1)
		assert_int_equal(ngot, nwant);
	free(want);
	free(got);
}

static void test_read_iov(void **state)
{
	struct fx *f = *state;
	static const uint64_t offs[] = { 0, 1, PS - 1, PS, 3 * PS + 17, 10 * PS, 41 * PS - 3,
					 50 * PS, 60 * PS + 99, 60 * PS + 100, 1ULL << 40 };
	static const size_t sizes[] = { 0, 1, 100, PS, PS + 1, 5 * PS, 40 * PS, 70 * PS };
	static const int maxiovs[] = { 0, 1, 2, 3, 5, 64 };
	char *buf = malloc(8 * PS);
	struct iovec iov[4];
	int cnt;

	assert_non_null(buf);
	fill(buf, 8 * PS, 8);
	/* data 0-2 (written in order: neighbours in memory), holes 3-40 (more
	 * than any one zero entry covers), data 41, 43-44 written backwards,
	 * hole, a partial page at EOF. */
	wr(f, buf, 3 * PS, 0);
	wr(f, buf, PS, 41 * PS);
	wr(f, buf + PS, PS, 44 * PS);
	wr(f, buf + 2 * PS, PS, 43 * PS);
	wr(f, buf + 3 * PS, 100, 60 * PS);
	assert_int_equal(f->o.length, 60 * PS + 100);

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++)
			for (size_t k = 0; k < sizeof(maxiovs) / sizeof(maxiovs[0]); k++)
				iov_compare(f, offs[i], sizes[j], maxiovs[k]);

	/* At and past EOF: nothing, no entries. */
	cnt = -1;
	assert_int_equal(object_read_iov(&f->o, PS, 60 * PS + 100, iov, 4, &cnt), 0);
	assert_int_equal(cnt, 0);
	cnt = -1;
	assert_int_equal(object_read_iov(&f->o, PS, UINT64_MAX, iov, 4, &cnt), 0);
	assert_int_equal(cnt, 0);
	/* Data pages neighbours in memory (a fresh store hands out pages in
	 * address order) make one entry. */
	assert_int_equal(object_read_iov(&f->o, 3 * PS, 0, iov, 1, &cnt), 3 * PS);
	assert_int_equal(cnt, 1);
	/* A hole is one entry however many pages it spans, up to a point. */
	assert_int_equal(object_read_iov(&f->o, 8 * PS, 4 * PS, iov, 4, &cnt), 8 * PS);
	assert_int_equal(cnt, 1);
	ck(f);
	free(buf);
}

static void test_seek(void **state)
{
	struct fx *f = *state;
	const uint64_t len = 10 * PS + 100;
	char buf[PS];

	fill(buf, sizeof(buf), 9);
	/* data: pages 2, 3, 7 and the partial page 10; the rest holes */
	wr(f, buf, PS, 2 * PS);
	wr(f, buf, PS, 3 * PS);
	wr(f, buf, 1, 7 * PS + 4000);
	wr(f, buf, 100, 10 * PS);
	assert_int_equal(f->o.length, len);

	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), 2 * PS);
	assert_int_equal(object_seek(&f->o, 2 * PS - 1, SEEK_DATA), 2 * PS);
	assert_int_equal(object_seek(&f->o, 2 * PS, SEEK_DATA), 2 * PS);
	assert_int_equal(object_seek(&f->o, 2 * PS + 8, SEEK_DATA), 2 * PS + 8);
	assert_int_equal(object_seek(&f->o, 3 * PS + 5, SEEK_DATA), 3 * PS + 5);
	assert_int_equal(object_seek(&f->o, 4 * PS, SEEK_DATA), 7 * PS);
	assert_int_equal(object_seek(&f->o, 7 * PS + 1, SEEK_DATA), 7 * PS + 1);
	assert_int_equal(object_seek(&f->o, 8 * PS, SEEK_DATA), 10 * PS);
	assert_int_equal(object_seek(&f->o, 10 * PS + 50, SEEK_DATA), 10 * PS + 50);
	assert_int_equal(object_seek(&f->o, len - 1, SEEK_DATA), len - 1);
	assert_int_equal(object_seek(&f->o, len, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, len + 1, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, 1ULL << 40, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, UINT64_MAX, SEEK_DATA), -ENXIO);

	assert_int_equal(object_seek(&f->o, 0, SEEK_HOLE), 0);
	assert_int_equal(object_seek(&f->o, 5, SEEK_HOLE), 5);
	assert_int_equal(object_seek(&f->o, 2 * PS, SEEK_HOLE), 4 * PS);
	assert_int_equal(object_seek(&f->o, 3 * PS + 7, SEEK_HOLE), 4 * PS);
	assert_int_equal(object_seek(&f->o, 4 * PS + 3, SEEK_HOLE), 4 * PS + 3);
	assert_int_equal(object_seek(&f->o, 7 * PS, SEEK_HOLE), 8 * PS);
	assert_int_equal(object_seek(&f->o, 9 * PS + 1, SEEK_HOLE), 9 * PS + 1);
	assert_int_equal(object_seek(&f->o, 10 * PS, SEEK_HOLE), len); /* EOF is a hole */
	assert_int_equal(object_seek(&f->o, len - 1, SEEK_HOLE), len);
	assert_int_equal(object_seek(&f->o, len, SEEK_HOLE), -ENXIO);
	assert_int_equal(object_seek(&f->o, UINT64_MAX, SEEK_HOLE), -ENXIO);

	assert_int_equal(object_seek(&f->o, 0, SEEK_SET), -EINVAL);
	assert_int_equal(object_seek(&f->o, 0, SEEK_END), -EINVAL);
	assert_int_equal(object_seek(&f->o, 0, 42), -EINVAL);

	/* Data only before a long hole to EOF. */
	assert_ok(object_truncate(&f->o, 1ULL << 30, NULL));
	ck(f);
	assert_int_equal(object_seek(&f->o, 11 * PS, SEEK_DATA), -ENXIO);
	/* The last data page is data to its end now that the length goes on. */
	assert_int_equal(object_seek(&f->o, 10 * PS, SEEK_HOLE), 11 * PS);
	assert_int_equal(object_seek(&f->o, (1ULL << 30) - 1, SEEK_HOLE), (1ULL << 30) - 1);

	/* Empty: everything is past EOF. */
	assert_ok(object_truncate(&f->o, 0, NULL));
	ck(f);
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA), -ENXIO);
	assert_int_equal(object_seek(&f->o, 0, SEEK_HOLE), -ENXIO);

	/* The largest file, data in its last page only. */
	assert_ok(object_truncate(&f->o, MAXLEN, NULL));
	wr(f, buf, 1, MAXLEN - 2);
	assert_int_equal(object_seek(&f->o, 0, SEEK_HOLE), 0);
	assert_int_equal(object_seek(&f->o, 0, SEEK_DATA),
			 (int64_t)((MAXLEN - 2) & ~(uint64_t)(PS - 1)));
	assert_int_equal(object_seek(&f->o, MAXLEN - 3, SEEK_HOLE), MAXLEN);
	assert_int_equal(object_seek(&f->o, MAXLEN - 1, SEEK_DATA), MAXLEN - 1);
	assert_int_equal(object_seek(&f->o, MAXLEN, SEEK_DATA), -ENXIO);
}

static void test_enomem(void **state)
{
	struct fx *f = *state;
	char buf[3 * PS], got[3 * PS];

	fill(buf, sizeof(buf), 10);
	/* No page to be had: nothing written, nothing charged. */
	f->ts.back_pages = 0;
	assert_int_equal(object_write(&f->o, buf, PS, 0), -ENOMEM);
	ck(f);
	assert_int_equal(f->o.length, 0);
	assert_int_equal(space_used(&f->sp), 0);
	/* The store backs the pages of one request together: one page short
	 * of three, none is written. */
	f->ts.back_pages = 2;
	assert_int_equal(object_write(&f->o, buf, 3 * PS, 0), -ENOMEM);
	ck(f);
	assert_int_equal(f->o.length, 0);
	f->ts.back_pages = 1;
	assert_int_equal(object_write(&f->o, buf, PS, 0), PS);
	ck(f);
	assert_int_equal(f->o.length, PS);
	assert_int_equal(object_write(&f->o, buf + PS, 2 * PS, PS), -ENOMEM);
	ck(f);
	f->ts.back_pages = -1;
	/* The page map's own allocations fail at each point in turn: the new
	 * page goes back to the store and its space is returned. */
	for (long n = 0;; n++) {
		ssize_t ret;

		failalloc_nth(n);
		ret = object_write(&f->o, buf, PS, (1ULL << 36) + n * 64 * PS);
		failalloc_off();
		ck(f);
		if (!failalloc_fired()) {
			assert_int_equal(ret, PS);
			break;
		}
		if (ret == PS) {
			assert_ok(object_truncate(&f->o, PS, NULL));
			ck(f);
			continue;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(space_used(&f->sp), 1);
		assert_int_equal(f->ts.live, 1);
		assert_int_equal(f->o.length, PS);
	}
	assert_int_equal(object_read(&f->o, got, PS, 0), PS);
	assert_memory_equal(got, buf, PS);
}

/*
 * The model: a shadow of every byte, and the state of every page, under each
 * overcommit policy. A page turns to data when a write puts a non-zero byte
 * in it (taking a page of space if it was a hole); zeros never allocate;
 * fallocate reserves holes, all or nothing; PUNCH_HOLE makes whole pages
 * holes (reserved, under never, below the length); ZERO_RANGE reserves the
 * range, whole pages included; truncate drops what lies past the end. Under
 * never, growing the length first reserves every new page, all or nothing;
 * under heuristic, no length — and no reservation — may pass the capacity.
 */
#define SH_PAGES 75
#define SH_SIZE (SH_PAGES * PS)

struct shadow {
	unsigned char bytes[SH_SIZE + PS];
	enum pm_state st[SH_PAGES + 1];
	uint64_t len;
	uint64_t capacity;
	enum space_policy policy;
};

static uint64_t pages_of(uint64_t len)
{
	return (len + PS - 1) / PS;
}

static uint64_t shadow_pages(const struct shadow *s)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= SH_PAGES; i++)
		n += s->st[i] != PM_HOLE;
	return n;
}

/* Backs what growing the length to newlen needs, plus the pages [first, last):
 * 0 and the holes reserved, or -errno and nothing changed. */
static int shadow_back(struct shadow *s, uint64_t first, uint64_t last, uint64_t newlen)
{
	uint64_t need = 0;

	if (s->policy == SPACE_HEURISTIC && newlen > s->len && newlen > s->capacity * PS)
		return -EFBIG;
	if (s->policy == SPACE_NEVER && newlen > s->len) {
		uint64_t from = pages_of(s->len), to = pages_of(newlen);

		if (first >= last) {
			first = from;
			last = to;
		} else {
			first = from < first ? from : first;
			last = to > last ? to : last;
		}
	}
	for (uint64_t p = first; p < last; p++)
		need += s->st[p] == PM_HOLE;
	if (shadow_pages(s) + need > s->capacity)
		return -ENOSPC;
	for (uint64_t p = first; p < last; p++)
		if (s->st[p] == PM_HOLE)
			s->st[p] = PM_RESERVED;
	return 0;
}

/* What object_write should return, applying it to the shadow. */
static ssize_t shadow_write(struct shadow *s, const unsigned char *buf, size_t size,
			    uint64_t off)
{
	uint64_t used;
	size_t done = 0;

	if (off + size > s->len) {
		int ret = shadow_back(s, 0, 0, off + size);

		if (ret)
			return ret;
	}
	used = shadow_pages(s);
	while (done < size) {
		uint64_t pos = off + done, idx = pos / PS;
		size_t n = PS - pos % PS < size - done ? PS - pos % PS : size - done;

		if (s->st[idx] != PM_DATA && !all_zero(buf + done, n)) {
			if (s->st[idx] == PM_HOLE) {
				if (used == s->capacity)
					break;
				used++;
			}
			s->st[idx] = PM_DATA;
		}
		memcpy(s->bytes + pos, buf + done, n);
		done += n;
	}
	if (!done)
		return -ENOSPC;
	if (off + done > s->len)
		s->len = off + done;
	return (ssize_t)done;
}

/* Truncating to the current length counts as shrinking: it drops what
 * fallocate KEEP_SIZE put past EOF, as tmpfs (shmem_setattr) and ext4 do. */
static int shadow_truncate(struct shadow *s, uint64_t len)
{
	if (len > s->len) {
		int ret = shadow_back(s, 0, 0, len);

		if (ret)
			return ret;
	} else {
		memset(s->bytes + len, 0, s->len - len);
		for (uint64_t i = pages_of(len); i <= SH_PAGES; i++)
			s->st[i] = PM_HOLE;
	}
	s->len = len;
	return 0;
}

/* What object_fallocate should return, applying it to the shadow. */
static int shadow_fallocate(struct shadow *s, int mode, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first = off / PS, last = pages_of(end);
	uint64_t full_first = pages_of(off), full_end = end / PS;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	uint64_t newlen = keep || end <= s->len ? s->len : end;
	int ret;

	if (!len)
		return -EINVAL;
	mode &= ~FALLOC_FL_KEEP_SIZE;
	if (mode == FALLOC_FL_PUNCH_HOLE) {
		if (!keep)
			return -EOPNOTSUPP;
		memset(s->bytes + off, 0, len);
		for (uint64_t p = full_first; p < full_end; p++)
			s->st[p] = s->policy == SPACE_NEVER && p < pages_of(s->len) ? PM_RESERVED
										 : PM_HOLE;
		return 0;
	}
	if (mode != 0 && mode != FALLOC_FL_ZERO_RANGE)
		return -EOPNOTSUPP;
	/* under heuristic, a reservation no write could reach is refused */
	if (s->policy == SPACE_HEURISTIC && end > s->capacity * PS)
		return -EFBIG;
	ret = shadow_back(s, first, last, newlen);
	if (ret)
		return ret;
	if (mode == FALLOC_FL_ZERO_RANGE) {
		memset(s->bytes + off, 0, len);
		for (uint64_t p = full_first; p < full_end; p++)
			s->st[p] = PM_RESERVED;
	}
	s->len = newlen;
	return 0;
}

static int64_t shadow_seek(const struct shadow *s, uint64_t off, int whence)
{
	if (off >= s->len)
		return -ENXIO;
	for (uint64_t p = off / PS; p * PS < s->len; p++) {
		if ((s->st[p] == PM_DATA) == (whence == SEEK_DATA))
			return (int64_t)(p * PS > off ? p * PS : off);
	}
	return whence == SEEK_DATA ? -ENXIO : (int64_t)s->len;
}

static void random_shadow(struct fx *f, enum space_policy policy, uint64_t seed)
{
	static const int modes[] = {
		0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE,
	};
	static const char *const names[] = { "always", "heuristic", "never" };
	struct rng r = rng_seed(names[policy], seed);
	struct shadow *s = calloc(1, sizeof(*s));
	unsigned char *buf = malloc(SH_SIZE), *got = malloc(SH_SIZE + PS);
	unsigned short_writes = 0, refused = 0, fallocs = 0;
	bool trace = getenv("SPARSEFS_TEST_TRACE") != NULL;

	assert_non_null(s);
	assert_non_null(buf);
	assert_non_null(got);
	/* Fewer pages than the shadow's 75: ENOSPC (and EFBIG) happen. */
	s->capacity = 40;
	s->policy = policy;
	reinit(f, s->capacity, 0, policy);
	for (unsigned op = 0; op < 8000; op++) {
		unsigned k = (unsigned)rng_below(&r, 100);

		/* Under never a file is all backed: keep it short, so it moves. */
		if (policy == SPACE_NEVER && s->len > 30 * PS && k >= 40 && k < 45)
			k = 45;
		if (k < 40) {
			uint64_t off = rng_below(&r, SH_SIZE);
			size_t size = 1 + rng_below(&r, 3 * PS + 200), kind = rng_below(&r, 4);
			ssize_t want, ret;

			if (size > SH_SIZE - off)
				size = SH_SIZE - off;
			if (kind == 0)
				memset(buf, 0, size);
			else if (kind == 1) { /* zeros but one byte */
				memset(buf, 0, size);
				buf[rng_below(&r, size)] = (unsigned char)(1 + rng_below(&r, 255));
			} else {
				for (size_t i = 0; i < size; i++)
					buf[i] = (unsigned char)rng_next(&r);
			}
			want = shadow_write(s, buf, size, off);
			ret = object_write(&f->o, buf, size, off);
			if (trace)
				fprintf(stderr, "%u: write %#llx+%#zx kind %zu -> %zd\n", op,
					(unsigned long long)off, size, kind, ret);
			assert_int_equal(ret, want);
			short_writes += ret > 0 && ret < (ssize_t)size;
			refused += ret < 0;
		} else if (k < 50) {
			uint64_t len = rng_below(&r, 4) ? rng_below(&r, SH_SIZE)
							: rng_below(&r, SH_PAGES) * PS;
			int ret = shadow_truncate(s, len);

			if (trace)
				fprintf(stderr, "%u: truncate %#llx -> %d\n", op,
					(unsigned long long)len, ret);
			assert_int_equal(object_truncate(&f->o, len, NULL), ret);
			refused += ret < 0;
		} else if (k < 62) {
			int mode = modes[rng_below(&r, sizeof(modes) / sizeof(modes[0]))];
			uint64_t off = rng_below(&r, SH_SIZE), len;
			int ret;

			if (rng_below(&r, 2))
				off &= ~(uint64_t)(PS - 1);
			len = rng_below(&r, SH_SIZE - off < 12 * PS ? SH_SIZE - off : 12 * PS);
			if (rng_below(&r, 2) && off + len < SH_SIZE)
				len = ((off + len + PS - 1) & ~(uint64_t)(PS - 1)) - off;
			ret = shadow_fallocate(s, mode, off, len);
			if (trace)
				fprintf(stderr, "%u: fallocate %#x %#llx+%#llx -> %d\n", op, mode,
					(unsigned long long)off, (unsigned long long)len, ret);
			assert_int_equal(object_fallocate(&f->o, mode, off, len, NULL), ret);
			fallocs++;
			refused += ret == -ENOSPC || ret == -EFBIG;
		} else if (k < 78) {
			uint64_t off = rng_below(&r, SH_SIZE + PS);
			size_t size = rng_below(&r, 5 * PS);
			size_t want = off >= s->len ? 0 : s->len - off < size ? s->len - off : size;

			assert_int_equal(object_read(&f->o, got, size, off), want);
			assert_memory_equal(got, s->bytes + off, want);
		} else if (k < 86) {
			iov_compare(f, rng_below(&r, SH_SIZE + PS), rng_below(&r, 20 * PS),
				    (int)rng_below(&r, 8));
		} else {
			uint64_t off = rng_below(&r, SH_SIZE + PS);
			int whence = k < 93 ? SEEK_DATA : SEEK_HOLE;

			assert_int_equal(object_seek(&f->o, off, whence),
					 shadow_seek(s, off, whence));
		}
		ck(f);
		assert_int_equal(f->o.length, s->len);
		assert_int_equal(object_blocks(&f->o), 8 * shadow_pages(s));
		for (unsigned p = 0; p <= SH_PAGES; p++) {
			if (state_of(f, p) != s->st[p]) {
				fprintf(stderr, "op %u: page %u is %d, model says %d\n", op, p,
					state_of(f, p), s->st[p]);
				fail();
			}
		}
		if (op % 500 == 0) {
			assert_int_equal(object_read(&f->o, got, SH_SIZE, 0), s->len);
			assert_memory_equal(got, s->bytes, s->len);
		}
	}
	printf("# %s: %u short writes, %u refused, %u fallocates\n", names[policy],
	       short_writes, refused, fallocs);
	assert_true(refused > 0);
	if (policy == SPACE_ALWAYS)
		assert_true(short_writes > 0);
	else if (policy == SPACE_NEVER)
		assert_int_equal(short_writes, 0); /* every page below the length is backed */
	assert_ok(object_truncate(&f->o, 0, NULL));
	free(s);
	free(buf);
	free(got);
}

static void test_random_always(void **state)
{
	random_shadow(*state, SPACE_ALWAYS, 0x5EED0004);
}

static void test_random_heuristic(void **state)
{
	random_shadow(*state, SPACE_HEURISTIC, 0x5EED0005);
}

static void test_random_never(void **state)
{
	random_shadow(*state, SPACE_NEVER, 0x5EED0006);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_write_read_unaligned),
		T(test_zero_pages),
		T(test_read_past_eof),
		T(test_truncate),
		T(test_truncate_huge),
		T(test_write_limits),
		T(test_enospc),
		T(test_destroy),
		T(test_reserved),
		T(test_truncate_same_length),
		T(test_fallocate),
		T(test_fallocate_enospc),
		T(test_fallocate_enomem),
		T(test_fallocate_cancel),
		T(test_punch_hole),
		T(test_zero_range),
		T(test_policy_never),
		T(test_policy_heuristic),
		T(test_overdraft_backing),
		T(test_read_iov),
		T(test_seek),
		T(test_enomem),
		T(test_random_always),
		T(test_random_heuristic),
		T(test_random_never),
	};

	return cmocka_run_group_tests_name("object", tests, NULL, NULL);
}
