/* SPDX-License-Identifier: MIT */
/*
 * refused DIR CASE RUNS
 *
 * Hunts bytes lost through the kernel's stale folio after a refused write(2)
 * (../shared/FUSE-NOTES.md): in write-through mode the kernel copies a write's
 * bytes into the page-cache folios before it sends FUSE_WRITE, and when the
 * daemon refuses it, marks those folios not up to date without unmapping them.
 * A store through a MAP_SHARED mapping then lands in such a folio, the next
 * read(2) re-reads it from the daemon over the store, and msync/fsync write the
 * daemon's old bytes back and return 0.
 *
 * DIR is on a mount with overdraft=0 that this program fills. It makes RUNS
 * files first, each of two pages: page 0 a hole, page 1 data ("O"); then fills
 * the mount with write(2) until ENOSPC,
 * so that every new page is refused, write-back included. Then, on each file:
 *
 *   A  mapped, both pages faulted in; write(2) of "W" over both, refused; a store
 *      ("S") through the mapping into each page; pread of both; msync; fsync
 *   B  the same, the write(2) going one page past EOF (run it under
 *      overcommit=never too)
 *   C  as A, the store only into the data page
 *   D  the store into the data page made before the refused write(2), which
 *      has already overwritten it in the page cache: it can only be reported
 *   G  the write(2) covers page 0 and the first 100 bytes of page 1: the mapped
 *      data page is the partial last page of the refused write
 *   L  as G, but page 1 was never read nor mapped: the kernel keeps that
 *      partial, not up-to-date last folio locked until the daemon answers (the
 *      daemon must not wait for it forever); mapped and stored into afterwards
 *   R  a third page, reserved (fallocate); the write(2) covers all three; a
 *      store into the data page and one into the reserved page: both kept
 *
 * then munmap, close, drop the file's pages (POSIX_FADV_DONTNEED) and read back.
 * Every stored byte must be kept, or reported: msync or fsync returned an error
 * and the mount's user.sparsefs.dropped moved. A write(2) that returned an error
 * must have changed nothing (no "W" where it was refused). Case R, and every
 * case under overcommit=never (where only B applies: the other writes find
 * page 0 reserved and succeed): every store kept.
 *
 * Prints one line per run ("run N: write=ENOSPC (T us) msync=.. fsync=..
 * dropped=+D stores: kept K, reported P, LOST X"), then a total line
 * ("refused CASE: runs=R kept=K reported=P lost=X changed=Y max_write_us=T").
 * Exit 0 if nothing was lost or changed, 1 if something was, 2 if it could not
 * set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define SPAN (3 * PAGE)

static const char *dir;
static int strict; /* every store must be kept: reported is not enough */

static void setup_fail(const char *what)
{
	fprintf(stderr, "refused: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* A mount-wide figure (DIR is the mount's root). */
static void figure(const char *name, char *buf, size_t size)
{
	char x[64];
	ssize_t n;

	snprintf(x, sizeof(x), "user.sparsefs.%s", name);
	n = getxattr(dir, x, buf, size - 1);
	if (n < 0)
		setup_fail(x);
	buf[n] = 0;
}

static uint64_t dropped(void)
{
	char buf[64];

	figure("dropped", buf, sizeof(buf));
	return strtoull(buf, NULL, 10);
}

static const char *err_name(int e)
{
	const char *s = e ? strerrorname_np(e) : "0";

	return s ? s : "E?";
}

static uint64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static void path_of(char *p, size_t n, char c, int i)
{
	snprintf(p, n, "%s/refused-%c-%d", dir, c, i);
}

/* The file of run i: page 0 a hole, page 1 data "O" (and page 2 reserved, case R). */
static void make_file(char c, int i)
{
	char p[4096], page[PAGE];
	int fd;

	path_of(p, sizeof(p), c, i);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		setup_fail(p);
	memset(page, 'O', PAGE);
	if (pwrite(fd, page, PAGE, PAGE) != PAGE)
		setup_fail("pwrite of the data page");
	if (c == 'R' && fallocate(fd, 0, 2 * PAGE, PAGE))
		setup_fail("fallocate of page 2");
	close(fd);
}

/* write(2) until ENOSPC: the mount has no page left for anyone. */
static void fill(void)
{
	char p[4096];
	static char buf[1 << 20];
	int fd;

	snprintf(p, sizeof(p), "%s/refused-fill", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		setup_fail(p);
	memset(buf, 0xaa, sizeof(buf));
	for (size_t chunk = sizeof(buf); chunk >= PAGE; chunk /= 16)
		while (write(fd, buf, chunk) > 0)
			;
	if (errno != ENOSPC)
		setup_fail("filling the mount");
	close(fd);
}

struct store {
	off_t off;
	char val;
};

struct outcome {
	unsigned kept, reported, lost, changed;
};

static void run_case(char c, int i, struct outcome *total, uint64_t *max_us)
{
	char p[4096], rd[SPAN], back[SPAN], wbuf[SPAN];
	struct store st[2];
	unsigned nst = 0, kept = 0, reported = 0, lost = 0, changed = 0;
	off_t woff = 0;
	size_t wlen = 2 * PAGE;
	uint64_t d0, d1, t0, us;
	int fd, werr = 0, merr = 0, ferr = 0;
	ssize_t w;
	char *m;

	path_of(p, sizeof(p), c, i);
	fd = open(p, O_RDWR);
	if (fd < 0)
		setup_fail(p);
	/* Nothing cached from making the file (a page written whole is up to date). */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	m = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		setup_fail("mmap");
	if (c == 'B' || c == 'R')
		wlen = 3 * PAGE;
	if (c == 'G' || c == 'L')
		wlen = PAGE + 100;
	/* Fault the pages in (read): up to date and mapped, as a program's array is. */
	if (c != 'L' && (m[0] != 0 || m[PAGE] != 'O')) {
		fprintf(stderr, "refused: run %d: the file does not read as made\n", i);
		exit(2);
	}
	d0 = dropped();
	if (c == 'D') {
		st[nst++] = (struct store){ PAGE + 10, 'S' };
		m[PAGE + 10] = 'S';
	}
	memset(wbuf, 'W', sizeof(wbuf));
	t0 = now_us();
	w = pwrite(fd, wbuf, wlen, woff);
	us = now_us() - t0;
	if (w < 0)
		werr = errno;
	if (us > *max_us)
		*max_us = us;
	if (w >= 0) {
		fprintf(stderr, "refused: run %d: write(2) of %zu bytes returned %zd: the mount "
				"was not full\n", i, wlen, w);
		exit(2);
	}
	switch (c) {
	case 'R':
		st[nst++] = (struct store){ 2 * PAGE + 10, 'S' };
		/* fall through */
	case 'C':
	case 'G':
	case 'L':
		st[nst++] = (struct store){ PAGE + 20, 'T' };
		break;
	case 'A':
	case 'B':
		st[nst++] = (struct store){ 10, 'S' };
		st[nst++] = (struct store){ PAGE + 20, 'T' };
		break;
	}
	for (unsigned k = c == 'D'; k < nst; k++)
		m[st[k].off] = st[k].val;
	/* The read that, through a stale folio, brings the daemon's bytes back. */
	if (pread(fd, rd, SPAN, 0) < 2 * PAGE)
		setup_fail("pread");
	if (msync(m, SPAN, MS_SYNC))
		merr = errno;
	if (fsync(fd))
		ferr = errno;
	munmap(m, SPAN);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	d1 = dropped();

	fd = open(p, O_RDONLY);
	if (fd < 0)
		setup_fail(p);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	memset(back, 0, sizeof(back));
	if (pread(fd, back, SPAN, 0) < 0)
		setup_fail("pread back");
	close(fd);

	for (unsigned k = 0; k < nst; k++) {
		if (back[st[k].off] == st[k].val)
			kept++;
		else if ((merr || ferr) && d1 > d0)
			reported++;
		else
			lost++;
	}
	/* Refused bytes must not have reached the file, wherever no store went. */
	for (size_t o = 0; o < SPAN; o++) {
		int stored = 0;

		for (unsigned k = 0; k < nst; k++)
			stored |= st[k].off == (off_t)o;
		if (!stored && back[o] == 'W')
			changed++;
	}
	if (strict) {
		lost += reported; /* reported is not enough there */
		reported = 0;
	}
	printf("run %d: write=%s (%" PRIu64 " us) msync=%s fsync=%s dropped=+%" PRIu64
	       " stores: kept %u, reported %u, LOST %u%s\n",
	       i, err_name(werr), us, err_name(merr), err_name(ferr), d1 - d0, kept, reported,
	       lost, changed ? "; refused bytes STORED" : "");
	total->kept += kept;
	total->reported += reported;
	total->lost += lost;
	total->changed += changed != 0;
}

int main(int argc, char **argv)
{
	struct outcome total = { 0 };
	uint64_t max_us = 0;
	char c, p[4096];
	int runs;

	if (argc != 4 || strlen(argv[2]) != 1 || !strchr("ABCDGLR", argv[2][0]) ||
	    (runs = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: refused DIR A|B|C|D|G|L|R RUNS\n");
		return 2;
	}
	dir = argv[1];
	c = argv[2][0];
	figure("policy", p, sizeof(p));
	strict = c == 'R' || strcmp(p, "never") == 0;
	snprintf(p, sizeof(p), "%s/refused-fill", dir);
	unlink(p); /* what a run that could not set up left */
	for (int i = 0; i < runs; i++)
		make_file(c, i);
	fill();
	for (int i = 0; i < runs; i++)
		run_case(c, i, &total, &max_us);
	snprintf(p, sizeof(p), "%s/refused-fill", dir);
	unlink(p);
	for (int i = 0; i < runs; i++) {
		path_of(p, sizeof(p), c, i);
		unlink(p);
	}
	printf("refused %c: runs=%d kept=%u reported=%u lost=%u changed=%u max_write_us=%" PRIu64
	       "\n", c, runs, total.kept, total.reported, total.lost, total.changed, max_us);
	return total.lost || total.changed ? 1 : 0;
}
