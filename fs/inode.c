/* SPDX-License-Identifier: MIT */
#include "inode.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kfile.h"

/* What directory entries add to a directory's st_size, as tmpfs counts them. */
#define DIRENT_SIZE 20
/* Names and values of one inode's xattrs, at most. */
#define XATTR_BYTES_MAX (1u << 20)

static struct timespec now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

uint64_t inode_new_ino(struct sfs *fs)
{
	return atomic_fetch_add(&fs->next_ino, 1);
}

int inode_create(struct sfs *fs, uint64_t ino, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
		 const char *target, struct inode **out)
{
	struct inode *in;
	int ret;

	ret = space_inode_charge(&fs->space);
	if (ret)
		return ret;
	in = calloc(1, sizeof(*in));
	if (!in)
		goto out_uncharge;
	if (S_ISLNK(mode)) {
		in->target = strdup(target);
		if (!in->target)
			goto out_free;
	}
	in->ino = ino ? ino : inode_new_ino(fs);
	in->type = mode & S_IFMT;
	in->mode = mode & 07777;
	in->rdev = rdev;
	in->fs = fs;
	in->uid = uid;
	in->gid = gid;
	in->atime = in->mtime = in->ctime = now();
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	pthread_rwlock_init(&in->lock, NULL);
	if (S_ISREG(mode) && !sfs_kernel(fs)) {
		object_init(&in->obj, &fs->space, fs->store, in->ino);
	} else if (S_ISDIR(mode)) {
		dir_init(&in->d.dir);
		in->d.size = 2 * DIRENT_SIZE;
	}
	in->next = fs->all;
	if (fs->all)
		fs->all->prev = in;
	fs->all = in;
	*out = in;
	return 0;

out_free:
	free(in);
out_uncharge:
	space_inode_release(&fs->space);
	return -ENOMEM;
}

static void kf_list(struct inode *in, bool on);

void inode_destroy(struct sfs *fs, struct inode *in)
{
	struct xattr *x, *next;

	if (in->type == S_IFREG && sfs_kernel(fs)) {
		kf_list(in, false);
		if (!in->kf.gone)
			kfile_remove(fs->kstore, in->ino);
		space_note_used(&fs->space, -(int64_t)atomic_exchange(&in->kf.pages, 0));
	} else if (in->type == S_IFREG) {
		object_destroy(&in->obj);
	} else if (in->type == S_IFDIR)
		dir_destroy(&in->d.dir);
	else if (in->type == S_IFLNK)
		free(in->target);
	for (x = in->xattrs; x; x = next) {
		next = x->next;
		free(x->value);
		free(x);
	}
	pthread_rwlock_destroy(&in->lock);
	free(in);
	space_inode_release(&fs->space);
}

/*
 * Takes the inode off the list of all; it is destroyed once ns_lock is
 * dropped (sfs_unlock), so that freeing a big file's pages never stalls the
 * namespace. Needs ns_lock.
 */
static void free_inode(struct sfs *fs, struct inode *in)
{
	if (in->prev)
		in->prev->next = in->next;
	else
		fs->all = in->next;
	if (in->next)
		in->next->prev = in->prev;
	in->prev = NULL;
	in->next = fs->dead;
	fs->dead = in;
}

void inode_reclaim(struct sfs *fs, struct inode *in)
{
	struct grave *g;

	if (in == fs->root || in->nlink || in->nopen)
		return;
	if (!in->nlookup) {
		free_inode(fs, in);
		return;
	}
	if (in->type != S_IFREG)
		return;
	/* Unreachable and closed: nobody can read the pages again. They go
	 * once ns_lock is dropped; without memory for that, at once. */
	g = malloc(sizeof(*g));
	pthread_rwlock_wrlock(&in->lock);
	if (sfs_kernel(fs)) {
		kf_list(in, false); /* its name goes: nothing can tell its pages */
		in->kf.gone = true; /* now, or with its grave */
	}
	if (g && sfs_kernel(fs)) {
		g->key = in->ino;
		g->pages = atomic_exchange(&in->kf.pages, 0);
		g->next = fs->graves;
		fs->graves = g;
	} else if (g) {
		g->obj = in->obj;
		object_init(&in->obj, &fs->space, fs->store, in->ino);
		g->next = fs->graves;
		fs->graves = g;
	} else if (sfs_kernel(fs)) {
		kfile_remove(fs->kstore, in->ino);
		space_note_used(&fs->space, -(int64_t)atomic_exchange(&in->kf.pages, 0));
	} else {
		object_destroy(&in->obj);
	}
	pthread_rwlock_unlock(&in->lock);
}

/*
 * What the kernel file says of its pages, taken into used: the kernel may
 * have changed them behind the daemon's back (writes, mapped stores).
 */
static void kf_note(struct inode *in, const struct stat *ks)
{
	uint64_t now = kfile_pages(ks), was = atomic_exchange(&in->kf.pages, now);

	if (now != was)
		space_note_used(&in->fs->space, (int64_t)(now - was));
}

/* Stats the kernel file and notes its pages; a file whose contents went
 * (unreachable, kept only by the kernel's lookups) reads as empty. */
static int kf_stat(struct inode *in, struct stat *ks)
{
	int ret = kfile_stat(in->fs->kstore, in->ino, ks);

	if (ret)
		memset(ks, 0, sizeof(*ks));
	else
		kf_note(in, ks);
	return ret;
}

static int ts_le(struct timespec a, struct timespec b);

/* The inode's own attributes, a regular file's contents aside (size and
 * blocks 0). Needs in->lock. */
static void stat_own(struct inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = in->ino;
	st->st_mode = in->type | in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_blksize = SFS_PAGE_SIZE;
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}

void inode_stat(struct inode *in, struct stat *st)
{
	pthread_rwlock_rdlock(&in->lock);
	stat_own(in, st);
	switch (in->type) {
	case S_IFREG:
		if (sfs_kernel(in->fs)) {
			struct stat ks;

			/* Length, blocks and the data's times are the kernel file's;
			 * ctime moves with both (chmod here, writes there). */
			if (kf_stat(in, &ks))
				break; /* its contents are gone: empty */
			st->st_size = ks.st_size;
			st->st_blocks = ks.st_blocks;
			st->st_atim = ks.st_atim;
			st->st_mtim = ks.st_mtim;
			if (ts_le(st->st_ctim, ks.st_ctim))
				st->st_ctim = ks.st_ctim;
			break;
		}
		st->st_size = (off_t)in->obj.length;
		st->st_blocks = (blkcnt_t)object_blocks(&in->obj);
		break;
	case S_IFDIR:
		st->st_size = (off_t)in->d.size;
		break;
	case S_IFLNK:
		st->st_size = (off_t)strlen(in->target);
		break;
	}
	pthread_rwlock_unlock(&in->lock);
}

void inode_touch(struct inode *in, int mtime_too)
{
	in->ctime = now();
	if (mtime_too)
		in->mtime = in->ctime;
}

/* The bits of mode a kill clears (inode_kill_suidgid). */
static mode_t kill_bits(const struct inode *in, mode_t mode, bool may_keep_sgid)
{
	mode_t kill = S_ISUID | S_ISGID;

	if (in->type == S_IFDIR)
		return 0;
	if (!(mode & S_IXGRP) && may_keep_sgid)
		kill = S_ISUID;
	return kill & mode;
}

bool inode_kill_suidgid(struct inode *in, bool may_keep_sgid)
{
	mode_t kill;

	pthread_rwlock_wrlock(&in->lock);
	kill = kill_bits(in, in->mode, may_keep_sgid);
	if (kill) {
		in->mode &= ~kill;
		inode_touch(in, 0);
	}
	pthread_rwlock_unlock(&in->lock);
	return kill != 0;
}

/*
 * Would the length of one file pass the capacity? What overcommit=heuristic
 * refuses with EFBIG (the kernel path checks what the daemon sees: truncate
 * and fallocate; a write(2) past the end is the kernel's).
 */
static bool kf_past_capacity(const struct inode *in, uint64_t end)
{
	const struct space *sp = &in->fs->space;

	return sp->policy == SPACE_HEURISTIC && sp->capacity <= OBJECT_MAX_LENGTH / SFS_PAGE_SIZE &&
	       end > sp->capacity * SFS_PAGE_SIZE;
}

/* truncate on the kernel path; in->lock held. */
static int kf_truncate(struct inode *in, uint64_t length)
{
	struct stat ks;
	int ret;

	if (length > OBJECT_MAX_LENGTH)
		return -EFBIG;
	if (kf_past_capacity(in, length) && (kf_stat(in, &ks) || length > (uint64_t)ks.st_size))
		return -EFBIG;
	ret = kfile_truncate(in->fs->kstore, in->ino, length);
	kf_stat(in, &ks);
	return ret;
}

/* Sets the kernel file's atime and mtime to the inode's, where ch set them. */
static void kf_times(struct inode *in, const struct inode_change *ch)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

	if (ch->valid & (INODE_SET_ATIME | INODE_SET_ATIME_NOW))
		ts[0] = in->atime;
	if (ch->valid & (INODE_SET_MTIME | INODE_SET_MTIME_NOW | INODE_SET_SIZE))
		ts[1] = in->mtime;
	if (ts[0].tv_nsec != UTIME_OMIT || ts[1].tv_nsec != UTIME_OMIT)
		kfile_utimes(in->fs->kstore, in->ino, ts);
}

int inode_setattr(struct inode *in, const struct inode_change *ch)
{
	struct timespec t = now();
	bool kernel = in->type == S_IFREG && sfs_kernel(in->fs);
	int ret = 0;

	pthread_rwlock_wrlock(&in->lock);
	if (ch->valid & INODE_SET_SIZE) {
		if (in->type != S_IFREG) {
			ret = in->type == S_IFDIR ? -EISDIR : -EINVAL;
			goto out;
		}
		ret = kernel ? kf_truncate(in, ch->size) : object_truncate(&in->obj, ch->size, ch->cancel);
		if (ret)
			goto out;
	}
	if (ch->valid & INODE_SET_MODE)
		in->mode = ch->mode & 07777;
	if (ch->kill_suidgid)
		in->mode &= ~kill_bits(in, in->mode, ch->may_keep_sgid);
	if (ch->valid & INODE_SET_UID)
		in->uid = ch->uid;
	if (ch->valid & INODE_SET_GID)
		in->gid = ch->gid;
	if (ch->valid & INODE_SET_ATIME_NOW)
		in->atime = t;
	else if (ch->valid & INODE_SET_ATIME)
		in->atime = ch->atime;
	/*
	 * A size marks mtime too, as truncate(2), ftruncate(2) and open(O_TRUNC)
	 * do on a local filesystem, even to the same size: the kernel sends
	 * FATTR_MTIME with truncate(2) only, and leaves it to us for the other two
	 * (fs/fuse/dir.c, update_mtime: ATTR_FILE, ATTR_OPEN).
	 */
	if (ch->valid & INODE_SET_MTIME_NOW)
		in->mtime = t;
	else if (ch->valid & INODE_SET_MTIME)
		in->mtime = ch->mtime;
	else if (ch->valid & INODE_SET_SIZE)
		in->mtime = t;
	in->ctime = (ch->valid & INODE_SET_CTIME) ? ch->ctime : t;
	if (kernel)
		kf_times(in, ch);
out:
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

/* object_write; if fence, the part not stored is fenced (inode_write_fenced). */
static ssize_t write_fence(struct inode *in, const void *buf, size_t size, uint64_t off,
			   bool fence, bool *fenced)
{
	ssize_t ret;

	*fenced = false;
	if (sfs_kernel(in->fs))
		return -EIO; /* the kernel serves its files' writes itself */
	pthread_rwlock_wrlock(&in->lock);
	ret = object_write(&in->obj, buf, size, off);
	if (ret > 0)
		inode_touch(in, 1);
	*fenced = fence && ret != (ssize_t)size;
	if (*fenced) {
		/* off < 2^63 and size <= max_write: no overflow */
		uint64_t first = (off + (ret > 0 ? (uint64_t)ret : 0)) / SFS_PAGE_SIZE;
		uint64_t end = (off + size + SFS_PAGE_SIZE - 1) / SFS_PAGE_SIZE;

		if (!in->fences++ || first < in->fence_first)
			in->fence_first = first;
		if (in->fences == 1 || end > in->fence_end)
			in->fence_end = end;
		/* A short count ran out of room (or memory) for the rest. */
		in->fence_err = ret < 0 ? (int)-ret : ENOSPC;
	}
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

ssize_t inode_write(struct inode *in, const void *buf, size_t size, uint64_t off)
{
	bool fenced;

	return write_fence(in, buf, size, off, false, &fenced);
}

ssize_t inode_write_fenced(struct inode *in, const void *buf, size_t size, uint64_t off,
			   bool *fenced)
{
	return write_fence(in, buf, size, off, true, fenced);
}

void inode_unfence(struct inode *in)
{
	pthread_rwlock_wrlock(&in->lock);
	if (in->fences && !--in->fences)
		in->fence_first = in->fence_end = 0;
	pthread_rwlock_unlock(&in->lock);
}

ssize_t inode_write_wb(struct inode *in, const void *buf, size_t size, uint64_t off,
		       bool *fenced)
{
	bool in_fence;
	ssize_t ret;

	if (sfs_kernel(in->fs))
		return -EIO;
	pthread_rwlock_wrlock(&in->lock);
	in_fence = in->fences && size && off / SFS_PAGE_SIZE < in->fence_end &&
		   (off + size - 1) / SFS_PAGE_SIZE >= in->fence_first;
	if (fenced)
		*fenced = in_fence;
	if (in_fence) {
		ret = -in->fence_err;
	} else {
		ret = object_write_wb(&in->obj, buf, size, off);
		if (ret > 0)
			inode_touch(in, 1);
	}
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

/* fallocate on the kernel path; in->lock held. */
static int kf_fallocate(struct inode *in, int mode, uint64_t off, uint64_t len,
			const struct object_cancel *cancel)
{
	struct sfs *fs = in->fs;
	uint64_t room = UINT64_MAX, used, end;
	struct stat ks;
	int ret;

	if (__builtin_add_overflow(off, len, &end) || end > OBJECT_MAX_LENGTH)
		return -EFBIG;
	/* Under heuristic a reservation no write could reach is refused too. */
	if (!(mode & FALLOC_FL_PUNCH_HOLE) && kf_past_capacity(in, end))
		return -EFBIG;
	/* The private tmpfs is the capacity; a disk is bounded here. */
	if (!fs->kstore->memory && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		sfs_refresh(fs);
		used = space_used(&fs->space);
		room = used < fs->space.capacity ? fs->space.capacity - used : 0;
	}
	ret = kfile_fallocate(fs->kstore, in->ino, mode, off, len, room, cancel ? cancel->kernel : NULL);
	kf_stat(in, &ks);
	return ret;
}

int inode_fallocate(struct inode *in, int mode, uint64_t off, uint64_t len,
		    const struct object_cancel *cancel)
{
	int ret;

	pthread_rwlock_wrlock(&in->lock);
	if (sfs_kernel(in->fs))
		ret = kf_fallocate(in, mode, off, len, cancel);
	else
		ret = object_fallocate(&in->obj, mode, off, len, cancel);
	if (!ret)
		inode_touch(in, 1);
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

int inode_trunc_open(struct inode *in)
{
	int ret;

	pthread_rwlock_wrlock(&in->lock);
	if (sfs_kernel(in->fs)) {
		ret = kf_truncate(in, 0);
		if (!ret) {
			struct inode_change ch = { .valid = INODE_SET_SIZE };

			inode_touch(in, 1);
			kf_times(in, &ch);
		}
		pthread_rwlock_unlock(&in->lock);
		return ret;
	}
	ret = object_truncate(&in->obj, 0, NULL);
	if (!ret)
		inode_touch(in, 1);
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

static int ts_le(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

void inode_accessed(struct inode *in)
{
	struct timespec t = now();
	int stale;

	pthread_rwlock_rdlock(&in->lock);
	stale = ts_le(in->atime, in->mtime) || ts_le(in->atime, in->ctime) ||
		in->atime.tv_sec + 24 * 3600 <= t.tv_sec;
	pthread_rwlock_unlock(&in->lock);
	if (!stale)
		return;
	pthread_rwlock_wrlock(&in->lock);
	in->atime = t;
	pthread_rwlock_unlock(&in->lock);
}

size_t inode_read_begin(struct inode *in, size_t size, uint64_t off, struct iovec *iov,
			int maxiov, int *iovcnt)
{
	inode_accessed(in);
	pthread_rwlock_rdlock(&in->lock);
	return object_read_iov(&in->obj, size, off, iov, maxiov, iovcnt);
}

ssize_t inode_read_copy(struct inode *in, void *buf, size_t size, uint64_t off)
{
	return object_read(&in->obj, buf, size, off);
}

void inode_read_end(struct inode *in)
{
	pthread_rwlock_unlock(&in->lock);
}

int64_t inode_seek(struct inode *in, uint64_t off, int whence)
{
	int64_t ret;

	pthread_rwlock_rdlock(&in->lock);
	if (sfs_kernel(in->fs))
		ret = kfile_seek(in->fs->kstore, in->ino, off, whence);
	else
		ret = object_seek(&in->obj, off, whence);
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

static struct xattr **xattr_find(struct inode *in, const char *name)
{
	struct xattr **pp;

	for (pp = &in->xattrs; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return pp;
	return pp;
}

int inode_setxattr(struct inode *in, const char *name, const void *value, size_t size,
		   int flags)
{
	size_t namelen = strlen(name);
	struct xattr **pp, *x;
	char *copy;
	int ret = 0;

	copy = malloc(size ? size : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, value, size);
	pthread_rwlock_wrlock(&in->lock);
	pp = xattr_find(in, name);
	x = *pp;
	if (x && (flags & XATTR_CREATE)) {
		ret = -EEXIST;
		goto out;
	}
	if (!x && (flags & XATTR_REPLACE)) {
		ret = -ENODATA;
		goto out;
	}
	if (in->xattr_bytes - (x ? x->size : 0) + (x ? 0 : namelen) + size > XATTR_BYTES_MAX) {
		ret = -ENOSPC;
		goto out;
	}
	if (!x) {
		x = calloc(1, sizeof(*x) + namelen + 1);
		if (!x) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(x->name, name, namelen + 1);
		*pp = x;
		in->xattr_bytes += namelen;
	}
	in->xattr_bytes += size - x->size;
	free(x->value);
	x->value = copy;
	x->size = size;
	copy = NULL;
	inode_touch(in, 0);
out:
	pthread_rwlock_unlock(&in->lock);
	free(copy);
	return ret;
}

ssize_t inode_getxattr(struct inode *in, const char *name, void *buf, size_t size)
{
	struct xattr *x;
	ssize_t ret;

	pthread_rwlock_rdlock(&in->lock);
	x = *xattr_find(in, name);
	if (!x)
		ret = -ENODATA;
	else if (size && size < x->size)
		ret = -ERANGE;
	else {
		if (size)
			memcpy(buf, x->value, x->size);
		ret = (ssize_t)x->size;
	}
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

ssize_t inode_listxattr(struct inode *in, char *buf, size_t size)
{
	size_t need = 0;

	pthread_rwlock_rdlock(&in->lock);
	for (struct xattr *x = in->xattrs; x; x = x->next)
		need += strlen(x->name) + 1;
	if (size && size < need) {
		pthread_rwlock_unlock(&in->lock);
		return -ERANGE;
	}
	if (size) {
		char *p = buf;

		for (struct xattr *x = in->xattrs; x; x = x->next) {
			size_t n = strlen(x->name) + 1;

			memcpy(p, x->name, n);
			p += n;
		}
	}
	pthread_rwlock_unlock(&in->lock);
	return (ssize_t)need;
}

int inode_removexattr(struct inode *in, const char *name)
{
	struct xattr **pp, *x;
	int ret = -ENODATA;

	pthread_rwlock_wrlock(&in->lock);
	pp = xattr_find(in, name);
	x = *pp;
	if (x) {
		*pp = x->next;
		in->xattr_bytes -= strlen(x->name) + x->size;
		free(x->value);
		free(x);
		inode_touch(in, 0);
		ret = 0;
	}
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

int inode_figures(struct inode *in, uint64_t *length, uint64_t *data, uint64_t *reserved)
{
	struct stat ks;
	int ret = 0;

	pthread_rwlock_rdlock(&in->lock);
	if (!sfs_kernel(in->fs)) {
		*length = in->obj.length;
		*data = in->obj.map.nr_data * SFS_PAGE_SIZE;
		*reserved = in->obj.map.nr_reserved * SFS_PAGE_SIZE;
	} else if (kf_stat(in, &ks)) {
		*length = *data = *reserved = 0;
	} else {
		*length = (uint64_t)ks.st_size;
		ret = kfile_data_bytes(in->fs->kstore, in->ino, &ks, data);
		*reserved = (uint64_t)ks.st_blocks * 512 - *data;
	}
	pthread_rwlock_unlock(&in->lock);
	return ret;
}

/* Puts in on (or takes it off) the files sfs_refresh reads. Needs in->lock. */
static void kf_list(struct inode *in, bool on)
{
	struct sfs *fs = in->fs;

	if (in->kf.listed == on)
		return;
	pthread_mutex_lock(&fs->open_lock);
	if (on) {
		in->kf.prev_open = NULL;
		in->kf.next_open = fs->opened;
		if (fs->opened)
			fs->opened->kf.prev_open = in;
		fs->opened = in;
	} else {
		if (in->kf.prev_open)
			in->kf.prev_open->kf.next_open = in->kf.next_open;
		else
			fs->opened = in->kf.next_open;
		if (in->kf.next_open)
			in->kf.next_open->kf.prev_open = in->kf.prev_open;
		in->kf.next_open = in->kf.prev_open = NULL;
	}
	pthread_mutex_unlock(&fs->open_lock);
	in->kf.listed = on;
}

int32_t inode_kf_open(struct inode *in, int fd, int32_t (*reg)(int fd, void *arg), void *arg)
{
	int32_t id;

	pthread_rwlock_wrlock(&in->lock);
	if (!in->kf.opens) {
		if (fd < 0)
			fd = kfile_open(in->fs->kstore, in->ino, O_RDWR);
		id = fd < 0 ? fd : reg(fd, arg);
		if (fd >= 0)
			close(fd);
		if (id < 0) {
			pthread_rwlock_unlock(&in->lock);
			return id;
		}
		in->kf.backing_id = id;
		in->kf.lingers = false;
		kf_list(in, true);
	} else if (fd >= 0) {
		close(fd);
	}
	in->kf.opens++;
	id = in->kf.backing_id;
	pthread_rwlock_unlock(&in->lock);
	return id;
}

int32_t inode_kf_adopt(struct inode *in, int fd, int32_t id)
{
	pthread_rwlock_wrlock(&in->lock);
	in->kf.backing_id = id;
	in->kf.opens = 1;
	in->kf.lingers = false;
	kf_list(in, true);
	pthread_rwlock_unlock(&in->lock);
	close(fd);
	return id;
}

void inode_stat_made(struct inode *in, struct timespec made, struct stat *st)
{
	pthread_rwlock_rdlock(&in->lock);
	stat_own(in, st);
	pthread_rwlock_unlock(&in->lock);
	st->st_atim = st->st_mtim = made;
}

/*
 * Whether a mapping of the closed file lives on (kfile_in_use); if not, it
 * leaves the files sfs_refresh reads. Needs in->lock exclusive.
 */
static bool kf_lingers(struct inode *in)
{
	in->kf.lingers = kfile_in_use(in->fs->kstore, in->ino);
	if (!in->kf.lingers)
		kf_list(in, false);
	return in->kf.lingers;
}

void inode_kf_close(struct inode *in, void (*unreg)(int32_t id, void *arg), void *arg)
{
	struct stat ks;

	pthread_rwlock_wrlock(&in->lock);
	if (in->kf.opens && !--in->kf.opens) {
		unreg(in->kf.backing_id, arg);
		in->kf.backing_id = 0;
		/* A mapping outlives the close (mmap, close, store): then the
		 * kernel still changes the pages, and sfs_refresh reads them.
		 * (kf_lingers and kf_stat, with one open of the file.) */
		if (kfile_probe(in->fs->kstore, in->ino, &ks, &in->kf.lingers) == 0)
			kf_note(in, &ks);
		if (!in->kf.lingers)
			kf_list(in, false);
	}
	pthread_rwlock_unlock(&in->lock);
}

bool inode_kf_live(struct inode *in)
{
	bool live;

	pthread_rwlock_rdlock(&in->lock);
	live = in->kf.opens > 0;
	if (live || !in->kf.lingers) {
		pthread_rwlock_unlock(&in->lock);
		return live;
	}
	pthread_rwlock_unlock(&in->lock);
	pthread_rwlock_wrlock(&in->lock);
	live = in->kf.opens > 0 || (in->kf.lingers && kf_lingers(in));
	pthread_rwlock_unlock(&in->lock);
	return live;
}

int inode_check(struct sfs *fs, struct inode *in, uint64_t *blocks)
{
	if (in->type == S_IFREG && sfs_kernel(fs)) {
		*blocks += atomic_load(&in->kf.pages) * 8;
	} else if (in->type == S_IFREG) {
		if (object_check(&in->obj))
			return -1;
		*blocks += object_blocks(&in->obj);
	} else if (in->type == S_IFDIR) {
		nlink_t subdirs = 0;

		if (dir_check(&in->d.dir))
			return -1;
		for (struct dentry *de = dir_next(&in->d.dir, 0); de;
		     de = dir_next(&in->d.dir, de->cookie + 1))
			subdirs += de->inode->type == S_IFDIR;
		if (in->nlink && in->nlink != 2 + subdirs) {
			fprintf(stderr, "inode %llu: directory nlink %lu, expected %lu\n",
				(unsigned long long)in->ino, (unsigned long)in->nlink,
				(unsigned long)(2 + subdirs));
			return -1;
		}
	}
	if (!in->nlink && !in->nopen && !in->nlookup && in != fs->root) {
		fprintf(stderr, "inode %llu: unreferenced but not freed\n",
			(unsigned long long)in->ino);
		return -1;
	}
	return 0;
}
