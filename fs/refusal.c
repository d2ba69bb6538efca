/* SPDX-License-Identifier: MIT */
/*
 * A refused write(2) and the kernel's stale folio: the refused range is made
 * safe before the refusal is answered.
 *
 * What the kernel does (fs/fuse/file.c, from 5.13, commit 4f06dd92b5d0 "fuse:
 * fix write deadlock", to at least 6.18): in write-through mode
 * fuse_perform_write copies the caller's bytes into the page-cache folios
 * *before* it sends FUSE_WRITE. A folio copied whole is marked up to date and
 * unlocked; the request's last folio, if the copy covers it only in part and
 * it was not up to date, stays locked by the writer until the reply. When the
 * reply is an error, or a short count, fuse_send_write_pages clears uptodate
 * on every folio from the first one not wholly acknowledged, and leaves them
 * in the page cache, mapped. fuse_page_mkwrite does not look at uptodate, so
 * a store through a MAP_SHARED mapping lands in such a folio and dirties it;
 * the next read(2) re-reads the folio from the daemon over the store; msync
 * and fsync then write the daemon's old bytes back and return 0: silent loss.
 * A folio that was dirty already has the refused bytes copied over what a
 * mapping stored in it. No upstream fix (linux-fsdevel, Dec 2025: the fix
 * would be to ask the server before copying).
 *
 * The defence, all before the refusal is answered (invalidating after it
 * leaves the window open, and a short count instead of an error clears the
 * same folios):
 *  - the refused pages are fenced as the refusal is decided, under the
 *    inode's lock (inode_write_fenced): write-back into them is refused and
 *    counted, so that laundering never stores refused bytes, and a store that
 *    was in such a folio is reported by msync/fsync;
 *  - a helper thread asks the kernel to invalidate the range
 *    (FUSE_NOTIFY_INVAL_INODE: invalidate_inode_pages2_range zaps the
 *    mappings, launders each dirty folio through a write-back WRITE that
 *    another worker serves and refuses, and drops the folios, in index order)
 *    while the handler waits;
 *  - the request's last page, if the request covers it only in part, may be
 *    the folio the writer holds locked: it is invalidated last, on its own,
 *    and the handler waits for it only until the helper is seen asleep on a
 *    folio lock (its wchan): such a folio was not up to date, so nothing
 *    mapped it and it holds no store to save; the helper drops it after the
 *    answer. Without wchan, a bound.
 * A store made after the answer finds no folio and faults the daemon's bytes
 * in afresh: it is kept, or (a new page on a full mount) reported like any
 * write-back refused for lack of space.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "page.h"

/* The longest a refusal waits for its range, whatever happens (then logged). */
#define WAIT_MAX_MS 10000
/* Without a readable wchan: how long the last page may keep the helper. */
#define LOCKED_GUESS_MS 200
/* A sleep on a folio lock this long in the first range is the writer's too
 * (a kernel whose folios are larger than a page). */
#define FIRST_LOCKED_MS 500

struct inval {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fuse_session *se;
	fuse_ino_t ino;
	off_t off[2], len[2]; /* [1] is the last page, len 0 if there is none */
	unsigned done;        /* [lock] ranges invalidated */
	pid_t tid;            /* [lock] the helper, once it runs */
	unsigned refs;        /* [lock] the handler's and the helper's */
};

/* Helpers still running, waited for at unmount (refusal_drain). */
static atomic_uint helpers;

static void put(struct inval *v)
{
	unsigned left;

	pthread_mutex_lock(&v->lock);
	left = --v->refs;
	pthread_mutex_unlock(&v->lock);
	if (left)
		return;
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static void *invalidate(void *arg)
{
	struct inval *v = arg;

	pthread_mutex_lock(&v->lock);
	v->tid = gettid();
	pthread_mutex_unlock(&v->lock);
	for (int i = 0; i < 2; i++) {
		if (v->len[i])
			fuse_lowlevel_notify_inval_inode(v->se, v->ino, v->off[i], v->len[i]);
		pthread_mutex_lock(&v->lock);
		v->done = (unsigned)i + 1;
		pthread_cond_broadcast(&v->cond);
		pthread_mutex_unlock(&v->lock);
	}
	put(v);
	atomic_fetch_sub(&helpers, 1);
	return NULL;
}

/* 1 if thread tid sleeps on a folio (page) lock, 0 if not, -1 if unknown. */
static int on_folio_lock(pid_t tid)
{
	char path[64], sym[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, sym, sizeof(sym) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	sym[n] = 0;
	/* "0" while running; a symbol while asleep, if the kernel names them */
	if (strcmp(sym, "0") == 0)
		return 0;
	return strstr(sym, "folio_wait_bit") || strstr(sym, "folio_lock") ||
	       strstr(sym, "wait_on_page_bit");
}

static uint64_t ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/*
 * Waits (v->lock held) until the helper has invalidated every range, or is
 * held by the writer's folio lock in the last one. Returns how it ended.
 */
static const char *wait_safe(struct inval *v, unsigned nranges)
{
	uint64_t start = ms_now(), locked_since = 0;
	unsigned seen_locked = 0;

	while (v->done < nranges) {
		struct timespec until;
		uint64_t now = ms_now();
		int l;

		if (now - start >= WAIT_MAX_MS)
			return "timed out";
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&v->cond, &v->lock, &until) != ETIMEDOUT || !v->tid)
			continue;
		l = on_folio_lock(v->tid);
		if (l <= 0)
			locked_since = 0, seen_locked = 0;
		else if (!seen_locked++)
			locked_since = ms_now();
		if (v->len[1] && v->done == nranges - 1) {
			/* The last page: asleep on its lock twice, a ms apart. */
			if (seen_locked >= 2)
				return NULL;
			if (l < 0 && ms_now() - start >= LOCKED_GUESS_MS)
				return NULL;
		} else if (seen_locked && ms_now() - locked_since >= FIRST_LOCKED_MS) {
			return "a folio lock held that long";
		}
	}
	return NULL;
}

void refusal_make_safe(struct fuse_session *se, fuse_ino_t ino, uint64_t req_off,
		       size_t req_size, uint64_t refused_off)
{
	uint64_t first = refused_off & ~(uint64_t)(SFS_PAGE_SIZE - 1);
	uint64_t end = req_off + req_size;
	uint64_t last = (end - 1) & ~(uint64_t)(SFS_PAGE_SIZE - 1);
	bool partial_last = (end & (SFS_PAGE_SIZE - 1)) || req_off > last;
	struct inval *v;
	pthread_condattr_t cattr;
	pthread_attr_t attr;
	pthread_t t;
	unsigned nranges = 1;
	const char *why;

	if (!req_size || refused_off >= end)
		return;
	v = calloc(1, sizeof(*v));
	if (!v)
		goto out_unsafe;
	pthread_mutex_init(&v->lock, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&v->cond, &cattr);
	pthread_condattr_destroy(&cattr);
	v->se = se;
	v->ino = ino;
	v->refs = 2;
	if (partial_last && last >= first) {
		v->off[0] = (off_t)first;
		v->len[0] = (off_t)(last - first);
		v->off[1] = (off_t)last;
		v->len[1] = SFS_PAGE_SIZE;
		nranges = 2;
	} else {
		v->off[0] = (off_t)first;
		v->len[0] = (off_t)(end - first);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&helpers, 1);
	if (pthread_create(&t, &attr, invalidate, v)) {
		atomic_fetch_sub(&helpers, 1);
		pthread_attr_destroy(&attr);
		v->refs = 1;
		put(v);
		goto out_unsafe;
	}
	pthread_attr_destroy(&attr);
	/* Launders come back as write-back requests: some worker must be free. */
	sparsefs_loop_wait_begin();
	pthread_mutex_lock(&v->lock);
	why = wait_safe(v, nranges);
	pthread_mutex_unlock(&v->lock);
	sparsefs_loop_wait_end();
	put(v);
	if (why) {
		fprintf(stderr, "sparsefs: a refused write to inode %llu: answered before its "
				"page cache was dropped (%s)\n", (unsigned long long)ino, why);
		syslog(LOG_WARNING, "a refused write to inode %llu: answered before its page "
				    "cache was dropped (%s)", (unsigned long long)ino, why);
	}
	return;

out_unsafe:
	/* No thread, no memory: invalidate from here, as the last resort, all but
	 * the page the writer may hold locked (which nothing maps). */
	if (partial_last && last >= first)
		end = last;
	if (end > first) {
		sparsefs_loop_wait_begin();
		fuse_lowlevel_notify_inval_inode(se, ino, (off_t)first, (off_t)(end - first));
		sparsefs_loop_wait_end();
	}
}

void refusal_drain(void)
{
	for (int i = 0; i < 500 && atomic_load(&helpers); i++)
		usleep(10000);
}
