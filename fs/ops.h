/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_OPS_H
#define SPARSEFS_OPS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "inode.h"

/* The session's userdata: the filesystem and how the kernel should treat it. */
struct sparsefs_mount {
	struct sfs fs;
	/* -o writeback_cache: write(2) lands in the kernel's page cache and reaches
	 * us as write-back, like a store into a mapping (see sparsefs(8)). */
	bool writeback_cache;
	/* For notifications to the kernel from a handler. */
	struct fuse_session *se;
	bool fs_ready; /* fs was set up (sfs_init), after INIT */
	/* The kernel path: kernel files made ahead for creates (kpool.h), or NULL. */
	struct kpool *kpool;
};

/*
 * The kernel path's pool of made kernel files, for m's creates: started after
 * the daemon went to the background (it is a thread), stopped after the
 * session loop. Without one, creates make their own: a failed start is only
 * said.
 */
void sparsefs_kpool_start(struct sparsefs_mount *m);
void sparsefs_kpool_stop(struct sparsefs_mount *m);

/* Every request handler. */
extern const struct fuse_lowlevel_ops sparsefs_ops;

/*
 * The session loop (loop.c). True while this thread handles a WRITE, SETATTR
 * or OPEN whose kill bit the kernel set (FUSE_HANDLE_KILLPRIV_V2): clear
 * S_ISUID and S_ISGID as the VFS would have (inode_kill_suidgid).
 */
extern __thread bool sparsefs_kill_suidgid;

struct sparsefs_loop;

/*
 * Puts the reply hook in place and answers INIT (the first request), asking
 * for passthrough if passthrough_wanted and the kernel offers it: 0, -ENODEV
 * if the mount went away first, or -errno. Before any worker, and before the
 * process daemonizes, so that what INIT settled can still be said on the
 * terminal.
 */
int sparsefs_loop_init(struct fuse_session *se, bool passthrough_wanted);
/* Whether INIT settled on passthrough (sparsefs_loop_init). */
bool sparsefs_passthrough(void);
/*
 * In an OPEN or CREATE handler, before fuse_reply_open/fuse_reply_create:
 * the reply is to make the kernel serve the file from the backing file
 * registered as backing_id (kfile.h), not from the daemon.
 */
void sparsefs_reply_passthrough(int32_t backing_id);
/* Starts nthreads - 1 workers; the caller is the last (sparsefs_loop_run). */
int sparsefs_loop_start(struct fuse_session *se, unsigned nthreads, struct sparsefs_loop **out);
/* Serves on the calling thread until a signal, an unmount or a failed read. */
void sparsefs_loop_run(struct sparsefs_loop *l);
/* Ends the session: stops the other workers between requests, frees l;
 * -errno if any worker's read failed, else 0. */
int sparsefs_loop_stop(struct sparsefs_loop *l);
/*
 * Around a handler's wait for the kernel to finish something that sends
 * requests of its own (an invalidation that launders dirty pages): if every
 * other worker is waiting too, one more is started, so that those requests
 * are served. Extra workers serve until the session ends.
 */
void sparsefs_loop_wait_begin(void);
void sparsefs_loop_wait_end(void);

/*
 * A write(2) the handler is about to refuse, wholly or from refused_off on
 * (refusal.c): makes the kernel drop the page-cache folios it already copied
 * the refused bytes into, before the refusal is answered. The pages must be
 * fenced (inode_write_fenced) until this returns. Write-through mounts only.
 */
void refusal_make_safe(struct fuse_session *se, fuse_ino_t ino, uint64_t req_off,
		       size_t req_size, uint64_t refused_off);
/* At unmount: waits (at most 5 s) for invalidations still under way. */
void refusal_drain(void);

#endif
