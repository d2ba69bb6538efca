/*
 * sparsefs-map: draw where a file's data is.
 *
 *   sparsefs-map [--json] [--width N] FILE...
 *
 * The extents come from lseek(SEEK_DATA/SEEK_HOLE) alone, so the map works on any
 * filesystem (on one without SEEK_DATA the kernel reports the whole file as data). On
 * sparsefs the virtual xattrs user.sparsefs.{length,data,reserved} add the reserved
 * total. Reserved pages are holes to lseek and cannot be located through stock calls:
 * the tool reports their total and never invents positions for them.
 *
 * Cost: one pair of lseek calls per data extent, plus O(width) for the bar; never per
 * byte, so a 262 TB file with a few data pages maps at once.
 *
 * Exit status: 0 all files mapped, 1 some FILE could not be mapped (one line on stderr
 * each, the others are still mapped), 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "toolkit.h"

#define PROG "sparsefs-map"
#define PAGE 4096u
#define WIDTH_DEFAULT 64
#define WIDTH_MAX 4096

/* One run of the file: [offset, offset + length), data or "hole or reserved". */
struct extent {
	uint64_t offset;
	uint64_t length;
	bool data;
};

struct map {
	struct extent *ext; /* in offset order, covering [0, length) without gaps */
	size_t n, cap;
	uint64_t length;   /* st_size */
	uint64_t data;     /* bytes in data extents (clamped to length) */
	uint64_t st_blocks;
	bool sparsefs;     /* the user.sparsefs.* xattrs answered */
	uint64_t sf_data, sf_reserved; /* their figures, when sparsefs */
};

/* The bar's cell characters by the share of the cell that is data. */
static const char BAR_NONE = ' ', BAR_Q1 = '.', BAR_Q2 = ':', BAR_PART = '+', BAR_FULL = '#';

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--json] [--width N] FILE...\n"
		"Show where FILE's data is: its extents (by SEEK_DATA/SEEK_HOLE), a bar of N\n"
		"columns (default %d), and totals; on sparsefs also the reserved bytes.\n"
		"  --json       one JSON object per file, one per line\n"
		"  --width N    columns of the bar, 1 to %d\n"
		"  -h, --help   this help\n"
		"Bar: '%c' no data, '%c' under 25%%, '%c' under 50%%, '%c' under 100%%, '%c' all data.\n",
		WIDTH_DEFAULT, WIDTH_MAX, BAR_NONE, BAR_Q1, BAR_Q2, BAR_PART, BAR_FULL);
}

static int map_add(struct map *m, uint64_t off, uint64_t len, bool data)
{
	if (len == 0)
		return 0;
	if (m->n > 0 && m->ext[m->n - 1].data == data) {
		m->ext[m->n - 1].length += len;
		goto out_count;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct extent *e = realloc(m->ext, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		m->ext = e;
		m->cap = cap;
	}
	m->ext[m->n++] = (struct extent){ .offset = off, .length = len, .data = data };
out_count:
	if (data)
		m->data += len;
	return 0;
}

/*
 * Walk the file with SEEK_DATA/SEEK_HOLE. Returns 0 or -errno. Positions only move
 * forward and are clamped to the length seen by fstat, so a file that changes under
 * the walk gives a map of some mixture of its states, never a loop.
 */
static int map_walk(int fd, struct map *m)
{
	uint64_t pos = 0;
	int ret;

	while (pos < m->length) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		off_t h;

		if (d < 0) {
			if (errno == ENXIO) /* only a hole from here to EOF */
				break;
			if (errno == EINVAL && pos == 0) {
				/* no SEEK_DATA here at all: the whole file is data */
				return map_add(m, 0, m->length, true);
			}
			return -errno;
		}
		if ((uint64_t)d < pos)
			return -EIO; /* a filesystem going backwards: refuse to loop */
		if ((uint64_t)d >= m->length)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h <= (uint64_t)d || (uint64_t)h > m->length)
			h = (off_t)m->length; /* grew, shrank or odd answer: stop at our EOF */
		ret = map_add(m, pos, (uint64_t)d - pos, false);
		if (ret == 0)
			ret = map_add(m, (uint64_t)d, (uint64_t)h - (uint64_t)d, true);
		if (ret)
			return ret;
		pos = (uint64_t)h;
	}
	if (pos < m->length)
		return map_add(m, pos, m->length - pos, false);
	return 0;
}

static int map_sparsefs(int fd, struct map *m)
{
	uint64_t len;
	int r = tk_xattr_u64(fd, NULL, "length", &len);

	if (r <= 0)
		return r;
	r = tk_xattr_u64(fd, NULL, "data", &m->sf_data);
	if (r == 1)
		r = tk_xattr_u64(fd, NULL, "reserved", &m->sf_reserved);
	if (r < 0)
		return r;
	if (r == 0)
		return -EBADMSG; /* length without data/reserved: not the sparsefs we know */
	m->sparsefs = true;
	return 0;
}

/* Start of cell i of n over length len, exact without 128-bit arithmetic. */
static uint64_t cell_start(uint64_t len, unsigned n, unsigned i)
{
	return (len / n) * i + (len % n) * i / n;
}

/*
 * The bar: cells over [0, length), each drawn by its share of data bytes. Fewer cells
 * than width when the file has fewer pages than that (one cell per page then).
 * buf holds at least width + 1 bytes.
 */
static void map_bar(const struct map *m, unsigned width, char *buf)
{
	uint64_t pages = m->length / PAGE + (m->length % PAGE != 0);
	unsigned n = pages < width ? (unsigned)pages : width;
	uint64_t *cell;
	unsigned c = 0;

	buf[0] = '\0';
	if (n == 0)
		return;
	cell = calloc(n, sizeof(*cell));
	if (!cell) {
		buf[0] = '?';
		buf[1] = '\0';
		return;
	}
	for (size_t k = 0; k < m->n; k++) {
		uint64_t a = m->ext[k].offset, b = a + m->ext[k].length;

		if (!m->ext[k].data)
			continue;
		while (c + 1 < n && cell_start(m->length, n, c + 1) <= a)
			c++;
		/* cells only move forward: O(extents + n) in all */
		for (unsigned j = c; j < n; j++) {
			uint64_t s = cell_start(m->length, n, j);
			uint64_t e = j + 1 < n ? cell_start(m->length, n, j + 1) : m->length;
			uint64_t lo = a > s ? a : s, hi = b < e ? b : e;

			if (s >= b)
				break;
			if (hi > lo)
				cell[j] += hi - lo;
		}
	}
	for (unsigned j = 0; j < n; j++) {
		uint64_t s = cell_start(m->length, n, j);
		uint64_t e = j + 1 < n ? cell_start(m->length, n, j + 1) : m->length;
		uint64_t size = e - s, d = cell[j];

		if (d == 0)
			buf[j] = BAR_NONE;
		else if (d >= size)
			buf[j] = BAR_FULL;
		else if (d < size / 4)
			buf[j] = BAR_Q1;
		else if (d < size / 2)
			buf[j] = BAR_Q2;
		else
			buf[j] = BAR_PART;
	}
	buf[n] = '\0';
	free(cell);
}

static void print_json(const char *name, const struct map *m, unsigned width, const char *bar)
{
	fputs("{\"file\":", stdout);
	tk_json_string(name);
	printf(",\"length\":%" PRIu64 ",\"data\":%" PRIu64 ",\"holes\":%" PRIu64
	       ",\"st_blocks\":%" PRIu64 ",\"allocated\":%" PRIu64 ",\"sparsefs\":%s",
	       m->length, m->data, m->length - m->data, m->st_blocks, m->st_blocks * 512,
	       m->sparsefs ? "true" : "false");
	if (m->sparsefs)
		printf(",\"reserved\":%" PRIu64 ",\"sparsefs_data\":%" PRIu64, m->sf_reserved,
		       m->sf_data);
	else
		fputs(",\"reserved\":null,\"sparsefs_data\":null", stdout);
	printf(",\"width\":%u,\"bar\":", width);
	tk_json_string(bar);
	fputs(",\"extents\":[", stdout);
	for (size_t k = 0; k < m->n; k++)
		printf("%s{\"offset\":%" PRIu64 ",\"length\":%" PRIu64 ",\"state\":\"%s\"}",
		       k ? "," : "", m->ext[k].offset, m->ext[k].length,
		       m->ext[k].data ? "data" : "hole");
	fputs("]}\n", stdout);
}

static void print_human(const char *name, const struct map *m, const char *bar)
{
	static bool first = true;
	char h1[16], h2[16], h3[16];
	const char *hole = m->sparsefs && m->sf_reserved ? "hole/reserved" : "hole";
	size_t ndata = 0;

	for (size_t k = 0; k < m->n; k++)
		ndata += m->ext[k].data;
	if (!first)
		putchar('\n');
	first = false;
	tk_human(h1, sizeof(h1), m->length);
	printf("%s: %" PRIu64 " bytes%s%s%s, %zu data extent%s\n", name, m->length,
	       m->length < 1024 ? "" : " (", m->length < 1024 ? "" : h1,
	       m->length < 1024 ? "" : ")", ndata, ndata == 1 ? "" : "s");
	if (m->n)
		printf("  %20s %20s %8s  %s\n", "offset", "length", "", "state");
	for (size_t k = 0; k < m->n; k++) {
		tk_human(h1, sizeof(h1), m->ext[k].length);
		printf("  %20" PRIu64 " %20" PRIu64 " %8s  %s\n", m->ext[k].offset, m->ext[k].length,
		       h1, m->ext[k].data ? "data" : hole);
	}
	printf("  [%s]\n", bar);
	tk_human(h1, sizeof(h1), m->data);
	tk_human(h2, sizeof(h2), m->length - m->data);
	tk_human(h3, sizeof(h3), m->st_blocks * 512);
	printf("  data %s, %s %s, allocated %s (st_blocks %" PRIu64 ")\n", h1,
	       m->sparsefs ? "hole or reserved" : "holes", h2, h3, m->st_blocks);
	if (m->sparsefs) {
		size_t open_cells = 0;

		for (const char *p = bar; *p; p++)
			open_cells += *p != BAR_FULL;
		tk_human(h1, sizeof(h1), m->sf_data);
		tk_human(h2, sizeof(h2), m->sf_reserved);
		printf("  sparsefs: data pages %s (%" PRIu64 "), reserved %s (%" PRIu64 ")\n", h1,
		       m->sf_data, h2, m->sf_reserved);
		if (m->sf_reserved)
			printf("  reserved: somewhere in the %zu cell%s not drawn '%c', or past EOF "
			       "(lseek cannot place it)\n",
			       open_cells, open_cells == 1 ? "" : "s", BAR_FULL);
	}
}

/* Map one file; returns 0 or prints one line on stderr and returns 1. */
static int map_file(const char *name, bool json, unsigned width)
{
	struct map m = { 0 };
	struct stat st;
	char *bar = NULL;
	int fd, ret;

	fd = open(name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out_err;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, PROG ": %s: not a regular file\n", name);
		close(fd);
		return 1;
	}
	m.length = (uint64_t)st.st_size;
	m.st_blocks = (uint64_t)st.st_blocks;
	ret = map_sparsefs(fd, &m);
	if (ret == 0)
		ret = map_walk(fd, &m);
	if (ret)
		goto out_close;
	bar = malloc(width + 1);
	if (!bar) {
		ret = -ENOMEM;
		goto out_close;
	}
	map_bar(&m, width, bar);
	if (json)
		print_json(name, &m, width, bar);
	else
		print_human(name, &m, bar);
	free(bar);
	free(m.ext);
	close(fd);
	return 0;

out_close:
	close(fd);
out_err:
	free(m.ext);
	fprintf(stderr, PROG ": %s: %s\n", name,
		ret == -EBADMSG ? "unexpected user.sparsefs.* xattr value" : strerror(-ret));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "width", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	unsigned width = WIDTH_DEFAULT;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "hjw:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'w': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 ||
			    v > WIDTH_MAX) {
				fprintf(stderr, PROG ": --width: '%s' is not a number from 1 to %d\n",
					optarg, WIDTH_MAX);
				return 2;
			}
			width = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, PROG ": try '" PROG " --help'\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG ": no FILE given (try '" PROG " --help')\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		rc |= map_file(argv[i], json, width);
		fflush(stdout);
	}
	return tk_finish_stdout(PROG, rc);
}
