/* SPDX-License-Identifier: MIT */
/*
 * replay DIR OPS SEED: random operations on a few files in DIR (a sparsefs
 * mount's root), checking DESIGN.md's accounting after every one:
 *
 *   used (user.sparsefs.used on the root) == sum of st_blocks * 512 over every
 *   file still held — named or unlinked-but-open —, and
 *   statfs f_bfree == f_blocks - used / 4096 (memory is plentiful here),
 *
 * plus each file's length and contents against an in-memory model. A failed
 * fallocate/truncate/write (ENOSPC, EFBIG) must leave length, st_blocks and
 * every statfs figure as they were. Operations: write (data or zeros), truncate
 * up and down, fallocate in every mode, punch, unlink, rename over, mmap writes.
 * Files are never closed during the run (a close's release reaches the daemon
 * asynchronously), so the sums are exact at every step.
 * Prints one summary line; exits 1 at the first violation with what broke.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sigbus.h"

#define NFILES 4
#define MAX_LEN (8u << 20)
#define MAX_HELD 64
#define PAGE 4096u

struct file {
	int fd;           /* -1: slot empty */
	char *model;      /* MAX_LEN bytes */
	uint64_t len;
};

static struct file files[NFILES];
static int held[MAX_HELD]; /* unlinked but open: still counted in used */
static int nheld;
static const char *dir;
static uint64_t rng;
static long step;
static const char *opname;
static char scratch[MAX_LEN];

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replay: step %ld (%s): ", step, opname ? opname : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? rng % n : 0;
}

static void path_of(int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/f%d", dir, i);
}

static uint64_t used_bytes(void)
{
	char v[64];
	ssize_t n = getxattr(dir, "user.sparsefs.used", v, sizeof(v) - 1);

	if (n < 0)
		die("getxattr user.sparsefs.used: %s", strerror(errno));
	v[n] = '\0';
	return strtoull(v, NULL, 10);
}

static uint64_t blocks_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat: %s", strerror(errno));
	return (uint64_t)st.st_blocks;
}

struct snapshot {
	uint64_t used, bfree, bavail, blocks[NFILES], len[NFILES];
};

static void take(struct snapshot *s)
{
	struct statvfs sv;

	s->used = used_bytes();
	if (statvfs(dir, &sv))
		die("statvfs: %s", strerror(errno));
	s->bfree = sv.f_bfree;
	s->bavail = sv.f_bavail;
	for (int i = 0; i < NFILES; i++) {
		struct stat st;

		s->blocks[i] = s->len[i] = 0;
		if (files[i].fd >= 0 && !fstat(files[i].fd, &st)) {
			s->blocks[i] = (uint64_t)st.st_blocks;
			s->len[i] = (uint64_t)st.st_size;
		}
	}
}

static void check_accounting(void)
{
	uint64_t sum = 0, used = used_bytes();
	struct statvfs sv;

	for (int i = 0; i < NFILES; i++)
		if (files[i].fd >= 0)
			sum += blocks_of(files[i].fd) * 512;
	for (int i = 0; i < nheld; i++)
		sum += blocks_of(held[i]) * 512;
	if (used != sum)
		die("used %" PRIu64 " != sum of st_blocks %" PRIu64, used, sum);
	if (statvfs(dir, &sv))
		die("statvfs: %s", strerror(errno));
	if (sv.f_bfree != sv.f_blocks - used / PAGE)
		die("f_bfree %llu != f_blocks %llu - used %" PRIu64, (unsigned long long)sv.f_bfree,
		    (unsigned long long)sv.f_blocks, used / PAGE);
}

static void check_file(int i, uint64_t off, uint64_t len)
{
	struct file *f = &files[i];
	struct stat st;
	ssize_t n;

	if (f->fd < 0)
		return;
	if (fstat(f->fd, &st))
		die("fstat f%d: %s", i, strerror(errno));
	if ((uint64_t)st.st_size != f->len)
		die("f%d: st_size %lld, model %" PRIu64, i, (long long)st.st_size, f->len);
	if (off >= f->len)
		return;
	if (len > f->len - off)
		len = f->len - off;
	n = pread(f->fd, scratch, len, (off_t)off);
	if (n != (ssize_t)len)
		die("f%d: pread %" PRIu64 "@%" PRIu64 " gave %zd", i, len, off, n);
	for (uint64_t k = 0; k < len; k++)
		if (scratch[k] != f->model[off + k])
			die("f%d: byte %" PRIu64 " is %d, model %d", i, off + k,
			    (unsigned char)scratch[k], (unsigned char)f->model[off + k]);
}

static void check_unchanged(const struct snapshot *a, int err)
{
	struct snapshot b;

	take(&b);
	if (memcmp(a->blocks, b.blocks, sizeof(a->blocks)) ||
	    memcmp(a->len, b.len, sizeof(a->len)) || a->used != b.used || a->bfree != b.bfree ||
	    a->bavail != b.bavail)
		die("failed with %s but changed something (used %" PRIu64 " -> %" PRIu64 ")",
		    strerror(err), a->used, b.used);
}

static int acceptable(int err)
{
	return err == ENOSPC || err == EFBIG;
}

static void open_slot(int i)
{
	char p[4096];
	struct file *f = &files[i];

	path_of(i, p, sizeof(p));
	f->fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (f->fd < 0)
		die("create %s: %s", p, strerror(errno));
	f->len = 0;
	memset(f->model, 0, MAX_LEN);
}

static void hold(int fd)
{
	if (nheld == MAX_HELD) {
		/* Too many: let the oldest go and wait until its space is back. */
		uint64_t before = used_bytes(), want = before - blocks_of(held[0]) * 512;

		close(held[0]);
		memmove(held, held + 1, (size_t)--nheld * sizeof(int));
		for (int t = 0; t < 200 && used_bytes() != want; t++)
			usleep(10000);
		if (used_bytes() != want)
			die("closing an unlinked file: used %" PRIu64 ", expected %" PRIu64,
			    used_bytes(), want);
	}
	held[nheld++] = fd;
}

static void fill(char *p, size_t n)
{
	int zeros = rnd(4) == 0;

	for (size_t k = 0; k < n; k++)
		p[k] = zeros ? 0 : (char)(rnd(255) + 1);
}

static void op_write(int i)
{
	struct file *f = &files[i];
	uint64_t off = rnd(MAX_LEN - 1), len = 1 + rnd(MAX_LEN - off < 300000 ? MAX_LEN - off : 300000);
	struct snapshot s;
	ssize_t n;

	fill(scratch, len);
	take(&s);
	n = pwrite(f->fd, scratch, len, (off_t)off);
	if (n < 0) {
		if (!acceptable(errno))
			die("pwrite: %s", strerror(errno));
		check_unchanged(&s, errno);
		return;
	}
	memcpy(f->model + off, scratch, (size_t)n);
	if (off + (uint64_t)n > f->len)
		f->len = off + (uint64_t)n;
	check_file(i, off, (uint64_t)n);
}

static void op_truncate(int i)
{
	struct file *f = &files[i];
	uint64_t len = rnd(4) ? rnd(MAX_LEN) : rnd(f->len + 1);
	struct snapshot s;

	take(&s);
	if (ftruncate(f->fd, (off_t)len)) {
		if (!acceptable(errno))
			die("ftruncate: %s", strerror(errno));
		check_unchanged(&s, errno);
		return;
	}
	if (len < f->len)
		memset(f->model + len, 0, f->len - len);
	f->len = len;
	check_file(i, len > PAGE ? len - PAGE : 0, 2 * PAGE);
}

static void op_fallocate(int i)
{
	static const int modes[] = {
		0,
		FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE,
		FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	};
	struct file *f = &files[i];
	int mode = modes[rnd(5)];
	uint64_t off = rnd(MAX_LEN - 1), len;
	struct snapshot s;

	/* Now and then far more than the mount can hold: must fail cleanly. */
	len = rnd(40) == 0 ? (256u << 20) : 1 + rnd(MAX_LEN - off);
	if (off + len > MAX_LEN && !(mode & FALLOC_FL_KEEP_SIZE) && len != (256u << 20))
		len = MAX_LEN - off;
	take(&s);
	if (fallocate(f->fd, mode, (off_t)off, (off_t)len)) {
		if (!acceptable(errno))
			die("fallocate mode %#x: %s", mode, strerror(errno));
		check_unchanged(&s, errno);
		return;
	}
	if (len == (256u << 20) && !(mode & FALLOC_FL_PUNCH_HOLE))
		die("fallocate of 256 MiB succeeded on a small mount");
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t end = off + len < f->len ? off + len : f->len;

		if (off < end)
			memset(f->model + off, 0, end - off);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f->len) {
		if (off + len > MAX_LEN)
			die("model overflow");
		f->len = off + len;
	}
	check_file(i, off, len);
}

/* REPLAY_SIGBUS_OK: a store into a new page of a full mount may be SIGBUS (the
 * kernel path); it then stores nothing, and the rest of that op is skipped. */
static int sigbus_ok;

static void op_mmap(int i)
{
	struct file *f = &files[i];
	uint64_t first, npages;
	char *map;

	if (f->len < PAGE)
		return;
	first = rnd(f->len / PAGE);
	npages = 1 + rnd(f->len / PAGE - first < 64 ? f->len / PAGE - first : 64);
	map = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		   (off_t)(first * PAGE));
	if (map == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (uint64_t k = 0; k < npages; k++) {
		size_t at = (size_t)(k * PAGE + rnd(PAGE - 16));
		char b = (char)(rnd(255) + 1), bytes[16];

		/* The kernel path's answer to a new page on a full mount, as on tmpfs. */
		if (sigsetjmp(bus_jmp, 1)) {
			if (!sigbus_ok)
				die("SIGBUS storing into page %" PRIu64 " through a mapping", first + k);
			break;
		}
		memset(bytes, b, sizeof(bytes));
		armed_copy(map + at, bytes, sizeof(bytes));
		memset(f->model + first * PAGE + at, b, 16);
	}
	bus_armed = 0;
	if (msync(map, npages * PAGE, MS_SYNC))
		die("msync: %s", strerror(errno));
	munmap(map, npages * PAGE);
	check_file(i, first * PAGE, npages * PAGE);
}

static void op_unlink(int i)
{
	char p[4096];

	path_of(i, p, sizeof(p));
	if (unlink(p))
		die("unlink %s: %s", p, strerror(errno));
	hold(files[i].fd);
	open_slot(i);
}

static void op_rename_over(int i)
{
	int j = (int)rnd(NFILES);
	char a[4096], b[4096];
	char *model;

	if (j == i)
		return;
	path_of(i, a, sizeof(a));
	path_of(j, b, sizeof(b));
	if (rename(a, b))
		die("rename %s %s: %s", a, b, strerror(errno));
	hold(files[j].fd);
	model = files[j].model;
	files[j] = files[i];
	files[i].model = model;
	open_slot(i);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(int);
		int weight;
	} ops[] = {
		{ "write", op_write, 30 },     { "truncate", op_truncate, 15 },
		{ "fallocate", op_fallocate, 30 }, { "mmap", op_mmap, 15 },
		{ "unlink", op_unlink, 4 },    { "rename", op_rename_over, 6 },
	};
	long nops;
	int total = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: replay DIR OPS SEED\n");
		return 2;
	}
	dir = argv[1];
	nops = atol(argv[2]);
	rng = strtoull(argv[3], NULL, 10) | 1;
	sigbus_ok = getenv("REPLAY_SIGBUS_OK") && *getenv("REPLAY_SIGBUS_OK") == '1';
	signal(SIGBUS, on_sigbus);
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		total += ops[k].weight;
	for (int i = 0; i < NFILES; i++) {
		files[i].model = malloc(MAX_LEN);
		if (!files[i].model)
			die("out of memory");
		open_slot(i);
	}
	for (step = 1; step <= nops; step++) {
		int pick = (int)rnd((uint64_t)total), k = 0;
		int i = (int)rnd(NFILES);

		while (pick >= ops[k].weight)
			pick -= ops[k++].weight;
		opname = ops[k].name;
		ops[k].fn(i);
		check_accounting();
		if (step % 250 == 0)
			for (int j = 0; j < NFILES; j++)
				check_file(j, 0, MAX_LEN);
	}
	opname = "final";
	for (int j = 0; j < NFILES; j++)
		check_file(j, 0, MAX_LEN);
	printf("replay: %ld operations, seed %s: accounting and contents held after each\n",
	       nops, argv[3]);
	return 0;
}
