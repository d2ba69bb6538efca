/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_VXATTR_H
#define SPARSEFS_VXATTR_H

/*
 * vxattr: figures readable as extended attributes, so that stock tools
 * (getfattr, or a getxattr(2) call) can inspect a mount without a back door.
 *
 *   on a regular file      user.sparsefs.length    st_size, bytes
 *                          user.sparsefs.data      bytes in data pages
 *                          user.sparsefs.reserved  bytes in reserved pages
 *   on the root directory  user.sparsefs.capacity, .used, .data, .reserved,
 *                          .overdraft, .backing_free   (bytes)
 *                          user.sparsefs.policy    always | heuristic | never
 *                          user.sparsefs.dropped   write-back pages dropped
 *                          user.sparsefs.data_path kernel | daemon
 *                          user.sparsefs.store     the store's kind (store.h)
 *                          user.sparsefs.store_where, .store_fstype,
 *                          .store_shared           what it says of itself
 *                          user.sparsefs.store_figures  names of its own
 *                          figures, each at user.sparsefs.store.NAME
 *
 * Every name under user.sparsefs. belongs to sparsefs: such names are never
 * listed (so cp -a and rsync -X do not copy them) and cannot be set or
 * removed (EPERM). Values are decimal text without a newline.
 */

#include <stdbool.h>
#include <sys/types.h>

#include "inode.h"

#define VXATTR_PREFIX "user.sparsefs."

/* Does name belong to the virtual namespace? */
bool vxattr_is(const char *name);

/*
 * The value of name on in: its length (copied to buf if size allows; size 0
 * only asks the length), -ERANGE if size is too small, -ENODATA if in has no
 * such figure. Takes ns_lock (for the mount's totals) or in->lock.
 */
ssize_t vxattr_get(struct sfs *fs, struct inode *in, const char *name, char *buf, size_t size);

#endif
