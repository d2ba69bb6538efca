/* SPDX-License-Identifier: MIT */
/*
 * The FUSE glue: every fuse_lowlevel_ops handler, each sending exactly one
 * reply (fuse_reply_none for forget). Handlers translate between the kernel's
 * requests and the core (inode.h, ns.h), whose -errno they pass on unchanged.
 *
 * Node ids are inode pointers (the root excepted), so a request finds its
 * inode without a table lookup; the kernel holds a lookup reference to every
 * id it sends, which keeps the pointer valid (see inode.h on lifetimes).
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>

#include "kabi.h"
#include "kfile.h"
#include "kpool.h"
#include "ns.h"
#include "ops.h"
#include "vxattr.h"

/* How long the kernel may cache entries and attributes. Every change to them
 * passes through the kernel (write-through, no other writers), which updates
 * or drops what it cached; the timeout bounds what it cannot see itself. */
#define CACHE_TIMEOUT 60.0

/* One 1 MiB read spans 257 pages at most; more entries means copy instead. */
#define READ_IOV_MAX 260

static struct sfs *FS(fuse_req_t req)
{
	return &((struct sparsefs_mount *)fuse_req_userdata(req))->fs;
}

static struct inode *INODE(fuse_req_t req, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? FS(req)->root : (struct inode *)(uintptr_t)ino;
}

static fuse_ino_t nodeid_of(struct sfs *fs, struct inode *in)
{
	return in == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
}

/*
 * How long the kernel may keep in's attributes. On the kernel path the kernel
 * changes an open file's length and blocks behind the daemon's back (a
 * store through a mapping tells nobody): not a moment while it is open or a
 * mapping of it lives, so that stat, du and ls -s are exact. A closed file
 * changes only through the daemon. (The OPEN handler drops what the kernel
 * cached before; CREATE's reply is the exception, see op_create.)
 */
static double attr_timeout(struct sfs *fs, struct inode *in)
{
	if (in->type != S_IFREG || !sfs_kernel(fs))
		return CACHE_TIMEOUT;
	return inode_kf_live(in) ? 0 : CACHE_TIMEOUT;
}

/* The entry of in, but its attributes (e->attr) and their timeout. */
static void fill_entry_ids(struct sfs *fs, struct inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = nodeid_of(fs, in);
	e->generation = in->ino;
	e->entry_timeout = CACHE_TIMEOUT;
}

static void fill_entry(struct sfs *fs, struct inode *in, struct fuse_entry_param *e)
{
	fill_entry_ids(fs, in, e);
	inode_stat(in, &e->attr);
	e->attr_timeout = attr_timeout(fs, in);
}

/* Replies with the entry; if the kernel never got it, its reference is undone. */
static void reply_entry(fuse_req_t req, struct inode *in)
{
	struct fuse_entry_param e;

	fill_entry(FS(req), in, &e);
	if (fuse_reply_entry(req, &e))
		sfs_forget(FS(req), in, 1);
}

static void reply_status(fuse_req_t req, int ret)
{
	fuse_reply_err(req, ret < 0 ? -ret : 0);
}

/* Whether the caller is root or in group gid (fuse_req_getgroups reads /proc). */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	if (ctx->uid == 0 || ctx->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * Whether this request carries the kernel's kill bit (FUSE_HANDLE_KILLPRIV_V2,
 * see loop.c) for a file that has S_ISUID or S_ISGID, and so whether there is
 * anything to clear. The kernel sets the bit on every write by an ordinary
 * user: a file with neither bit costs a shared lock, not the exclusive one.
 * *may_keep_sgid is asked of /proc only for a set-group-ID file the group may
 * not execute, and before any lock of the inode is taken.
 */
static bool kill_wanted(fuse_req_t req, struct inode *in, bool *may_keep_sgid)
{
	struct stat st;

	*may_keep_sgid = true;
	if (!sparsefs_kill_suidgid)
		return false;
	inode_stat(in, &st);
	if (!(st.st_mode & (S_ISUID | S_ISGID)))
		return false;
	if ((st.st_mode & (S_ISGID | S_IXGRP)) == S_ISGID)
		*may_keep_sgid = caller_in_group(req, st.st_gid);
	return true;
}

/*
 * Clears S_ISUID/S_ISGID of a file written or opened with O_TRUNC, when the
 * kernel asks. Those replies carry no attributes, so the kernel is then told
 * to drop the mode it cached.
 */
static void kill_suidgid(fuse_req_t req, fuse_ino_t ino)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	struct inode *in = INODE(req, ino);
	bool may_keep_sgid;

	if (kill_wanted(req, in, &may_keep_sgid) && inode_kill_suidgid(in, may_keep_sgid))
		fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
}

/* Lets a long reservation give up when the caller's syscall was interrupted. */
static bool req_interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

static struct ns_owner caller(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct ns_owner){ .uid = ctx->uid, .gid = ctx->gid };
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sparsefs_mount *m = userdata;

	/* By default write(2) must reach us synchronously, so ENOSPC reaches the
	 * caller; -o writeback_cache trades that for speed, knowingly. */
	if (m->writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Every change to a file passes through this kernel, which keeps its page
	 * cache right itself: dropping the cache whenever mtime moves (after any
	 * write) would only turn cached reads into requests. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/*
	 * Atomic O_TRUNC only with the writeback cache, where the kernel holds
	 * write-back off around the OPEN (fuse_set_nowrite). Without it, a
	 * write-back already sent could be served after the OPEN's truncation and
	 * bring old bytes back; the plain O_TRUNC path is a SETATTR, which the
	 * kernel always fences that way.
	 */
	if (m->writeback_cache && (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC))
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	else
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* The session loop reads each request's arguments itself (loop.c), so
	 * requests come as memory, never as a pipe; splicing would not spare the
	 * copy into the page store anyway. */
	conn->want &= ~FUSE_CAP_SPLICE_READ;
	conn->max_write = 1u << 20;
	conn->time_gran = 1;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode *in;
	int ret = ns_lookup(FS(req), INODE(req, parent), name, &in);

	if (ret == -ENOENT) {
		/* A negative entry: the kernel may remember the name is free. */
		struct fuse_entry_param e = { .entry_timeout = CACHE_TIMEOUT };

		fuse_reply_entry(req, &e);
	} else if (ret) {
		reply_status(req, ret);
	} else {
		reply_entry(req, in);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	sfs_forget(FS(req), INODE(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		sfs_forget(FS(req), INODE(req, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	inode_stat(INODE(req, ino), &st);
	fuse_reply_attr(req, &st, attr_timeout(FS(req), INODE(req, ino)));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	static const struct {
		int fuse;
		unsigned core;
	} map[] = {
		{ FUSE_SET_ATTR_MODE, INODE_SET_MODE },
		{ FUSE_SET_ATTR_UID, INODE_SET_UID },
		{ FUSE_SET_ATTR_GID, INODE_SET_GID },
		{ FUSE_SET_ATTR_SIZE, INODE_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, INODE_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, INODE_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, INODE_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, INODE_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, INODE_SET_CTIME },
	};
	struct inode *in = INODE(req, ino);
	struct object_cancel cancel = { req_interrupted, req, NULL };
	struct inode_change ch = {
		.mode = attr->st_mode,
		.uid = attr->st_uid,
		.gid = attr->st_gid,
		.atime = attr->st_atim,
		.mtime = attr->st_mtim,
		.ctime = attr->st_ctim,
		.cancel = &cancel,
	};
	struct stat st;
	int ret;

	(void)fi;
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ch.size = (uint64_t)attr->st_size;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			ch.valid |= map[i].core;
	/* Judged on the group the file has before a chown changes it. */
	ch.kill_suidgid = kill_wanted(req, in, &ch.may_keep_sgid);
	ret = inode_setattr(in, &ch);
	if (ret) {
		reply_status(req, ret);
		return;
	}
	inode_stat(in, &st);
	fuse_reply_attr(req, &st, attr_timeout(FS(req), in));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct inode *in = INODE(req, ino);

	if (in->type != S_IFLNK)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, in->target);
}

static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev,
		 const char *target)
{
	struct inode *in;
	int ret = ns_make(FS(req), INODE(req, parent), name, mode, rdev, target, caller(req),
			  &in);

	if (ret)
		reply_status(req, ret);
	else
		reply_entry(req, in);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		make(req, parent, name, mode, rdev, NULL);
		break;
	default:
		fuse_reply_err(req, EINVAL);
	}
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, ns_unlink(FS(req), INODE(req, parent), name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, ns_rmdir(FS(req), INODE(req, parent), name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	reply_status(req, ns_rename(FS(req), INODE(req, parent), name, INODE(req, newparent),
				    newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct inode *in = INODE(req, ino);
	int ret = ns_link(FS(req), in, INODE(req, newparent), newname);

	if (ret)
		reply_status(req, ret);
	else
		reply_entry(req, in);
}

static void set_open_flags(struct fuse_file_info *fi)
{
	fi->fh = 0;
	/* We are the only writer, and every write passes through the kernel's
	 * page cache, so what it cached stays right across opens. (Not on the
	 * kernel path: there the kernel file is the cache, and the kernel refuses
	 * a passthrough open that asks to keep one.) */
	fi->keep_cache = 1;
}

/* FUSE_DEV_IOC_BACKING_OPEN: the kernel file fd as a backing file; its id. */
static int32_t backing_open(int fd, void *arg)
{
	struct sparsefs_mount *m = arg;
	struct kabi_backing_map map = { .fd = fd };
	int id = ioctl(fuse_session_fd(m->se), KABI_DEV_IOC_BACKING_OPEN, &map);

	if (id < 0) {
		int err = errno;

		fprintf(stderr, "sparsefs: registering a kernel file for passthrough: %s\n",
			strerror(err));
		return -err;
	}
	return id;
}

static void backing_close(int32_t id, void *arg)
{
	struct sparsefs_mount *m = arg;
	uint32_t u = (uint32_t)id;

	ioctl(fuse_session_fd(m->se), KABI_DEV_IOC_BACKING_CLOSE, &u);
}

void sparsefs_kpool_start(struct sparsefs_mount *m)
{
	if (!sfs_kernel(&m->fs))
		return;
	m->kpool = kpool_start(&m->fs, backing_open, backing_close, m);
	if (!m->kpool)
		fprintf(stderr, "sparsefs: no thread to make kernel files ahead (%s): "
			"each create makes its own\n", strerror(errno));
}

void sparsefs_kpool_stop(struct sparsefs_mount *m)
{
	kpool_stop(m->kpool);
	m->kpool = NULL;
}

/* Whether process pid has CAP_FSETID in its effective set (from /proc). */
static bool caller_may_keep_setid(pid_t pid)
{
	char path[64], line[256];
	unsigned long long caps = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &caps) == 1;
	fclose(f);
	return found && (caps & (1ULL << 4)); /* CAP_FSETID */
}

/*
 * The kernel path's writes never reach the daemon, which therefore cannot
 * clear S_ISUID/S_ISGID at a write by a process without CAP_FSETID, as the
 * VFS would: it clears them when such a process opens the file for writing
 * (sparsefs(8): the one difference), and drops a file capability
 * (security.capability) at any open for writing, as the next write would.
 */
static void kill_at_write_open(fuse_req_t req, fuse_ino_t ino, int flags)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	struct inode *in = INODE(req, ino);
	bool may_keep_sgid = true, changed = false;
	struct stat st;

	if ((flags & O_ACCMODE) == O_RDONLY)
		return;
	inode_stat(in, &st);
	if ((st.st_mode & (S_ISUID | S_ISGID)) && !caller_may_keep_setid(fuse_req_ctx(req)->pid)) {
		if ((st.st_mode & (S_ISGID | S_IXGRP)) == S_ISGID)
			may_keep_sgid = caller_in_group(req, st.st_gid);
		changed = inode_kill_suidgid(in, may_keep_sgid);
	}
	changed |= inode_removexattr(in, "security.capability") == 0;
	if (changed)
		fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
}

/*
 * The kernel path: the open is served from the file's kernel file, shared by
 * every open of it (the kernel refuses two backing files for one inode).
 * Returns the backing id to reply with, or -errno.
 */
static int32_t open_kernel_file(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	int32_t id;

	kill_at_write_open(req, ino, fi->flags);
	id = inode_kf_open(INODE(req, ino), -1, backing_open, m);
	if (id < 0)
		return id;
	/* What the kernel cached while the file was closed must not outlive the
	 * open: from now on the kernel itself changes its length and blocks. */
	fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
	fi->fh = 0;
	fi->keep_cache = 0;
	sparsefs_reply_passthrough(id);
	return id;
}

static void release_kernel_file(struct sparsefs_mount *m, struct inode *in)
{
	inode_kf_close(in, backing_close, m);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	struct sfs *fs = FS(req);
	struct inode *in = INODE(req, ino);
	int ret;

	if (in->type != S_IFREG) {
		fuse_reply_err(req, in->type == S_IFDIR ? EISDIR : EINVAL);
		return;
	}
	sfs_open(fs, in);
	if (fi->flags & O_TRUNC) {
		kill_suidgid(req, ino);
		ret = inode_trunc_open(in);
		if (ret) {
			sfs_release(fs, in);
			reply_status(req, ret);
			return;
		}
	}
	if (sfs_kernel(fs)) {
		ret = open_kernel_file(req, ino, fi);
		if (ret < 0) {
			sfs_release(fs, in);
			reply_status(req, ret);
			return;
		}
	} else {
		set_open_flags(fi);
	}
	if (fuse_reply_open(req, fi)) {
		if (sfs_kernel(fs))
			release_kernel_file(m, in);
		sfs_release(fs, in);
	}
}

/*
 * A kernel file for a new file into *f: one the pool made ahead (registered,
 * its times stamped now: *made): true; or false, and ns_create makes one.
 */
static bool pooled_kernel_file(struct sparsefs_mount *m, struct kpool_file *f,
			       struct timespec *made)
{
	if (!m->kpool || !kpool_take(m->kpool, f))
		return false;
	if (kpool_stamp(f, made)) {
		kpool_drop(m->kpool, f);
		return false;
	}
	return true;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	struct sfs *fs = FS(req);
	struct fuse_entry_param e;
	struct kpool_file pf;
	struct timespec made;
	bool pooled = sfs_kernel(fs) && pooled_kernel_file(m, &pf, &made);
	struct ns_kfile kf = { .ino = pooled ? pf.ino : 0, .fd = pooled ? pf.fd : -1 };
	struct inode *in;
	int ret = ns_create(fs, INODE(req, parent), name, S_IFREG | (mode & 07777), 0, NULL,
			    caller(req), &kf, &in);

	if (ret) {
		if (pooled)
			kpool_drop(m->kpool, &pf);
		reply_status(req, ret);
		return;
	}
	sfs_open(fs, in);
	if (sfs_kernel(fs)) {
		int32_t id = pooled ? inode_kf_adopt(in, kf.fd, pf.id)
				    : inode_kf_open(in, kf.fd, backing_open, m);

		if (id < 0) {
			/* The name stays, as after a creat(2) whose open failed. */
			sfs_release(fs, in);
			sfs_forget(fs, in, 1);
			reply_status(req, id);
			return;
		}
		fi->fh = 0;
		fi->keep_cache = 0;
		sparsefs_reply_passthrough(id);
	} else {
		set_open_flags(fi);
	}
	fill_entry_ids(fs, in, &e);
	/* A pooled kernel file is as kpool_stamp left it: no stat needed. */
	if (pooled)
		inode_stat_made(in, made, &e.attr);
	else
		inode_stat(in, &e.attr);
	/*
	 * A new file is empty, and the kernel path cannot change it behind the
	 * daemon before something the kernel itself marks stale: a write(2)
	 * (which invalidates size and blocks), a truncate or fallocate (answered
	 * or invalidated), and a mapping has nothing to store into until then.
	 * So its attributes may be kept: the open's permission check and a later
	 * stat cost no GETATTR.
	 */
	e.attr_timeout = CACHE_TIMEOUT;
	if (fuse_reply_create(req, &e, fi)) {
		if (sfs_kernel(fs))
			release_kernel_file(m, in);
		sfs_release(fs, in);
		sfs_forget(fs, in, 1);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct inode *in = INODE(req, ino);
	struct iovec iov[READ_IOV_MAX];
	int cnt;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (sfs_kernel(FS(req))) {
		/* The kernel serves these from the kernel file: no READ should come. */
		fuse_reply_err(req, EIO);
		return;
	}
	inode_read_begin(in, size, (uint64_t)off, iov, READ_IOV_MAX, &cnt);
	if (object_maps(&in->obj) && cnt < READ_IOV_MAX) {
		fuse_reply_iov(req, iov, cnt);
	} else {
		/* A store without a view of its pages, or pages scattered beyond
		 * what the iovec holds: copy. */
		char *buf = malloc(size ? size : 1);
		ssize_t n = buf ? inode_read_copy(in, buf, size, (uint64_t)off) : -ENOMEM;

		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
	}
	inode_read_end(in);
}

/*
 * The kernel drops the pages of a write-back we refuse: never silently. One
 * line per incident, to stderr (seen with -f) and syslog (seen once
 * daemonized), and the mount's counter (user.sparsefs.dropped on the root)
 * moves.
 */
static void report_dropped(struct sfs *fs, struct inode *in, uint64_t off, size_t size, int err,
			   bool fenced)
{
	uint64_t first = off / SFS_PAGE_SIZE;
	uint64_t end = (off + size + SFS_PAGE_SIZE - 1) / SFS_PAGE_SIZE;
	uint64_t total = space_count_dropped(&fs->space, end - first);
	const char *why = fenced ? " (a refused write(2) had been copied over them)" : "";

	fprintf(stderr,
		"sparsefs: write-back dropped %" PRIu64 " page(s) of inode %" PRIu64
		" at offset %" PRIu64 ": %s%s (%" PRIu64 " dropped since mount)\n",
		end - first, in->ino, off, strerror(err), why, total);
	syslog(LOG_ERR,
	       "write-back dropped %" PRIu64 " page(s) of inode %" PRIu64 " at offset %" PRIu64
	       ": %s%s (%" PRIu64 " dropped since mount)",
	       end - first, in->ino, off, strerror(err), why, total);
}

/*
 * A write-back (mmap, -o writeback_cache) is stored whole or answered with an
 * error: the kernel looks at nothing but the error of its reply, so a short
 * count would be loss that msync and fsync never report. The error the kernel
 * records for msync/fsync is ENOSPC for lack of space, EIO for anything else.
 * Pages fenced by a refused write(2) (refusal.c) hold the refused bytes: they
 * are refused with that write's error.
 */
static void write_back(fuse_req_t req, fuse_ino_t ino, const void *data, size_t size, off_t off)
{
	struct inode *in = INODE(req, ino);
	bool fenced;
	ssize_t ret = inode_write_wb(in, data, size, (uint64_t)off, &fenced);
	int err = ret == -ENOSPC ? ENOSPC : EIO;

	if (ret == (ssize_t)size) {
		fuse_reply_write(req, size);
		return;
	}
	report_dropped(FS(req), in, (uint64_t)off, size, ret < 0 ? (int)-ret : EIO, fenced);
	fuse_reply_err(req, err);
}

/*
 * write(2). Without the writeback cache the kernel has already copied the
 * bytes into its page cache, and a refusal (an error or a short count)
 * leaves those folios stale: the refused range is made safe before the
 * answer (refusal.c). With the writeback cache a WRITE that is no write-back
 * is direct I/O, which copies nothing into the page cache.
 */
static void write_through(fuse_req_t req, fuse_ino_t ino, const void *data, size_t size,
			  off_t off)
{
	struct sparsefs_mount *m = fuse_req_userdata(req);
	struct inode *in = INODE(req, ino);
	bool fenced = false;
	ssize_t ret;

	if (m->writeback_cache)
		ret = inode_write(in, data, size, (uint64_t)off);
	else
		ret = inode_write_fenced(in, data, size, (uint64_t)off, &fenced);
	if (fenced) {
		refusal_make_safe(m->se, ino, (uint64_t)off, size,
				  (uint64_t)off + (ret > 0 ? (uint64_t)ret : 0));
		inode_unfence(in);
	}
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_write(req, (size_t)ret);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_buf *b = &bufv->buf[bufv->idx];
	size_t size = fuse_buf_size(bufv);
	void *tmp = NULL;
	const void *data;
	ssize_t ret;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (bufv->count == 1 && !(b->flags & FUSE_BUF_IS_FD)) {
		data = (const char *)b->mem + bufv->off;
	} else {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);

		tmp = malloc(size ? size : 1);
		if (!tmp) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		dst.buf[0].mem = tmp;
		ret = fuse_buf_copy(&dst, bufv, 0);
		if (ret < 0) {
			free(tmp);
			fuse_reply_err(req, (int)-ret);
			return;
		}
		size = (size_t)ret;
		data = tmp;
	}
	kill_suidgid(req, ino);
	if (fi->writepage)
		write_back(req, ino, data, size, off);
	else
		write_through(req, ino, data, size, off);
	free(tmp);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	/* Memory is as durable as this store gets: nothing to flush. */
	(void)datasync;
	op_ok(req, ino, fi);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	if (sfs_kernel(FS(req)))
		release_kernel_file(fuse_req_userdata(req), INODE(req, ino));
	sfs_release(FS(req), INODE(req, ino));
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (INODE(req, ino)->type != S_IFDIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

struct listing {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	int plus;
	/* readdirplus: the inodes whose lookup count an entry took, to undo
	 * them if the reply never reaches the kernel */
	struct inode **taken;
	size_t ntaken, cap;
};

static int is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* Room for one more entry's reference in l->taken; false if none can be had. */
static bool room_for_reference(struct listing *l)
{
	struct inode **moved;
	size_t ncap;

	if (l->ntaken < l->cap)
		return true;
	ncap = l->cap ? 2 * l->cap : 64;
	moved = realloc(l->taken, ncap * sizeof(*moved));
	if (!moved)
		return false;
	l->taken = moved;
	l->cap = ncap;
	return true;
}

static int emit_entry(void *arg, const char *name, struct inode *in, uint64_t next)
{
	struct listing *l = arg;
	char *at = l->buf + l->used;
	size_t room = l->size - l->used, n;

	if (l->plus) {
		struct fuse_entry_param e;

		if (is_dot(name)) {
			/* The kernel resolves these itself and takes no reference. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = in->ino;
			e.attr.st_mode = in->type;
		} else {
			/* Out of memory: end the listing here; the kernel asks on. */
			if (!room_for_reference(l))
				return 1;
			fill_entry(FS(l->req), in, &e);
		}
		n = fuse_add_direntry_plus(l->req, at, room, name, &e, (off_t)next);
		if (n > room)
			return 1;
		if (!is_dot(name)) {
			in->nlookup++; /* ns_lock is held by ns_readdir */
			l->taken[l->ntaken++] = in;
		}
	} else {
		struct stat st = { .st_ino = in->ino, .st_mode = in->type };

		n = fuse_add_direntry(l->req, at, room, name, &st, (off_t)next);
		if (n > room)
			return 1;
	}
	l->used += n;
	return 0;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct listing l = { .req = req, .size = size, .plus = plus };
	struct sfs *fs = FS(req);
	int ret;

	l.buf = malloc(size ? size : 1);
	if (!l.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	inode_accessed(INODE(req, ino));
	ret = ns_readdir(fs, INODE(req, ino), off < 0 ? 0 : (uint64_t)off, emit_entry, &l);
	if (ret)
		reply_status(req, ret);
	/* As reply_entry does: references the kernel never got are undone. */
	if (ret || fuse_reply_buf(req, l.buf, l.used))
		for (size_t i = 0; i < l.ntaken; i++)
			sfs_forget(fs, l.taken[i], 1);
	free(l.taken);
	free(l.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	readdir_common(req, ino, size, off, 1);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	op_ok(req, ino, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	(void)ino;
	sfs_refresh(FS(req));
	space_statfs(&FS(req)->space, &st);
	fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	if (vxattr_is(name))
		fuse_reply_err(req, EPERM);
	else
		reply_status(req, inode_setxattr(INODE(req, ino), name, value, size, flags));
}

/* getxattr and listxattr answer a size of 0 with the size they need. */
static void reply_sized(fuse_req_t req, size_t size, ssize_t ret, const void *buf)
{
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else if (!size)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (vxattr_is(name))
		reply_sized(req, size, vxattr_get(FS(req), INODE(req, ino), name, buf, size), buf);
	else
		reply_sized(req, size, inode_getxattr(INODE(req, ino), name, buf, size), buf);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	reply_sized(req, size, inode_listxattr(INODE(req, ino), buf, size), buf);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (vxattr_is(name))
		fuse_reply_err(req, EPERM);
	else
		reply_status(req, inode_removexattr(INODE(req, ino), name));
}

/* The kernel path: the caller's interruption cancels the fallocate (kfile.h). */
static void interrupt_fallocate(fuse_req_t req, void *data)
{
	(void)req;
	kfile_cancel_now(data);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct inode *in = INODE(req, ino);
	struct kfile_cancel kc = { req_interrupted, req, 0, false };
	struct object_cancel cancel = { req_interrupted, req, &kc };
	int ret;

	(void)fi;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (in->type != S_IFREG) {
		fuse_reply_err(req, ENODEV);
		return;
	}
	if (sfs_kernel(FS(req)))
		fuse_req_interrupt_func(req, interrupt_fallocate, &kc);
	ret = inode_fallocate(in, mode, (uint64_t)off, (uint64_t)len, &cancel);
	if (sfs_kernel(FS(req)))
		fuse_req_interrupt_func(req, NULL, NULL);
	reply_status(req, ret);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	int64_t ret;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	ret = inode_seek(INODE(req, ino), (uint64_t)off, whence);
	if (ret < 0)
		fuse_reply_err(req, (int)-ret);
	else
		fuse_reply_lseek(req, ret);
}

const struct fuse_lowlevel_ops sparsefs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write_buf = op_write_buf,
	/* No .flush: it would do nothing, and one ENOSYS tells the kernel never to
	 * send FLUSH again, saving a round trip per close(2). The kernel still
	 * writes dirty pages back, and reports their errors, at close itself. */
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_ok,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.lseek = op_lseek,
	.fallocate = op_fallocate,
};
