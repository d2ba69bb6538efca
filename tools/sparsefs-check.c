/* SPDX-License-Identifier: MIT */
/*
 * sparsefs-check SIZE [--file PATH] [--private|--shared] [--write] [--noreserve] [--json]
 *
 * "Can I map this?": models what the kernel does at mmap(2) time (mm/mmap.c
 * do_mmap/mmap_region, mm/util.c __vm_enough_memory) for one mapping of SIZE
 * bytes at offset 0, from the figures any process can read (/proc, getrlimit,
 * statvfs, stat, and sparsefs's virtual xattrs), and says whether it will fail
 * now, may fail later (SIGBUS, dropped write-back, OOM killer), or is safe.
 *
 * Exit status: 0 safe, 1 will fail now, 2 may fail later, 3 bad input.
 * Linked to libc only; reads the mount through stock interfaces, no back door.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "toolkit.h"

#define PAGE 4096ULL
#define EXIT_SAFE 0
#define EXIT_WILL_FAIL 1
#define EXIT_MAY_FAIL 2
#define EXIT_USAGE 3

/* Highest user address + 1 for a mapping made without a hint above it. */
#if defined(__x86_64__)
#define TASK_SIZE ((1ULL << 47) - PAGE)
#elif defined(__aarch64__) || defined(__riscv)
#define TASK_SIZE (1ULL << 47) /* 48-bit VA: 47 bits is what mmap hands out by default */
#else
#define TASK_SIZE (1ULL << 47)
#endif

#define MAX_NOTES 12

/* Everything the verdict is computed from; -1 (or NULL) = could not be read. */
struct facts {
	int64_t overcommit_memory, overcommit_ratio, overcommit_kbytes;
	int64_t commit_limit, committed_as; /* bytes */
	int64_t mem_total, swap_total, mem_available, swap_free; /* bytes */
	int64_t rlimit_as;  /* bytes, -1 = unlimited */
	int64_t vm_size;    /* this process's own address space, bytes */
	int64_t max_map_count, map_count;
	int64_t largest_gap; /* largest free address range in this process */
	/* --file */
	bool have_file;
	int64_t st_size, st_blocks_bytes;
	int64_t f_bavail, f_frsize, f_bsize; /* f_bavail in f_frsize units */
	bool sparsefs;
	int64_t sfs_length, sfs_data, sfs_reserved, sfs_overdraft;
	char sfs_policy[32];
	/* user.sparsefs.store, .store_where, .store_fstype, .store_shared, .data_path */
	char sfs_store[32], sfs_where[1024], sfs_fstype[64], sfs_shared[256], sfs_path[16];
	char root[PATH_MAX];
};

struct req {
	uint64_t size;
	const char *file;
	bool shared, write, noreserve, json;
};

struct result {
	int exit;
	const char *verdict;
	const char *why[MAX_NOTES];
	int nwhy;
	const char *advice[MAX_NOTES];
	int nadvice;
	char buf[MAX_NOTES * 2][256]; /* backing store for formatted notes */
	int nbuf;
};

static const char *prog = "sparsefs-check";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/* SIZE: decimal digits and an optional k/m/g/t/p suffix (1024-based), > 0. */
static bool parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return false;
	}
	if (*p) {
		const char *units = "kmgtp";
		const char *u = strchr(units, *p | 0x20);

		if (!u || !*u)
			return false;
		mul = 1ULL << (10 * (u - units + 1));
		p++;
		/* allow "KiB" / "KB" spellings too */
		if ((p[0] | 0x20) == 'i' && (p[1] | 0x20) == 'b')
			p += 2;
		else if ((p[0] | 0x20) == 'b')
			p++;
		if (*p)
			return false;
	}
	if (__builtin_mul_overflow(v, mul, &v) || v == 0)
		return false;
	*out = v;
	return true;
}

static int64_t read_int_file(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v;
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%lld", &v);
	fclose(f);
	return n == 1 ? (int64_t)v : -1;
}

static void read_meminfo(struct facts *fa)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char key[64];
	long long kb;

	if (!f)
		return;
	while (fscanf(f, "%63[^:]: %lld%*[^\n]\n", key, &kb) == 2) {
		int64_t b = (int64_t)kb * 1024;

		if (!strcmp(key, "CommitLimit"))
			fa->commit_limit = b;
		else if (!strcmp(key, "Committed_AS"))
			fa->committed_as = b;
		else if (!strcmp(key, "MemTotal"))
			fa->mem_total = b;
		else if (!strcmp(key, "SwapTotal"))
			fa->swap_total = b;
		else if (!strcmp(key, "MemAvailable"))
			fa->mem_available = b;
		else if (!strcmp(key, "SwapFree"))
			fa->swap_free = b;
	}
	fclose(f);
}

/* Own VmSize, map count and the largest hole in our address space below TASK_SIZE. */
static void read_self_maps(struct facts *fa)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long long lo, hi, prev;
	int64_t min_addr = read_int_file("/proc/sys/vm/mmap_min_addr");
	char line[512];

	if (!f)
		return;
	prev = min_addr > 0 ? (unsigned long long)min_addr : PAGE;
	fa->largest_gap = 0;
	fa->map_count = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx", &lo, &hi) != 2)
			continue;
		if (lo >= TASK_SIZE)
			break; /* vsyscall and friends */
		fa->map_count++;
		if (lo > prev && (int64_t)(lo - prev) > fa->largest_gap)
			fa->largest_gap = (int64_t)(lo - prev);
		if (hi > prev)
			prev = hi;
		/* a long line's tail: skip to its end */
		while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
			;
	}
	fclose(f);
	if (TASK_SIZE > prev && (int64_t)(TASK_SIZE - prev) > fa->largest_gap)
		fa->largest_gap = (int64_t)(TASK_SIZE - prev);

	f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		long long kb;

		if (sscanf(line, "VmSize: %lld", &kb) == 1)
			fa->vm_size = (int64_t)kb * 1024;
	}
	fclose(f);
}

/* A decimal sparsefs figure, or -1 (absent: not sparsefs; or unreadable). */
static int64_t xattr_num(const char *path, const char *name)
{
	uint64_t v;

	return tk_xattr_u64(-1, path, name, &v) == 1 && v <= INT64_MAX ? (int64_t)v : -1;
}

/* The mount root of path: walk up while st_dev stays the same. */
static void find_root(const char *path, char *root, size_t len)
{
	char cur[PATH_MAX], up[PATH_MAX + 4];
	struct stat st, pst;

	if (!realpath(path, cur) || stat(cur, &st) < 0) {
		snprintf(root, len, "%s", path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		char *slash = strrchr(cur, '/');

		if (slash == cur)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
	}
	for (;;) {
		char *slash;

		if (!strcmp(cur, "/"))
			break;
		snprintf(up, sizeof(up), "%s", cur);
		slash = strrchr(up, '/');
		if (slash == up)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(up, &pst) < 0 || pst.st_dev != st.st_dev)
			break;
		memcpy(cur, up, strlen(up) + 1); /* up is cur or shorter */
	}
	snprintf(root, len, "%s", cur);
}

static void read_file_facts(const struct req *rq, struct facts *fa)
{
	struct stat st;
	struct statvfs sv;
	char buf[32];

	if (stat(rq->file, &st) < 0)
		die("%s: %s", rq->file, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		die("%s: not a regular file", rq->file);
	if (statvfs(rq->file, &sv) < 0)
		die("%s: statvfs: %s", rq->file, strerror(errno));
	fa->have_file = true;
	fa->st_size = (int64_t)st.st_size;
	fa->st_blocks_bytes = (int64_t)st.st_blocks * 512;
	fa->f_bavail = (int64_t)sv.f_bavail;
	fa->f_frsize = (int64_t)(sv.f_frsize ? sv.f_frsize : sv.f_bsize);
	fa->f_bsize = (int64_t)sv.f_bsize;

	fa->sfs_length = xattr_num(rq->file, "length");
	if (fa->sfs_length < 0)
		return;
	fa->sparsefs = true;
	fa->sfs_data = xattr_num(rq->file, "data");
	fa->sfs_reserved = xattr_num(rq->file, "reserved");
	find_root(rq->file, fa->root, sizeof(fa->root));
	fa->sfs_overdraft = xattr_num(fa->root, "overdraft");
	if (tk_xattr_text(-1, fa->root, "policy", buf, sizeof(buf)) > 0)
		snprintf(fa->sfs_policy, sizeof(fa->sfs_policy), "%s", buf);
	tk_xattr_text(-1, fa->root, "store", fa->sfs_store, sizeof(fa->sfs_store));
	tk_xattr_text(-1, fa->root, "store_where", fa->sfs_where, sizeof(fa->sfs_where));
	tk_xattr_text(-1, fa->root, "store_fstype", fa->sfs_fstype, sizeof(fa->sfs_fstype));
	tk_xattr_text(-1, fa->root, "store_shared", fa->sfs_shared, sizeof(fa->sfs_shared));
	if (tk_xattr_text(-1, fa->root, "data_path", fa->sfs_path, sizeof(fa->sfs_path)) <= 0)
		snprintf(fa->sfs_path, sizeof(fa->sfs_path), "daemon");
	if (fa->sfs_data < 0 || fa->sfs_reserved < 0 || fa->sfs_overdraft < 0 || !fa->sfs_policy[0])
		die("%s: on sparsefs but its figures cannot be read (root %s)", rq->file, fa->root);
}

static void gather(const struct req *rq, struct facts *fa)
{
	struct rlimit rl;

	memset(fa, 0, sizeof(*fa));
	fa->commit_limit = fa->committed_as = fa->mem_total = fa->swap_total = -1;
	fa->mem_available = fa->swap_free = fa->vm_size = fa->map_count = fa->largest_gap = -1;
	fa->overcommit_memory = read_int_file("/proc/sys/vm/overcommit_memory");
	fa->overcommit_ratio = read_int_file("/proc/sys/vm/overcommit_ratio");
	fa->overcommit_kbytes = read_int_file("/proc/sys/vm/overcommit_kbytes");
	fa->max_map_count = read_int_file("/proc/sys/vm/max_map_count");
	read_meminfo(fa);
	read_self_maps(fa);
	fa->rlimit_as = -1;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		fa->rlimit_as = rl.rlim_cur > INT64_MAX ? INT64_MAX : (int64_t)rl.rlim_cur;
	if (rq->file)
		read_file_facts(rq, fa);
}

/* Human size, 1024-based: "1.0 TiB", "512 B". */
static const char *human(int64_t v, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = (double)v;
	int i = 0;

	if (v < 0) {
		snprintf(buf, len, "unknown");
		return buf;
	}
	while (d >= 1024 && i < 6) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRId64 " B", v);
	else
		snprintf(buf, len, "%.1f %s", d, u[i]);
	return buf;
}

static const char *note(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *note(struct result *r, const char *fmt, ...)
{
	va_list ap;
	char *b;

	if (r->nbuf >= (int)(sizeof(r->buf) / sizeof(r->buf[0])))
		return "(more)";
	b = r->buf[r->nbuf++];
	va_start(ap, fmt);
	vsnprintf(b, sizeof(r->buf[0]), fmt, ap);
	va_end(ap);
	return b;
}

static void why(struct result *r, const char *s)
{
	if (r->nwhy < MAX_NOTES)
		r->why[r->nwhy++] = s;
}

static void advise(struct result *r, const char *s)
{
	for (int i = 0; i < r->nadvice; i++)
		if (!strcmp(r->advice[i], s))
			return;
	if (r->nadvice < MAX_NOTES)
		r->advice[r->nadvice++] = s;
}

static void worsen(struct result *r, int code)
{
	/* WILL FAIL beats MAY FAIL LATER beats SAFE */
	static const int rank[] = {0, 2, 1};

	if (rank[code] > rank[r->exit])
		r->exit = code;
}

static const char *mode_name(int64_t m)
{
	return m == 0 ? "heuristic" : m == 1 ? "always" : m == 2 ? "never" : "unknown";
}

/*
 * Is the mapping charged to the commit limit (mm/mmap.c accountable_mapping, and
 * shmem_zero_setup for anonymous shared maps)? MAP_NORESERVE is honoured except in
 * mode 2.
 */
static bool charged(const struct req *rq, const struct facts *fa)
{
	bool noreserve = rq->noreserve && fa->overcommit_memory != 2;

	if (noreserve)
		return false;
	if (!rq->file && rq->shared)
		return true; /* shmem_acct_size, whatever the protection */
	return !rq->shared && rq->write;
}

static void judge(const struct req *rq, const struct facts *fa, struct result *r)
{
	char h1[32], h2[32], h3[32];
	int64_t size = (int64_t)rq->size;
	uint64_t pages_bytes = (rq->size + PAGE - 1) / PAGE * PAGE;
	int64_t mem_avail = -1;
	bool file_write = rq->file && rq->shared && rq->write;

	r->exit = EXIT_SAFE;

	/* do_mmap: len beyond TASK_SIZE, then no free range large enough */
	if (pages_bytes > TASK_SIZE) {
		worsen(r, EXIT_WILL_FAIL);
		why(r, note(r, "%s is more than the %s user address space (47-bit): mmap fails with ENOMEM",
			     human(size, h1, sizeof(h1)), human((int64_t)TASK_SIZE, h2, sizeof(h2))));
		advise(r, "map a smaller window and move it (mmap/munmap at increasing offsets)");
	} else if (fa->largest_gap >= 0 && (int64_t)pages_bytes > fa->largest_gap) {
		worsen(r, EXIT_WILL_FAIL);
		why(r, note(r, "%s is more than the largest free address range of a small process (%s): ENOMEM",
			     human(size, h1, sizeof(h1)), human(fa->largest_gap, h2, sizeof(h2))));
		advise(r, "map a smaller window and move it (mmap/munmap at increasing offsets)");
	}

	/* mmap_region: may_expand_vm (RLIMIT_AS) */
	if (fa->rlimit_as >= 0) {
		int64_t base = fa->vm_size > 0 ? fa->vm_size : 0;

		if ((int64_t)pages_bytes > fa->rlimit_as - base) {
			worsen(r, EXIT_WILL_FAIL);
			why(r, note(r, "RLIMIT_AS (ulimit -v) is %s and even a process as small as this one (%s) "
				       "has less than %s of it left: ENOMEM",
				     human(fa->rlimit_as, h1, sizeof(h1)), human(base, h2, sizeof(h2)),
				     human(size, h3, sizeof(h3))));
			advise(r, "raise the address-space limit (ulimit -v / setrlimit RLIMIT_AS) or map less");
		}
	}

	if (fa->max_map_count >= 0 && fa->map_count >= 0 && fa->map_count >= fa->max_map_count) {
		worsen(r, EXIT_WILL_FAIL);
		why(r, note(r, "vm.max_map_count (%" PRId64 ") is already reached", fa->max_map_count));
	}

	/* __vm_enough_memory */
	if (charged(rq, fa)) {
		if (fa->overcommit_memory == 2 && fa->commit_limit >= 0 && fa->committed_as >= 0) {
			int64_t room = fa->commit_limit - fa->committed_as;

			if ((int64_t)pages_bytes > room) {
				worsen(r, EXIT_WILL_FAIL);
				why(r, note(r, "overcommit_memory=2 (never): Committed_AS %s + %s exceeds CommitLimit %s: ENOMEM",
					     human(fa->committed_as, h1, sizeof(h1)), human(size, h2, sizeof(h2)),
					     human(fa->commit_limit, h3, sizeof(h3))));
				advise(r, "MAP_SHARED of a file (a shared file map is not charged to the commit limit)");
				if (rq->write && !rq->shared)
					advise(r, "PROT_READ if you only read (a read-only private map is not charged)");
			} else {
				why(r, note(r, "overcommit_memory=2 (never): charged %s of the %s left under CommitLimit; "
					       "the memory is promised, touching it cannot OOM-kill for lack of commit",
					     human(size, h1, sizeof(h1)), human(room, h2, sizeof(h2))));
			}
		} else if (fa->overcommit_memory == 0 && fa->mem_total >= 0) {
			int64_t total = fa->mem_total + (fa->swap_total > 0 ? fa->swap_total : 0);

			if ((int64_t)pages_bytes > total) {
				worsen(r, EXIT_WILL_FAIL);
				why(r, note(r, "overcommit_memory=0 (heuristic): %s is more than RAM + swap (%s): ENOMEM",
					     human(size, h1, sizeof(h1)), human(total, h2, sizeof(h2))));
				advise(r, "MAP_NORESERVE (mode 0 then skips the check; pages still come at touch time)");
				advise(r, "MAP_SHARED of a file (a shared file map is not charged to the commit limit)");
				if (rq->write && !rq->shared)
					advise(r, "PROT_READ if you only read (a read-only private map is not charged)");
			}
		}
	}

	if (r->exit == EXIT_WILL_FAIL)
		goto out; /* what could go wrong later is moot */

	/* What can go wrong after mmap succeeded: anonymous / private memory */
	if (fa->mem_available >= 0)
		mem_avail = fa->mem_available + (fa->swap_free > 0 ? fa->swap_free : 0);
	if (rq->write && (!rq->shared || !rq->file) && fa->overcommit_memory != 2) {
		worsen(r, EXIT_MAY_FAIL);
		if (mem_avail >= 0 && (int64_t)pages_bytes > mem_avail)
			why(r, note(r, "overcommit_memory=%" PRId64 " (%s): memory is taken at touch time and "
				       "%s is more than is available now (%s): touching it all gets the process OOM-killed",
				     fa->overcommit_memory, mode_name(fa->overcommit_memory), human(size, h1, sizeof(h1)),
				     human(mem_avail, h2, sizeof(h2))));
		else
			why(r, note(r, "overcommit_memory=%" PRId64 " (%s): memory is taken at touch time, not reserved; "
				       "%s fits in what is available now (%s) but the OOM killer may strike if others take it",
				     fa->overcommit_memory, mode_name(fa->overcommit_memory), human(size, h1, sizeof(h1)),
				     human(mem_avail, h2, sizeof(h2))));
		advise(r, "MAP_SHARED of a file fallocated first on sparsefs, instead of a private writable map");
		if (!rq->shared)
			advise(r, "PROT_READ if you only read (a read-only private map is not charged)");
	}

	/* Files: pages past EOF, and holes filled at write-back */
	if (rq->file) {
		int64_t eof_pages = (fa->st_size + (int64_t)PAGE - 1) / (int64_t)PAGE * (int64_t)PAGE;
		int64_t in_file = size < fa->st_size ? size : fa->st_size;

		if ((int64_t)pages_bytes > eof_pages) {
			worsen(r, EXIT_MAY_FAIL);
			why(r, note(r, "the file is %s long: touching the map past its end gives SIGBUS",
				     human(fa->st_size, h1, sizeof(h1))));
			advise(r, note(r, "extend it first: fallocate -l %" PRIu64 " %s (or ftruncate)", rq->size, rq->file));
		}
		if (file_write && fa->sparsefs) {
			int64_t backed = fa->sfs_reserved + fa->sfs_data;
			int64_t holes = in_file - backed;
			int64_t room = fa->f_bavail * fa->f_frsize + fa->sfs_overdraft;

			if (!strcmp(fa->sfs_policy, "never")) {
				why(r, note(r, "sparsefs with overcommit=never: every byte of the file's length is reserved; "
					       "write-back cannot be dropped"));
			} else if (holes <= 0) {
				why(r, note(r, "sparsefs: the file holds %s reserved + data, covering the %s mapped: "
					       "write-back cannot be dropped",
					     human(backed, h1, sizeof(h1)), human(in_file, h2, sizeof(h2))));
			} else if (!strcmp(fa->sfs_path, "kernel")) {
				/* The kernel serves the map: a hole is filled at the write fault. */
				worsen(r, EXIT_MAY_FAIL);
				why(r, note(r, "sparsefs (kernel path, overcommit=%s): %s of the map are holes, filled at "
					       "the write fault from the %s free now; a full mount gives SIGBUS there",
					     fa->sfs_policy, human(holes, h1, sizeof(h1)), human(room, h2, sizeof(h2))));
				if (fa->sfs_shared[0])
					why(r, note(r, "sparsefs keeps its pages in the %s store (%s): %s take the room "
						       "that is not reserved", fa->sfs_store,
						     strcmp(fa->sfs_where, "-") ? fa->sfs_where : fa->sfs_fstype,
						     fa->sfs_shared));
				advise(r, note(r, "reserve first: fallocate -l %" PRIu64 " %s (then no fault can fail)",
					       rq->size, rq->file));
			} else {
				worsen(r, EXIT_MAY_FAIL);
				if (holes > room)
					why(r, note(r, "sparsefs (overcommit=%s): %s of the map are holes, filled only at write-back, "
						       "and only %s is free to it (f_bavail + overdraft): writing it all loses pages "
						       "(msync/fsync report ENOSPC, the pages read back as zeros)",
						     fa->sfs_policy, human(holes, h1, sizeof(h1)), human(room, h2, sizeof(h2))));
				else
					why(r, note(r, "sparsefs (overcommit=%s): %s of the map are holes, filled only at write-back; "
						       "%s is free now (f_bavail + overdraft) but not reserved: if others take it, "
						       "write-back is dropped (msync ENOSPC)",
						     fa->sfs_policy, human(holes, h1, sizeof(h1)), human(room, h2, sizeof(h2))));
				if (fa->sfs_shared[0] && strcmp(fa->sfs_where, "-"))
					why(r, note(r, "sparsefs keeps its pages in the %s store at %s (%s): %s take "
						       "the room that is not reserved", fa->sfs_store, fa->sfs_where,
						     fa->sfs_fstype, fa->sfs_shared));
				advise(r, note(r, "reserve first: fallocate -l %" PRIu64 " %s (then write-back cannot fail)",
					       rq->size, rq->file));
				advise(r, "mount sparsefs with -o overcommit=never (every byte of length is reserved)");
				advise(r, "check msync(MS_SYNC) and fsync return values: a dropped page is reported there once");
			}
		} else if (file_write) {
			int64_t holes = in_file - fa->st_blocks_bytes;
			int64_t room = fa->f_bavail * fa->f_frsize;

			if (holes > 0) {
				worsen(r, EXIT_MAY_FAIL);
				why(r, note(r, "about %s of the map are holes (st_blocks); the filesystem allocates them at the "
					       "write fault, and with %s free a full disk gives SIGBUS there",
					     human(holes, h1, sizeof(h1)), human(room, h2, sizeof(h2))));
				advise(r, note(r, "allocate first: fallocate -l %" PRIu64 " %s (posix_fallocate)", rq->size,
					       rq->file));
			} else {
				why(r, note(r, "the file's blocks (%s) cover the map: the write faults allocate nothing",
					     human(fa->st_blocks_bytes, h1, sizeof(h1))));
			}
		}
		if (!rq->write)
			why(r, "PROT_READ: nothing is charged and nothing needs space");
		else if (!rq->shared && rq->write)
			why(r, "MAP_PRIVATE: writes go to private copies in memory, never to the file");
	} else if (!rq->write && r->exit == EXIT_SAFE) {
		why(r, "PROT_READ anonymous map: reads see the zero page, nothing needs memory");
	}

out:
	if (r->exit == EXIT_SAFE && r->nwhy == 0)
		why(r, "nothing in the request is charged or needs space");
	r->verdict = r->exit == EXIT_SAFE ? "SAFE" : r->exit == EXIT_WILL_FAIL ? "WILL FAIL" : "MAY FAIL LATER";
}

static void json_num(const char *key, int64_t v, bool last)
{
	printf("\"%s\":", key);
	if (v < 0)
		printf("null");
	else
		printf("%" PRId64, v);
	if (!last)
		putchar(',');
}

static void json_list(const char *key, const char *const *v, int n)
{
	printf("\"%s\":[", key);
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		tk_json_string(v[i]);
	}
	putchar(']');
}

static void print_json(const struct req *rq, const struct facts *fa, const struct result *r)
{
	printf("{\"verdict\":");
	tk_json_string(r->verdict);
	printf(",\"exit\":%d,\"request\":{\"size\":%" PRIu64 ",\"file\":", r->exit, rq->size);
	if (rq->file)
		tk_json_string(rq->file);
	else
		printf("null");
	printf(",\"shared\":%s,\"write\":%s,\"noreserve\":%s},\"facts\":{", rq->shared ? "true" : "false",
	       rq->write ? "true" : "false", rq->noreserve ? "true" : "false");
	json_num("overcommit_memory", fa->overcommit_memory, false);
	json_num("overcommit_ratio", fa->overcommit_ratio, false);
	json_num("overcommit_kbytes", fa->overcommit_kbytes, false);
	json_num("commit_limit", fa->commit_limit, false);
	json_num("committed_as", fa->committed_as, false);
	json_num("mem_total", fa->mem_total, false);
	json_num("swap_total", fa->swap_total, false);
	json_num("mem_available", fa->mem_available, false);
	json_num("swap_free", fa->swap_free, false);
	json_num("rlimit_as", fa->rlimit_as, false);
	json_num("vm_size", fa->vm_size, false);
	json_num("max_map_count", fa->max_map_count, false);
	json_num("task_size", (int64_t)TASK_SIZE, false);
	json_num("largest_gap", fa->largest_gap, false);
	printf("\"file\":");
	if (!fa->have_file) {
		printf("null");
	} else {
		printf("{");
		json_num("st_size", fa->st_size, false);
		json_num("st_blocks_bytes", fa->st_blocks_bytes, false);
		json_num("f_bavail", fa->f_bavail, false);
		json_num("f_frsize", fa->f_frsize, false);
		json_num("f_bsize", fa->f_bsize, false);
		printf("\"sparsefs\":");
		if (!fa->sparsefs) {
			printf("null");
		} else {
			printf("{\"root\":");
			tk_json_string(fa->root);
			printf(",\"policy\":");
			tk_json_string(fa->sfs_policy);
			printf(",\"store\":");
			tk_json_string(fa->sfs_store);
			printf(",\"store_path\":");
			tk_json_string(fa->sfs_where);
			printf(",\"store_fstype\":");
			tk_json_string(fa->sfs_fstype);
			printf(",\"data_path\":");
			tk_json_string(fa->sfs_path);
			printf(",");
			json_num("overdraft", fa->sfs_overdraft, false);
			json_num("length", fa->sfs_length, false);
			json_num("data", fa->sfs_data, false);
			json_num("reserved", fa->sfs_reserved, true);
			printf("}");
		}
		printf("}");
	}
	printf("},");
	json_list("reasons", r->why, r->nwhy);
	putchar(',');
	json_list("advice", r->advice, r->nadvice);
	printf("}\n");
}

static void print_human(const struct req *rq, const struct facts *fa, const struct result *r)
{
	char h1[32], h2[32], h3[32], h4[32];

	printf("%s: a %s %s map of %s (%" PRIu64 " bytes)%s", r->verdict, rq->shared ? "MAP_SHARED" : "MAP_PRIVATE",
	       rq->write ? "PROT_READ|PROT_WRITE" : "PROT_READ", human((int64_t)rq->size, h1, sizeof(h1)), rq->size,
	       rq->noreserve ? " with MAP_NORESERVE" : "");
	if (rq->file)
		printf(" of %s\n", rq->file);
	else
		printf(", anonymous\n");
	for (int i = 0; i < r->nwhy; i++)
		printf("  - %s\n", r->why[i]);
	printf("facts:\n");
	printf("  overcommit_memory  %" PRId64 " (%s), ratio %" PRId64 "%%, kbytes %" PRId64 "\n", fa->overcommit_memory,
	       mode_name(fa->overcommit_memory), fa->overcommit_ratio, fa->overcommit_kbytes);
	printf("  CommitLimit        %s, Committed_AS %s\n", human(fa->commit_limit, h1, sizeof(h1)),
	       human(fa->committed_as, h2, sizeof(h2)));
	printf("  RAM + swap         %s + %s (available now %s + %s)\n", human(fa->mem_total, h1, sizeof(h1)),
	       human(fa->swap_total, h2, sizeof(h2)), human(fa->mem_available, h3, sizeof(h3)),
	       human(fa->swap_free, h4, sizeof(h4)));
	printf("  RLIMIT_AS          %s\n", fa->rlimit_as < 0 ? "unlimited" : human(fa->rlimit_as, h1, sizeof(h1)));
	printf("  address space      %s (largest free range here %s); max_map_count %" PRId64 "\n",
	       human((int64_t)TASK_SIZE, h1, sizeof(h1)), human(fa->largest_gap, h2, sizeof(h2)), fa->max_map_count);
	if (fa->have_file) {
		printf("  file               length %s, allocated %s (st_blocks)\n", human(fa->st_size, h1, sizeof(h1)),
		       human(fa->st_blocks_bytes, h2, sizeof(h2)));
		printf("  filesystem         %s available (f_bavail %" PRId64 " x %" PRId64 ")\n",
		       human(fa->f_bavail * fa->f_frsize, h1, sizeof(h1)), fa->f_bavail, fa->f_frsize);
		if (fa->sparsefs) {
			printf("  sparsefs           mount %s, overcommit=%s, overdraft %s\n", fa->root, fa->sfs_policy,
			       human(fa->sfs_overdraft, h1, sizeof(h1)));
			printf("  sparsefs file      data %s, reserved %s\n", human(fa->sfs_data, h1, sizeof(h1)),
			       human(fa->sfs_reserved, h2, sizeof(h2)));
			printf("  sparsefs store     %s%s%s (%s), %s path\n", fa->sfs_store,
			       strcmp(fa->sfs_where, "-") ? " at " : "",
			       strcmp(fa->sfs_where, "-") ? fa->sfs_where : "", fa->sfs_fstype,
			       fa->sfs_path);
		} else {
			printf("  sparsefs           no (not a sparsefs mount)\n");
		}
	}
	if (r->nadvice) {
		printf("what to do instead:\n");
		for (int i = 0; i < r->nadvice; i++)
			printf("  - %s\n", r->advice[i]);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s SIZE [--file PATH] [--private|--shared] [--write] [--noreserve] [--json]\n"
		   "  SIZE in bytes, or with a k/m/g/t/p suffix (1024-based)\n"
		   "exit status: 0 safe, 1 will fail now, 2 may fail later, 3 bad input\n",
		prog);
}

int main(int argc, char **argv)
{
	struct req rq = {0};
	struct facts fa;
	struct result r;
	const char *size_arg = NULL;
	int shared = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--file")) {
			if (++i >= argc)
				die("--file needs a PATH");
			rq.file = argv[i];
		} else if (!strncmp(a, "--file=", 7)) {
			rq.file = a + 7;
		} else if (!strcmp(a, "--private")) {
			shared = 0;
		} else if (!strcmp(a, "--shared")) {
			shared = 1;
		} else if (!strcmp(a, "--write")) {
			rq.write = true;
		} else if (!strcmp(a, "--noreserve")) {
			rq.noreserve = true;
		} else if (!strcmp(a, "--json")) {
			rq.json = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1]) {
			die("unknown option '%s' (try --help)", a);
		} else if (size_arg) {
			die("one SIZE only ('%s' and '%s')", size_arg, a);
		} else {
			size_arg = a;
		}
	}
	if (!size_arg)
		die("missing SIZE (try --help)");
	if (!parse_size(size_arg, &rq.size))
		die("bad SIZE '%s': want a positive number of bytes, optionally with k/m/g/t/p", size_arg);
	if (rq.file && !rq.file[0])
		die("--file needs a PATH");
	/* a file is mapped shared unless asked otherwise; anonymous memory private */
	rq.shared = shared < 0 ? rq.file != NULL : shared == 1;

	gather(&rq, &fa);
	memset(&r, 0, sizeof(r));
	judge(&rq, &fa, &r);
	if (rq.json)
		print_json(&rq, &fa, &r);
	else
		print_human(&rq, &fa, &r);
	return r.exit;
}
