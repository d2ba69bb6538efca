/* SPDX-License-Identifier: MIT */
/*
 * The disk store: pages live in one pool file on the filesystem that holds
 * the directory given (-o backing=DIR). The file has no name (O_TMPFILE, or
 * created and unlinked at once where the filesystem has no O_TMPFILE), so it
 * goes with the daemon however the daemon ends, kill -9 included.
 *
 * Slot s is bytes [(s - 1) * 4096, s * 4096) of the pool. Backing a page is
 * fallocate(2) of its slot: real blocks, so that writing it later needs no
 * new space even when another process has filled the disk meanwhile.
 *
 *   pool:  [slot 1][slot 2][slot 3][ hole ][slot 5]...[slot next-1] | unused
 *            file 7   file 7  cache   punched  file 9
 *
 * A slot given back goes to a cache of free slots that keep their blocks (at
 * most CACHE_MAX, 64 MiB: counted as backing), or is punched, its blocks
 * returned to the filesystem, and its number kept on a stack of free runs.
 * New slots come from the cache, then the runs, then the end of the pool.
 *
 * The daemon runs as root, which may eat the filesystem's reserve for root:
 * every call that needs new blocks first checks f_bavail, which excludes it.
 * A copy-on-write filesystem (btrfs) may still need space to overwrite an
 * allocated block: a write there can fail with ENOSPC, which is passed on.
 */
#include "store.h"
#include "kfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE_SIZE SFS_PAGE_SIZE
#define CACHE_MAX 16384u /* free slots that keep their blocks: 64 MiB */
#define IOV_BATCH 64
/*
 * A write of at least STREAM_MIN contiguous bytes is streaming: its pages
 * are sent to the disk at once, and those written DROP_BEHIND earlier are
 * dropped from the pool's page cache. The kernel's page cache of the sparsefs
 * file above holds the same bytes: two copies of a big file would halve what
 * memory can cache and make reclaim, not the disk, the limit.
 */
#define STREAM_MIN (256u << 10)
#define DROP_BEHIND ((off_t)32 << 20)

struct slot_run {
	uintptr_t start;
	size_t n;
};

struct disk_store {
	struct store base;
	int fd;                 /* the pool */
	char *dir;              /* as resolved at mount */
	char fstype[64];        /* of the filesystem holding dir */
	pthread_mutex_t lock;
	uintptr_t next;         /* [lock] slots below it have been handed out */
	uintptr_t *cache;       /* [lock] free slots with blocks, CACHE_MAX room */
	size_t ncache;          /* [lock] */
	struct slot_run *runs;  /* [lock] punched free slots */
	size_t nruns, runs_cap; /* [lock] */
};

static off_t offset_of(uintptr_t slot)
{
	return (off_t)(slot - 1) * PAGE_SIZE;
}

static int io_errno(int err)
{
	return err == ENOSPC || err == EDQUOT ? -ENOSPC : err == ENOMEM ? -ENOMEM : -EIO;
}

/* The filesystem's free pages for an unprivileged writer (no root reserve). */
static uint64_t fs_avail(const struct disk_store *ds)
{
	struct statvfs sv;

	if (fstatvfs(ds->fd, &sv))
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize / PAGE_SIZE;
}

static bool push_run(struct disk_store *ds, uintptr_t start, size_t n)
{
	if (ds->nruns && ds->runs[ds->nruns - 1].start + ds->runs[ds->nruns - 1].n == start) {
		ds->runs[ds->nruns - 1].n += n;
		return true;
	}
	if (ds->nruns == ds->runs_cap) {
		size_t cap = ds->runs_cap ? 2 * ds->runs_cap : 64;
		struct slot_run *moved = realloc(ds->runs, cap * sizeof(*moved));

		if (!moved)
			return false;
		ds->runs = moved;
		ds->runs_cap = cap;
	}
	ds->runs[ds->nruns++] = (struct slot_run){ start, n };
	return true;
}

/*
 * Slots for n pages: from the cache first (*cached of them, at the front of
 * slots; their blocks are there), then from free runs or the pool's end.
 * Lock held; cannot fail (a run is only shortened, never split).
 */
static void take_slots(struct disk_store *ds, size_t n, uintptr_t *slots, size_t *cached)
{
	size_t k = 0;

	while (k < n && ds->ncache)
		slots[k++] = ds->cache[--ds->ncache];
	*cached = k;
	while (k < n && ds->nruns) {
		struct slot_run *r = &ds->runs[ds->nruns - 1];

		while (k < n && r->n) {
			slots[k++] = r->start++;
			r->n--;
		}
		if (!r->n)
			ds->nruns--;
	}
	while (k < n)
		slots[k++] = ds->next++;
}

/* Slots back where take_slots found them; lock held. */
static void return_slots(struct disk_store *ds, const uintptr_t *slots, size_t n, size_t cached)
{
	for (size_t k = 0; k < cached; k++)
		ds->cache[ds->ncache++] = slots[k];
	for (size_t k = n; k-- > cached;) {
		if (slots[k] == ds->next - 1)
			ds->next--;
		else
			push_run(ds, slots[k], 1); /* on ENOMEM the slot is only lost */
	}
}

/* Calls fn on each run of consecutive slots in slots[0..n). */
static int for_runs(const uintptr_t *slots, size_t n, int (*fn)(void *, uintptr_t, size_t),
		    void *arg)
{
	for (size_t i = 0, j; i < n; i = j) {
		int ret;

		for (j = i + 1; j < n && slots[j] == slots[j - 1] + 1; j++)
			;
		ret = fn(arg, slots[i], j - i);
		if (ret)
			return ret;
	}
	return 0;
}

static int allocate_run(void *arg, uintptr_t start, size_t n)
{
	struct disk_store *ds = arg;

	if (fallocate(ds->fd, 0, offset_of(start), (off_t)n * PAGE_SIZE))
		return io_errno(errno);
	return 0;
}

static int punch_run(void *arg, uintptr_t start, size_t n)
{
	struct disk_store *ds = arg;

	/* Failing, the blocks only stay allocated: nothing is lost. */
	fallocate(ds->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset_of(start),
		  (off_t)n * PAGE_SIZE);
	return 0;
}

static int disk_back(struct store *st, uint64_t key, uint64_t idx, size_t n, uintptr_t *slots)
{
	struct disk_store *ds = (struct disk_store *)st;
	size_t cached;
	int ret = 0;

	(void)key;
	(void)idx;
	pthread_mutex_lock(&ds->lock);
	take_slots(ds, n, slots, &cached);
	pthread_mutex_unlock(&ds->lock);
	if (cached < n) {
		/* New blocks: never from the reserve for root. */
		if (fs_avail(ds) < n - cached)
			ret = -ENOSPC;
		else
			ret = for_runs(slots + cached, n - cached, allocate_run, ds);
		if (ret) {
			/* A failed fallocate may have allocated part of the range. */
			for_runs(slots + cached, n - cached, punch_run, ds);
			pthread_mutex_lock(&ds->lock);
			return_slots(ds, slots, n, cached);
			pthread_mutex_unlock(&ds->lock);
		}
	}
	return ret;
}

static void disk_unback(struct store *st, uint64_t key, uint64_t idx, size_t n,
			const uintptr_t *slots)
{
	struct disk_store *ds = (struct disk_store *)st;
	size_t keep;

	(void)key;
	(void)idx;
	pthread_mutex_lock(&ds->lock);
	keep = CACHE_MAX - ds->ncache < n ? CACHE_MAX - ds->ncache : n;
	memcpy(ds->cache + ds->ncache, slots, keep * sizeof(*slots));
	ds->ncache += keep;
	pthread_mutex_unlock(&ds->lock);
	if (keep == n)
		return;
	for_runs(slots + keep, n - keep, punch_run, ds);
	pthread_mutex_lock(&ds->lock);
	for (size_t k = keep; k < n; k++)
		push_run(ds, slots[k], 1); /* on ENOMEM the slot number is only lost */
	pthread_mutex_unlock(&ds->lock);
}

/*
 * Segments whose bytes lie next to each other in the pool go in one
 * pwritev/preadv (a sequential write is one call per request).
 */
static int transfer(struct disk_store *ds, const struct store_seg *segs, size_t n, bool out)
{
	for (size_t i = 0, j; i < n; i = j) {
		struct iovec iov[IOV_BATCH];
		off_t at = offset_of(segs[i].slot) + segs[i].off;
		size_t total = 0, done = 0;

		for (j = i; j < n && j - i < IOV_BATCH; j++) {
			if (j > i && offset_of(segs[j].slot) + segs[j].off != at + (off_t)total)
				break;
			iov[j - i] = (struct iovec){ segs[j].buf, segs[j].len };
			total += segs[j].len;
		}
		while (done < total) {
			struct iovec rest[IOV_BATCH];
			size_t skip = done, cnt = 0;
			ssize_t got;

			for (size_t k = 0; k < j - i; k++) {
				if (skip >= iov[k].iov_len) {
					skip -= iov[k].iov_len;
					continue;
				}
				rest[cnt++] = (struct iovec){ (char *)iov[k].iov_base + skip,
							      iov[k].iov_len - skip };
				skip = 0;
			}
			got = out ? pwritev(ds->fd, rest, (int)cnt, at + (off_t)done)
				  : preadv(ds->fd, rest, (int)cnt, at + (off_t)done);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return io_errno(errno);
			if (got == 0) {
				if (out)
					return -EIO;
				/* Past the pool's end: never written, reads zeros. */
				for (size_t k = 0; k < cnt; k++)
					memset(rest[k].iov_base, 0, rest[k].iov_len);
				break;
			}
			done += (size_t)got;
		}
		if (out && total >= STREAM_MIN) {
			sync_file_range(ds->fd, at, (off_t)total, SYNC_FILE_RANGE_WRITE);
			if (at >= DROP_BEHIND)
				posix_fadvise(ds->fd, at - DROP_BEHIND, (off_t)total,
					      POSIX_FADV_DONTNEED);
		}
	}
	return 0;
}

static int disk_write(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	(void)key;
	return transfer((struct disk_store *)st, segs, n, true);
}

static int disk_read(struct store *st, uint64_t key, const struct store_seg *segs, size_t n)
{
	(void)key;
	return transfer((struct disk_store *)st, segs, n, false);
}

static uint64_t disk_backing_free(struct store *st)
{
	struct disk_store *ds = (struct disk_store *)st;
	size_t cached;

	pthread_mutex_lock(&ds->lock);
	cached = ds->ncache;
	pthread_mutex_unlock(&ds->lock);
	return fs_avail(ds) + cached;
}

/* N% is of the filesystem's size; the default, what it has available now. */
static int disk_size(struct store *st, struct store_size *out)
{
	struct disk_store *ds = (struct disk_store *)st;
	struct statvfs sv;

	if (fstatvfs(ds->fd, &sv))
		return -errno;
	out->pct_base = (uint64_t)sv.f_blocks * sv.f_frsize;
	out->default_bytes = (uint64_t)sv.f_bavail * sv.f_frsize / PAGE_SIZE * PAGE_SIZE;
	return 0;
}

static void disk_about(struct store *st, struct store_about *out)
{
	struct disk_store *ds = (struct disk_store *)st;

	out->where = ds->dir;
	out->fstype = ds->fstype;
	out->shared = "the filesystem that holds it, which other processes write to";
}

static void disk_destroy(struct store *st)
{
	struct disk_store *ds = (struct disk_store *)st;

	close(ds->fd);
	free(ds->cache);
	free(ds->runs);
	free(ds->dir);
	pthread_mutex_destroy(&ds->lock);
	free(ds);
}

static const struct store_ops disk_ops = {
	.name = "disk",
	.back = disk_back,
	.unback = disk_unback,
	.write = disk_write,
	.read = disk_read,
	.backing_free = disk_backing_free,
	.size = disk_size,
	.about = disk_about,
	.destroy = disk_destroy,
};

void store_fstype(dev_t dev, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];

	snprintf(out, size, "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		char *sep, type[64];

		if (sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2 || makedev(maj, min) != dev)
			continue;
		sep = strstr(line, " - ");
		if (sep && sscanf(sep + 3, "%63s", type) == 1)
			snprintf(out, size, "%s", type);
	}
	fclose(f);
}

/* An unnamed file in dir: O_TMPFILE, or a name removed at once. -errno. */
static int open_pool(const char *dir)
{
	char *path;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	if (asprintf(&path, "%s/.sparsefs-pool-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd >= 0 ? fd : -errno;
}

static void *say(const char *dir, const char *what)
{
	fprintf(stderr, "sparsefs: backing %s: %s\n", dir, what);
	return NULL;
}

struct store *store_disk_create(const char *dir)
{
	struct disk_store *ds;
	struct stat st;
	char *real;
	int fd;

	if (stat(dir, &st))
		return say(dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return say(dir, strerror(ENOTDIR));
	real = realpath(dir, NULL);
	if (!real)
		return say(dir, strerror(errno));
	ds = calloc(1, sizeof(*ds));
	if (!ds || !(ds->cache = malloc(CACHE_MAX * sizeof(*ds->cache)))) {
		free(ds);
		free(real);
		return say(dir, strerror(ENOMEM));
	}
	ds->base.ops = &disk_ops;
	ds->dir = real;
	ds->next = 1;
	pthread_mutex_init(&ds->lock, NULL);
	store_fstype(st.st_dev, ds->fstype, sizeof(ds->fstype));
	ds->fd = -1;
	if (strcmp(ds->fstype, "fuse.sparsefs") == 0) {
		say(dir, "is on a sparsefs mount: give a directory on a real filesystem");
		goto out_free;
	}
	fd = open_pool(real);
	if (fd < 0) {
		say(dir, -fd == EACCES || -fd == EPERM || -fd == EROFS
				 ? "not writable"
				 : strerror(-fd));
		goto out_free;
	}
	ds->fd = fd;
	/* Reservations need fallocate, giving space back needs hole punching. */
	if (fallocate(fd, 0, 0, PAGE_SIZE)) {
		say(dir, errno == EOPNOTSUPP ? "the filesystem cannot allocate blocks (fallocate)"
					      : strerror(errno));
		goto out_free;
	}
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE_SIZE)) {
		say(dir, errno == EOPNOTSUPP ? "the filesystem cannot punch holes"
					      : strerror(errno));
		goto out_free;
	}
	if (ftruncate(fd, 0)) {
		say(dir, strerror(errno));
		goto out_free;
	}
	return &ds->base;

out_free:
	disk_destroy(&ds->base);
	return NULL;
}

static struct store *disk_kind_create(const char *where, const struct store_args *args)
{
	(void)args;
	return store_disk_create(where);
}

static struct kstore *disk_kind_kernel(const char *where, uint64_t capacity_bytes)
{
	(void)capacity_bytes; /* the daemon bounds its own fallocate (inode.c) */
	return kstore_disk(where);
}

const struct store_kind store_kind_disk = {
	.name = "disk",
	.syntax = "DIR",
	.any_path = true,
	.help = "a private pool (the kernel path: private files) on the filesystem of DIR",
	.options = (const struct store_option[]){ { NULL, NULL } },
	.create = disk_kind_create,
	.create_kernel = disk_kind_kernel,
};
