/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_INODE_H
#define SPARSEFS_INODE_H

/*
 * inode: the filesystem's table of inodes, their attributes, xattrs, and the
 * three counts that decide when one may be freed.
 *
 * An inode lives while any of these is non-zero:
 *   nlink    names in directories (+1 for a directory's own "." entry)
 *   nlookup  references the kernel holds (lookup/create/link/readdirplus add
 *            one each; forget subtracts)
 *   nopen    open file handles
 * When nlink and nopen are both zero the contents of a regular file can never
 * be read again, so its pages are freed at once (the space comes back at
 * unlink or last close); the inode itself goes when nlookup reaches zero too.
 *
 * Locks, always taken in this order:
 *   sfs.ns_lock    the namespace: every directory, parent pointer, nlink
 *                  change, nlookup, nopen and the inode list
 *   inode.lock     (rwlock) the inode's attributes, xattrs and contents
 * nlink is written holding both, so either lock suffices to read it.
 *
 * The filesystem instance (struct sfs, the sfs_* functions) is in sfs.c.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "dir.h"
#include "object.h"
#include "space.h"
#include "store.h"

struct sfs;

struct xattr {
	struct xattr *next;
	size_t size;           /* value bytes */
	char *value;
	char name[];
};

struct inode {
	/* Immutable from creation. */
	uint64_t ino;          /* st_ino; also the generation, as ino is never reused */
	mode_t type;           /* S_IFMT bits */
	dev_t rdev;
	struct sfs *fs;

	pthread_rwlock_t lock;
	mode_t mode;           /* [lock] permission bits (07777) */
	uid_t uid;             /* [lock] */
	gid_t gid;             /* [lock] */
	struct timespec atime, mtime, ctime; /* [lock] */
	struct xattr *xattrs;  /* [lock] */
	size_t xattr_bytes;    /* [lock] names + values, bounded */
	nlink_t nlink;         /* [ns_lock + lock] */
	/*
	 * [lock] While a refused write(2)'s range is made safe (inode_write_fenced),
	 * write-back into pages [fence_first, fence_end) is refused with
	 * -fence_err; fences counts the refusals whose ranges it spans.
	 */
	uint64_t fence_first, fence_end;
	unsigned fences;
	int fence_err;

	uint64_t nlookup;      /* [ns_lock] */
	uint64_t nopen;        /* [ns_lock] */
	struct inode *prev, *next; /* [ns_lock] every inode, for teardown */

	union {
		struct object obj; /* S_IFREG on the daemon path, [lock] */
		/*
		 * S_IFREG on the kernel path (kfile.h): the kernel file named by
		 * ino holds the bytes, the kernel serves its opens.
		 */
		struct {
			_Atomic uint64_t pages; /* st_blocks / 8 as last seen: in used */
			int32_t backing_id;     /* [lock] registered while opens > 0 */
			unsigned opens;         /* [lock] passthrough opens sharing it */
			bool lingers;           /* [lock] closed, but still mapped */
			bool listed;            /* [lock] on fs->opened */
			bool gone;              /* [lock] kernel file removed (reclaimed) */
			struct inode *next_open, *prev_open; /* [fs->open_lock] */
		} kf;
		struct {
			struct dir dir;        /* [ns_lock] */
			struct inode *parent;  /* [ns_lock] ".." */
			uint64_t size;         /* [lock] st_size, 20 bytes an entry as tmpfs */
		} d;               /* S_IFDIR */
		char *target;      /* S_IFLNK, immutable */
	};
};

struct kstore;

struct sfs_config {
	uint64_t capacity_pages;
	uint64_t overdraft_pages;
	enum space_policy policy;
	uint64_t max_inodes;   /* 0 = unlimited */
	mode_t root_mode;      /* permission bits */
	uid_t root_uid;
	gid_t root_gid;
	struct store *store;   /* where pages live; the filesystem owns it from sfs_init */
	struct kstore *kstore; /* or, on the kernel path, where kernel files live (owned
				  from sfs_init too); NULL on the daemon path */
	const char *store_name; /* the kind's, for the figures (store.h) */
};

struct sfs {
	pthread_mutex_t ns_lock;
	struct inode *root;        /* immutable */
	struct inode *all;         /* [ns_lock] */
	_Atomic uint64_t next_ino;
	struct space space;
	struct store *store;       /* immutable; NULL on the kernel path */
	struct kstore *kstore;     /* immutable; NULL on the daemon path */
	const char *store_name;    /* immutable: user.sparsefs.store */
	pthread_mutex_t open_lock;
	struct inode *opened;      /* [open_lock] kernel files open: their pages move */
	_Atomic uint64_t forget_underflows; /* forgets past a lookup count (bugs) */
	struct inode *dead;        /* [ns_lock] unlinked inodes, freed by sfs_unlock */
	struct grave *graves;      /* [ns_lock] objects of unreachable files, likewise */
};

/* A file's contents taken off its inode, to be freed outside ns_lock. */
struct grave {
	struct grave *next;
	struct object obj;     /* the daemon path */
	uint64_t key, pages;   /* the kernel path: the kernel file and what it held */
};

/*
 * Drops ns_lock, then frees what inode_reclaim set aside meanwhile: every
 * function that may reclaim an inode unlocks with it.
 */
void sfs_unlock(struct sfs *fs);

/* Sets up an empty filesystem with its root directory; 0 or -ENOMEM. */
int sfs_init(struct sfs *fs, const struct sfs_config *cfg);

/* Frees every inode, page and the store. No request may be in flight. */
void sfs_destroy(struct sfs *fs);

/* An inode number no inode has had on this mount. */
uint64_t inode_new_ino(struct sfs *fs);

/*
 * A new inode of mode (type and permissions), nlink 1 (2 for a directory),
 * linked into the inode list but into no directory. ino is its number from
 * inode_new_ino, or 0 for a new one; a regular file on the kernel path needs
 * its kernel file, made by the caller under that number. target is the
 * symlink's text (copied), NULL otherwise. Needs ns_lock. Returns 0, -ENOSPC
 * (inode budget) or -ENOMEM.
 */
int inode_create(struct sfs *fs, uint64_t ino, mode_t mode, uid_t uid, gid_t gid, dev_t rdev,
		 const char *target, struct inode **out);

/* Frees the inode, its contents, or nothing, as its counts allow: set aside
 * under ns_lock, freed by sfs_unlock. Needs ns_lock. */
void inode_reclaim(struct sfs *fs, struct inode *in);

/* Frees what an inode holds, and the inode; no lock: nobody can reach it (sfs.c). */
void inode_destroy(struct sfs *fs, struct inode *in);

/* Checks one inode's invariants, adding its st_blocks to *blocks; 0, or -1
 * after printing why. Needs ns_lock and in->lock (sfs_check). */
int inode_check(struct sfs *fs, struct inode *in, uint64_t *blocks);

/*
 * The kernel drops n references. More than the inode has is a bug in our
 * counting: logged once per mount, counted in forget_underflows, an assertion
 * failure in a build with assertions, clamped to zero otherwise.
 */
void sfs_forget(struct sfs *fs, struct inode *in, uint64_t n);

/* A file handle opens / closes. */
void sfs_open(struct sfs *fs, struct inode *in);
void sfs_release(struct sfs *fs, struct inode *in);

/* Whether the filesystem's regular files are kernel files (the kernel path). */
static inline bool sfs_kernel(const struct sfs *fs)
{
	return fs->kstore != NULL;
}

/*
 * The kernel path: the kernel may have changed the pages of every open or
 * still mapped file (writes and mapped stores it served): their figures are
 * read again, so that used is exact. Takes open_lock (and tries each inode's
 * lock, to let a file whose last mapping went leave the list).
 */
void sfs_refresh(struct sfs *fs);

/*
 * The mount's bytes in data pages and in reserved ones: the daemon path's
 * counters, or on the kernel path every kernel file's figures (each file's
 * SEEK_DATA extents: as slow as the files are many). Takes ns_lock.
 */
int sfs_totals(struct sfs *fs, uint64_t *data, uint64_t *reserved);

/* What the store says of itself (store.h, struct store_about), either path's. */
void sfs_about(struct sfs *fs, struct store_about *out);

/*
 * The kernel path, around the passthrough opens of a file: the first open
 * registers its kernel file with reg (returning a backing id > 0, or
 * -errno), the last close drops it with unreg; the file joins the open ones
 * (sfs_refresh) meanwhile, and after the last close for as long as a mapping
 * of it lives. inode_kf_open returns the id to reply with, or
 * -errno; fd is the kernel file already open O_RDWR (ns_create's), which it
 * closes, or -1. Take in->lock and open_lock.
 */
int32_t inode_kf_open(struct inode *in, int fd, int32_t (*reg)(int fd, void *arg), void *arg);
void inode_kf_close(struct inode *in, void (*unreg)(int32_t id, void *arg), void *arg);
/*
 * inode_kf_open for a new inode whose kernel file the caller registered
 * already (kpool): its first open, with backing id id; closes fd. Returns id.
 */
int32_t inode_kf_adopt(struct inode *in, int fd, int32_t id);
/*
 * Whether the kernel may change the file's pages behind the daemon: it has
 * the file open (passthrough), or a mapping outlived the last release
 * (kfile_in_use, asked again each time until it is gone). Takes in->lock.
 */
bool inode_kf_live(struct inode *in);

/* Fills st from the inode. Takes in->lock shared. */
void inode_stat(struct inode *in, struct stat *st);

/*
 * inode_stat of a regular file on the kernel path as its kernel file was
 * made and stamped (kpool_stamp) at made: empty, accessed and modified then.
 * No system call: for CREATE's reply, before anything can have changed it.
 */
void inode_stat_made(struct inode *in, struct timespec made, struct stat *st);

/* Sets the change time (and, if mtime too, the modification time) to now. Needs lock held exclusively. */
void inode_touch(struct inode *in, int mtime_too);

enum {
	INODE_SET_MODE = 1 << 0,
	INODE_SET_UID = 1 << 1,
	INODE_SET_GID = 1 << 2,
	INODE_SET_SIZE = 1 << 3,
	INODE_SET_ATIME = 1 << 4,
	INODE_SET_MTIME = 1 << 5,
	INODE_SET_ATIME_NOW = 1 << 6,
	INODE_SET_MTIME_NOW = 1 << 7,
	INODE_SET_CTIME = 1 << 8,
};

struct inode_change {
	unsigned valid;        /* INODE_SET_* */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
	bool kill_suidgid;     /* the kernel's kill bit came with it (chown, truncate) */
	bool may_keep_sgid;    /* ...and S_ISGID without g+x may stay (inode_kill_suidgid) */
	const struct object_cancel *cancel; /* for a growing truncate; may be NULL */
};

/*
 * Applies the changes in ch (permissions were checked by the kernel) and sets
 * ctime, and mtime with a size unless ch gives one; a kill then clears S_ISUID/S_ISGID from the mode as
 * inode_kill_suidgid would, in the same step. Returns 0, -EISDIR/-EINVAL
 * for a size on a non-regular file, or what object_truncate returns. Takes
 * in->lock.
 */
int inode_setattr(struct inode *in, const struct inode_change *ch);

/* Data: take in->lock themselves; writes and truncates update mtime/ctime. */
ssize_t inode_write(struct inode *in, const void *buf, size_t size, uint64_t off);
/*
 * inode_write for a write(2) whose bytes the kernel has already copied into
 * its page cache: when not all of it is stored (an error, or a short count),
 * the pages of the part not stored, [off + stored, off + size), are fenced in
 * the same step, before the lock is let go: write-back into them is refused
 * (inode_write_wb) until inode_unfence. The caller then owes one
 * inode_unfence; *fenced says whether.
 */
ssize_t inode_write_fenced(struct inode *in, const void *buf, size_t size, uint64_t off,
			   bool *fenced);
void inode_unfence(struct inode *in);
/*
 * Kernel write-back of mmap'd pages: may take the overdraft (object_write_wb).
 * Into a fenced page: the fence's -errno, nothing stored, and *fenced set
 * (fenced may be NULL).
 */
ssize_t inode_write_wb(struct inode *in, const void *buf, size_t size, uint64_t off,
		       bool *fenced);
/* object_fallocate; updates mtime/ctime when it succeeds. */
int inode_fallocate(struct inode *in, int mode, uint64_t off, uint64_t len,
		    const struct object_cancel *cancel);
/* Truncates to zero, as open(O_TRUNC) does. */
int inode_trunc_open(struct inode *in);
/*
 * What the VFS does to a file written or truncated by a caller without
 * CAP_FSETID, or to any file but a directory chowned: clears S_ISUID, and
 * S_ISGID if the group may execute or unless may_keep_sgid (the caller is
 * privileged or in the file's group). Directories keep both, as on Linux.
 * Sets ctime if it changed anything; returns whether it did. Takes in->lock.
 */
bool inode_kill_suidgid(struct inode *in, bool may_keep_sgid);

/*
 * A read or a listing: atime moves the way relatime moves it, if it is not
 * after mtime and ctime or is a day old. Takes in->lock.
 */
void inode_accessed(struct inode *in);

/*
 * Zero-copy read: takes in->lock shared and fills iov (see object_read_iov);
 * the caller sends the bytes and then calls inode_read_end. Updates atime the
 * way relatime does.
 */
size_t inode_read_begin(struct inode *in, size_t size, uint64_t off, struct iovec *iov,
			int maxiov, int *iovcnt);
void inode_read_end(struct inode *in);
/* Copying read, for when iov entries ran out; needs the lock from read_begin. */
ssize_t inode_read_copy(struct inode *in, void *buf, size_t size, uint64_t off);

/* object_seek under in->lock (shared). */
int64_t inode_seek(struct inode *in, uint64_t off, int whence);

/*
 * The file's figures for user.sparsefs.length/.data/.reserved: bytes. On the
 * kernel path from the kernel file (data: SEEK_DATA's extents). 0 or -errno.
 */
int inode_figures(struct inode *in, uint64_t *length, uint64_t *data, uint64_t *reserved);

/* xattrs; flags are XATTR_CREATE / XATTR_REPLACE. Take in->lock. */
int inode_setxattr(struct inode *in, const char *name, const void *value, size_t size,
		   int flags);
/* Returns the value's size (copied if size allows), -ERANGE, or -ENODATA. */
ssize_t inode_getxattr(struct inode *in, const char *name, void *buf, size_t size);
/* Returns the size of the NUL-separated name list (copied if size allows) or -ERANGE. */
ssize_t inode_listxattr(struct inode *in, char *buf, size_t size);
int inode_removexattr(struct inode *in, const char *name);

/*
 * Checks every inode's counts, directory and object, and used == sum of
 * st_blocks / 8; 0 or -1. Takes ns_lock. Data requests do not take ns_lock,
 * so call it only while none is in flight (the sums would be torn otherwise).
 */
int sfs_check(struct sfs *fs);

#endif
