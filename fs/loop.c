/* SPDX-License-Identifier: MIT */
/*
 * The session loop: a pool of threads, each reading requests from the one
 * /dev/fuse descriptor and handing them to libfuse to dispatch, and a hook on
 * every reply libfuse writes back.
 *
 * It exists for what libfuse 3.14 cannot do:
 *  - FUSE_HANDLE_KILLPRIV_V2 (kernel 5.11+): the daemon clears S_ISUID/S_ISGID
 *    itself when a write, truncate, open(O_TRUNC), fallocate or chown asks it
 *    to, and in return the kernel marks the superblock SB_NOSEC and stops
 *    asking GETXATTR "security.capability" before every write(2) -- half the
 *    round trips of a small write. libfuse can neither ask for the flag nor
 *    pass the "kill" bits of a request on to the handler;
 *  - FUSE_PASSTHROUGH (6.9+): the kernel serves read, write and mmap of an
 *    open file from a backing file the daemon registered; libfuse can neither
 *    ask for it in INIT nor name the backing file in an OPEN or CREATE reply.
 * So this loop reads each request itself, notes its opcode, unique id and
 * kill bit in thread-local state that the handlers (ops.c, on the same
 * thread) obey, and its reply hook (libfuse's custom io, fuse_session_custom_io)
 * amends libfuse's answers before they go to the kernel: INIT gets the flags,
 * an OPEN or CREATE the handler marked (sparsefs_reply_passthrough) gets its
 * backing id. The kernel's values are in kabi.h.
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
#include <sys/uio.h>
#include <unistd.h>

#include "kabi.h"
#include "ops.h"

__thread bool sparsefs_kill_suidgid;

/* The request this thread is handling, for the reply hook. */
static __thread uint64_t cur_unique;
static __thread uint32_t cur_opcode;
static __thread int32_t cur_backing_id; /* > 0: its OPEN/CREATE reply passes through */

/* What INIT settled (set once, before any worker). */
static bool killpriv_v2;
static bool want_passthrough, passthrough;

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
	const struct fuse_in_header *h = buf->mem;

	cur_unique = h->unique;
	cur_opcode = h->opcode;
	cur_backing_id = 0;
	sparsefs_kill_suidgid = request_kills_suidgid(buf);
	fuse_session_process_buf(se, buf);
	sparsefs_kill_suidgid = false;
	cur_unique = 0;
	cur_backing_id = 0;
}

void sparsefs_reply_passthrough(int32_t backing_id)
{
	cur_backing_id = backing_id;
}

bool sparsefs_passthrough(void)
{
	return passthrough;
}

/* A u32 field of a reply's argument, at off within iov[1], if it is there. */
static uint32_t *field32(struct iovec *iov, int count, size_t off)
{
	if (count < 2 || iov[1].iov_len < off + 4)
		return NULL;
	return (uint32_t *)((char *)iov[1].iov_base + off);
}

/*
 * INIT's answer: HANDLE_KILLPRIV_V2 where the kernel offered it; PASSTHROUGH
 * (with a stack depth of 1: backing files are on no passthrough filesystem)
 * where it offered that and the mount wants it. The kernel's offer is in the
 * request, which this thread has just read (init_in).
 */
static const struct fuse_init_in *init_in;

static void amend_init(struct iovec *iov, int count)
{
	uint32_t *flags = field32(iov, count, KABI_INIT_OUT_FLAGS);
	uint32_t *flags2 = field32(iov, count, KABI_INIT_OUT_FLAGS2);
	uint32_t *depth = field32(iov, count, KABI_INIT_OUT_MAX_STACK_DEPTH);
	uint64_t offered;

	if (!init_in || !flags || init_in->major != 7)
		return;
	offered = init_in->flags;
	if (init_in->minor >= 36 && (init_in->flags & FUSE_INIT_EXT))
		offered |= (uint64_t)init_in->flags2 << 32;
	if (init_in->minor >= 33 && (offered & FUSE_HANDLE_KILLPRIV_V2)) {
		*flags |= FUSE_HANDLE_KILLPRIV_V2;
		*flags &= ~(uint32_t)FUSE_HANDLE_KILLPRIV;
		killpriv_v2 = true;
	}
	/* Passthrough excludes the writeback cache (the kernel refuses both). */
	if (want_passthrough && (offered & KABI_PASSTHROUGH) && flags2 && depth &&
	    !(*flags & FUSE_WRITEBACK_CACHE)) {
		*flags |= FUSE_INIT_EXT;
		*flags2 |= (uint32_t)(KABI_PASSTHROUGH >> 32);
		*depth = 1;
		passthrough = true;
	}
}

/* An OPEN or CREATE answer the handler marked: served from the backing file. */
static void amend_open(struct iovec *iov, int count)
{
	size_t at = cur_opcode == FUSE_CREATE ? KABI_ENTRY_OUT_SIZE : 0;
	uint32_t *flags = field32(iov, count, at + KABI_OPEN_OUT_FLAGS);
	uint32_t *id = field32(iov, count, at + KABI_OPEN_OUT_BACKING_ID);

	if (!flags || !id)
		return;
	/* The kernel refuses a passthrough open with any cache flag. */
	*flags &= ~KABI_FOPEN_KEEP_CACHE;
	*flags |= KABI_FOPEN_PASSTHROUGH;
	*id = (uint32_t)cur_backing_id;
}

/* libfuse's every write to /dev/fuse: replies, and notifications (unique 0). */
static ssize_t reply_hook(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;

	(void)userdata;
	if (count >= 1 && iov[0].iov_len >= sizeof(*out) && out->unique && out->unique == cur_unique &&
	    !out->error) {
		if (cur_opcode == FUSE_INIT)
			amend_init(iov, count);
		else if (cur_backing_id > 0 && (cur_opcode == FUSE_OPEN || cur_opcode == FUSE_CREATE))
			amend_open(iov, count);
	}
	return writev(fd, iov, count);
}

static ssize_t read_hook(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
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

int sparsefs_loop_init(struct fuse_session *se, bool passthrough_wanted)
{
	static const struct fuse_custom_io io = { .writev = reply_hook, .read = read_hook };
	struct fuse_buf buf = { .mem = NULL };
	const struct fuse_in_header *h;
	int res;

	res = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	if (res)
		return res;
	want_passthrough = passthrough_wanted;
	do
		res = receive(se, &buf);
	while ((res == -EINTR || res == -EAGAIN) && !fuse_session_exited(se));
	if (res < 0) {
		free(buf.mem);
		return res == -ECONNABORTED ? -ENODEV : res;
	}
	h = buf.mem;
	if (h->opcode == FUSE_INIT && buf.size >= sizeof(*h) + sizeof(*init_in))
		init_in = (const void *)(h + 1);
	dispatch(se, &buf);
	init_in = NULL;
	free(buf.mem);
	return 0;
}

int sparsefs_loop_start(struct fuse_session *se, unsigned nthreads, struct sparsefs_loop **out)
{
	struct sparsefs_loop *l;

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
