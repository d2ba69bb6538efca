/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_NS_H
#define SPARSEFS_NS_H

/*
 * ns: the namespace operations — names in directories and the link counts
 * they imply. Each takes sfs.ns_lock for its whole length (then inode locks,
 * in that order) and returns 0 or -errno. Every call that hands an inode to
 * the caller (lookup, make, link) adds one to its nlookup, as the kernel
 * expects of a reply that carries an entry.
 *
 * Names are NUL-terminated; longer than 255 bytes is -ENAMETOOLONG.
 */

#include <stdint.h>
#include <sys/types.h>

#include "inode.h"

struct ns_owner {
	uid_t uid;
	gid_t gid;
};

int ns_lookup(struct sfs *fs, struct inode *parent, const char *name, struct inode **out);

/*
 * Makes an inode of `mode` (any type; target is a symlink's text) called name
 * in parent, owned by `who` — with the group of a set-group-ID parent, which
 * a new directory inherits the bit of. -EEXIST if the name is taken, -ENOENT
 * if parent has been removed.
 */
int ns_make(struct sfs *fs, struct inode *parent, const char *name, mode_t mode, dev_t rdev,
	    const char *target, struct ns_owner who, struct inode **out);

/* ns_make; a regular file's kernel file (kernel path) stays open, O_RDWR, in
 * *kfd for the caller to close (kfd untouched otherwise). */
int ns_create(struct sfs *fs, struct inode *parent, const char *name, mode_t mode,
	      dev_t rdev, const char *target, struct ns_owner who, int *kfd, struct inode **out);

/* A new name for in. -EPERM for a directory, -ENOENT if in has no names left. */
int ns_link(struct sfs *fs, struct inode *in, struct inode *parent, const char *name);

int ns_unlink(struct sfs *fs, struct inode *parent, const char *name);
int ns_rmdir(struct sfs *fs, struct inode *parent, const char *name);

/* rename(2) and renameat2(2): flags RENAME_NOREPLACE or RENAME_EXCHANGE. */
int ns_rename(struct sfs *fs, struct inode *parent, const char *name, struct inode *newparent,
	      const char *newname, unsigned flags);

/*
 * Calls emit for ".", ".." and every entry of dir from position off on, in
 * order, until it returns non-zero; next is the position after the entry.
 * ns_lock is held throughout, so emit may take inode locks and may add to
 * in->nlookup for the entries it hands to the kernel.
 */
typedef int (*ns_emit_fn)(void *arg, const char *name, struct inode *in, uint64_t next);
int ns_readdir(struct sfs *fs, struct inode *dir, uint64_t off, ns_emit_fn emit, void *arg);

#endif
