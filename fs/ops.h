/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_OPS_H
#define SPARSEFS_OPS_H

#include <fuse_lowlevel.h>

/* Every request handler; the session's userdata is the struct sfs. */
extern const struct fuse_lowlevel_ops sparsefs_ops;

#endif
