/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store's watcher (rados_store.h): the pool's figures, read every
 * second while the mount is busy or the pool near full and every 15 s
 * otherwise, what backing_free makes of them, and the mount's lock, renewed.
 */
#include "rados_store.h"

#include <errno.h>

/* ---- the pool's figures ---- */

/*
 * Reads the pool's figures (rados_pool_figures) into the store; 0 or -errno
 * (the figures are not changed then).
 */
int rs_read_figures(struct rados_store *rs, rados_t cl)
{
	struct rados_figures f;
	uint64_t max_avail, stored, quota;
	int ret = rados_pool_figures(cl, rs->pool, &f);

	if (ret)
		return ret;
	max_avail = f.max_avail;
	stored = f.stored;
	quota = f.quota;
	pthread_mutex_lock(&rs->lock);
	rs->max_avail = max_avail;
	rs->stored = stored;
	rs->quota = quota;
	rs->free_bytes = max_avail;
	if (quota)
		rs->free_bytes = stored >= quota ? 0 : quota - stored < max_avail ? quota - stored
									    : max_avail;
	rs->read_ms = mono_ms();
	rs->have_figures = true;
	/* What was allocated up to now, for backing_free's look back. */
	rs->samples[rs->sample_at] = (struct sample){ rs->read_ms, rs->allocated };
	rs->sample_at = (rs->sample_at + 1) % SAMPLES;
	if (rs->nsamples < SAMPLES)
		rs->nsamples++;
	pthread_mutex_unlock(&rs->lock);
	return 0;
}

/*
 * Pages allocated since FIGURES_LAG_MS before the last reading, which the
 * figures may not show yet; pages given back meanwhile count only against
 * those (they may be in the figures already). Lock held.
 */
static uint64_t allocated_since_figures(const struct rados_store *rs)
{
	int64_t then = rs->read_ms - FIGURES_LAG_MS;
	uint64_t base = rs->nsamples ? rs->allocated : 0;

	/* The newest sample taken at or before then; else the oldest one. */
	for (unsigned k = 0; k < rs->nsamples; k++) {
		const struct sample *s = &rs->samples[(rs->sample_at + SAMPLES - 1 - k) % SAMPLES];

		base = s->allocated;
		if (s->ms <= then)
			break;
	}
	return rs->allocated > base ? rs->allocated - base : 0;
}

uint64_t rs_backing_free(struct store *st)
{
	struct rados_store *rs = (struct rados_store *)st;
	uint64_t pages, since;

	pthread_mutex_lock(&rs->lock);
	pages = rs->free_bytes / PAGE_SIZE;
	since = allocated_since_figures(rs);
	pthread_mutex_unlock(&rs->lock);
	return pages > since ? pages - since : 0;
}

/*
 * How long the last figures may stand: FIGURES_BUSY_MS while the mount has
 * changed what it holds in the last BUSY_MS or the pool is near full (where
 * a late figure matters), FIGURES_IDLE_MS otherwise, so that an idle mount
 * costs the monitors one command per 15 s rather than two a second: hundreds
 * of mounts share a cluster. Lock held.
 */
static int64_t figures_period(const struct rados_store *rs, int64_t now, int64_t changed_ms)
{
	bool near_full = rs->free_bytes < NEAR_FULL_BYTES ||
			 rs->free_bytes < (rs->stored + rs->free_bytes) / NEAR_FULL_SHARE;

	return now - changed_ms < BUSY_MS || near_full ? FIGURES_BUSY_MS : FIGURES_IDLE_MS;
}

/* Reads the figures (figures_period) and renews the mount's lock. */
void *rs_watcher(void *arg)
{
	struct rados_store *rs = arg;
	int64_t renewed = mono_ms(), changed_ms = mono_ms();
	uint64_t seen;
	struct timeval dur = { RADOS_LOCK_S, 0 };

	pthread_mutex_lock(&rs->lock);
	seen = rs->allocated;
	while (!rs->stop) {
		struct timespec ts;
		int64_t now;
		bool read, renew;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FIGURES_BUSY_MS / 1000;
		pthread_cond_timedwait(&rs->changed, &rs->lock, &ts);
		now = mono_ms();
		if (rs->allocated != seen) {
			seen = rs->allocated;
			changed_ms = now;
		}
		read = now - rs->read_ms >= figures_period(rs, now, changed_ms);
		renew = now - renewed >= RADOS_LOCK_RENEW_S * 1000;

		if (rs->stop || (!read && !renew))
			continue;
		pthread_mutex_unlock(&rs->lock);
		if (read)
			rs_read_figures(rs, rs->cluster); /* failing, the last figures stand */
		if (renew) {
			int r = rados_lock_exclusive(rs->io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME,
						     rs->ns, "sparsefs mount", &dur,
						     LIBRADOS_LOCK_FLAG_MAY_RENEW);

			if (r)
				rs_say_error(rs, "renewing the lock on", RADOS_MOUNT_OBJECT, r);
			else
				renewed = mono_ms();
		}
		pthread_mutex_lock(&rs->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	return NULL;
}
