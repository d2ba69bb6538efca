/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_KFILE_H
#define SPARSEFS_KFILE_H

/*
 * kfile: the kernel data path's files. Each regular file of a mount on the
 * kernel path has a kernel file of its own, in a place private to the mount
 * (a kstore), and the kernel serves read, write and mmap of its opens from
 * that file (FUSE passthrough, ops.c and loop.c). The daemon keeps names,
 * attributes and policies, does truncate, fallocate and SEEK_DATA/SEEK_HOLE on
 * the kernel file itself, and takes every figure from it: its length and
 * blocks are the file's, so used == sum of st_blocks / 8 holds by
 * construction.
 *
 *   kstore (memory)   a tmpfs instance of the mount's own, mounted nowhere (a
 *                     detached mount from fsopen/fsmount: no path reaches it,
 *                     and it goes with its last descriptor, kill -9 included),
 *                     sized to the capacity, so that the kernel itself refuses
 *                     pages past it; huge=never, so a page costs a page
 *   kstore (disk)     DIR/.sparsefs-kernel.XXXXXX, mode 0700, held with an
 *                     flock while the mount lives: what a killed daemon left
 *                     is found unlocked and removed by the next mount of the
 *                     same DIR, or by sparsefs-clean DIR
 *
 *   kernel file:  <kstore>/<inode number, 16 hex digits>
 *
 * A closed file costs the daemon no descriptor: every call opens the kernel
 * file by name for as long as it needs it.
 *
 * All functions return 0 (or a count) or -errno. No locks of their own: the
 * caller serializes calls for one file (the inode's lock).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct kstore {
	int dirfd;        /* where the kernel files are */
	bool memory;      /* a private tmpfs sized to the capacity */
	bool self_undo;   /* its fallocate(2) undoes itself on failure (tmpfs) */
	char fstype[32];  /* of the files' filesystem */
	char *where;      /* for messages and figures: "-" (memory) or the directory */
	const char *shared; /* what else takes from the same backing (store_about) */
	int parentfd;     /* disk: DIR, where the private directory is */
	char name[40];    /* disk: the private directory's name in DIR */
};

/*
 * The memory kstore: a private tmpfs of capacity_bytes. NULL with errno set
 * (EPERM without CAP_SYS_ADMIN, ENOSYS on a kernel without fsopen).
 */
struct kstore *kstore_memory(uint64_t capacity_bytes);

/*
 * The disk kstore in DIR: removes what killed daemons left there first. NULL
 * after one line on stderr naming the problem.
 */
struct kstore *kstore_disk(const char *dir);

/* Removes every kernel file and the kstore (its directory, for disk). */
void kstore_destroy(struct kstore *ks);

/* Pages the backing can still give (memory: MemAvailable + SwapFree; disk:
 * its filesystem's f_bavail), and its own limit of pages (tmpfs: its size;
 * disk: UINT64_MAX). */
uint64_t kstore_backing_free(struct kstore *ks);

/* Removes what killed daemons left in dir (sparsefs-clean): how many, or -errno. */
int kstore_clean(const char *dir, bool dry_run);

/* A new, empty kernel file for key: 0, -EEXIST, -ENOSPC (inodes), -errno. */
int kfile_create(struct kstore *ks, uint64_t key);

/* kfile_create, keeping the new file open O_RDWR: its fd, or -errno as there. */
int kfile_make(struct kstore *ks, uint64_t key);

/* Removes key's kernel file (its pages go once nothing holds it open). */
void kfile_remove(struct kstore *ks, uint64_t key);

/* The kernel file opened (flags as open(2), O_CLOEXEC added): fd or -errno. */
int kfile_open(struct kstore *ks, uint64_t key, int flags);

/* fstat of the kernel file: 0 or -errno. */
int kfile_stat(struct kstore *ks, uint64_t key, struct stat *st);

/* Pages st_blocks counts, of a stat. */
static inline uint64_t kfile_pages(const struct stat *st)
{
	return ((uint64_t)st->st_blocks + 7) / 8;
}

/* ftruncate; -EFBIG past the filesystem's largest file. */
int kfile_truncate(struct kstore *ks, uint64_t key, uint64_t length);

/*
 * A long fallocate gives up, undone whole, with -EINTR when its caller asks:
 * requested is asked between chunks; and where one system call does it all
 * (tmpfs, which stops only for a fatal signal), the call is made by a helper
 * process (vfork), whose pid is in helper while it runs: kfile_cancel_now
 * kills it, and tmpfs undoes what it had allocated.
 */
struct kfile_cancel {
	bool (*requested)(void *arg);
	void *arg;
	_Atomic int helper;    /* pid of the helper, 0 when none */
	_Atomic bool cancelled;
};

/* From any thread: cancels the fallocate c belongs to. */
void kfile_cancel_now(struct kfile_cancel *c);

/*
 * fallocate(2) on the kernel file, all or nothing (DESIGN.md): modes 0,
 * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE[|KEEP_SIZE] (a reservation,
 * then zeros written over the data: tmpfs has no ZERO_RANGE). At most room
 * new pages may be taken (-ENOSPC before anything changes if the holes of the
 * range need more: the disk kstore's capacity; UINT64_MAX for none). A failure
 * (ENOSPC, EINTR, EFBIG) leaves no page reserved that was a hole and no
 * length changed: the filesystem undoes its own (tmpfs), or the holes found
 * before (FIEMAP) are punched again. -EOPNOTSUPP for other modes.
 */
int kfile_fallocate(struct kstore *ks, uint64_t key, int mode, uint64_t off, uint64_t len,
		    uint64_t room, struct kfile_cancel *cancel);

/*
 * Whether anything but the daemon still has the kernel file open for
 * writing: a mapping that outlived the FUSE file's release (the kernel's
 * passthrough mmap maps the kernel file itself), or an open the kernel has
 * not dropped yet. Probed with a write lease, which the kernel grants only
 * to the file's one open; true where it cannot tell.
 */
bool kfile_in_use(struct kstore *ks, uint64_t key);

/*
 * kfile_in_use and kfile_stat in one (one open of the file fewer): 0 with
 * *st and *in_use filled, or -errno (-ENOENT: gone, and so not in use).
 */
int kfile_probe(struct kstore *ks, uint64_t key, struct stat *st, bool *in_use);

/* SEEK_DATA / SEEK_HOLE on the kernel file: the offset, -ENXIO, -EINVAL. */
int64_t kfile_seek(struct kstore *ks, uint64_t key, uint64_t off, int whence);

/*
 * Bytes in data pages (SEEK_DATA's extents, page-rounded) of the kernel file
 * whose stat is st; its reserved bytes are st_blocks * 512 less these.
 */
int kfile_data_bytes(struct kstore *ks, uint64_t key, const struct stat *st, uint64_t *data);

/* Sets atime and mtime of the kernel file (times as utimensat(2) takes them). */
int kfile_utimes(struct kstore *ks, uint64_t key, const struct timespec times[2]);

#endif
