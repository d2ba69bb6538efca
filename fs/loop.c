/* SPDX-License-Identifier: MIT */
/*
 * The session loop: a fixed pool of threads, each reading requests from the
 * one /dev/fuse descriptor and handing them to libfuse to dispatch.
 *
 * It exists for what libfuse 3.14 cannot do. The kernel (5.11+) offers
 * FUSE_HANDLE_KILLPRIV_V2: the daemon clears S_ISUID/S_ISGID itself when a
 * write, truncate, open(O_TRUNC), fallocate or chown asks it to, and in
 * return the kernel marks the superblock SB_NOSEC and stops asking GETXATTR
 * "security.capability" before every write(2) -- half the round trips of a
 * small write. libfuse 3.14 can
 * neither request that flag nor pass the "kill" bits of a request on to the
 * handler. So this loop:
 *  - lets libfuse answer INIT into a pipe, adds FUSE_HANDLE_KILLPRIV_V2 to its
 *    answer when the kernel offered it, and sends the answer on itself;
 *  - reads the kill bit of each WRITE, SETATTR and OPEN before libfuse
 *    dispatches it, into sparsefs_kill_suidgid, which the handlers (ops.c),
 *    running on the same thread, obey.
 * Requests are read into memory, never spliced (op_init turns SPLICE_READ
 * off): the loop must see each request's arguments. It reads /dev/fuse itself,
 * as libfuse would, so that a read racing the kernel's teardown of the
 * connection at unmount (ECONNABORTED) ends the loop as quietly as ENODEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"

__thread bool sparsefs_kill_suidgid;

/* Whether the kernel agreed to HANDLE_KILLPRIV_V2 (set once, before workers). */
static bool killpriv_v2;

/* What libfuse does not pass on: the kill bit of this request, if any. */
static bool request_kills_suidgid(const struct fuse_buf *buf)
{
	const struct fuse_in_header *h = buf->mem;
	const void *arg = h + 1;
	size_t argsize = buf->size - sizeof(*h);

	if (!killpriv_v2 || (buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*h))
		return false;
	switch (h->opcode) {
	case FUSE_WRITE:
		return argsize >= sizeof(struct fuse_write_in) &&
		       (((const struct fuse_write_in *)arg)->write_flags & FUSE_WRITE_KILL_SUIDGID);
	case FUSE_SETATTR:
		/*
		 * The bit comes with a truncate or a chown. A SETATTR that changes
		 * nothing at all (but ctime, which the kernel sends with the
		 * writeback cache) is the VFS's own kill (file_remove_privs before
		 * fallocate, chown -1 -1), stripped of its mode by the kernel under
		 * KILLPRIV_V2: it is obeyed as one.
		 */
		if (argsize < sizeof(struct fuse_setattr_in))
			return false;
		return (((const struct fuse_setattr_in *)arg)->valid & FATTR_KILL_SUIDGID) ||
		       !(((const struct fuse_setattr_in *)arg)->valid &
			 ~(FATTR_FH | FATTR_LOCKOWNER | FATTR_CTIME));
	case FUSE_OPEN:
		return argsize >= sizeof(struct fuse_open_in) &&
		       (((const struct fuse_open_in *)arg)->open_flags & FUSE_OPEN_KILL_SUIDGID);
	default:
		/* CREATE carries the bit too, for a file that is new and empty:
		 * O_TRUNC truncates nothing there, so nothing is killed. */
		return false;
	}
}

static void dispatch(struct fuse_session *se, const struct fuse_buf *buf)
{
	sparsefs_kill_suidgid = request_kills_suidgid(buf);
	fuse_session_process_buf(se, buf);
	sparsefs_kill_suidgid = false;
}

/*
 * INIT, the first request: libfuse builds the answer, written into a pipe that
 * stands in for /dev/fuse for that one call; HANDLE_KILLPRIV_V2 is added when
 * the kernel offered it, and the answer goes to the kernel. Runs before any
 * worker exists, so nothing else uses the descriptor meanwhile.
 */
static int process_init(struct fuse_session *se, const struct fuse_buf *buf)
{
	const struct fuse_in_header *h = buf->mem;
	const struct fuse_init_in *in = (const void *)(h + 1);
	int fd = fuse_session_fd(se);
	bool offered = buf->size >= sizeof(*h) + sizeof(*in) && in->major == 7 &&
		       in->minor >= 33 && (in->flags & FUSE_HANDLE_KILLPRIV_V2);
	char answer[1024];
	int p[2], saved, err = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	saved = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (saved >= 0 && dup3(p[1], fd, O_CLOEXEC) >= 0) {
		fuse_session_process_buf(se, buf);
		/* /dev/fuse back in its place, whatever libfuse did. */
		if (dup3(saved, fd, O_CLOEXEC) < 0)
			err = -errno;
	} else {
		err = -errno;
	}
	if (saved >= 0)
		close(saved);
	close(p[1]);
	if (err) {
		close(p[0]);
		return err;
	}
	n = read(p[0], answer, sizeof(answer));
	err = n < 0 ? -errno : -EPROTO;
	close(p[0]);
	if (n < (ssize_t)sizeof(struct fuse_out_header))
		return err;
	if (offered && n >= (ssize_t)(sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out)) &&
	    ((struct fuse_out_header *)answer)->error == 0) {
		struct fuse_init_out *out = (void *)(answer + sizeof(struct fuse_out_header));

		out->flags |= FUSE_HANDLE_KILLPRIV_V2;
		out->flags &= ~(uint32_t)FUSE_HANDLE_KILLPRIV;
		killpriv_v2 = true;
	}
	if (write(fd, answer, (size_t)n) != n)
		return -errno;
	return 0;
}

struct worker {
	struct fuse_session *se;
	pthread_t thread;
	int error; /* -errno that ended this worker's loop, or 0 */
};

/* Workers started beyond the pool, at most, for handlers that wait. */
#define EXTRA_WORKERS 16

struct sparsefs_loop {
	pthread_mutex_t lock;
	unsigned count;   /* [lock] workers started */
	unsigned cap;     /* workers[] has room for this many */
	unsigned waiting; /* [lock] in sparsefs_loop_wait_begin */
	bool stopping;    /* [lock] no more workers */
	struct worker workers[]; /* [0] is the thread that called sparsefs_loop_run */
};

/* The session's loop, for sparsefs_loop_wait_begin: one per process. */
static struct sparsefs_loop *the_loop;

static void free_buf(void *buf)
{
	free(((struct fuse_buf *)buf)->mem);
}

/*
 * Room for any request: the kernel refuses a read smaller than a WRITE of
 * max_write (1 MiB, op_init) plus its headers. libfuse 3.14 uses the same.
 */
#define RECV_SIZE ((256u << 12) + 4096u)

/* One request into buf (allocated on first use): its size, or -errno. */
static int receive(struct fuse_session *se, struct fuse_buf *buf)
{
	ssize_t n;

	if (!buf->mem) {
		buf->mem = malloc(RECV_SIZE);
		if (!buf->mem)
			return -ENOMEM;
	}
	n = read(fuse_session_fd(se), buf->mem, RECV_SIZE);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(struct fuse_in_header))
		return -EIO;
	buf->size = (size_t)n;
	buf->flags = 0;
	return (int)n;
}

/* Reads and dispatches until the session ends: 0, or the read's -errno. */
static int serve(struct fuse_session *se, struct fuse_buf *buf)
{
	int res;

	while (!fuse_session_exited(se)) {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = receive(se, buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		/* The mount is gone: ENODEV, or ECONNABORTED for a read that raced
		 * the kernel's teardown of the connection at unmount. */
		if (res == -ENODEV || res == -ECONNABORTED) {
			fuse_session_exit(se);
			return 0;
		}
		if (res < 0) {
			fprintf(stderr, "sparsefs: reading /dev/fuse: %s\n", strerror(-res));
			/* A read that failed ends the session for every worker. */
			fuse_session_exit(se);
			return res;
		}
		dispatch(se, buf);
	}
	return 0;
}

/*
 * A worker may be cancelled only while it waits for a request (as libfuse's
 * own workers are): never in the middle of one, holding an inode's lock.
 */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct fuse_buf buf = { .mem = NULL };

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(free_buf, &buf);
	w->error = serve(w->se, &buf);
	pthread_cleanup_pop(1);
	return NULL;
}

/* One more worker, workers[count]; needs l->lock. 0 or the errno of pthread_create. */
static int start_worker(struct sparsefs_loop *l)
{
	struct worker *w = &l->workers[l->count];
	sigset_t block, old;
	int res;

	/* Workers leave the signals that end the session to the main thread. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	w->se = l->workers[0].se;
	res = pthread_create(&w->thread, NULL, work, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!res)
		l->count++;
	return res;
}

int sparsefs_loop_start(struct fuse_session *se, unsigned nthreads, struct sparsefs_loop **out)
{
	struct sparsefs_loop *l;
	struct fuse_buf buf = { .mem = NULL };
	int res;

	/* INIT first, alone. */
	do
		res = receive(se, &buf);
	while ((res == -EINTR || res == -EAGAIN) && !fuse_session_exited(se));
	if (res < 0) {
		free(buf.mem);
		return res == -ECONNABORTED ? -ENODEV : res;
	}
	if (((struct fuse_in_header *)buf.mem)->opcode == FUSE_INIT)
		res = process_init(se, &buf);
	else
		dispatch(se, &buf);
	free(buf.mem);
	if (res < 0)
		return res;

	l = calloc(1, sizeof(*l) + (nthreads + EXTRA_WORKERS) * sizeof(l->workers[0]));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->cap = nthreads + EXTRA_WORKERS;
	l->count = 1;
	l->workers[0].se = se;
	the_loop = l;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 1; i < nthreads; i++)
		if (start_worker(l))
			break;
	pthread_mutex_unlock(&l->lock);
	*out = l;
	return 0;
}

void sparsefs_loop_wait_begin(void)
{
	struct sparsefs_loop *l = the_loop;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	/* The waiting handler is a worker too: is any other one free? */
	if (++l->waiting >= l->count && l->count < l->cap && !l->stopping)
		start_worker(l);
	pthread_mutex_unlock(&l->lock);
}

void sparsefs_loop_wait_end(void)
{
	struct sparsefs_loop *l = the_loop;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->waiting--;
	pthread_mutex_unlock(&l->lock);
}

void sparsefs_loop_run(struct sparsefs_loop *l)
{
	work(&l->workers[0]);
}

int sparsefs_loop_stop(struct sparsefs_loop *l)
{
	int error = l->workers[0].error;
	unsigned count;

	fuse_session_exit(l->workers[0].se);
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	count = l->count;
	pthread_mutex_unlock(&l->lock);
	for (unsigned i = 1; i < count; i++)
		pthread_cancel(l->workers[i].thread);
	for (unsigned i = 1; i < count; i++) {
		pthread_join(l->workers[i].thread, NULL);
		if (!error)
			error = l->workers[i].error;
	}
	the_loop = NULL;
	pthread_mutex_destroy(&l->lock);
	free(l);
	return error;
}
