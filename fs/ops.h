/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_OPS_H
#define SPARSEFS_OPS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "inode.h"

/* The session's userdata: the filesystem and how the kernel should treat it. */
struct sparsefs_mount {
	struct sfs fs;
	/* -o writeback_cache: write(2) lands in the kernel's page cache and reaches
	 * us as write-back, like a store into a mapping (see sparsefs(8)). */
	bool writeback_cache;
};

/* Every request handler. */
extern const struct fuse_lowlevel_ops sparsefs_ops;

#endif
