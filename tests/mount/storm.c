/* SPDX-License-Identifier: MIT */
/*
 * storm DIR [--procs P] [--ops N] [--seed S] [--files F] [--span BYTES] [--wbc]
 *
 * Hunts acknowledged bytes that get lost. On DIR, a small sparsefs mount, P worker
 * processes (default 3) and one filler run at once. The filler grows a file with
 * write(2) until ENOSPC (the workers start once it first has) and now and then cuts it
 * back, so the mount keeps oscillating around full. Each worker owns F files (default
 * 3, named pW-S) and does its share of N operations (default 3000 in all) on them:
 * write(2)/pwrite of 1 byte to 2 MiB (random, all zeros, or zero pages among random
 * ones; past 1 MiB the kernel splits them at max_write), writes through MAP_SHARED
 * mappings (within st_size: beyond is SIGBUS), one byte into every page of holes just
 * punched then msync (write-back that must take the overdraft), left pending or
 * followed by msync(MS_SYNC) or fsync, fallocate in every mode the kernel forwards,
 * ftruncate down and up, unlink while open (the fd stays in use; later closed and the
 * name recreated), a fresh temp file renamed over one of its own files (the old one
 * stays open), close and reopen, reads.
 *
 * A worker's model holds only what the kernel acknowledged: a write(2)'s returned count
 * (a prefix); bytes written through a mapping -- and with --wbc (the mount uses -o
 * writeback_cache) bytes written by write(2) too, and the length they grow -- are
 * pending until an msync(MS_SYNC) of their range or an fsync of their file returns 0;
 * if one returns an error, every pending byte of that file becomes uncertain (never
 * checked) until something certain covers it again. A successful ftruncate/fallocate
 * changes the model as DESIGN.md says (past a new end, punched and zeroed ranges read
 * as zeros, pending bytes there are gone; mode 0 and KEEP_SIZE change no byte); a
 * failed one changes nothing and leaves pending bytes pending. Metadata operations
 * msync first only now and then: mostly pending pages meet them.
 *
 * A write(2) the daemon refuses (or acknowledges in part) has already been copied into
 * the page cache, and the kernel then marks those folios not up to date without
 * unmapping them: a store through a mapping into such a folio is thrown away by the next
 * read(2), which re-reads the folio from the daemon, and the next fsync stores the old
 * bytes and returns 0 (a kernel defect, FUSE-NOTES.md). The daemon makes the range safe
 * before it answers (fs/refusal.c), so the model holds it to that in full: after a
 * refused write(2) no stored byte may be lost in silence. All it allows for (m_spoil) is
 * a write-back that raced the write(2) itself, carrying refused bytes of a page that
 * was dirty to the daemon before the refusal: those bytes become uncertain.
 *
 * Each file lives in two windows of the model: [0, SPAN) (default 4 MiB) and
 * [1 TiB, 1 TiB + 1 MiB) (sparse far offsets); bytes between read as zeros, unchecked.
 *
 * Every file is checked before it is closed, now and then midway, and at the end: every
 * worker fsyncs everything, munmaps and drops its pages (POSIX_FADV_DONTNEED); the
 * parent writes 1 to /proc/sys/vm/drop_caches once all are settled; then each reads
 * every file back with pread and compares every certain byte, and st_size.
 *
 * Errors: ENOSPC is the weather. EFBIG is right under overcommit=heuristic where a
 * length would grow, or a reservation reach, past the capacity; with --wbc the daemon
 * refuses such write-back with EIO (ca2d746: EFBIG), which msync/fsync (and
 * fallocate/ftruncate, which write back first) may then report. Anything else is
 * unexpected.
 *
 * Prints one line:
 *   storm: seed=S procs=P ops=N acked_bytes=A kept_bytes=K lost_bytes=L
 *          uncertain_bytes=U enospc=E efbig=B msync_errors=M fsync_errors=F eio=X
 *          other_errors=Y sigbus=Z
 * (sigbus: stores through a mapping the kernel answered with SIGBUS, a new page on a
 * full mount: allowed with STORM_SIGBUS_OK=1, the kernel data path, as on tmpfs; their
 * bytes become uncertain)
 * (acked: bytes acknowledged, counted when they became certain; kept: acknowledged data
 * bytes that read back right at each close and at the end; lost: certain bytes that
 * did not; uncertain: bytes left unchecked there). Exit 0 if nothing was lost and
 * nothing unexpected happened, 1 if so (the first losses and errors on stderr: file,
 * offsets, expected and read bytes, how the byte was acknowledged and at which op),
 * 2 if it could not set up. With STORM_TRACE=PREFIX every process logs each operation
 * and its result to PREFIX.<who>, for a post-mortem. The interleaving of processes is
 * the kernel's, so a seed replays each process's choices, not the outcome.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
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
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "sigbus.h"

#define PAGE 4096u
#define FAR ((uint64_t)1 << 40)     /* the second window starts here */
#define FAR_LEN ((uint64_t)1 << 20) /* and is this long */
#define MAX_IO ((uint64_t)2 << 20)  /* largest write / mapping: crosses max_write */
#define RDBUF ((uint64_t)1 << 20)
#define MAX_SLOTS 16
#define MAX_HELD 2        /* replaced by a rename but still open */
#define MAX_PROCS 64
#define MAX_REPORTS 8     /* loss reports printed per process */
#define MAX_ERR_REPORTS 8 /* unexpected errors printed per process */

/* ---- configuration (set by the parent, inherited by every child) ---- */
static const char *dir;
static unsigned nprocs = 3, nslots = 3;
static unsigned long nops = 3000;
static uint64_t seed = 1;
static uint64_t span = (uint64_t)4 << 20; /* window 0: [0, span) */
static int wbc;
static int sigbus_ok; /* STORM_SIGBUS_OK=1: the kernel data path (map_write) */
static uint64_t cap_bytes = UINT64_MAX;
/* The most the filler may get acknowledged: the capacity, or STORM_HOLDS
 * where the kernel's writes are bounded by something else (a disk kernel
 * path: the disk, sparsefs(8) Data paths). */
static uint64_t hold_bytes = UINT64_MAX;
enum { POL_UNKNOWN, POL_ALWAYS, POL_HEURISTIC, POL_NEVER };
static int policy = POL_UNKNOWN;

/* ---- statistics, in memory shared with the parent ---- */
struct stats {
	uint64_t ops, acked, kept, lost, uncertain, enospc, efbig, msync_err, fsync_err, eio,
		other, sigbus;
	int setup_failed;
};
static struct stats *all_stats; /* nprocs workers, then the filler */
static struct stats *S;

/* ---- this process ---- */
static char who[16];
static uint64_t rng;
static unsigned long opno;
static const char *opname = "setup";
static unsigned nreports, nerr_reports;
static uint8_t *iobuf, *rdbuf;
static FILE *tracef; /* $STORM_TRACE.<who>: every operation, for a post-mortem */

static uint64_t rnd64(void)
{
	/* xorshift64*: a fixed sequence for a seed */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

static int chance(unsigned pct)
{
	return rnd(100) < pct;
}

/* 1..max, spread over every power of two */
static uint64_t rsize(uint64_t max)
{
	unsigned bits = 0;
	uint64_t lim;

	while (bits < 63 && ((uint64_t)1 << bits) < max)
		bits++;
	lim = (uint64_t)1 << rnd(bits + 1);
	if (lim > max)
		lim = max;
	return 1 + rnd(lim);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

__attribute__((format(printf, 1, 2))) static void trace(const char *fmt, ...)
{
	va_list ap;

	if (!tracef)
		return;
	fprintf(tracef, "%lu %s: ", opno, opname);
	va_start(ap, fmt);
	vfprintf(tracef, fmt, ap);
	va_end(ap);
	fputc('\n', tracef);
}

static void trace_open(void)
{
	const char *t = getenv("STORM_TRACE");
	char p[4096];

	if (!t || !*t)
		return;
	snprintf(p, sizeof(p), "%s.%s", t, who);
	tracef = fopen(p, "w");
	if (tracef)
		setvbuf(tracef, NULL, _IOLBF, 0);
}

__attribute__((format(printf, 2, 3))) static void unexpected(int err, const char *fmt, ...)
{
	va_list ap;

	if (err == EIO)
		S->eio++;
	else
		S->other++;
	if (nerr_reports++ >= MAX_ERR_REPORTS)
		return;
	fprintf(stderr, "storm[%s] op %lu (%s): unexpected: ", who, opno, opname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2), noreturn)) static void setup_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "storm[%s]: ", who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (S)
		S->setup_failed = 1;
	exit(2);
}

/* the errors a write-back refused for EFBIG comes back as (see wb_efbig) */
#define WB_EFBIG_ERR(err) ((err) == EIO || (err) == EFBIG)

/*
 * An errno from a write, ftruncate or fallocate: ENOSPC is the storm's weather; EFBIG
 * is right where the heuristic policy refuses what reaches past the capacity: a
 * length growing there, or a reservation there (fs/object.c: "a reservation no write
 * could reach is refused too", KEEP_SIZE or not). end: where the change ends, 0 if
 * it reserves nothing and grows no length.
 */
static void data_errno(int err, uint64_t end, int wb_efbig, const char *what)
{
	if (err == ENOSPC) {
		S->enospc++;
		return;
	}
	if (WB_EFBIG_ERR(err) && wb_efbig) {
		/* the kernel reports an earlier write-back refusal (see wb_efbig) */
		S->efbig++;
		return;
	}
	if (err == EFBIG && end > cap_bytes &&
	    (policy == POL_HEURISTIC || policy == POL_UNKNOWN)) {
		S->efbig++;
		return;
	}
	unexpected(err, "%s", what);
}

/* ---- the model ---- */

enum { B_CERT, B_PEND, B_UNC };
enum {
	H_NONE,  /* never written: a hole */
	H_WRITE, /* write(2) */
	H_PWRITE,
	H_TRUNC,
	H_PUNCH,
	H_ZERO,
	H_MMAP, /* pending: through a mapping */
	H_WBW,  /* pending: write(2) into the writeback cache */
	H_MMAP_MSYNC,
	H_MMAP_FSYNC,
	H_WBW_MSYNC,
	H_WBW_FSYNC,
	H_FILLER,
	H_NHOW
};
static const char *const how_name[H_NHOW] = {
	"never written (a hole)",
	"write(2)'s count",
	"pwrite's count",
	"a successful ftruncate (zeros)",
	"a successful punch (zeros)",
	"a successful zero-range (zeros)",
	"(pending mmap write)",
	"(pending write into the writeback cache)",
	"msync(MS_SYNC) after an mmap write",
	"fsync after an mmap write",
	"msync(MS_SYNC) after a writeback-cache write",
	"fsync after a writeback-cache write",
	"the filler's write(2)/fsync",
};
#define ST(state, how) ((uint8_t)((state) | ((how) << 2)))
#define STATE(b) ((b) & 3)
#define HOW(b) ((b) >> 2)

static int is_data_how(int h)
{
	return h == H_WRITE || h == H_PWRITE || (h >= H_MMAP_MSYNC && h <= H_FILLER);
}

struct mfile {
	int fd;     /* -1: entry free */
	int slot;   /* the name pW-slot it was last reached by; -1 once replaced (held) */
	int linked; /* that name still leads to it */
	unsigned gen;
	uint64_t ino; /* st_ino: the daemon's log names inodes */
	unsigned long held_seq;
	char name[64];   /* its last name, for reports */
	uint64_t len;    /* st_size as the kernel has it */
	uint64_t len_lo; /* the daemon's length is at least this (== len but under --wbc) */
	int len_unc;     /* --wbc: a write-back failed while len_lo < len */
	/*
	 * --wbc under heuristic: a write past the capacity went into the page cache (or
	 * through a mapping past the daemon's length, which only the kernel has grown); the
	 * daemon refuses its write-back (EFBIG, answered as EIO; ca2d746 answered EFBIG)
	 * and the kernel reports that to the next msync/fsync/fallocate/truncate of the
	 * file, until an fsync.
	 */
	int wb_efbig;
	uint8_t *val, *st, *dirty; /* per byte, per byte, per page (may hold dirty pages) */
	uint32_t *pop;             /* per page: the op that last made bytes there certain */
	char *map;
	uint64_t map_off, map_len;
};

static uint64_t model_len, model_pages;
static struct mfile *files;
static unsigned nfiles;
static struct mfile *slot_file[MAX_SLOTS];
static unsigned me;
static unsigned gen_next;
static unsigned long held_next;

struct seg {
	uint64_t off, m, n; /* file offset, model index, bytes */
};

static uint64_t win_start(int w)
{
	return w ? FAR : 0;
}

static uint64_t win_len(int w)
{
	return w ? FAR_LEN : span;
}

/* The parts of [a, b) inside the windows. */
static unsigned segs(uint64_t a, uint64_t b, struct seg *s)
{
	unsigned n = 0;

	for (int w = 0; w < 2; w++) {
		uint64_t ws = win_start(w), we = ws + win_len(w);
		uint64_t x = a > ws ? a : ws, y = b < we ? b : we;

		if (x < y) {
			s[n].off = x;
			s[n].m = (w ? span : 0) + (x - ws);
			s[n].n = y - x;
			n++;
		}
	}
	return n;
}

/* bytes [off, off+n) become src (zeros if NULL) in the given state */
static void m_store(struct mfile *f, uint64_t off, const uint8_t *src, uint64_t n, int state,
		    int how)
{
	struct seg s[2];
	unsigned k = segs(off, off + n, s);

	for (unsigned i = 0; i < k; i++) {
		if (src)
			memcpy(f->val + s[i].m, src + (s[i].off - off), s[i].n);
		else
			memset(f->val + s[i].m, 0, s[i].n);
		memset(f->st + s[i].m, ST(state, how), s[i].n);
		for (uint64_t p = s[i].m / PAGE; p <= (s[i].m + s[i].n - 1) / PAGE; p++) {
			if (state == B_PEND)
				f->dirty[p] = 1;
			else if (state == B_CERT)
				f->pop[p] = (uint32_t)opno;
		}
	}
}

/* bytes [off, off+n) become uncertain */
static void m_unc(struct mfile *f, uint64_t off, uint64_t n)
{
	struct seg s[2];
	unsigned k = segs(off, off + n, s);

	for (unsigned i = 0; i < k; i++)
		for (uint64_t j = s[i].m; j < s[i].m + s[i].n; j++)
			f->st[j] = ST(B_UNC, HOW(f->st[j]));
}

/*
 * A write(2) that acknowledged nothing of [a, b): the kernel copied those bytes into
 * the page cache first, and the daemon had it drop those folios before it answered,
 * laundering a dirty one as a write-back that it refuses and counts (so its pending
 * bytes stay pending: the next msync/fsync reports the error). Only a write-back that
 * started between the kernel's copy and the daemon's refusal can have stored refused
 * bytes of a page that was dirty: those become uncertain.
 */
static void m_spoil(struct mfile *f, uint64_t a, uint64_t b)
{
	struct seg s[2];
	unsigned k = segs(a, b, s);

	for (unsigned i = 0; i < k; i++)
		for (uint64_t m = s[i].m; m < s[i].m + s[i].n; m++)
			if (f->dirty[m / PAGE])
				f->st[m] = ST(B_UNC, HOW(f->st[m]));
}

static uint64_t resolve_page(struct mfile *f, uint64_t p, int ok, int by_fsync)
{
	uint8_t *st = f->st + p * PAGE;
	uint64_t acked = 0;

	for (unsigned k = 0; k < PAGE; k++) {
		int h;

		if (STATE(st[k]) != B_PEND)
			continue;
		h = HOW(st[k]);
		if (ok) {
			if (h == H_MMAP)
				h = by_fsync ? H_MMAP_FSYNC : H_MMAP_MSYNC;
			else
				h = by_fsync ? H_WBW_FSYNC : H_WBW_MSYNC;
			st[k] = ST(B_CERT, h);
			acked++;
		} else {
			st[k] = ST(B_UNC, h);
		}
	}
	if (ok && acked)
		f->pop[p] = (uint32_t)opno;
	return acked;
}

/*
 * msync/fsync of the file range [a, b) returned (ok ? 0 : an error): its pages were
 * written back; success acknowledges their pending bytes, an error (reported once per
 * open file, for any page of it) makes every pending byte of the file uncertain.
 */
static void m_resolve(struct mfile *f, uint64_t a, uint64_t b, int ok, int by_fsync)
{
	struct seg s[2];
	unsigned k = segs(a & ~(uint64_t)(PAGE - 1), (b + PAGE - 1) & ~(uint64_t)(PAGE - 1), s);
	uint64_t acked = 0;

	for (unsigned i = 0; i < k; i++)
		for (uint64_t p = s[i].m / PAGE; p < (s[i].m + s[i].n) / PAGE; p++) {
			if (!f->dirty[p])
				continue;
			f->dirty[p] = 0;
			acked += resolve_page(f, p, ok, by_fsync);
		}
	S->acked += acked;
	if (!ok)
		for (uint64_t p = 0; p < model_pages; p++)
			if (f->dirty[p])
				resolve_page(f, p, 0, 0);
}

static void m_truncate(struct mfile *f, uint64_t newlen)
{
	if (newlen < f->len)
		m_store(f, newlen, NULL, f->len - newlen, B_CERT, H_TRUNC);
	f->len = f->len_lo = newlen;
	f->len_unc = 0;
}

static void m_reset(struct mfile *f)
{
	memset(f->val, 0, model_len);
	memset(f->st, ST(B_CERT, H_NONE), model_len);
	memset(f->dirty, 0, model_pages);
	memset(f->pop, 0, model_pages * sizeof(*f->pop));
	f->len = f->len_lo = 0;
	f->len_unc = 0;
	f->wb_efbig = 0;
	f->map = NULL;
	f->map_off = f->map_len = 0;
	f->gen = ++gen_next;
}

/* ---- checking ---- */

struct lossrun {
	struct mfile *f;
	uint64_t off, n;
	uint8_t want, got;
	int how;
	uint32_t op;
	int final;
};
static struct lossrun run;

static void flush_run(void)
{
	if (!run.n)
		return;
	if (nreports++ < MAX_REPORTS)
		fprintf(stderr,
			"storm[%s] LOST %s (incarnation %u, inode %" PRIu64 ", %s) bytes [%" PRIu64
			", +%" PRIu64
			"): first expected 0x%02x, read 0x%02x; made certain by %s, page last "
			"acknowledged at op %" PRIu32 "; found by the %s check at op %lu\n",
			who, run.f->name, run.f->gen, run.f->ino,
			run.f->linked ? "linked" : "unlinked",
			run.off, run.n, run.want, run.got, how_name[run.how], run.op,
			run.final ? "final" : "midway", opno);
	run.n = 0;
}

static void note_loss(struct mfile *f, uint64_t off, uint8_t want, uint8_t got, int how,
		      uint32_t op, int final)
{
	S->lost++;
	if (run.n && run.f == f && run.off + run.n == off && run.how == how) {
		run.n++;
		return;
	}
	flush_run();
	run = (struct lossrun){ f, off, 1, want, got, how, op, final };
}

/* compare n bytes read at file offset off (inside one window) with the model */
static void compare(struct mfile *f, uint64_t off, const uint8_t *buf, uint64_t n, int final)
{
	struct seg s[2];
	uint64_t kept = 0, unc = 0;

	if (segs(off, off + n, s) != 1 || s[0].n != n)
		return;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t m = s[0].m + k;
		uint8_t b = f->st[m];

		if (STATE(b) == B_UNC) {
			unc++;
		} else if (STATE(b) == B_CERT) {
			if (buf[k] == f->val[m]) {
				kept += is_data_how(HOW(b));
			} else {
				note_loss(f, off + k, f->val[m], buf[k], HOW(b),
					  f->pop[m / PAGE], final);
				f->st[m] = ST(B_UNC, HOW(b)); /* counted once */
			}
		}
	}
	if (final) {
		S->kept += kept;
		S->uncertain += unc;
	}
}

/* pread all of [off, off+n) (zeros past EOF); -1 on error */
static int read_full(int fd, uint8_t *buf, uint64_t n, uint64_t off)
{
	uint64_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (uint64_t)r;
	}
	memset(buf + got, 0, n - got);
	return 0;
}

static void check_range(struct mfile *f, uint64_t a, uint64_t b, int final)
{
	for (uint64_t off = a; off < b; off += RDBUF) {
		uint64_t n = min_u64(RDBUF, b - off);

		if (read_full(f->fd, rdbuf, n, off)) {
			unexpected(errno, "pread %s at %" PRIu64, f->name, off);
			return;
		}
		compare(f, off, rdbuf, n, final);
	}
}

/* st_size and every certain byte of f against the model */
static void verify(struct mfile *f, int final)
{
	struct stat st;

	trace("verify %s gen %u len %" PRIu64 "%s", f->name, f->gen, f->len, final ? " final" : "");
	if (fstat(f->fd, &st)) {
		unexpected(errno, "fstat %s", f->name);
		return;
	}
	if ((uint64_t)st.st_size < f->len_lo || (uint64_t)st.st_size > f->len) {
		S->other++;
		if (nerr_reports++ < MAX_ERR_REPORTS)
			fprintf(stderr,
				"storm[%s] op %lu (%s): %s (incarnation %u): st_size %lld, "
				"model %" PRIu64 "..%" PRIu64 "\n",
				who, opno, opname, f->name, f->gen, (long long)st.st_size,
				f->len_lo, f->len);
	}
	for (int w = 0; w < 2; w++) {
		uint64_t ws = win_start(w), we = ws + win_len(w);

		if (f->len > ws)
			check_range(f, ws, min_u64(we, f->len), final);
	}
	flush_run();
}

/* ---- file operations ---- */

static void note_ino(struct mfile *f)
{
	struct stat st;

	f->ino = fstat(f->fd, &st) ? 0 : (uint64_t)st.st_ino;
	trace("open %s gen %u: inode %" PRIu64, f->name, f->gen, f->ino);
}

static void slot_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int pick_window(const struct mfile *f)
{
	if (f->len > FAR)
		return chance(35);
	return chance(4);
}

/* n bytes for file offset off: random, all zeros, or whole zero pages among random ones */
static void fill(uint8_t *buf, uint64_t n, uint64_t off, int kind)
{
	for (uint64_t i = 0; i < n;) {
		uint64_t page_end = ((off + i) | (PAGE - 1)) + 1 - off;
		uint64_t e = min_u64(n, page_end);
		int zero = kind == 1 || (kind == 2 && chance(50));

		if (zero) {
			memset(buf + i, 0, e - i);
			i = e;
			continue;
		}
		for (; i < e; i += 8) {
			uint64_t v = rnd64();

			memcpy(buf + i, &v, min_u64(8, e - i));
		}
		i = e;
	}
}

static void do_fsync(struct mfile *f)
{
	int datasync = chance(30);
	int r = datasync ? fdatasync(f->fd) : fsync(f->fd);
	int err = errno;

	trace("%s %s gen %u: %s", datasync ? "fdatasync" : "fsync", f->name, f->gen,
	      r ? strerror(err) : "ok");
	if (r) {
		S->fsync_err++;
		if (err != ENOSPC && !(WB_EFBIG_ERR(err) && f->wb_efbig))
			unexpected(err, "%s %s", datasync ? "fdatasync" : "fsync", f->name);
		f->wb_efbig = 0;
		if (f->len_lo < f->len)
			f->len_unc = 1;
		m_resolve(f, 0, UINT64_MAX / 2, 0, 1);
		return;
	}
	m_resolve(f, 0, UINT64_MAX / 2, 1, 1);
	f->wb_efbig = 0;
	if (!f->len_unc)
		f->len_lo = f->len;
}

static void do_msync(struct mfile *f, uint64_t a, uint64_t b)
{
	/* a, b: file offsets inside the mapping, page aligned */
	int r = msync(f->map + (a - f->map_off), b - a, MS_SYNC);
	int err = errno;

	trace("msync %s gen %u [%" PRIu64 ", %" PRIu64 "): %s", f->name, f->gen, a, b,
	      r ? strerror(err) : "ok");
	if (r) {
		S->msync_err++;
		if (err != ENOSPC && !(WB_EFBIG_ERR(err) && f->wb_efbig))
			unexpected(err, "msync %s", f->name);
		if (f->len_lo < f->len)
			f->len_unc = 1;
	}
	m_resolve(f, a, b, !r, 0);
}

static void unmap(struct mfile *f)
{
	if (f->map && munmap(f->map, f->map_len))
		unexpected(errno, "munmap");
	f->map = NULL;
}

/* map a page-aligned stretch of one window, mostly inside st_size */
static void remap(struct mfile *f)
{
	int w = pick_window(f);
	uint64_t ws = win_start(w), wl = win_len(w);
	uint64_t inside = f->len > ws ? min_u64(f->len - ws, wl) : 0;
	uint64_t start, maxpages, np;
	void *p;

	unmap(f);
	start = inside && !chance(15) ? rnd(inside) : rnd(wl);
	start &= ~(uint64_t)(PAGE - 1);
	maxpages = min_u64((wl - start) / PAGE, MAX_IO / PAGE);
	np = chance(30) ? maxpages : 1 + rnd(maxpages);
	p = mmap(NULL, np * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, (off_t)(ws + start));
	if (p == MAP_FAILED) {
		unexpected(errno, "mmap %s", f->name);
		return;
	}
	f->map = p;
	f->map_off = ws + start;
	f->map_len = np * PAGE;
	trace("mmap %s gen %u [%" PRIu64 ", +%" PRIu64 ")", f->name, f->gen, f->map_off,
	      f->map_len);
}

/* pending bytes up to end: past what the daemon's length may grow to? (wb_efbig) */
static void note_past_capacity(struct mfile *f, uint64_t end)
{
	if (end > cap_bytes && end > f->len_lo &&
	    (policy == POL_HEURISTIC || policy == POL_UNKNOWN))
		f->wb_efbig = 1;
}


/* write n bytes at file offset off (inside the mapping and st_size) through the mapping */
static void map_write(struct mfile *f, uint64_t off, const uint8_t *src, uint64_t n)
{
	if (sigsetjmp(bus_jmp, 0)) {
		/* The kernel path's answer to a new page on a full mount (STORM_SIGBUS_OK),
		 * as tmpfs's: what went in before the fault is there, the rest is not. */
		if (sigbus_ok)
			S->sigbus++;
		else
			unexpected(0,
				   "SIGBUS writing %" PRIu64 " bytes at %" PRIu64 " of %s (length %" PRIu64
				   ") through a mapping",
				   n, off, f->name, f->len);
		m_unc(f, off, n);
		return;
	}
	trace("mmap write %s gen %u [%" PRIu64 ", +%" PRIu64 ")%s", f->name, f->gen, off, n,
	      n > 1 ? "" : " (1 byte)");
	armed_copy(f->map + (off - f->map_off), src, n);
	note_past_capacity(f, off + n);
	m_store(f, off, src, n, B_PEND, H_MMAP);
}

static void op_write(struct mfile *f)
{
	int w = pick_window(f);
	uint64_t ws = win_start(w), wl = win_len(w);
	uint64_t off = ws + rnd(wl), n, max, done;
	int use_pwrite = chance(50), kind = (int)rnd(8), err;
	ssize_t r;

	if (chance(40))
		off &= ~(uint64_t)(PAGE - 1);
	max = min_u64(MAX_IO, ws + wl - off);
	n = chance(8) ? min_u64(max, ((uint64_t)1 << 20) + rnd((uint64_t)1 << 20)) : rsize(max);
	fill(iobuf, n, off, kind == 0 ? 1 : kind == 1 ? 2 : 0);
	if (use_pwrite) {
		r = pwrite(f->fd, iobuf, n, (off_t)off);
	} else if (lseek(f->fd, (off_t)off, SEEK_SET) < 0) {
		unexpected(errno, "lseek");
		return;
	} else {
		r = write(f->fd, iobuf, n);
	}
	err = errno;
	trace("%s %s gen %u [%" PRIu64 ", +%" PRIu64 ") kind %d: %zd %s",
	      use_pwrite ? "pwrite" : "write", f->name, f->gen, off, n, kind, r,
	      r < 0 ? strerror(err) : "");
	if (r < 0)
		data_errno(err, off + n > f->len_lo ? off + n : 0, 0,
			   use_pwrite ? "pwrite" : "write");
	done = r > 0 ? (uint64_t)r : 0;
	if (done > n) {
		unexpected(0, "write of %" PRIu64 " returned %" PRIu64, n, done);
		done = n;
	}
	m_spoil(f, off + done, off + n);
	if (done) {
		if (wbc) {
			note_past_capacity(f, off + done);
			m_store(f, off, iobuf, done, B_PEND, H_WBW);
		} else {
			m_store(f, off, iobuf, done, B_CERT, use_pwrite ? H_PWRITE : H_WRITE);
			S->acked += done;
		}
		if (off + done > f->len) {
			f->len = off + done;
			if (!wbc)
				f->len_lo = f->len;
		}
	}
	if (wbc && chance(15))
		do_fsync(f);
}

static void do_fallocate(struct mfile *f, int mode, uint64_t off, uint64_t len);

static void op_mmap(struct mfile *f)
{
	uint64_t a, b, lo, hi;
	int pattern = (int)rnd(10), sync_after = 0;

	if (!f->map || chance(10))
		remap(f);
	if (!f->map)
		return;
	a = f->map_off;
	b = min_u64(f->map_off + f->map_len, f->len);
	if (b <= a) {
		remap(f);
		if (!f->map)
			return;
		a = f->map_off;
		b = min_u64(f->map_off + f->map_len, f->len);
		if (b <= a)
			return;
	}
	lo = b;
	hi = a;
	if (pattern < 3) {
		/*
		 * One byte in every stride-th page: many dirty pages for few bytes. Often
		 * into holes punched first, then msync: on a full mount that write-back
		 * must take the overdraft, and past it is refused (or was lost, ca2d746).
		 */
		uint64_t stride = 1 + (chance(50) ? 0 : rnd(4));

		if (chance(40))
			do_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, a, b - a);
		if (chance(40))
			sync_after = 1;

		for (uint64_t p = a; p < b; p += stride * PAGE) {
			uint64_t o = p + rnd(min_u64(PAGE, b - p));
			uint8_t v = (uint8_t)(1 + rnd(255));

			map_write(f, o, &v, 1);
			lo = min_u64(lo, o);
			hi = max_u64(hi, o + 1);
		}
	} else if (pattern < 4) {
		fill(iobuf, b - a, a, chance(25) ? 1 : 0);
		map_write(f, a, iobuf, b - a);
		lo = a;
		hi = b;
	} else {
		unsigned spans = 1 + (unsigned)rnd(6);

		for (unsigned i = 0; i < spans; i++) {
			uint64_t o = a + rnd(b - a);
			uint64_t n = rsize(min_u64((uint64_t)256 << 10, b - o));

			fill(iobuf, n, o, chance(20) ? 1 : chance(20) ? 2 : 0);
			map_write(f, o, iobuf, n);
			lo = min_u64(lo, o);
			hi = max_u64(hi, o + n);
		}
	}
	if (lo >= hi)
		return;
	switch (sync_after ? 0 : rnd(20)) {
	case 0: case 1: case 2: case 3: case 4:
		do_msync(f, lo & ~(uint64_t)(PAGE - 1),
			 min_u64((hi + PAGE - 1) & ~(uint64_t)(PAGE - 1), f->map_off + f->map_len));
		break;
	case 5: case 6:
		do_fsync(f);
		break;
	default:
		break; /* left pending */
	}
}

static void op_msync(struct mfile *f)
{
	uint64_t np, a, n;

	if (!f->map) {
		do_fsync(f);
		return;
	}
	np = f->map_len / PAGE;
	a = rnd(np);
	n = 1 + rnd(np - a);
	if (chance(50)) {
		a = 0;
		n = np;
	}
	do_msync(f, f->map_off + a * PAGE, f->map_off + (a + n) * PAGE);
}

static void op_fsync(struct mfile *f)
{
	do_fsync(f);
}

/* sometimes write pending pages back first; mostly let them meet the operation */
static void maybe_presync(struct mfile *f)
{
	if (!chance(25))
		return;
	if (f->map && chance(50))
		do_msync(f, f->map_off, f->map_off + f->map_len);
	else
		do_fsync(f);
}

/* fallocate and what it does to the model */
static void do_fallocate(struct mfile *f, int mode, uint64_t off, uint64_t len)
{
	if (fallocate(f->fd, mode, (off_t)off, (off_t)len)) {
		int err = errno;
		char what[64];

		trace("fallocate %s gen %u mode %#x [%" PRIu64 ", +%" PRIu64 "): %s", f->name,
		      f->gen, (unsigned)mode, off, len, strerror(err));
		snprintf(what, sizeof(what), "fallocate mode %#x", (unsigned)mode);
		data_errno(err, mode & FALLOC_FL_PUNCH_HOLE ? 0 : off + len, f->wb_efbig, what);
		return;
	}
	trace("fallocate %s gen %u mode %#x [%" PRIu64 ", +%" PRIu64 "): ok", f->name, f->gen,
	      (unsigned)mode, off, len);
	if (mode & FALLOC_FL_PUNCH_HOLE)
		m_store(f, off, NULL, len, B_CERT, H_PUNCH);
	else if (mode & FALLOC_FL_ZERO_RANGE)
		m_store(f, off, NULL, len, B_CERT, H_ZERO);
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f->len) {
		/* bytes past the old end were zeros already */
		f->len = off + len;
		f->len_lo = wbc ? max_u64(f->len_lo, off + len) : f->len;
	}
}

static void op_fallocate(struct mfile *f)
{
	static const int modes[] = {
		0,
		FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE,
		FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	};
	int mode = modes[rnd(5)];
	int w = pick_window(f);
	uint64_t ws = win_start(w), wl = win_len(w);
	uint64_t off = ws + rnd(wl), len;

	if (chance(50))
		off &= ~(uint64_t)(PAGE - 1);
	len = rsize(ws + wl - off);
	if (chance(50) && (off + len) % PAGE)
		len = min_u64(((off + len) | (PAGE - 1)) + 1, ws + wl) - off;
	if (chance(2)) { /* far more than the mount holds */
		off = rnd(span) & ~(uint64_t)(PAGE - 1);
		len = (uint64_t)256 << 20;
	}
	maybe_presync(f);
	do_fallocate(f, mode, off, len);
}

static void op_truncate(struct mfile *f)
{
	uint64_t newlen;

	switch (rnd(20)) {
	case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8:
		newlen = rnd(span + 1);
		break;
	case 18:
		newlen = FAR + rnd(FAR_LEN + 1);
		break;
	case 19:
		newlen = rnd(span + 1) & ~(uint64_t)(PAGE - 1);
		break;
	default:
		newlen = rnd(f->len + 1);
		if (newlen > span && newlen < FAR)
			newlen = span;
		break;
	}
	maybe_presync(f);
	if (ftruncate(f->fd, (off_t)newlen)) {
		int err = errno;

		trace("ftruncate %s gen %u %" PRIu64 " -> %" PRIu64 ": %s", f->name, f->gen, f->len,
		      newlen, strerror(err));
		data_errno(err, newlen > f->len_lo ? newlen : 0, f->wb_efbig, "ftruncate");
		return;
	}
	trace("ftruncate %s gen %u %" PRIu64 " -> %" PRIu64 ": ok", f->name, f->gen, f->len,
	      newlen);
	m_truncate(f, newlen);
}

static void op_read(struct mfile *f)
{
	int w = pick_window(f);
	uint64_t ws = win_start(w), we = ws + win_len(w);
	uint64_t end = min_u64(we, f->len), off, n;

	if (end <= ws)
		return;
	off = ws + rnd(end - ws);
	n = rsize(min_u64(RDBUF, end - off));
	if (read_full(f->fd, rdbuf, n, off)) {
		unexpected(errno, "pread %s", f->name);
		return;
	}
	trace("pread %s gen %u [%" PRIu64 ", +%" PRIu64 ")", f->name, f->gen, off, n);
	compare(f, off, rdbuf, n, 0);
	flush_run();
}

/* munmap, fsync and drop f's pages: what is left in the model is certain or uncertain */
static void settle(struct mfile *f)
{
	int err;

	unmap(f);
	do_fsync(f);
	err = posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (err)
		unexpected(err, "posix_fadvise %s", f->name);
}

static void op_check(struct mfile *f)
{
	settle(f);
	verify(f, 0);
}

/* check f and close it */
static void release(struct mfile *f)
{
	settle(f);
	verify(f, 1);
	if (close(f->fd))
		unexpected(errno, "close %s after fsync", f->name);
	f->fd = -1;
	if (f->slot >= 0 && slot_file[f->slot] == f)
		slot_file[f->slot] = NULL;
}

static struct mfile *free_entry(void)
{
	for (unsigned i = 0; i < nfiles; i++)
		if (files[i].fd < 0)
			return &files[i];
	return NULL;
}

static unsigned count_held(struct mfile **oldest)
{
	unsigned n = 0;

	*oldest = NULL;
	for (unsigned i = 0; i < nfiles; i++) {
		struct mfile *f = &files[i];

		if (f->fd < 0 || f->slot >= 0)
			continue;
		n++;
		if (!*oldest || f->held_seq < (*oldest)->held_seq)
			*oldest = f;
	}
	return n;
}

/* a new empty file under the slot's name */
static void create_slot(unsigned s)
{
	struct mfile *f = free_entry();
	char p[4096];

	if (!f)
		setup_fail("no free file entry");
	snprintf(f->name, sizeof(f->name), "p%u-%u", me, s);
	slot_path(p, sizeof(p), f->name);
	f->fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f->fd < 0) {
		unexpected(errno, "create %s", p);
		return;
	}
	m_reset(f);
	note_ino(f);
	f->slot = (int)s;
	f->linked = 1;
	slot_file[s] = f;
}

static void op_unlink(struct mfile *f)
{
	char p[4096];

	if (f->slot < 0 || !f->linked) {
		if (f->slot < 0)
			release(f); /* an old held one: close it at last */
		return;
	}
	slot_path(p, sizeof(p), f->name);
	maybe_presync(f);
	if (unlink(p)) {
		unexpected(errno, "unlink %s", p);
		return;
	}
	f->linked = 0;
	trace("unlink %s gen %u", f->name, f->gen);
}

/* close an unlinked file and recreate its name; close and reopen a linked one */
static void op_reopen(struct mfile *f)
{
	char p[4096];
	unsigned s;

	if (f->slot < 0) {
		release(f);
		return;
	}
	s = (unsigned)f->slot;
	if (!f->linked) {
		release(f);
		create_slot(s);
		return;
	}
	/* linked: same file, new open file description */
	settle(f);
	verify(f, 0);
	if (close(f->fd))
		unexpected(errno, "close %s after fsync", f->name);
	slot_path(p, sizeof(p), f->name);
	trace("reopen %s gen %u", f->name, f->gen);
	f->fd = open(p, O_RDWR);
	if (f->fd < 0) {
		unexpected(errno, "reopen %s", p);
		slot_file[s] = NULL;
		return;
	}
	if (wbc && f->len_lo < f->len) {
		/* a new lookup may have taken the daemon's length: follow it */
		struct stat st;

		if (fstat(f->fd, &st)) {
			unexpected(errno, "fstat %s", p);
			return;
		}
		if ((uint64_t)st.st_size >= f->len_lo && (uint64_t)st.st_size < f->len)
			m_truncate(f, (uint64_t)st.st_size);
	}
}

static void op_rename(struct mfile *f)
{
	unsigned s = f->slot >= 0 ? (unsigned)f->slot : (unsigned)rnd(nslots);
	struct mfile *old = slot_file[s], *t, *oldest;
	char tp[4096], np[4096], tname[64];

	if (!old)
		return;
	if (count_held(&oldest) >= MAX_HELD)
		release(oldest);
	t = free_entry();
	if (!t)
		return;
	snprintf(tname, sizeof(tname), "p%u-t", me);
	slot_path(tp, sizeof(tp), tname);
	t->fd = open(tp, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (t->fd < 0) {
		unexpected(errno, "create %s", tp);
		return;
	}
	m_reset(t);
	snprintf(t->name, sizeof(t->name), "%s", tname);
	note_ino(t);
	t->slot = -1;
	t->linked = 1;
	t->held_seq = ++held_next;
	for (unsigned i = 0, n = 1 + (unsigned)rnd(3); i < n; i++) {
		switch (rnd(4)) {
		case 0:
			op_truncate(t);
			break;
		case 1:
			op_mmap(t);
			break;
		case 2:
			op_fallocate(t);
			break;
		default:
			op_write(t);
			break;
		}
	}
	if (chance(40))
		do_fsync(t);
	slot_path(np, sizeof(np), old->name);
	if (rename(tp, np)) {
		unexpected(errno, "rename %s %s", tp, np);
		t->linked = 0;
		unlink(tp);
		release(t);
		return;
	}
	trace("rename %s gen %u over %s gen %u", tp, t->gen, np, old->gen);
	old->slot = -1;
	old->linked = 0;
	old->held_seq = ++held_next;
	snprintf(t->name, sizeof(t->name), "%s", old->name);
	snprintf(old->name, sizeof(old->name), "%.50s (replaced)", t->name);
	t->slot = (int)s;
	slot_file[s] = t;
}

static void op_remap(struct mfile *f)
{
	remap(f);
}

static const struct {
	const char *name;
	void (*fn)(struct mfile *);
	unsigned weight;
} ops[] = {
	{ "write", op_write, 22 },   { "mmap", op_mmap, 22 },
	{ "msync", op_msync, 8 },    { "fsync", op_fsync, 4 },
	{ "fallocate", op_fallocate, 15 }, { "truncate", op_truncate, 9 },
	{ "read", op_read, 4 },      { "unlink", op_unlink, 2 },
	{ "reopen", op_reopen, 3 },  { "rename", op_rename, 3 },
	{ "remap", op_remap, 3 },    { "check", op_check, 1 },
};

static struct mfile *pick_file(void)
{
	unsigned n = 0, k;

	for (unsigned i = 0; i < nfiles; i++)
		n += files[i].fd >= 0;
	if (!n)
		return NULL;
	k = (unsigned)rnd(n);
	for (unsigned i = 0; i < nfiles; i++)
		if (files[i].fd >= 0 && k-- == 0)
			return &files[i];
	return NULL;
}

static void alloc_models(void)
{
	model_len = span + FAR_LEN;
	model_pages = model_len / PAGE;
	nfiles = nslots + MAX_HELD + 1;
	files = calloc(nfiles, sizeof(*files));
	iobuf = malloc(MAX_IO);
	rdbuf = malloc(RDBUF);
	if (!files || !iobuf || !rdbuf)
		setup_fail("out of memory");
	for (unsigned i = 0; i < nfiles; i++) {
		struct mfile *f = &files[i];

		f->fd = -1;
		f->val = malloc(model_len);
		f->st = malloc(model_len);
		f->dirty = malloc(model_pages);
		f->pop = malloc(model_pages * sizeof(*f->pop));
		if (!f->val || !f->st || !f->dirty || !f->pop)
			setup_fail("out of memory for the model");
	}
}

static void seed_rng(unsigned idx)
{
	/* splitmix64 of (seed, process) */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (idx + 1);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	rng = (z ^ (z >> 31)) | 1;
}

static void worker(unsigned idx, int ready_fd, int go_fd)
{
	unsigned long mine = nops / nprocs + (idx < nops % nprocs);
	unsigned total = 0;
	struct sigaction sa;
	char c = 'r';

	me = idx;
	S = &all_stats[idx];
	snprintf(who, sizeof(who), "w%u", idx);
	seed_rng(idx);
	trace_open();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	alloc_models();
	for (unsigned s = 0; s < nslots; s++) {
		create_slot(s);
		if (!slot_file[s])
			setup_fail("cannot create the files");
	}
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		total += ops[k].weight;
	for (opno = 1; opno <= mine; opno++) {
		unsigned pick = (unsigned)rnd(total), k = 0;
		struct mfile *f;

		while (pick >= ops[k].weight)
			pick -= ops[k++].weight;
		for (unsigned s = 0; s < nslots; s++)
			if (!slot_file[s])
				create_slot(s);
		f = pick_file();
		if (!f)
			break;
		opname = ops[k].name;
		ops[k].fn(f);
		S->ops++;
	}
	/* settle everything, tell the parent, wait for its drop_caches, check */
	opname = "final";
	for (unsigned i = 0; i < nfiles; i++)
		if (files[i].fd >= 0)
			settle(&files[i]);
	if (write(ready_fd, &c, 1) != 1)
		unexpected(errno, "write to the parent");
	close(ready_fd);
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	for (unsigned i = 0; i < nfiles; i++) {
		struct mfile *f = &files[i];

		if (f->fd < 0)
			continue;
		verify(f, 1);
		if (close(f->fd))
			unexpected(errno, "close %s", f->name);
		f->fd = -1;
	}
}

/* ---- the filler: keeps the mount about full ---- */

static uint8_t filler_byte(uint64_t o)
{
	return (uint8_t)((o >> 12) * 29 + o * 7 + 0x11);
}

static void filler_fill(uint8_t *buf, uint64_t off, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		buf[i] = filler_byte(off + i);
}

static int stop_requested(int stop_fd)
{
	struct pollfd pfd = { .fd = stop_fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/*
 * write(2) at the end until ENOSPC; then, now and then, cut back by up to 6 MiB and
 * pause so the workers may take the room. Under --wbc write(2) never fails: fsync after
 * every write tells, and a failed one cuts back to the last length known stored.
 */
static int filler_sync(int fd, uint64_t *len, uint64_t *wlen)
{
	if (!fsync(fd)) {
		S->acked += *wlen - *len;
		*len = *wlen;
		return 0;
	}
	S->fsync_err++;
	/* past the capacity under heuristic: write-back refused with EIO (see wb_efbig) */
	if (WB_EFBIG_ERR(errno) && *wlen > cap_bytes &&
	    (policy == POL_HEURISTIC || policy == POL_UNKNOWN))
		S->efbig++;
	else if (errno != ENOSPC)
		unexpected(errno, "filler fsync");
	if (ftruncate(fd, (off_t)*len))
		unexpected(errno, "filler: ftruncate back to %" PRIu64, *len);
	*wlen = *len;
	return -1;
}

static void filler(int full_fd, int stop_fd)
{
	uint64_t len = 0, wlen = 0; /* certain length; written length */
	char p[4096];
	int fd, full = 0, told = 0;
	struct stat st;

	S = &all_stats[nprocs];
	snprintf(who, sizeof(who), "filler");
	seed_rng(nprocs);
	iobuf = malloc(MAX_IO);
	if (!iobuf)
		setup_fail("out of memory");
	slot_path(p, sizeof(p), "filler");
	opname = "filler";
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		setup_fail("create %s: %s", p, strerror(errno));
	while (!stop_requested(stop_fd)) {
		uint64_t n;
		ssize_t r;

		opno = (unsigned long)S->ops;
		if (full) {
			if (full_fd >= 0) {
				/* full for the first time: the workers may start */
				if (write(full_fd, "f", 1) != 1)
					setup_fail("write to the parent: %s", strerror(errno));
				close(full_fd);
				full_fd = -1;
			}
			usleep(500 + (useconds_t)rnd(2500));
			if (chance(25)) {
				uint64_t newlen = len - rnd(min_u64(len, (uint64_t)6 << 20) + 1);

				if (ftruncate(fd, (off_t)newlen)) {
					data_errno(errno, 0, 0, "filler ftruncate");
				} else {
					len = wlen = newlen;
					usleep((useconds_t)rnd(8000));
				}
			}
			full = 0;
			continue;
		}
		n = ((uint64_t)64 << 10) + rnd((uint64_t)960 << 10);
		filler_fill(iobuf, wlen, n);
		r = pwrite(fd, iobuf, n, (off_t)wlen);
		if (r < 0) {
			data_errno(errno, wlen + n, 0, "filler write");
			full = 1;
			continue;
		}
		wlen += (uint64_t)r;
		if (!wbc) {
			S->acked += (uint64_t)r;
			len = wlen;
		} else if (filler_sync(fd, &len, &wlen)) {
			full = 1;
		}
		if ((uint64_t)r < n)
			full = 1;
		if (len > hold_bytes) {
			/* more than the mount holds was acknowledged: some of it is lost */
			if (!told++)
				unexpected(0, "filler: %" PRIu64 " bytes acknowledged on a %" PRIu64
					   "-byte mount", len, hold_bytes);
			full = 1;
		}
		S->ops++;
	}
	opname = "filler final";
	if (wbc)
		filler_sync(fd, &len, &wlen);
	else if (fsync(fd))
		unexpected(errno, "filler fsync");
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (fstat(fd, &st))
		unexpected(errno, "filler fstat");
	else if ((uint64_t)st.st_size != len)
		unexpected(0, "filler: st_size %lld, model %" PRIu64, (long long)st.st_size, len);
	rdbuf = iobuf;
	for (uint64_t off = 0; off < len; off += RDBUF) {
		uint64_t n = min_u64(RDBUF, len - off), bad = 0, first = 0;

		if (read_full(fd, rdbuf, n, off)) {
			unexpected(errno, "filler pread");
			break;
		}
		for (uint64_t i = 0; i < n; i++) {
			if (rdbuf[i] == filler_byte(off + i))
				continue;
			if (!bad++)
				first = i;
		}
		S->kept += n - bad;
		S->lost += bad;
		if (bad && nreports++ < MAX_REPORTS)
			fprintf(stderr,
				"storm[filler] LOST %" PRIu64 " bytes in [%" PRIu64 ", +%" PRIu64
				"): first at %" PRIu64 ": expected 0x%02x, read 0x%02x; made "
				"certain by %s\n",
				bad, off, n, off + first, filler_byte(off + first), rdbuf[first],
				how_name[H_FILLER]);
	}
	close(fd);
}

/* ---- the parent ---- */

static void usage(void)
{
	fprintf(stderr, "usage: storm DIR [--procs P] [--ops N] [--seed S] [--files F] "
			"[--span BYTES] [--wbc]\n");
	exit(2);
}

static uint64_t parse_num(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		usage();
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	default: break;
	}
	if (*end)
		usage();
	return v;
}

static void read_policy(void)
{
	char v[32];
	ssize_t n = getxattr(dir, "user.sparsefs.policy", v, sizeof(v) - 1);

	if (n <= 0)
		return;
	v[n] = '\0';
	policy = !strcmp(v, "always")	 ? POL_ALWAYS :
		 !strcmp(v, "heuristic") ? POL_HEURISTIC :
		 !strcmp(v, "never")	 ? POL_NEVER :
					   POL_UNKNOWN;
}

/* reap a child; *rc becomes 2 if it could not set up, 1 if it died otherwise */
static void wait_child(pid_t pid, const char *what, int *rc)
{
	int status;

	if (waitpid(pid, &status, 0) < 0) {
		fprintf(stderr, "storm: waitpid %s: %s\n", what, strerror(errno));
		*rc = *rc ? *rc : 1;
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFEXITED(status)) {
		fprintf(stderr, "storm: %s exited with status %d\n", what, WEXITSTATUS(status));
		*rc = WEXITSTATUS(status) == 2 ? 2 : *rc ? *rc : 1;
	} else {
		fprintf(stderr, "storm: %s was killed by signal %d\n", what, WTERMSIG(status));
		*rc = *rc ? *rc : 1;
	}
}

int main(int argc, char **argv)
{
	int ready[2], go[2], stop[2], full[2], rc = 0;
	pid_t pids[MAX_PROCS + 1];
	struct statvfs sv;
	struct stats sum;
	char c;

	snprintf(who, sizeof(who), "parent");
	sigbus_ok = getenv("STORM_SIGBUS_OK") && *getenv("STORM_SIGBUS_OK") == '1';
	if (argc < 2)
		usage();
	dir = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--wbc")) {
			wbc = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--procs"))
			nprocs = (unsigned)parse_num(argv[++i]);
		else if (!strcmp(a, "--ops"))
			nops = (unsigned long)parse_num(argv[++i]);
		else if (!strcmp(a, "--seed"))
			seed = parse_num(argv[++i]);
		else if (!strcmp(a, "--files"))
			nslots = (unsigned)parse_num(argv[++i]);
		else if (!strcmp(a, "--span"))
			span = parse_num(argv[++i]);
		else
			usage();
	}
	if (!nprocs || nprocs > MAX_PROCS || !nslots || nslots > MAX_SLOTS)
		setup_fail("--procs must be 1..%d, --files 1..%d", MAX_PROCS, MAX_SLOTS);
	if (span < 16 * PAGE || span > ((uint64_t)64 << 20) || span % PAGE)
		setup_fail("--span must be a multiple of 4096 in [64k, 64M]");
	if (statvfs(dir, &sv))
		setup_fail("statvfs %s: %s", dir, strerror(errno));
	cap_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	hold_bytes = cap_bytes;
	if (getenv("STORM_HOLDS") && *getenv("STORM_HOLDS"))
		hold_bytes = parse_num(getenv("STORM_HOLDS"));
	read_policy();

	all_stats = mmap(NULL, (nprocs + 1) * sizeof(struct stats), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (all_stats == MAP_FAILED)
		setup_fail("mmap: %s", strerror(errno));
	if (pipe(ready) || pipe(go) || pipe(stop) || pipe(full))
		setup_fail("pipe: %s", strerror(errno));
	fflush(NULL);

	pids[nprocs] = fork();
	if (pids[nprocs] < 0)
		setup_fail("fork: %s", strerror(errno));
	if (!pids[nprocs]) {
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
		close(stop[1]);
		close(full[0]);
		filler(full[1], stop[0]);
		exit(0);
	}
	/* the storm starts on a full mount */
	close(full[1]);
	{
		struct pollfd pfd = { .fd = full[0], .events = POLLIN };

		if (poll(&pfd, 1, 60000) != 1 || read(full[0], &c, 1) != 1) {
			kill(pids[nprocs], SIGKILL);
			wait_child(pids[nprocs], "the filler", &rc);
			setup_fail("the filler did not fill the mount in 60 s");
		}
	}
	close(full[0]);
	for (unsigned i = 0; i < nprocs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			setup_fail("fork: %s", strerror(errno));
		if (!pids[i]) {
			close(ready[0]);
			close(go[1]);
			close(stop[0]);
			close(stop[1]);
			worker(i, ready[1], go[0]);
			exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(stop[0]);

	/* every worker settled (or died): stop the filler, drop the caches, let them check */
	for (unsigned n = 0; n < nprocs && read(ready[0], &c, 1) == 1; n++)
		;
	close(stop[1]);
	wait_child(pids[nprocs], "the filler", &rc);
	{
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				fprintf(stderr, "storm: drop_caches: %s\n", strerror(errno));
			close(fd);
		}
	}
	close(go[1]);
	for (unsigned i = 0; i < nprocs; i++) {
		char what[32];

		snprintf(what, sizeof(what), "worker %u", i);
		wait_child(pids[i], what, &rc);
	}

	memset(&sum, 0, sizeof(sum));
	for (unsigned i = 0; i <= nprocs; i++) {
		const struct stats *s = &all_stats[i];

		sum.ops += i < nprocs ? s->ops : 0;
		sum.acked += s->acked;
		sum.kept += s->kept;
		sum.lost += s->lost;
		sum.uncertain += s->uncertain;
		sum.enospc += s->enospc;
		sum.efbig += s->efbig;
		sum.msync_err += s->msync_err;
		sum.fsync_err += s->fsync_err;
		sum.eio += s->eio;
		sum.other += s->other;
		sum.sigbus += s->sigbus;
		sum.setup_failed |= s->setup_failed;
	}
	printf("storm: seed=%" PRIu64 " procs=%u ops=%" PRIu64 " acked_bytes=%" PRIu64
	       " kept_bytes=%" PRIu64 " lost_bytes=%" PRIu64 " uncertain_bytes=%" PRIu64
	       " enospc=%" PRIu64 " efbig=%" PRIu64 " msync_errors=%" PRIu64
	       " fsync_errors=%" PRIu64 " eio=%" PRIu64 " other_errors=%" PRIu64
	       " sigbus=%" PRIu64 "\n",
	       seed, nprocs, sum.ops, sum.acked, sum.kept, sum.lost, sum.uncertain, sum.enospc,
	       sum.efbig, sum.msync_err, sum.fsync_err, sum.eio, sum.other, sum.sigbus);
	if (sum.setup_failed || rc == 2)
		return 2;
	if (sum.lost || sum.eio || sum.other || rc)
		return 1;
	return 0;
}
