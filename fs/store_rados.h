/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_STORE_RADOS_H
#define SPARSEFS_STORE_RADOS_H

/*
 * What a RADOS pool holds for sparsefs, and what the store (store_rados.c)
 * and sparsefs-clean, which removes what killed daemons left behind, both do
 * to it (rados_pool.c).
 *
 *   pool POOL
 *     namespace "sparsefs.<16 hex>"     one per mount, a random mount id
 *       "sparsefs.mount"                made first, removed last; holds the
 *                                       live mount's lock (renewed every
 *                                       RADOS_LOCK_RENEW_S, lapses after
 *                                       RADOS_LOCK_S without renewal)
 *       "slab.<no %011x>"               4 MiB of pages of any files, packed
 *                                       (rados_pack.h); where each page lives
 *                                       is known only to the live daemon
 *
 * A namespace whose mount object is missing, or whose lock can be taken, has
 * no live daemon: everything in it may be removed.
 */

#define RADOS_NS_PREFIX "sparsefs."
#define RADOS_MOUNT_OBJECT "sparsefs.mount"
#define RADOS_LOCK_NAME "sparsefs.live"
#define RADOS_LOCK_S 30
#define RADOS_LOCK_RENEW_S 10
#define RADOS_SLAB_PREFIX "slab."
#define RADOS_SLAB_SHIFT 22 /* 4 MiB objects, as RBD and CephFS use */
#define RADOS_CONNECT_TIMEOUT_S 10

#include <rados/librados.h>

#include <stdint.h>

#define RADOS_OID_MAX 32 /* room for any object name sparsefs makes */

/*
 * A connected cluster handle as the rados command would make it: conf NULL
 * for CEPH_CONF or /etc/ceph/ceph.conf, id NULL for client.admin, every
 * operation bounded by timeout_s. 0, or -errno with *why saying what failed.
 */
int store_rados_connect(const char *conf, const char *id, const char *keyring, unsigned timeout_s,
			rados_t *out, const char **why);

/* A pool's figures as the cluster reports them (`ceph df`, `ceph osd pool get-quota`). */
struct rados_figures {
	uint64_t max_avail; /* bytes the pool can still take, replication counted */
	uint64_t stored;    /* bytes it stores (objects up to their highest byte) */
	uint64_t quota;     /* its max_bytes quota; 0 if none */
};

/*
 * Reads them; 0 or -errno: -ENOENT while the figures do not list the pool
 * (one just created, before the manager has seen it), -EPROTO for an answer
 * without them.
 */
int rados_pool_figures(rados_t cl, const char *pool, struct rados_figures *out);

/*
 * Removes every object of the namespace io is in, the mount object last
 * (which drops the mount's lock with it); *removed and *left count them.
 * 0, or the error that stopped the listing (the mount object then stays).
 */
int rados_remove_namespace(rados_ioctx_t io, long *removed, long *left);

#endif
