/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store's trimmer (rados_store.h): runs, a batch at a time, the
 * plans rados_pack.c makes for slabs that changed: zero the places given back,
 * move the highest pages down into holes, cut the object after its last page,
 * or remove it.
 */
#include "rados_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the trimmer ---- */

/* The write op that carries out plan p (moved pages' bytes in buf). */
static void build_plan_op(const struct pack_plan *p, struct pending_op *op, const char *buf)
{
	rados_write_op_t w = op->wop;

	/* Only what exists: a trim never makes an object. */
	rados_write_op_assert_exists(w);
	if (p->remove) {
		rados_write_op_remove(w);
		return;
	}
	for (size_t m = 0; m < p->nmove; m++)
		rados_write_op_write(w, buf + m * PAGE_SIZE, PAGE_SIZE,
				     (uint64_t)p->move[m].to * PAGE_SIZE);
	for (size_t z = 0; z < p->nzero; z++)
		rados_write_op_zero(w, (uint64_t)p->zero[z].first * PAGE_SIZE,
				    (uint64_t)p->zero[z].n * PAGE_SIZE);
	if (p->truncate < p->top)
		rados_write_op_truncate(w, (uint64_t)p->truncate * PAGE_SIZE);
}

/*
 * Reads the pages plan p moves into buf (zeros past the object's end: a page
 * backed for a write that has not come yet); 0 or -errno.
 */
static int read_moved(struct rados_store *rs, const struct pack_plan *p, char *buf)
{
	struct pending_op op = { 0 };
	size_t *got = calloc(p->nmove, sizeof(*got));
	int *rval = calloc(p->nmove, sizeof(*rval));
	int ret = -ENOMEM;

	slab_object_name(op.oid, p->slab);
	op.rop = rados_create_read_op();
	if (got && rval && op.rop) {
		for (size_t m = 0; m < p->nmove; m++)
			rados_read_op_read(op.rop, (uint64_t)p->move[m].from * PAGE_SIZE, PAGE_SIZE,
					   buf + m * PAGE_SIZE, &got[m], &rval[m]);
		ret = pending_send(rs, &op);
		if (!ret)
			ret = pending_finish(&op);
		for (size_t m = 0; !ret && m < p->nmove; m++) {
			if (rval[m] < 0)
				ret = rval[m];
			else
				memset(buf + m * PAGE_SIZE + got[m], 0, PAGE_SIZE - got[m]);
		}
	} else {
		pending_release(&op);
	}
	free(got);
	free(rval);
	return ret;
}

/*
 * One round: up to TRIM_BATCH queued slabs planned, their moves read, and
 * every plan's operation in flight at once. Lock held (dropped meanwhile).
 */
static void trim_round(struct rados_store *rs)
{
	struct pack_plan *plans = rs->plans;
	struct pending_op ops[TRIM_BATCH];
	char *bufs[TRIM_BATCH] = { NULL };
	int res[TRIM_BATCH];
	size_t k = 0, moving = 0;

	memset(ops, 0, sizeof(ops));
	while (k < TRIM_BATCH && moving < MOVE_PLANS && pack_plan(&rs->pack, &plans[k]))
		moving += plans[k++].nmove > 0;
	/* A move waits for the I/O in flight to its slab (new I/O waits for it). */
	for (size_t i = 0; i < k; i++)
		while (plans[i].nmove && rs->pack.slabs[plans[i].slab].inflight)
			pthread_cond_wait(&rs->changed, &rs->lock);
	pthread_mutex_unlock(&rs->lock);
	for (size_t i = 0; i < k; i++) {
		res[i] = 0;
		slab_object_name(ops[i].oid, plans[i].slab);
		if (plans[i].nmove) {
			bufs[i] = malloc(plans[i].nmove * PAGE_SIZE);
			res[i] = bufs[i] ? read_moved(rs, &plans[i], bufs[i]) : -ENOMEM;
		}
		if (!res[i]) {
			ops[i].wop = rados_create_write_op();
			res[i] = ops[i].wop ? 0 : -ENOMEM;
		}
		if (!res[i]) {
			build_plan_op(&plans[i], &ops[i], bufs[i]);
			res[i] = pending_send(rs, &ops[i]);
		}
	}
	for (size_t i = 0; i < k; i++) {
		int r = ops[i].done ? pending_finish(&ops[i]) : res[i];

		/* An object that does not exist had nothing to zero or cut. */
		if (r == -ENOENT && !plans[i].nmove)
			r = 0;
		res[i] = r;
		free(bufs[i]);
		/* Failing, the space only stays taken until the slab changes again
		 * or unmount removes it. A full pool refuses a move whose page
		 * lands past the object's end (a page backed for a write that has
		 * not come): not worth a line, as for any write to a full pool. */
		if (r && r != -ENOSPC && r != -EDQUOT)
			rs_say_error(rs, "trimming", ops[i].oid, r);
	}
	pthread_mutex_lock(&rs->lock);
	for (size_t i = 0; i < k; i++) {
		pack_done(&rs->pack, &plans[i], res[i] == 0);
		rs->moved += res[i] == 0 ? plans[i].nmove : 0;
	}
	pthread_cond_broadcast(&rs->changed);
}

void *rs_trimmer(void *arg)
{
	struct rados_store *rs = arg;

	pthread_mutex_lock(&rs->lock);
	while (!rs->stop) {
		if (rs->pack.qhead)
			trim_round(rs);
		else
			pthread_cond_wait(&rs->changed, &rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}
