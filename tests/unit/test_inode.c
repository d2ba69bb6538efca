/* SPDX-License-Identifier: MIT */
/*
 * inode: lifetimes (nlink, nlookup, nopen: when the pages go, when the inode
 * goes), attributes, data through the inode (write, write-back, fallocate,
 * overcommit=never), xattrs, the virtual user.sparsefs.* figures, ENOSPC
 * across files, concurrent writers, and teardown of a busy filesystem.
 * sfs_check after every operation; the teardown's sfs_destroy shows leaks
 * under ASan or valgrind.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fsfx.h"
#include "vxattr.h"

#define PS 4096u

static struct timespec now_ts(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* Reads through both read paths and checks they agree; returns the count. */
static size_t rd(struct inode *in, void *buf, size_t size, uint64_t off)
{
	struct iovec iov[8];
	size_t n, m, sum = 0;
	int cnt = -1;

	n = inode_read_begin(in, size, off, iov, 8, &cnt);
	m = inode_read_copy(in, buf, size, off);
	for (int i = 0; i < cnt; i++) {
		assert_memory_equal((char *)buf + sum, iov[i].iov_base, iov[i].iov_len);
		sum += iov[i].iov_len;
	}
	inode_read_end(in);
	assert_int_equal(sum, n);
	assert_true(n <= m);
	return m;
}

static void test_open_unlinked(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	uint64_t ino = f->ino;
	char buf[3 * PS], got[4 * PS];

	fill_bytes(buf, sizeof(buf), 1);
	assert_int_equal(inode_write(f, buf, sizeof(buf), 0), sizeof(buf));
	fs_ck(fs);
	sfs_open(fs, f);
	sfs_open(fs, f);
	assert_int_equal(f->nopen, 2);
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_nlink, 0);
	/* Open, so still readable and writable, and still charged. */
	assert_int_equal(space_used(&fs->space), 3);
	assert_int_equal(rd(f, got, sizeof(got), 0), sizeof(buf));
	assert_memory_equal(got, buf, sizeof(buf));
	assert_int_equal(inode_write(f, buf, PS, 3 * PS), PS);
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 4);
	assert_int_equal(stat_of(f).st_blocks, 32);
	sfs_release(fs, f);
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 4); /* one handle left */
	assert_int_equal(rd(f, got, PS, 0), PS);
	assert_memory_equal(got, buf, PS);
	sfs_release(fs, f);
	fs_ck(fs);
	/* Last close: the pages go though the kernel still holds a lookup. */
	assert_int_equal(space_used(&fs->space), 0);
	assert_true(alive(fs, ino));
	assert_int_equal(stat_of(f).st_blocks, 0);
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_false(alive(fs, ino));
	assert_int_equal(count_inodes(fs), 1);
}

static void test_lookups_keep_inode_not_pages(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	uint64_t ino = f->ino;

	lk(fs, fs->root, "f");
	assert_int_equal(f->nlookup, 2);
	write_pages(fs, f, 5);
	assert_int_equal(space_used(&fs->space), 5);
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	/* nlink 0 and nopen 0: space back now, inode kept for the kernel. */
	assert_int_equal(space_used(&fs->space), 0);
	assert_true(alive(fs, ino));
	assert_int_equal(stat_of(f).st_blocks, 0);
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_true(alive(fs, ino));
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_false(alive(fs, ino));
}

static void test_forget_then_release(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	uint64_t ino = f->ino;

	write_pages(fs, f, 2);
	sfs_open(fs, f);
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	assert_true(alive(fs, ino)); /* open */
	assert_int_equal(space_used(&fs->space), 2);
	sfs_release(fs, f);
	fs_ck(fs);
	assert_false(alive(fs, ino));
	assert_int_equal(space_used(&fs->space), 0);

	/* A linked file outlives every lookup and handle. */
	f = mk(fs, fs->root, "g", S_IFREG | 0644);
	ino = f->ino;
	write_pages(fs, f, 1);
	sfs_open(fs, f);
	sfs_release(fs, f);
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_true(alive(fs, ino));
	assert_int_equal(space_used(&fs->space), 1);
	f = lk(fs, fs->root, "g");
	assert_int_equal(f->ino, ino);
	sfs_forget(fs, f, 1);
	fs_ck(fs);
}

static void test_setattr_size(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode *l = mk(fs, fs->root, "l", S_IFLNK | 0777);
	struct inode *p = mk(fs, fs->root, "p", S_IFIFO | 0644);
	struct inode_change ch = { .valid = INODE_SET_SIZE };
	char got[3 * PS];

	write_pages(fs, f, 3);
	ch.size = PS + 10;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, PS + 10);
	assert_int_equal(stat_of(f).st_blocks, 16);
	assert_int_equal(space_used(&fs->space), 2);
	ch.size = 3 * PS;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(rd(f, got, sizeof(got), 0), 3 * PS);
	for (size_t i = PS + 10; i < 3 * PS; i++)
		assert_int_equal(got[i], 0);
	ch.size = OBJECT_MAX_LENGTH;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, INT64_MAX);
	assert_int_equal(stat_of(f).st_blocks, 16);
	ch.size = OBJECT_MAX_LENGTH + 1;
	assert_int_equal(inode_setattr(f, &ch), -EFBIG);
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, INT64_MAX);
	ch.size = 0;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, 0);
	assert_int_equal(stat_of(f).st_blocks, 0);
	assert_int_equal(space_used(&fs->space), 0);

	/* Only regular files have a size to set. */
	ch.size = 10;
	assert_int_equal(inode_setattr(d, &ch), -EISDIR);
	assert_int_equal(inode_setattr(l, &ch), -EINVAL);
	assert_int_equal(inode_setattr(p, &ch), -EINVAL);
	fs_ck(fs);
	/* A refused size changes nothing else in the same request. */
	ch.valid = INODE_SET_SIZE | INODE_SET_MODE;
	ch.mode = 0600;
	assert_int_equal(inode_setattr(d, &ch), -EISDIR);
	assert_int_equal(stat_of(d).st_mode, S_IFDIR | 0755);

	/* open(O_TRUNC). */
	write_pages(fs, f, 2);
	assert_ok(inode_trunc_open(f));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, 0);
	assert_int_equal(stat_of(f).st_blocks, 0);
}

static void test_setattr_attrs(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode_change ch = { 0 };
	struct timespec t0 = now_ts();
	struct stat st;

	/* Mode: permission bits only; the type stays. */
	ch.valid = INODE_SET_MODE;
	ch.mode = S_IFDIR | 04751;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	st = stat_of(f);
	assert_int_equal(st.st_mode, S_IFREG | 04751);
	assert_true(st.st_ctim.tv_sec >= t0.tv_sec);

	ch.valid = INODE_SET_UID | INODE_SET_GID;
	ch.uid = 4242;
	ch.gid = 4343;
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_int_equal(st.st_uid, 4242);
	assert_int_equal(st.st_gid, 4343);
	assert_int_equal(st.st_mode, S_IFREG | 04751);
	ch.valid = INODE_SET_UID;
	ch.uid = 1;
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(stat_of(f).st_gid, 4343); /* untouched */

	ch.valid = INODE_SET_ATIME | INODE_SET_MTIME;
	ch.atime = (struct timespec){ 123456, 789 };
	ch.mtime = (struct timespec){ 234567, 891 };
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_int_equal(st.st_atim.tv_sec, 123456);
	assert_int_equal(st.st_atim.tv_nsec, 789);
	assert_int_equal(st.st_mtim.tv_sec, 234567);
	assert_int_equal(st.st_mtim.tv_nsec, 891);
	assert_true(st.st_ctim.tv_sec >= t0.tv_sec); /* ctime is now */

	ch.valid = INODE_SET_ATIME_NOW;
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_true(st.st_atim.tv_sec >= t0.tv_sec);
	assert_int_equal(st.st_mtim.tv_sec, 234567);
	ch.valid = INODE_SET_MTIME_NOW;
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_true(st.st_mtim.tv_sec >= t0.tv_sec);

	ch.valid = INODE_SET_CTIME;
	ch.ctime = (struct timespec){ 345678, 912 };
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_int_equal(st.st_ctim.tv_sec, 345678);
	assert_int_equal(st.st_ctim.tv_nsec, 912);
	/* Nothing asked: only ctime moves. */
	ch.valid = 0;
	assert_ok(inode_setattr(f, &ch));
	st = stat_of(f);
	assert_true(st.st_ctim.tv_sec >= t0.tv_sec);
	assert_int_equal(st.st_uid, 1);
	fs_ck(fs);

	/* Directories and symlinks take the same attributes. */
	ch.valid = INODE_SET_MODE | INODE_SET_UID;
	ch.mode = 01777;
	ch.uid = 7;
	assert_ok(inode_setattr(fs->root, &ch));
	st = stat_of(fs->root);
	assert_int_equal(st.st_mode, S_IFDIR | 01777);
	assert_int_equal(st.st_uid, 7);
	fs_ck(fs);
}

static mode_t mode_after_kill(struct sfs *fs, struct inode *in, mode_t mode, bool may_keep_sgid,
			      bool killed)
{
	struct inode_change ch = { .valid = INODE_SET_MODE, .mode = mode };

	assert_ok(inode_setattr(in, &ch));
	assert_int_equal(inode_kill_suidgid(in, may_keep_sgid), killed);
	fs_ck(fs);
	return stat_of(in).st_mode & 07777;
}

static void test_kill_suidgid(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode_change ch = { .valid = INODE_SET_CTIME, .ctime = { 1, 0 } };

	assert_int_equal(mode_after_kill(fs, f, 06777, true, true), 0777);
	assert_int_equal(mode_after_kill(fs, f, 06777, false, true), 0777);
	assert_int_equal(mode_after_kill(fs, f, 04755, true, true), 0755);
	/* Set-group-ID without group execute: kept for a member of the group. */
	assert_int_equal(mode_after_kill(fs, f, 06767, true, true), 02767);
	assert_int_equal(mode_after_kill(fs, f, 02747, true, false), 02747);
	assert_int_equal(mode_after_kill(fs, f, 02747, false, true), 0747);
	assert_int_equal(mode_after_kill(fs, f, 0777, false, false), 0777);
	/* Nothing changed, ctime stays; something changed, ctime moves. */
	assert_ok(inode_setattr(f, &ch));
	assert_false(inode_kill_suidgid(f, false));
	assert_int_equal(stat_of(f).st_ctim.tv_sec, 1);
	ch.valid = INODE_SET_MODE | INODE_SET_CTIME;
	ch.mode = 04777;
	assert_ok(inode_setattr(f, &ch));
	assert_true(inode_kill_suidgid(f, true));
	assert_true(stat_of(f).st_ctim.tv_sec > 1);
	/* Every type but a directory, as on Linux: a setgid directory keeps its
	 * bit, a fifo, socket or device node chowned does not. */
	assert_int_equal(mode_after_kill(fs, d, 02775, false, false), 02775);
	assert_int_equal(mode_after_kill(fs, d, 06775, true, false), 06775);
	for (unsigned t = 0; t < 4; t++) {
		static const mode_t types[] = { S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK };
		char name[8];
		struct inode *n;

		snprintf(name, sizeof(name), "n%u", t);
		n = mk(fs, fs->root, name, types[t] | 0644);
		assert_int_equal(mode_after_kill(fs, n, 06555, true, true), 0555);
		assert_int_equal(mode_after_kill(fs, n, 06545, true, true), 02545);
		assert_int_equal(mode_after_kill(fs, n, 06545, false, true), 0545);
	}
}

/* A kill that comes with a chown is judged and applied in the same step. */
static void test_setattr_kill(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFIFO | 0644);
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode_change ch = { .valid = INODE_SET_MODE, .mode = 06555 };

	assert_ok(inode_setattr(f, &ch));
	ch = (struct inode_change){ .valid = INODE_SET_GID, .gid = 7, .kill_suidgid = true,
				    .may_keep_sgid = true };
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_mode, S_IFIFO | 0555);
	assert_int_equal(stat_of(f).st_gid, 7);
	/* sgid without g+x stays for a member of the group, goes otherwise. */
	ch = (struct inode_change){ .valid = INODE_SET_MODE, .mode = 02545 };
	assert_ok(inode_setattr(f, &ch));
	ch = (struct inode_change){ .valid = INODE_SET_UID, .uid = 9, .kill_suidgid = true,
				    .may_keep_sgid = true };
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(stat_of(f).st_mode & 07777, 02545);
	ch.may_keep_sgid = false;
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(stat_of(f).st_mode & 07777, 0545);
	/* No kill asked: nothing cleared. */
	ch = (struct inode_change){ .valid = INODE_SET_MODE, .mode = 06555 };
	assert_ok(inode_setattr(f, &ch));
	ch = (struct inode_change){ .valid = INODE_SET_UID, .uid = 10 };
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(stat_of(f).st_mode & 07777, 06555);
	/* A directory keeps its bits. */
	ch = (struct inode_change){ .valid = INODE_SET_MODE, .mode = 06755 };
	assert_ok(inode_setattr(d, &ch));
	ch = (struct inode_change){ .valid = INODE_SET_UID, .uid = 10, .kill_suidgid = true };
	assert_ok(inode_setattr(d, &ch));
	assert_int_equal(stat_of(d).st_mode & 07777, 06755);
	fs_ck(fs);
}

struct lock_probe {
	struct sfs *fs;
	int unbacks, under_lock;
};

static void probe_ns_lock(void *arg)
{
	struct lock_probe *p = arg;

	p->unbacks++;
	if (pthread_mutex_trylock(&p->fs->ns_lock) == 0)
		pthread_mutex_unlock(&p->fs->ns_lock);
	else
		p->under_lock++;
}

/* A big file's pages are freed after ns_lock is dropped, never under it. */
static void test_free_outside_ns_lock(void **state)
{
	struct faulty_store *fst = calloc(1, sizeof(*fst));
	struct lock_probe probe = { 0 };
	struct sfs_config cfg = { .capacity_pages = 1 << 20, .root_mode = 0755 };
	char buf[64 * PS];
	struct sfs *fs;
	struct inode *f, *g;

	(void)state;
	assert_non_null(fst);
	faulty_init(fst, store_mem_create());
	cfg.store = &fst->base;
	fs = fs_new_cfg(&cfg);
	probe.fs = fs;
	fst->on_unback = probe_ns_lock;
	fst->hook_arg = &probe;
	fill_bytes(buf, sizeof(buf), 5);
	/* Unlinked with no lookup left: the inode goes, with its pages. */
	f = mk(fs, fs->root, "f", S_IFREG | 0644);
	assert_int_equal(inode_write(f, buf, sizeof(buf), 0), sizeof(buf));
	sfs_forget(fs, f, 1);
	assert_ok(ns_unlink(fs, fs->root, "f"));
	assert_int_equal(space_used(&fs->space), 0);
	/* Unlinked while the kernel still knows it: the pages go, the inode stays. */
	g = mk(fs, fs->root, "g", S_IFREG | 0644);
	assert_int_equal(inode_write(g, buf, sizeof(buf), 0), sizeof(buf));
	assert_ok(ns_unlink(fs, fs->root, "g"));
	assert_int_equal(space_used(&fs->space), 0);
	sfs_forget(fs, g, 1);
	fs_ck(fs);
	assert_true(probe.unbacks >= 2);
	assert_int_equal(probe.under_lock, 0);
	fst->on_unback = NULL;
	fs_free(fs);
	free(fst);
}

static void test_data(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode_change ch = { .valid = INODE_SET_MTIME | INODE_SET_CTIME };
	char buf[2 * PS], got[4 * PS];
	struct stat st;

	ch.mtime.tv_sec = ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(f, &ch));
	fill_bytes(buf, sizeof(buf), 2);
	assert_int_equal(inode_write(f, buf, 100, 2 * PS - 50), 100);
	fs_ck(fs);
	st = stat_of(f);
	assert_int_equal(st.st_size, 2 * PS + 50);
	assert_int_equal(st.st_blocks, 16);
	assert_true(st.st_mtim.tv_sec > 1000); /* a write moves mtime and ctime */
	assert_true(st.st_ctim.tv_sec > 1000);
	assert_int_equal(rd(f, got, sizeof(got), 0), 2 * PS + 50);
	for (size_t i = 0; i < 2 * PS - 50; i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + 2 * PS - 50, buf, 100);
	assert_int_equal(inode_seek(f, 0, SEEK_DATA), PS);
	assert_int_equal(inode_seek(f, PS, SEEK_HOLE), 2 * PS + 50); /* EOF */
	assert_int_equal(inode_seek(f, 2 * PS + 50, SEEK_DATA), -ENXIO);
	/* Zeros make no pages here either. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(inode_write(f, buf, sizeof(buf), 10 * PS), sizeof(buf));
	fs_ck(fs);
	st = stat_of(f);
	assert_int_equal(st.st_size, 12 * PS);
	assert_int_equal(st.st_blocks, 16);
	assert_int_equal(inode_write(f, buf, 1, OBJECT_MAX_LENGTH), -EFBIG);
	fs_ck(fs);
}

static void test_atime(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode_change ch = { .valid = INODE_SET_ATIME };
	struct timespec t0 = now_ts();
	char buf[10];

	write_pages(fs, f, 1);
	/* Older than mtime: a read moves it. */
	ch.atime = (struct timespec){ 1000, 0 };
	assert_ok(inode_setattr(f, &ch));
	rd(f, buf, sizeof(buf), 0);
	assert_true(stat_of(f).st_atim.tv_sec >= t0.tv_sec);
	/* Newer than mtime and ctime and not a day old: it stays (relatime). */
	ch.atime = (struct timespec){ t0.tv_sec + 1000, 0 };
	assert_ok(inode_setattr(f, &ch));
	rd(f, buf, sizeof(buf), 0);
	assert_int_equal(stat_of(f).st_atim.tv_sec, t0.tv_sec + 1000);
	fs_ck(fs);
}

static void test_xattrs(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode *l = mk(fs, fs->root, "l", S_IFLNK | 0777);
	struct inode_change ch = { .valid = INODE_SET_CTIME };
	char buf[64], big[5000];

	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(inode_listxattr(f, NULL, 0), 0);
	assert_int_equal(inode_removexattr(f, "user.a"), -ENODATA);

	ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(f, &ch));
	assert_ok(inode_setxattr(f, "user.a", "1", 1, XATTR_CREATE));
	fs_ck(fs);
	assert_true(stat_of(f).st_ctim.tv_sec > 1000);
	assert_int_equal(inode_setxattr(f, "user.a", "2", 1, XATTR_CREATE), -EEXIST);
	assert_int_equal(inode_setxattr(f, "user.b", "2", 1, XATTR_REPLACE), -ENODATA);
	assert_int_equal(inode_getxattr(f, "user.b", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), 1);
	assert_memory_equal(buf, "1", 1);
	assert_ok(inode_setxattr(f, "user.a", "22", 2, XATTR_REPLACE));
	assert_ok(inode_setxattr(f, "user.ab", "333", 3, 0));
	assert_ok(inode_setxattr(f, "user.empty", "", 0, 0));
	fs_ck(fs);

	/* Size queries, short buffers, exact buffers. */
	assert_int_equal(inode_getxattr(f, "user.a", NULL, 0), 2);
	assert_int_equal(inode_getxattr(f, "user.a", buf, 1), -ERANGE);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(inode_getxattr(f, "user.a", buf, 2), 2);
	assert_memory_equal(buf, "22", 2);
	assert_int_equal(inode_getxattr(f, "user.ab", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "333", 3);
	assert_int_equal(inode_getxattr(f, "user.empty", buf, sizeof(buf)), 0);
	assert_int_equal(inode_getxattr(f, "user", buf, sizeof(buf)), -ENODATA);

	{
		const char want[] = "user.a\0user.ab\0user.empty"; /* + final NUL */
		size_t need = sizeof(want);
		ssize_t n = inode_listxattr(f, NULL, 0);
		bool a = false, ab = false, empty = false;

		assert_int_equal(n, need);
		assert_int_equal(inode_listxattr(f, buf, need - 1), -ERANGE);
		assert_int_equal(inode_listxattr(f, buf, 1), -ERANGE);
		assert_int_equal(inode_listxattr(f, buf, need), need);
		assert_int_equal(buf[need - 1], '\0');
		for (size_t i = 0; i < need; i += strlen(buf + i) + 1) {
			a |= strcmp(buf + i, "user.a") == 0;
			ab |= strcmp(buf + i, "user.ab") == 0;
			empty |= strcmp(buf + i, "user.empty") == 0;
		}
		assert_true(a && ab && empty);
	}

	/* Replace with a larger value, then a smaller one. */
	memset(big, 'v', sizeof(big));
	assert_ok(inode_setxattr(f, "user.a", big, sizeof(big), 0));
	assert_int_equal(inode_getxattr(f, "user.a", NULL, 0), sizeof(big));
	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), -ERANGE);
	assert_ok(inode_setxattr(f, "user.a", "x", 1, XATTR_REPLACE));
	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), 1);
	fs_ck(fs);

	assert_ok(inode_removexattr(f, "user.a"));
	assert_int_equal(inode_removexattr(f, "user.a"), -ENODATA);
	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(inode_getxattr(f, "user.ab", buf, sizeof(buf)), 3);
	assert_int_equal(inode_listxattr(f, NULL, 0), sizeof("user.ab") + sizeof("user.empty"));
	/* Removed, then created afresh. */
	assert_ok(inode_setxattr(f, "user.a", "new", 3, XATTR_CREATE));
	assert_int_equal(inode_getxattr(f, "user.a", buf, sizeof(buf)), 3);
	fs_ck(fs);

	/* Other inode types carry them too (and free them: see teardown). */
	assert_ok(inode_setxattr(fs->root, "trusted.x", "r", 1, 0));
	assert_ok(inode_setxattr(l, "user.l", "l", 1, 0));
	assert_int_equal(inode_getxattr(fs->root, "trusted.x", buf, sizeof(buf)), 1);
	assert_int_equal(inode_getxattr(l, "user.l", buf, sizeof(buf)), 1);
	/* An unlinked inode's xattrs go with it. */
	assert_ok(ns_unlink(fs, fs->root, "l"));
	sfs_forget(fs, l, 1);
	fs_ck(fs);
}

static void test_xattr_enomem(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	char buf[16];
	unsigned failures = 0;

	assert_ok(inode_setxattr(f, "user.keep", "old", 3, 0));
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "user.keep" : "user.new";

		for (long n = 0;; n++) {
			int ret;

			failalloc_nth(n);
			ret = inode_setxattr(f, name, "value", 5, 0);
			failalloc_off();
			if (ret == 0)
				break;
			assert_int_equal(ret, -ENOMEM);
			failures++;
			if (i)
				assert_int_equal(inode_getxattr(f, name, buf, sizeof(buf)), 3);
			else
				assert_int_equal(inode_getxattr(f, name, buf, sizeof(buf)), -ENODATA);
		}
		assert_int_equal(inode_getxattr(f, name, buf, sizeof(buf)), 5);
		assert_memory_equal(buf, "value", 5);
	}
	assert_true(failures >= 2);
	assert_int_equal(inode_listxattr(f, NULL, 0), sizeof("user.keep") + sizeof("user.new"));
	fs_ck(fs);
}

static void test_enospc_files(void **state)
{
	struct sfs *fs = fs_new(8, 0);
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644);
	struct inode *b = mk(fs, fs->root, "b", S_IFREG | 0644);
	char buf[5 * PS];
	struct statvfs st;

	(void)state;
	fill_bytes(buf, sizeof(buf), 3);
	assert_int_equal(inode_write(a, buf, sizeof(buf), 0), sizeof(buf));
	fs_ck(fs);
	assert_int_equal(inode_write(b, buf, sizeof(buf), 0), 3 * PS);
	fs_ck(fs);
	assert_int_equal(inode_write(b, buf, 1, 3 * PS), -ENOSPC);
	assert_int_equal(stat_of(b).st_size, 3 * PS);
	space_statfs(&fs->space, &st);
	assert_int_equal(st.f_blocks, 8);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0);
	/* Space freed by one file is there for the other. */
	assert_ok(ns_unlink(fs, fs->root, "a"));
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 3);
	assert_int_equal(inode_write(b, buf, sizeof(buf), 3 * PS), sizeof(buf));
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 8);
	fs_free(fs);
}

/*
 * A refused write(2) fences the pages it did not store (inode_write_fenced):
 * write-back into them is refused with the write's error until unfenced;
 * write-back elsewhere, and after, goes through. A short count fences from
 * where it stopped; a write stored whole fences nothing.
 */
static void test_fence(void **state)
{
	struct sfs *fs = fs_new(4, 0);
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	char buf[4 * PS];
	bool fenced, wb_fenced;

	(void)state;
	fill_bytes(buf, sizeof(buf), 5);
	assert_int_equal(inode_write_fenced(f, buf, 2 * PS, 0, &fenced), 2 * PS);
	assert_false(fenced);
	assert_int_equal(f->fences, 0);
	/* Two pages left: a write of three stores two, fences the third. */
	assert_int_equal(inode_write_fenced(f, buf, 3 * PS, 2 * PS, &fenced), 2 * PS);
	assert_true(fenced);
	assert_int_equal(f->fence_first, 4);
	assert_int_equal(f->fence_end, 5);
	/* Refused outright: the fence spans both refusals. */
	assert_int_equal(inode_write_fenced(f, buf, PS + 1, 6 * PS - 1, &fenced), -ENOSPC);
	assert_true(fenced);
	assert_int_equal(f->fences, 2);
	assert_int_equal(f->fence_first, 4);
	assert_int_equal(f->fence_end, 7);
	fs_ck(fs);
	/* Write-back into the fence: refused, nothing stored; beside it: stored. */
	assert_int_equal(inode_write_wb(f, buf, PS, 6 * PS, &wb_fenced), -ENOSPC);
	assert_true(wb_fenced);
	assert_int_equal(inode_write_wb(f, buf, 2 * PS, 3 * PS, &wb_fenced), -ENOSPC);
	assert_true(wb_fenced);
	assert_int_equal(inode_write_wb(f, buf, PS, 0, &wb_fenced), PS);
	assert_false(wb_fenced);
	assert_int_equal(stat_of(f).st_size, 4 * PS);
	fs_ck(fs);
	inode_unfence(f);
	assert_int_equal(f->fences, 1);
	assert_int_equal(inode_write_wb(f, buf, PS, 3 * PS, &wb_fenced), PS);
	assert_false(wb_fenced);
	inode_unfence(f);
	assert_int_equal(f->fences, 0);
	/* Unfenced: write-back is judged on space again (the mount is full). */
	assert_int_equal(inode_write_wb(f, buf, PS, 6 * PS, &wb_fenced), -ENOSPC);
	assert_false(wb_fenced);
	fs_ck(fs);
	fs_free(fs);
}

/* A size marks mtime and ctime, even the same size, unless mtime is given. */
static void test_setattr_size_times(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode_change old = { .valid = INODE_SET_ATIME | INODE_SET_MTIME,
				    .atime = { 1000, 0 }, .mtime = { 2000, 0 } };
	struct inode_change ch = { .valid = INODE_SET_SIZE, .size = 0 };
	struct timespec t0 = now_ts();

	assert_ok(inode_setattr(f, &old));
	assert_ok(inode_setattr(f, &ch));
	assert_true(stat_of(f).st_mtim.tv_sec >= t0.tv_sec);
	assert_int_equal(stat_of(f).st_atim.tv_sec, 1000);
	ch.valid = INODE_SET_SIZE | INODE_SET_MTIME;
	ch.mtime = (struct timespec){ 3000, 7 };
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(stat_of(f).st_mtim.tv_sec, 3000);
	assert_int_equal(stat_of(f).st_mtim.tv_nsec, 7);
	/* open(O_TRUNC) of an empty file, through OPEN (atomic O_TRUNC) */
	assert_ok(inode_setattr(f, &old));
	assert_ok(inode_trunc_open(f));
	assert_true(stat_of(f).st_mtim.tv_sec >= t0.tv_sec);
	fs_ck(fs);
}

static void test_fallocate_through_inode(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode *g = mk(fs, fs->root, "g", S_IFREG | 0644);
	struct inode_change ch = { .valid = INODE_SET_MTIME | INODE_SET_CTIME };
	char buf[PS];
	struct stat st;

	ch.mtime.tv_sec = ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(f, &ch));
	assert_ok(inode_fallocate(f, 0, 0, 3 * PS, NULL));
	fs_ck(fs);
	st = stat_of(f);
	assert_int_equal(st.st_size, 3 * PS);
	assert_int_equal(st.st_blocks, 24);
	assert_true(st.st_mtim.tv_sec > 1000);
	assert_true(st.st_ctim.tv_sec > 1000);
	assert_ok(inode_fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 2 * PS, NULL));
	fs_ck(fs);
	assert_int_equal(stat_of(g).st_size, 0);
	assert_int_equal(stat_of(g).st_blocks, 16);
	assert_int_equal(space_used(&fs->space), 5);
	/* A refused fallocate leaves the times alone. */
	assert_ok(inode_setattr(f, &ch));
	assert_int_equal(inode_fallocate(f, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(inode_fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, PS, NULL), -EOPNOTSUPP);
	assert_int_equal(stat_of(f).st_mtim.tv_sec, 1000);
	/* Write-back into the reservation, then punch it. */
	fill_bytes(buf, sizeof(buf), 4);
	assert_int_equal(inode_write_wb(f, buf, PS, PS, NULL), PS);
	fs_ck(fs);
	assert_int_equal(inode_seek(f, 0, SEEK_DATA), PS);
	assert_ok(inode_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 3 * PS, NULL));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_blocks, 0);
	assert_int_equal(space_used(&fs->space), 2);
	/* Unlinking gives the reservation back too. */
	assert_ok(ns_unlink(fs, fs->root, "g"));
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 0);
}

/* overcommit=never through the filesystem: lengths are backed, and the
 * overdraft is for write-back only. */
static void test_policy_never_fs(void **state)
{
	struct sfs_config cfg = {
		.capacity_pages = 16,
		.overdraft_pages = 4,
		.policy = SPACE_NEVER,
		.root_mode = 0755,
	};
	struct sfs *fs = fs_new_cfg(&cfg);
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode_change ch = { .valid = INODE_SET_SIZE };
	char buf[6 * PS];
	struct statvfs st;

	(void)state;
	ch.size = 12 * PS + 1; /* 13 pages: more than the 12 ordinary ones */
	assert_int_equal(inode_setattr(f, &ch), -ENOSPC);
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, 0);
	ch.size = 12 * PS;
	assert_ok(inode_setattr(f, &ch));
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_blocks, 12 * 8);
	space_statfs(&fs->space, &st);
	assert_int_equal(st.f_blocks, 16);
	assert_int_equal(st.f_bfree, 4);
	assert_int_equal(st.f_bavail, 0);
	fill_bytes(buf, sizeof(buf), 5);
	/* Inside the length: backed, cannot fail. */
	assert_int_equal(inode_write(f, buf, sizeof(buf), 3 * PS), sizeof(buf));
	/* Past it: an ordinary write may not take the overdraft... */
	assert_int_equal(inode_write(f, buf, PS, 12 * PS), -ENOSPC);
	/* ... write-back may. */
	assert_int_equal(inode_write_wb(f, buf, 2 * PS, 12 * PS, NULL), 2 * PS);
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_size, 14 * PS);
	assert_int_equal(space_used(&fs->space), 14);
	assert_ok(inode_trunc_open(f));
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 0);
	fs_free(fs);
}

static ssize_t vx(struct sfs *fs, struct inode *in, const char *key, char *buf, size_t size)
{
	char name[64];

	snprintf(name, sizeof(name), VXATTR_PREFIX "%s", key);
	assert_true(vxattr_is(name));
	return vxattr_get(fs, in, name, buf, size);
}

/* A figure as a number; asserts it is decimal text without a newline. */
static uint64_t vxn(struct sfs *fs, struct inode *in, const char *key)
{
	char buf[32];
	ssize_t n = vx(fs, in, key, buf, sizeof(buf) - 1);
	char *end;
	unsigned long long v;

	assert_true(n > 0);
	buf[n] = '\0';
	v = strtoull(buf, &end, 10);
	assert_true(*end == '\0');
	assert_int_equal(vx(fs, in, key, NULL, 0), n);
	return v;
}

static void test_vxattr(void **state)
{
	struct sfs_config cfg = {
		.capacity_pages = 100,
		.overdraft_pages = 7,
		.policy = SPACE_HEURISTIC,
		.root_mode = 0755,
	};
	struct sfs *fs = fs_new_cfg(&cfg);
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644);
	struct inode *g = mk(fs, fs->root, "g", S_IFREG | 0644);
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	char buf[64];

	(void)state;
	assert_true(vxattr_is("user.sparsefs.length"));
	assert_true(vxattr_is("user.sparsefs.anything"));
	assert_false(vxattr_is("user.sparsefs"));
	assert_false(vxattr_is("user.sparsefsx"));
	assert_false(vxattr_is("user.other"));
	assert_false(vxattr_is("trusted.sparsefs.length"));

	write_pages(fs, f, 3);
	assert_int_equal(inode_write(f, "x", 1, 10 * PS + 5), 1);
	assert_ok(inode_fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 2 * PS, NULL));
	fs_ck(fs);
	/* Per file, in bytes. */
	assert_int_equal(vxn(fs, f, "length"), 10 * PS + 6);
	assert_int_equal(vxn(fs, f, "data"), 4 * PS);
	assert_int_equal(vxn(fs, f, "reserved"), 0);
	assert_int_equal(vxn(fs, g, "length"), 0);
	assert_int_equal(vxn(fs, g, "data"), 0);
	assert_int_equal(vxn(fs, g, "reserved"), 2 * PS);
	/* Mount-wide, on the root, in bytes. */
	assert_int_equal(vxn(fs, fs->root, "capacity"), 100 * PS);
	assert_int_equal(vxn(fs, fs->root, "used"), 6 * PS);
	assert_int_equal(vxn(fs, fs->root, "data"), 4 * PS);
	assert_int_equal(vxn(fs, fs->root, "reserved"), 2 * PS);
	assert_int_equal(vxn(fs, fs->root, "overdraft"), 7 * PS);
	assert_int_equal(vxn(fs, fs->root, "backing_free"), fs_backing * PS);
	assert_int_equal(vxn(fs, fs->root, "dropped"), 0);
	space_count_dropped(&fs->space, 3);
	assert_int_equal(vxn(fs, fs->root, "dropped"), 3);
	assert_int_equal(vx(fs, fs->root, "policy", buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "heuristic", 9);
	/* Short buffers, unknown names, the wrong kind of inode. */
	assert_int_equal(vx(fs, fs->root, "policy", buf, 8), -ERANGE);
	assert_int_equal(vx(fs, f, "length", buf, 2), -ERANGE);
	assert_int_equal(vx(fs, f, "capacity", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(vx(fs, f, "nonsense", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(vx(fs, f, "", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(vx(fs, fs->root, "length", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(vx(fs, d, "length", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(vx(fs, d, "capacity", buf, sizeof(buf)), -ENODATA);
	/* They are never stored xattrs: nothing lists them. */
	assert_int_equal(inode_listxattr(f, NULL, 0), 0);
	assert_int_equal(inode_listxattr(fs->root, NULL, 0), 0);
	/* An unlinked open file still counts in the totals. */
	sfs_open(fs, f);
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	assert_int_equal(vxn(fs, fs->root, "data"), 4 * PS);
	assert_int_equal(vxn(fs, fs->root, "used"), 6 * PS);
	sfs_release(fs, f);
	fs_ck(fs);
	assert_int_equal(vxn(fs, fs->root, "data"), 0);
	assert_int_equal(vxn(fs, fs->root, "used"), 2 * PS);
	fs_free(fs);
}

/* ---- two threads at once ---- */

struct worker {
	struct sfs *fs;
	struct inode *dir, *file;
	int id;
	uint64_t pages;
	int errors;
};

/* Writes page after page until the space is full. */
static void *writer(void *arg)
{
	struct worker *w = arg;
	char buf[PS];

	fill_bytes(buf, sizeof(buf), (unsigned)w->id);
	for (uint64_t i = 0;; i++) {
		ssize_t ret = inode_write(w->file, buf, sizeof(buf), i * PS);

		if (ret == -ENOSPC)
			break;
		if (ret != (ssize_t)sizeof(buf)) {
			w->errors++;
			break;
		}
		w->pages++;
	}
	return NULL;
}

/* Makes names in its own directory and renames them to the root and back.
 * (No sfs_check here: used == sum of blocks holds only between writes.) */
static void *namer(void *arg)
{
	struct worker *w = arg;
	char name[32], other[32];

	for (int i = 0; i < 2000; i++) {
		struct inode *in = NULL;

		snprintf(name, sizeof(name), "n%d-%d", w->id, i);
		snprintf(other, sizeof(other), "m%d-%d", w->id, i);
		if (ns_make(w->fs, w->dir, name, i % 2 ? S_IFDIR | 0755 : S_IFREG | 0644, 0, NULL,
			    owner(1, 1), &in))
			w->errors++;
		else if (ns_rename(w->fs, w->dir, name, w->fs->root, i % 2 ? other : name, 0))
			w->errors++;
		else if (i % 3 && ns_rename(w->fs, w->fs->root, i % 2 ? other : name, w->dir,
					    name, 0))
			w->errors++;
		if (in)
			sfs_forget(w->fs, in, 1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct sfs *fs = fs_new(3000, 0);
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "%c%d", i < 2 ? 'f' : 'd', i);
		w[i] = (struct worker){ .fs = fs, .id = i };
		if (i < 2)
			w[i].file = mk(fs, fs->root, name, S_IFREG | 0644);
		else
			w[i].dir = mk(fs, fs->root, name, S_IFDIR | 0755);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, i < 2 ? writer : namer, &w[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(w[i].errors, 0);
	fs_ck(fs);
	/* Together the writers took exactly the capacity. */
	assert_int_equal(w[0].pages + w[1].pages, 3000);
	assert_int_equal(space_used(&fs->space), 3000);
	assert_int_equal(stat_of(w[0].file).st_blocks + stat_of(w[1].file).st_blocks, 3000 * 8);
	fs_free(fs);
}

/* sfs_destroy with everything still in use: files with data, an unlinked open
 * file, outstanding lookups, xattrs, nested directories. Teardown checks and
 * destroys; ASan or valgrind would report anything left behind. */
static void test_destroy_busy(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode *e = mk(fs, d, "e", S_IFDIR | 0755);
	struct inode *f = mk(fs, e, "f", S_IFREG | 0644);
	struct inode *g = mk(fs, fs->root, "g", S_IFREG | 0644);

	write_pages(fs, f, 3);
	write_pages(fs, g, 2);
	assert_ok(inode_setxattr(f, "user.x", "1", 1, 0));
	assert_ok(inode_setxattr(d, "user.y", "2", 1, 0));
	mk(fs, e, "s", S_IFLNK | 0777);
	lk(fs, e, "f");
	sfs_open(fs, g);
	assert_ok(ns_unlink(fs, fs->root, "g"));
	fs_ck(fs);
	assert_int_equal(space_used(&fs->space), 5);
	assert_int_equal(count_inodes(fs), 6);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fs_setup, fs_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_unlinked),
		T(test_lookups_keep_inode_not_pages),
		T(test_forget_then_release),
		T(test_setattr_size),
		T(test_setattr_attrs),
		T(test_kill_suidgid),
		T(test_setattr_kill),
		cmocka_unit_test(test_free_outside_ns_lock),
		T(test_data),
		T(test_atime),
		T(test_xattrs),
		T(test_xattr_enomem),
		cmocka_unit_test(test_enospc_files),
		cmocka_unit_test(test_fence),
		T(test_setattr_size_times),
		T(test_fallocate_through_inode),
		cmocka_unit_test(test_policy_never_fs),
		cmocka_unit_test(test_vxattr),
		cmocka_unit_test(test_concurrent),
		T(test_destroy_busy),
	};

	return cmocka_run_group_tests_name("inode", tests, NULL, NULL);
}
