/* SPDX-License-Identifier: MIT */
/*
 * Kernel files made ahead (kpool.h): a ring of made files under a mutex, and
 * one thread that refills it whenever a take leaves it half empty.
 */
#include "kpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "inode.h"
#include "kfile.h"

/*
 * How many files wait. A burst of creates takes them at the round trip's
 * pace (some 10,000 a second); the thread makes half of them again in the
 * time (tmpfs: ~10 us each; ext4: ~50 us).
 */
#define KPOOL_SIZE 64

struct kpool {
	struct sfs *fs;
	int32_t (*reg)(int fd, void *arg);
	void (*unreg)(int32_t id, void *arg);
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t low;   /* [lock] signalled when the ring runs half empty */
	struct kpool_file ring[KPOOL_SIZE]; /* [lock] a stack, really */
	unsigned count;       /* [lock] */
	bool asked;           /* [lock] the thread was signalled and has not run yet */
	bool stopping;        /* [lock] */
};

/* One made file, or false if the backing or the kernel refused it. */
static bool make_one(struct kpool *p, struct kpool_file *f)
{
	f->ino = inode_new_ino(p->fs);
	f->fd = kfile_make(p->fs->kstore, f->ino);
	if (f->fd < 0)
		return false;
	f->id = p->reg(f->fd, p->arg);
	if (f->id > 0)
		return true;
	close(f->fd);
	kfile_remove(p->fs->kstore, f->ino);
	return false;
}

void kpool_drop(struct kpool *p, const struct kpool_file *f)
{
	p->unreg(f->id, p->arg);
	close(f->fd);
	kfile_remove(p->fs->kstore, f->ino);
}

/* Waits until stopping or until the time a second from now. Needs p->lock. */
static void pause_a_second(struct kpool *p)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	while (!p->stopping && pthread_cond_timedwait(&p->low, &p->lock, &until) != ETIMEDOUT)
		;
}

static void *refill(void *arg)
{
	struct kpool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		bool failed = false;

		p->asked = false;
		while (p->count < KPOOL_SIZE && !p->stopping) {
			struct kpool_file f;

			/* The calls outside the lock: takes go on meanwhile. */
			pthread_mutex_unlock(&p->lock);
			failed = !make_one(p, &f);
			pthread_mutex_lock(&p->lock);
			if (failed)
				break;
			if (p->stopping) {
				kpool_drop(p, &f);
				break;
			}
			p->ring[p->count++] = f;
		}
		/* The backing full, out of inodes, or the registration refused:
		 * creates make their own (and say why) meanwhile; the thread tries
		 * again when asked, a second later at the soonest. */
		if (failed)
			pause_a_second(p);
		while (!p->asked && !p->stopping)
			pthread_cond_wait(&p->low, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct kpool *kpool_start(struct sfs *fs, int32_t (*reg)(int fd, void *arg),
			  void (*unreg)(int32_t id, void *arg), void *arg)
{
	struct kpool *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	int err;

	if (!p)
		return NULL;
	p->fs = fs;
	p->reg = reg;
	p->unreg = unreg;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->low, NULL);
	/* The thread takes no signal: those that end the session must interrupt
	 * the thread reading /dev/fuse. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&p->thread, NULL, refill, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&p->low);
		pthread_mutex_destroy(&p->lock);
		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

bool kpool_take(struct kpool *p, struct kpool_file *out)
{
	bool got;

	pthread_mutex_lock(&p->lock);
	got = p->count > 0;
	if (got)
		*out = p->ring[--p->count];
	/* One wake-up per half a ring, not one per take. */
	if (p->count <= KPOOL_SIZE / 2 && !p->asked) {
		p->asked = true;
		pthread_cond_signal(&p->low);
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

int kpool_stamp(const struct kpool_file *f, struct timespec *now)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, now);
	ts[0] = ts[1] = *now;
	return futimens(f->fd, ts) ? -errno : 0;
}

void kpool_stop(struct kpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->low);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while (p->count)
		kpool_drop(p, &p->ring[--p->count]);
	pthread_cond_destroy(&p->low);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
