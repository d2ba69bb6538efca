/* SPDX-License-Identifier: MIT */
#include "kfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "page.h"
#include "store.h"

#define PAGE_SIZE SFS_PAGE_SIZE
#define PRIVATE_PREFIX ".sparsefs-kernel."
/* A fallocate the filesystem does not undo itself goes in chunks this big. */
#define CHUNK ((uint64_t)1 << 30)
/* One the filesystem undoes itself is made killable from this big (tmpfs
 * populates some 2 GiB a second: 30 ms uninterruptible at most). */
#define KILLABLE_MIN ((uint64_t)64 << 20)

static void name_of(char *buf, size_t len, uint64_t key)
{
	snprintf(buf, len, "%016" PRIx64, key);
}

static struct kstore *kstore_new(void)
{
	struct kstore *ks = calloc(1, sizeof(*ks));

	/*
	 * kfile_in_use holds a write lease for an instant. Should another process
	 * open the file in that instant (a disk store's files are anyone's to
	 * open), the kernel breaks the lease with SIGIO, whose default action
	 * ends the daemon: it is ignored (the opener waits out the instant).
	 */
	signal(SIGIO, SIG_IGN);
	if (ks) {
		ks->dirfd = -1;
		ks->parentfd = -1;
	}
	return ks;
}

struct kstore *kstore_memory(uint64_t capacity_bytes)
{
	struct kstore *ks = kstore_new();
	char size[32];
	int fsfd, err;

	if (!ks)
		return NULL;
	fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fsfd < 0)
		goto out_free;
	snprintf(size, sizeof(size), "%" PRIu64, capacity_bytes);
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, "size", size, 0) ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "nr_inodes", "0", 0) ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0700", 0) ||
	    fsconfig(fsfd, FSCONFIG_SET_STRING, "huge", "never", 0) ||
	    fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		goto out_close;
	/* Mounted nowhere: the descriptor is the only way in. */
	ks->dirfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (ks->dirfd < 0)
		goto out_close;
	close(fsfd);
	ks->memory = true;
	ks->self_undo = true;
	snprintf(ks->fstype, sizeof(ks->fstype), "tmpfs");
	ks->shared = "the machine's memory, which other processes use too";
	ks->where = strdup("-");
	if (!ks->where) {
		kstore_destroy(ks);
		errno = ENOMEM;
		return NULL;
	}
	return ks;

out_close:
	err = errno;
	close(fsfd);
	errno = err;
out_free:
	err = errno;
	free(ks);
	errno = err;
	return NULL;
}

/* Removes every entry of the directory dirfd (files only: the kstore has no
 * subdirectories). */
static void remove_all(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
}

/*
 * Removes DIR's private directories whose daemon is gone (nobody holds their
 * flock): how many, or -errno. dry_run only counts them.
 */
static int clean_at(int parentfd, bool dry_run)
{
	int fd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		int pd;

		if (strncmp(e->d_name, PRIVATE_PREFIX, strlen(PRIVATE_PREFIX)))
			continue;
		pd = openat(parentfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pd < 0)
			continue;
		if (flock(pd, LOCK_EX | LOCK_NB) == 0) {
			if (!dry_run) {
				remove_all(pd);
				unlinkat(parentfd, e->d_name, AT_REMOVEDIR);
			}
			n++;
		}
		close(pd);
	}
	closedir(d);
	return n;
}

int kstore_clean(const char *dir, bool dry_run)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = clean_at(fd, dry_run);
	close(fd);
	return n;
}

static void *say(struct kstore *ks, const char *dir, const char *what)
{
	fprintf(stderr, "sparsefs: backing %s: %s\n", dir, what);
	if (ks)
		kstore_destroy(ks);
	return NULL;
}

/* Reservations need fallocate, giving space back needs hole punching. */
static const char *can_reserve(int dirfd)
{
	static char why[128];
	const char *err = NULL;
	int fd = openat(dirfd, "probe", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		return why;
	}
	if (fallocate(fd, 0, 0, PAGE_SIZE))
		err = errno == EOPNOTSUPP ? "the filesystem cannot allocate blocks (fallocate)"
					  : strerror(errno);
	else if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE_SIZE))
		err = errno == EOPNOTSUPP ? "the filesystem cannot punch holes" : strerror(errno);
	close(fd);
	unlinkat(dirfd, "probe", 0);
	return err;
}

struct kstore *kstore_disk(const char *dir)
{
	struct kstore *ks;
	struct statfs sf;
	struct stat st;
	uint64_t r = 0;
	char *real;
	const char *why;
	int left;

	if (stat(dir, &st))
		return say(NULL, dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return say(NULL, dir, strerror(ENOTDIR));
	ks = kstore_new();
	if (!ks)
		return say(NULL, dir, strerror(ENOMEM));
	store_fstype(st.st_dev, ks->fstype, sizeof(ks->fstype));
	if (strcmp(ks->fstype, "fuse.sparsefs") == 0)
		return say(ks, dir, "is on a sparsefs mount: give a directory on a real filesystem");
	real = realpath(dir, NULL);
	if (!real)
		return say(ks, dir, strerror(errno));
	ks->where = real;
	ks->parentfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->parentfd < 0)
		return say(ks, dir, strerror(errno));
	left = clean_at(ks->parentfd, false);
	if (left > 0)
		fprintf(stderr, "sparsefs: backing %s: removed %d private director%s a killed "
				"daemon left\n", real, left, left == 1 ? "y" : "ies");
	for (int tries = 0; tries < 100; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)getpid() * 2654435761u + (uint64_t)tries;
		snprintf(ks->name, sizeof(ks->name), PRIVATE_PREFIX "%016" PRIx64, r);
		if (mkdirat(ks->parentfd, ks->name, 0700) == 0 || errno != EEXIST)
			break;
	}
	ks->dirfd = openat(ks->parentfd, ks->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ks->dirfd < 0) {
		ks->name[0] = 0;
		return say(ks, dir, errno == EACCES || errno == EPERM || errno == EROFS
					    ? "not writable" : strerror(errno));
	}
	/* Held while the mount lives: an unlocked one is a killed daemon's. */
	if (flock(ks->dirfd, LOCK_EX | LOCK_NB))
		return say(ks, dir, strerror(errno));
	why = can_reserve(ks->dirfd);
	if (why)
		return say(ks, dir, why);
	/* tmpfs undoes a failed fallocate itself, and has no FIEMAP to help. */
	ks->self_undo = fstatfs(ks->dirfd, &sf) == 0 && sf.f_type == 0x01021994;
	ks->shared = "the filesystem that holds it, which other processes write to";
	/* The figures name the kernel files' own directory. */
	real = NULL;
	if (asprintf(&real, "%s/%s", ks->where, ks->name) < 0)
		return say(ks, dir, strerror(ENOMEM));
	free(ks->where);
	ks->where = real;
	return ks;
}

void kstore_destroy(struct kstore *ks)
{
	if (ks->dirfd >= 0) {
		remove_all(ks->dirfd);
		close(ks->dirfd);
	}
	if (ks->parentfd >= 0) {
		if (ks->name[0])
			unlinkat(ks->parentfd, ks->name, AT_REMOVEDIR);
		close(ks->parentfd);
	}
	free(ks->where);
	free(ks);
}

uint64_t kstore_backing_free(struct kstore *ks)
{
	struct statvfs sv;

	if (ks->memory) {
		struct meminfo mi;

		store_mem_meminfo(&mi);
		return (mi.available + mi.swap_free) / PAGE_SIZE;
	}
	if (fstatvfs(ks->dirfd, &sv))
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize / PAGE_SIZE;
}

int kfile_make(struct kstore *ks, uint64_t key)
{
	char name[24];
	int fd;

	name_of(name, sizeof(name), key);
	fd = openat(ks->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EDQUOT ? -ENOSPC : -errno;
	return fd;
}

int kfile_create(struct kstore *ks, uint64_t key)
{
	int fd = kfile_make(ks, key);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

void kfile_remove(struct kstore *ks, uint64_t key)
{
	char name[24];

	name_of(name, sizeof(name), key);
	unlinkat(ks->dirfd, name, 0);
}

int kfile_open(struct kstore *ks, uint64_t key, int flags)
{
	char name[24];
	int fd;

	name_of(name, sizeof(name), key);
	fd = openat(ks->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/*
 * A write lease is granted only while no other open of the file exists: taken
 * and given back at once, it tells whether anything else (a mapping that
 * outlived its close) still holds the file.
 */
int kfile_probe(struct kstore *ks, uint64_t key, struct stat *st, bool *in_use)
{
	int fd = kfile_open(ks, key, O_RDONLY);
	int ret = 0;

	*in_use = false;
	if (fd < 0)
		return fd; /* gone: nothing maps it by name, and nothing to count */
	/* The lease goes with the descriptor: no F_UNLCK before the close. */
	*in_use = fcntl(fd, F_SETLEASE, F_WRLCK) != 0;
	if (st && fstat(fd, st))
		ret = -errno;
	close(fd);
	return ret;
}

bool kfile_in_use(struct kstore *ks, uint64_t key)
{
	bool used;

	kfile_probe(ks, key, NULL, &used);
	return used;
}

int kfile_stat(struct kstore *ks, uint64_t key, struct stat *st)
{
	char name[24];

	name_of(name, sizeof(name), key);
	return fstatat(ks->dirfd, name, st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int io_errno(int err)
{
	return err == EDQUOT ? -ENOSPC : -err;
}

int kfile_truncate(struct kstore *ks, uint64_t key, uint64_t length)
{
	int fd = kfile_open(ks, key, O_WRONLY), ret = 0;

	if (fd < 0)
		return fd;
	if (length > INT64_MAX)
		ret = -EFBIG;
	else if (ftruncate(fd, (off_t)length))
		ret = io_errno(errno);
	close(fd);
	return ret;
}

struct extents {
	struct { uint64_t start, end; } *v;
	size_t n, cap;
};

static int extents_add(struct extents *x, uint64_t start, uint64_t end)
{
	if (x->n && x->v[x->n - 1].end == start) {
		x->v[x->n - 1].end = end;
		return 0;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		void *moved = realloc(x->v, cap * sizeof(*x->v));

		if (!moved)
			return -ENOMEM;
		x->v = moved;
		x->cap = cap;
	}
	x->v[x->n].start = start;
	x->v[x->n++].end = end;
	return 0;
}

/*
 * The holes (nothing allocated) of [off, end), page-aligned outward, from
 * FIEMAP: -EOPNOTSUPP where the filesystem has none.
 */
static int find_holes(int fd, uint64_t off, uint64_t end, struct extents *holes)
{
	enum { N = 256 };
	char buf[sizeof(struct fiemap) + N * sizeof(struct fiemap_extent)];
	struct fiemap *fm = (struct fiemap *)buf;
	uint64_t pos = off & ~(uint64_t)(PAGE_SIZE - 1);
	bool last = false;
	int ret;

	end = (end + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	while (pos < end) {
		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = end - pos;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm))
			return errno == ENOTTY ? -EOPNOTSUPP : -errno;
		if (!fm->fm_mapped_extents)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];

			if (e->fe_logical > pos && pos < end) {
				ret = extents_add(holes, pos, e->fe_logical < end ? e->fe_logical : end);
				if (ret)
					return ret;
			}
			if (e->fe_logical + e->fe_length > pos)
				pos = e->fe_logical + e->fe_length;
			if (e->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
		}
		if (last)
			break;
	}
	if (pos < end)
		return extents_add(holes, pos, end);
	return 0;
}

/* Punches the holes found before back out, as far as they are in the file. */
static void unreserve(int fd, const struct extents *holes)
{
	for (size_t i = 0; i < holes->n; i++)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)holes->v[i].start,
			  (off_t)(holes->v[i].end - holes->v[i].start));
}

static bool cancelled(struct kfile_cancel *c)
{
	return c && (atomic_load(&c->cancelled) || (c->requested && c->requested(c->arg)));
}

void kfile_cancel_now(struct kfile_cancel *c)
{
	int pid;

	atomic_store(&c->cancelled, true);
	pid = atomic_load(&c->helper);
	if (pid > 0)
		kill(pid, SIGKILL);
}

/*
 * fallocate(2) in a helper process (vfork: it shares the daemon's memory, and
 * the calling thread waits for it), so that a cancel can kill it: tmpfs stops
 * a fallocate for nothing short of a fatal signal, and then undoes it. The
 * pid is published by the child (vfork) and by the parent (where vfork is a
 * fork, as under sanitizers), and the cancel flag checked after either.
 */
static int fallocate_killable(int fd, int mode, off_t off, off_t len, struct kfile_cancel *c)
{
	int status, pid;

	pid = vfork();
	if (pid == 0) {
		atomic_store(&c->helper, getpid());
		if (atomic_load(&c->cancelled))
			_exit(EINTR);
		_exit(fallocate(fd, mode, off, len) ? errno : 0);
	}
	if (pid < 0)
		return fallocate(fd, mode, off, len) ? -errno : 0;
	atomic_store(&c->helper, pid);
	if (atomic_load(&c->cancelled))
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	atomic_store(&c->helper, 0);
	if (WIFSIGNALED(status))
		return -EINTR;
	return -WEXITSTATUS(status);
}

static uint64_t hole_pages(const struct extents *holes)
{
	uint64_t n = 0;

	for (size_t i = 0; i < holes->n; i++)
		n += (holes->v[i].end - holes->v[i].start) / PAGE_SIZE;
	return n;
}

/*
 * Reserves [off, off + len) with mode (0 or KEEP_SIZE), all or nothing, taking
 * at most room new pages: one call where the filesystem undoes its own
 * failures, else in chunks, the holes found first (FIEMAP) punched again on
 * failure. The length is set at the end.
 */
static int reserve(struct kstore *ks, int fd, int mode, uint64_t off, uint64_t len,
		   uint64_t room, struct kfile_cancel *cancel)
{
	struct extents holes = { 0 };
	uint64_t end = off + len;
	uint64_t span = ((end + PAGE_SIZE - 1) / PAGE_SIZE) - off / PAGE_SIZE;
	bool mapped = false;
	struct stat st;
	int ret = 0;

	if (cancelled(cancel))
		return -EINTR;
	if (fstat(fd, &st))
		return -errno;
	if (!ks->self_undo || span > room) {
		ret = find_holes(fd, off, end, &holes);
		mapped = !ret;
		if (ret && ret != -EOPNOTSUPP)
			goto out;
		ret = 0;
		/* Without a map, the whole span counts against the room. */
		if (span > room && (!mapped || hole_pages(&holes) > room)) {
			ret = -ENOSPC;
			goto out;
		}
	}
	if ((ks->self_undo || !mapped) && cancel && len >= KILLABLE_MIN) {
		ret = fallocate_killable(fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len, cancel);
		ret = ret ? io_errno(-ret) : 0;
	} else if (ks->self_undo || !mapped) {
		if (fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
			ret = io_errno(errno);
	} else {
		for (uint64_t at = off; at < end && !ret; at += CHUNK) {
			uint64_t n = end - at < CHUNK ? end - at : CHUNK;

			if (at > off && cancelled(cancel))
				ret = -EINTR;
			else if (fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)at, (off_t)n))
				ret = io_errno(errno);
		}
	}
	if (!ret && !(mode & FALLOC_FL_KEEP_SIZE) && end > (uint64_t)st.st_size &&
	    ftruncate(fd, (off_t)end))
		ret = io_errno(errno);
	if (ret && mapped && !ks->self_undo)
		unreserve(fd, &holes);
out:
	free(holes.v);
	return ret;
}

/* Writes zeros over the data of [off, end): the pages stay allocated. */
static int zero_data(int fd, uint64_t off, uint64_t end)
{
	static const char zeros[64 << 10];
	off_t pos = (off_t)off;

	while ((uint64_t)pos < end) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		if ((uint64_t)data >= end)
			return 0;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > end)
			hole = (off_t)end;
		for (pos = data; pos < hole;) {
			size_t n = (size_t)(hole - pos) < sizeof(zeros) ? (size_t)(hole - pos)
									  : sizeof(zeros);
			ssize_t w = pwrite(fd, zeros, n, pos);

			if (w <= 0)
				return w < 0 ? io_errno(errno) : -EIO;
			pos += w;
		}
	}
	return 0;
}

int kfile_fallocate(struct kstore *ks, uint64_t key, int mode, uint64_t off, uint64_t len,
		    uint64_t room, struct kfile_cancel *cancel)
{
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	uint64_t end;
	int fd, ret;

	if (!len)
		return -EINVAL;
	if (__builtin_add_overflow(off, len, &end) || end > INT64_MAX)
		return -EFBIG;
	switch (mode & ~FALLOC_FL_KEEP_SIZE) {
	case 0:
	case FALLOC_FL_PUNCH_HOLE:
	case FALLOC_FL_ZERO_RANGE:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !keep)
		return -EOPNOTSUPP;
	fd = kfile_open(ks, key, O_RDWR);
	if (fd < 0)
		return fd;
	switch (mode & ~FALLOC_FL_KEEP_SIZE) {
	case 0:
		ret = reserve(ks, fd, keep ? FALLOC_FL_KEEP_SIZE : 0, off, len, room, cancel);
		break;
	case FALLOC_FL_PUNCH_HOLE:
		ret = fallocate(fd, mode, (off_t)off, (off_t)len) ? io_errno(errno) : 0;
		break;
	default:
		/*
		 * The range reserved first (all or nothing), then its data zeroed in
		 * place: the filesystem's own ZERO_RANGE (tmpfs has none) could
		 * leave part of a failed range zeroed.
		 */
		ret = reserve(ks, fd, FALLOC_FL_KEEP_SIZE, off, len, room, cancel);
		if (!ret)
			ret = zero_data(fd, off, end);
		if (!ret && !keep) {
			struct stat st;

			if (fstat(fd, &st))
				ret = -errno;
			else if (end > (uint64_t)st.st_size && ftruncate(fd, (off_t)end))
				ret = io_errno(errno);
		}
		break;
	}
	close(fd);
	return ret;
}

/*
 * The first offset in [from, to) that reads as data (want_data) or as a
 * reserved page (!want_data) by the extents FIEMAP reports: an unwritten
 * extent is reserved, anything else data (a written or delayed extent, or a
 * range FIEMAP does not cover: data, the safe answer). to when none is; sets
 * *unwritten when any unwritten extent is in the range.
 */
static int64_t extents_first(int fd, uint64_t from, uint64_t to, bool want_data, bool *unwritten)
{
	enum { N = 64 };
	char buf[sizeof(struct fiemap) + N * sizeof(struct fiemap_extent)];
	struct fiemap *fm = (struct fiemap *)buf;
	uint64_t pos = from;

	*unwritten = false;
	while (pos < to) {
		bool last = false;

		memset(fm, 0, sizeof(*fm));
		fm->fm_start = pos;
		fm->fm_length = to - pos;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm))
			return errno == ENOTTY || errno == EOPNOTSUPP ? (int64_t)(want_data ? from : to)
								       : -errno;
		if (!fm->fm_mapped_extents)
			break;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			uint64_t start = e->fe_logical > pos ? e->fe_logical : pos;
			uint64_t end = e->fe_logical + e->fe_length;
			bool uw = e->fe_flags & FIEMAP_EXTENT_UNWRITTEN;

			if (start >= to)
				break;
			*unwritten |= uw;
			if (want_data && (start > pos || !uw))
				return (int64_t)(start > pos ? pos : start); /* a gap, or written */
			if (!want_data && uw)
				return (int64_t)start;
			if (end > pos)
				pos = end;
			if (e->fe_flags & FIEMAP_EXTENT_LAST)
				last = true;
		}
		if (last)
			break;
	}
	return (int64_t)(want_data && pos < to ? pos : to);
}

/*
 * Where the filesystem's SEEK_DATA counts a reserved page as data, the
 * extents decide. ext4 (iomap) does so for an unwritten extent's pages in the
 * page cache, even clean ones a read filled with zeros; tmpfs never does. A
 * page stored to but not yet written back is still in an unwritten extent,
 * so a range with unwritten extents is written back before its extents are
 * read (only such ranges: a file without reservations costs no write-back).
 */
static int64_t refine(int fd, uint64_t from, uint64_t to, bool want_data)
{
	bool unwritten;
	int64_t at = extents_first(fd, from, to, want_data, &unwritten);

	if (at < 0 || !unwritten)
		return at;
	if (sync_file_range(fd, (off64_t)from, (off64_t)(to - from),
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				    SYNC_FILE_RANGE_WAIT_AFTER))
		return -errno;
	return extents_first(fd, from, to, want_data, &unwritten);
}

/* SEEK_DATA / SEEK_HOLE of a page state: reserved pages are holes. */
static int64_t seek_state(const struct kstore *ks, int fd, uint64_t off, int whence)
{
	for (;;) {
		off_t d = lseek(fd, (off_t)off, whence), h;
		int64_t at;

		if (d < 0)
			return -errno;
		if (ks->memory)
			return d;
		if (whence == SEEK_HOLE) {
			/* The filesystem's data from off to d: its first reserved page, or d. */
			return (uint64_t)d > off ? refine(fd, off, (uint64_t)d, false) : d;
		}
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		at = refine(fd, (uint64_t)d, (uint64_t)h, true);
		if (at < 0 || at < h)
			return at;
		off = (uint64_t)h; /* all of [d, h) reserved: on past it */
	}
}

int64_t kfile_seek(struct kstore *ks, uint64_t key, uint64_t off, int whence)
{
	int64_t ret;
	int fd;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off > INT64_MAX)
		return -ENXIO;
	fd = kfile_open(ks, key, O_RDONLY);
	if (fd < 0)
		return fd;
	ret = seek_state(ks, fd, off, whence);
	close(fd);
	return ret;
}

int kfile_data_bytes(struct kstore *ks, uint64_t key, const struct stat *st, uint64_t *data)
{
	int fd = kfile_open(ks, key, O_RDONLY);
	int64_t pos = 0;

	*data = 0;
	if (fd < 0)
		return fd;
	while (pos < st->st_size) {
		int64_t d = seek_state(ks, fd, (uint64_t)pos, SEEK_DATA), h;

		if (d < 0)
			break;
		h = seek_state(ks, fd, (uint64_t)d, SEEK_HOLE);
		if (h < 0)
			break;
		/* Data extents in whole pages: the last one ends in a page too. */
		d &= ~(int64_t)(PAGE_SIZE - 1);
		h = (h + PAGE_SIZE - 1) & ~(int64_t)(PAGE_SIZE - 1);
		*data += (uint64_t)(h - d);
		pos = h;
	}
	close(fd);
	if (*data > (uint64_t)st->st_blocks * 512)
		*data = (uint64_t)st->st_blocks * 512;
	return 0;
}

int kfile_utimes(struct kstore *ks, uint64_t key, const struct timespec times[2])
{
	char name[24];

	name_of(name, sizeof(name), key);
	return utimensat(ks->dirfd, name, times, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}
