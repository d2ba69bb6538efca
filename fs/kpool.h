/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_KPOOL_H
#define SPARSEFS_KPOOL_H

/*
 * kpool: kernel files made ahead, for creates on the kernel path. A new
 * regular file needs a kernel file of its own, open and registered with the
 * kernel for passthrough: the backing filesystem's own create (a journal
 * entry on ext4), the registration, and their descriptors -- system calls the
 * program waits through in CREATE's round trip. A thread of the pool makes
 * them ahead, each under an inode number of its own (inode_new_ino): made,
 * open O_RDWR and registered. A create takes one (kpool_take) and pays none of
 * those calls; the thread makes more when half are gone.
 *
 * A made file is empty and its times are those of its making: the taker
 * stamps them (kpool_stamp) before its inode gets its change time.
 * Where the pool cannot make files (the backing full, out of inodes, the
 * registration refused), kpool_take finds it empty and the create makes its
 * kernel file itself, as before, and says why if it fails.
 *
 * Files made and never taken go at kpool_stop: unregistered, closed, removed.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct sfs;
struct kpool;

struct kpool_file {
	uint64_t ino; /* its inode number, and its name in the kstore */
	int fd;       /* open O_RDWR: the taker closes it */
	int32_t id;   /* its backing id (> 0): the taker owns the registration */
};

/*
 * A pool for fs (on the kernel path), registering each file with reg (a
 * backing id > 0, or -errno) and dropping what is left with unreg at
 * kpool_stop. NULL with errno set if its thread cannot start.
 */
struct kpool *kpool_start(struct sfs *fs, int32_t (*reg)(int fd, void *arg),
			  void (*unreg)(int32_t id, void *arg), void *arg);

/* One made file into *out: true, or false if none is ready. */
bool kpool_take(struct kpool *p, struct kpool_file *out);

/*
 * Stamps a taken file's access and modification times with the present (as
 * a new file's): 0 or -errno. Called before the inode's own stamps, so that
 * its change time is never older than the kernel file's.
 */
int kpool_stamp(const struct kpool_file *f, struct timespec *now);

/*
 * Drops a taken file its taker could not use (a refused create): its
 * registration, descriptor and name go. (Not back into the pool: the
 * taker's failure may have removed its name already.)
 */
void kpool_drop(struct kpool *p, const struct kpool_file *f);

/* Ends the thread and drops every file not taken. */
void kpool_stop(struct kpool *p);

#endif
