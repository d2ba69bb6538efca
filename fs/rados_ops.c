/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store's asynchronous operations on slab objects (rados_store.h):
 * each pinned to its slab while in flight, so that no page of it moves.
 */
#include "rados_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* One line for a failed operation, at most one a second. */
void rs_say_error(struct rados_store *rs, const char *what, const char *oid, int err)
{
	int64_t now = mono_ms();
	bool say;

	atomic_fetch_add(&rs->io_errors, 1);
	pthread_mutex_lock(&rs->lock);
	say = now - rs->said_ms >= 1000;
	if (say)
		rs->said_ms = now;
	pthread_mutex_unlock(&rs->lock);
	if (say)
		fprintf(stderr, "sparsefs: rados %s/%s: %s %s: %s\n", rs->pool, rs->ns, what, oid,
			strerror(-err));
}

/* What a caller sees of a librados error. */
int rs_errno(int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return -ENOSPC;
	return err == -ENOMEM ? -ENOMEM : -EIO;
}

void slab_object_name(char *buf, uint64_t slab)
{
	snprintf(buf, RADOS_OID_MAX, RADOS_SLAB_PREFIX "%011" PRIx64, slab);
}

/* ---- asynchronous operations ---- */

void pending_release(struct pending_op *op)
{
	if (op->done)
		rados_aio_release(op->done);
	if (op->wop)
		rados_release_write_op(op->wop);
	if (op->rop)
		rados_release_read_op(op->rop);
	op->done = NULL;
	op->wop = op->rop = NULL;
}

/* Waits for op and releases it; its result. */
int pending_finish(struct pending_op *op)
{
	int ret;

	if (!op->done)
		return -EIO;
	rados_aio_wait_for_complete(op->done);
	ret = rados_aio_get_return_value(op->done);
	pending_release(op);
	return ret;
}

/* Sends op (its wop or rop built); 0, or the error with op released. */
int pending_send(struct rados_store *rs, struct pending_op *op)
{
	int ret = rados_aio_create_completion2(NULL, NULL, &op->done);

	if (ret)
		op->done = NULL;
	else if (op->wop)
		ret = rados_aio_write_op_operate(op->wop, rs->io, op->done, op->oid, NULL,
						 LIBRADOS_OPERATION_FULL_TRY);
	else
		ret = rados_aio_read_op_operate(op->rop, rs->io, op->done, op->oid,
						LIBRADOS_OPERATION_NOFLAG);
	if (ret)
		pending_release(op);
	return ret;
}

/* An op for slab's object, pinned: the slab's pages do not move while it is
 * in flight. Lock held; the slab is not moving. */
void pending_start(struct rados_store *rs, struct pending_op *op, uint64_t slab, bool write)
{
	op->slab = slab;
	slab_object_name(op->oid, slab);
	op->pinned = true;
	rs->pack.slabs[slab].inflight++;
	if (write)
		op->wop = rados_create_write_op();
	else
		op->rop = rados_create_read_op();
}

/* Unpins the k ops; lock held. A move waiting for a slab's I/O is woken. */
void pending_unpin(struct rados_store *rs, struct pending_op *ops, size_t k)
{
	bool wake = false;

	for (size_t i = 0; i < k; i++) {
		struct pack_slab *s;

		if (!ops[i].pinned)
			continue;
		s = &rs->pack.slabs[ops[i].slab];
		ops[i].pinned = false;
		wake |= --s->inflight == 0 && s->moving;
	}
	if (wake)
		pthread_cond_broadcast(&rs->changed);
}

/*
 * Waits for the k ops sent (and unpins all n); err, or else the first op's
 * error. Failures are said, except a full pool (the caller's ENOSPC says it).
 */
int pending_finish_all(struct rados_store *rs, struct pending_op *ops, size_t k, size_t n,
		      int err, const char *what)
{
	for (size_t i = 0; i < k; i++) {
		int r = pending_finish(&ops[i]);

		if (r && !err)
			err = r;
		if (r && r != -ENOSPC && r != -EDQUOT)
			rs_say_error(rs, what, ops[i].oid, r);
	}
	for (size_t i = k; i < n; i++)
		pending_release(&ops[i]);
	pthread_mutex_lock(&rs->lock);
	pending_unpin(rs, ops, n);
	pthread_mutex_unlock(&rs->lock);
	return err;
}
