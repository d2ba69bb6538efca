/*
 * mmap-scatter PATH LENGTH NPAGES SEED
 *
 * Sets PATH's length to LENGTH, maps all of it MAP_SHARED, writes NPAGES distinct pages
 * at pseudo-random page indices (fixed by SEED) through the mapping with a pattern
 * that names the page, msync(MS_SYNC)s, munmaps, closes; then reopens PATH and checks
 * with pread that every written page holds its pattern, that the neighbours of each
 * written page and NPAGES more random unwritten pages read as zeros, and that the
 * length is still LENGTH. Exit 0 if all is right, else 1 with a message naming the first
 * syscall that failed or the first wrong byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: fixed sequence for a seed, no libc state */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void die(const char *what)
{
	fprintf(stderr, "mmap-scatter: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* byte i of page p: never an all-zero page, differs between pages */
static unsigned char pattern(uint64_t p, unsigned int i)
{
	if (i < 8)
		return (unsigned char)((p + 1) >> (8 * i)) | (i == 0 ? 0x80 : 0);
	return (unsigned char)((p * 131u + i * 7u) ^ (i >> 8) ^ 0x5a);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int is_written(const uint64_t *idx, size_t n, uint64_t p)
{
	return bsearch(&p, idx, n, sizeof(*idx), cmp_u64) != NULL;
}

static void read_page(int fd, uint64_t p, unsigned char *buf)
{
	ssize_t n = pread(fd, buf, PAGE, (off_t)(p * PAGE));

	if (n < 0)
		die("pread");
	if (n != PAGE) {
		fprintf(stderr, "mmap-scatter: pread of page %" PRIu64 " returned %zd bytes\n", p, n);
		exit(1);
	}
}

static void expect_zero_page(int fd, uint64_t p, unsigned char *buf)
{
	read_page(fd, p, buf);
	for (unsigned int i = 0; i < PAGE; i++) {
		if (buf[i]) {
			fprintf(stderr, "mmap-scatter: unwritten page %" PRIu64 " byte %u is 0x%02x, expected 0\n",
				p, i, buf[i]);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned char buf[PAGE];
	uint64_t length, npages_file, *idx;
	size_t n, holes = 0;
	struct stat st;
	unsigned char *map;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: mmap-scatter PATH LENGTH NPAGES SEED\n");
		return 2;
	}
	length = strtoull(argv[2], NULL, 0);
	n = strtoul(argv[3], NULL, 0);
	rng_state = strtoull(argv[4], NULL, 0) | 1;
	npages_file = length / PAGE;
	if (npages_file < 4 * (uint64_t)n || length % PAGE) {
		fprintf(stderr, "mmap-scatter: LENGTH must be a page multiple of at least 4*NPAGES pages\n");
		return 2;
	}

	idx = calloc(n, sizeof(*idx));
	if (!idx)
		die("calloc");
	for (size_t k = 0; k < n;) {
		idx[k] = rng() % npages_file;
		int dup = 0;

		for (size_t j = 0; j < k; j++)
			dup |= idx[j] == idx[k];
		if (!dup)
			k++;
	}

	fd = open(argv[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		die("open");
	if (ftruncate(fd, (off_t)length) < 0)
		die("ftruncate");
	map = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	for (size_t k = 0; k < n; k++)
		for (unsigned int i = 0; i < PAGE; i++)
			map[idx[k] * PAGE + i] = pattern(idx[k], i);
	if (msync(map, length, MS_SYNC) < 0)
		die("msync");
	if (munmap(map, length) < 0)
		die("munmap");
	if (close(fd) < 0)
		die("close");

	qsort(idx, n, sizeof(*idx), cmp_u64);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
		die("reopen");
	if (fstat(fd, &st) < 0)
		die("fstat");
	if ((uint64_t)st.st_size != length) {
		fprintf(stderr, "mmap-scatter: length %jd after munmap, expected %" PRIu64 "\n",
			(intmax_t)st.st_size, length);
		return 1;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t p = idx[k];

		read_page(fd, p, buf);
		for (unsigned int i = 0; i < PAGE; i++) {
			if (buf[i] != pattern(p, i)) {
				fprintf(stderr, "mmap-scatter: page %" PRIu64 " byte %u is 0x%02x, expected 0x%02x\n",
					p, i, buf[i], pattern(p, i));
				return 1;
			}
		}
		for (int d = -1; d <= 1; d += 2) {
			uint64_t q = p + (uint64_t)(int64_t)d;

			if (q < npages_file && !is_written(idx, n, q)) {
				expect_zero_page(fd, q, buf);
				holes++;
			}
		}
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t q = rng() % npages_file;

		if (!is_written(idx, n, q)) {
			expect_zero_page(fd, q, buf);
			holes++;
		}
	}
	if (close(fd) < 0)
		die("close");
	printf("mmap-scatter: %zu pages written through the mapping read back right; %zu unwritten pages read as zeros\n",
	       n, holes);
	free(idx);
	return 0;
}
