/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_STORE_RADOS_H
#define SPARSEFS_STORE_RADOS_H

/*
 * What a RADOS pool holds for sparsefs, shared by the store (store_rados.c)
 * and sparsefs-clean, which removes what killed daemons left behind.
 *
 *   pool POOL
 *     namespace "sparsefs.<16 hex>"     one per mount, a random mount id
 *       "sparsefs.mount"                made first, removed last; holds the
 *                                       live mount's lock (renewed every
 *                                       RADOS_LOCK_RENEW_S, lapses after
 *                                       RADOS_LOCK_S without renewal)
 *       "<key %016x>.<chunk %011x>"     bytes [chunk * 4 MiB, +4 MiB) of the
 *                                       file with that key (inode number)
 *
 * A namespace whose mount object is missing, or whose lock can be taken, has
 * no live daemon: everything in it may be removed.
 */

#define RADOS_NS_PREFIX "sparsefs."
#define RADOS_MOUNT_OBJECT "sparsefs.mount"
#define RADOS_LOCK_NAME "sparsefs.live"
#define RADOS_LOCK_S 30
#define RADOS_LOCK_RENEW_S 10
#define RADOS_CHUNK_SHIFT 22 /* 4 MiB objects, as RBD and CephFS use */
#define RADOS_CONNECT_TIMEOUT_S 10

#include <rados/librados.h>

/*
 * A connected cluster handle as the rados command would make it: conf NULL
 * for CEPH_CONF or /etc/ceph/ceph.conf, id NULL for client.admin, every
 * operation bounded by timeout_s. 0, or -errno with *why saying what failed.
 */
int store_rados_connect(const char *conf, const char *id, unsigned timeout_s, rados_t *out,
			const char **why);

#endif
