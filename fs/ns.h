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

/* A regular file's kernel file (the kernel path), for ns_create. */
struct ns_kfile {
	uint64_t ino; /* the inode number it was made under, with fd >= 0 */
	int fd;       /* open O_RDWR, made by the caller (kpool); or -1 */
};

/*
 * ns_make, for a regular file whose kernel file (the kernel path) the caller
 * needs open: kf->fd made by the caller under kf->ino becomes the new inode's
 * (and stays the caller's, to close, on success or not); with kf->fd -1,
 * ns_create makes one and leaves it open in kf on success.
 */
int ns_create(struct sfs *fs, struct inode *parent, const char *name, mode_t mode,
	      dev_t rdev, const char *target, struct ns_owner who, struct ns_kfile *kf,
	      struct inode **out);

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
