/* SPDX-License-Identifier: MIT */
/*
 * ns: names in directories and the counts they imply — make, lookup, link,
 * unlink, rmdir, rename (plain, replacing, NOREPLACE, EXCHANGE), set-group-ID
 * inheritance and readdir. sfs_check after every operation.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsfx.h"

#define NAME256                                                                       \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxx"

static nlink_t nlink_of(struct inode *in)
{
	return stat_of(in).st_nlink;
}

/* ---- readdir collection ---- */

struct seen {
	char name[256];
	struct inode *in;
	uint64_t next;
};

struct listing {
	struct seen e[64];
	int n;
	int limit; /* stop (return non-zero) once this many were taken */
};

static int collect(void *arg, const char *name, struct inode *in, uint64_t next)
{
	struct listing *l = arg;

	if (l->n >= l->limit)
		return 1;
	snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%s", name);
	l->e[l->n].in = in;
	l->e[l->n].next = next;
	l->n++;
	return 0;
}

static struct listing list_dir(struct sfs *fs, struct inode *dir, uint64_t off, int limit)
{
	struct listing l = { .limit = limit };

	assert_int_equal(ns_readdir(fs, dir, off, collect, &l), 0);
	fs_ck(fs);
	return l;
}

/* The ".." a listing of dir shows. */
static struct inode *dotdot(struct sfs *fs, struct inode *dir)
{
	struct listing l = list_dir(fs, dir, 0, 64);

	assert_true(l.n >= 2);
	assert_string_equal(l.e[1].name, "..");
	return l.e[1].in;
}

/* ---- tests ---- */

static void test_root(void **state)
{
	struct sfs *fs = *state;
	struct stat st = stat_of(fs->root);
	struct listing l;

	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(fs->root->nlookup, 1);
	l = list_dir(fs, fs->root, 0, 64);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.e[0].name, ".");
	assert_ptr_equal(l.e[0].in, fs->root);
	assert_string_equal(l.e[1].name, "..");
	assert_ptr_equal(l.e[1].in, fs->root);
	assert_int_equal(count_inodes(fs), 1);
	assert_int_equal(space_used(&fs->space), 0);
}

static void test_make_types(void **state)
{
	struct sfs *fs = *state;
	struct inode *f, *d, *l, *p, *c, *s, *x = NULL;
	struct stat st;
	char name255[256];

	f = mk(fs, fs->root, "file", S_IFREG | 0644);
	st = stat_of(f);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_uid, FS_UID);
	assert_int_equal(st.st_gid, FS_GID);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	assert_int_equal(st.st_blksize, 4096);
	assert_int_equal(nlink_of(fs->root), 2);

	d = mk(fs, fs->root, "dir", S_IFDIR | 0750);
	st = stat_of(d);
	assert_int_equal(st.st_mode, S_IFDIR | 0750);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(nlink_of(fs->root), 3);
	assert_ptr_equal(dotdot(fs, d), fs->root);

	l = mk(fs, d, "link", S_IFLNK | 0777);
	st = stat_of(l);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_string_equal(l->target, "target");
	assert_int_equal(nlink_of(d), 2);

	p = mk(fs, d, "fifo", S_IFIFO | 0600);
	assert_int_equal(stat_of(p).st_mode, S_IFIFO | 0600);
	s = mk(fs, d, "sock", S_IFSOCK | 0600);
	assert_int_equal(stat_of(s).st_mode, S_IFSOCK | 0600);
	assert_int_equal(ns_make(fs, d, "null", S_IFCHR | 0666, makedev(1, 3), NULL,
				 owner(0, 0), &c),
			 0);
	fs_ck(fs);
	st = stat_of(c);
	assert_int_equal(st.st_mode, S_IFCHR | 0666);
	assert_int_equal(st.st_rdev, makedev(1, 3));
	assert_int_equal(st.st_uid, 0);
	/* Special bits are kept. */
	x = mk(fs, fs->root, "suid", S_IFREG | 06755);
	assert_int_equal(stat_of(x).st_mode, S_IFREG | 06755);
	/* Every inode has its own number. */
	{
		struct inode *all[] = { fs->root, f, d, l, p, s, c, x };

		for (size_t i = 0; i < 8; i++)
			for (size_t j = i + 1; j < 8; j++)
				assert_true(all[i]->ino != all[j]->ino);
	}
	assert_int_equal(count_inodes(fs), 8);

	/* Taken names, whatever the type. */
	assert_int_equal(ns_make(fs, fs->root, "file", S_IFREG | 0644, 0, NULL, owner(1, 1), &x),
			 -EEXIST);
	assert_int_equal(ns_make(fs, fs->root, "dir", S_IFREG | 0644, 0, NULL, owner(1, 1), &x),
			 -EEXIST);
	assert_int_equal(ns_make(fs, d, "link", S_IFDIR | 0755, 0, NULL, owner(1, 1), &x),
			 -EEXIST);
	/* Not a directory. */
	assert_int_equal(ns_make(fs, f, "x", S_IFREG | 0644, 0, NULL, owner(1, 1), &x), -ENOTDIR);
	/* Names. */
	assert_int_equal(ns_make(fs, fs->root, NAME256, S_IFREG | 0644, 0, NULL, owner(1, 1), &x),
			 -ENAMETOOLONG);
	fs_ck(fs);
	assert_int_equal(count_inodes(fs), 8);
	assert_int_equal(nlink_of(fs->root), 3);
	memset(name255, 'y', 255);
	name255[255] = '\0';
	x = mk(fs, fs->root, name255, S_IFREG | 0644);
	assert_ptr_equal(lk(fs, fs->root, name255), x);
	assert_int_equal(x->nlookup, 2);
}

static void test_make_touches_parent(void **state)
{
	struct sfs *fs = *state;
	struct inode_change ch = { .valid = INODE_SET_MTIME | INODE_SET_CTIME };
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct stat before, after;

	ch.mtime.tv_sec = 1000;
	ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(d, &ch));
	before = stat_of(d);
	assert_int_equal(before.st_mtim.tv_sec, 1000);
	mk(fs, d, "f", S_IFREG | 0644);
	after = stat_of(d);
	assert_true(after.st_mtim.tv_sec > 1000);
	assert_true(after.st_ctim.tv_sec > 1000);
	assert_true(after.st_size > before.st_size);

	assert_ok(inode_setattr(d, &ch));
	assert_ok(ns_unlink(fs, d, "f"));
	fs_ck(fs);
	after = stat_of(d);
	assert_true(after.st_mtim.tv_sec > 1000);
	assert_int_equal(after.st_size, before.st_size);
}

static void test_lookup_counts(void **state)
{
	struct sfs *fs = *state;
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644), *x = NULL;
	uint64_t ino = f->ino;

	assert_ptr_equal(lk(fs, fs->root, "f"), f);
	assert_ptr_equal(lk(fs, fs->root, "f"), f);
	assert_int_equal(f->nlookup, 3);
	assert_int_equal(ns_lookup(fs, fs->root, "g", &x), -ENOENT);
	assert_null(x);
	assert_int_equal(ns_lookup(fs, f, "g", &x), -ENOTDIR);
	assert_int_equal(ns_lookup(fs, fs->root, NAME256, &x), -ENAMETOOLONG);
	assert_int_equal(f->nlookup, 3);
	sfs_forget(fs, f, 2);
	fs_ck(fs);
	assert_int_equal(f->nlookup, 1);
	/* Forgetting more than was looked up is our bug: loud, and fatal where
	 * assertions are on; without them it leaves zero, and a linked file. */
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		sfs_forget(fs, f, 5);
		_exit(f->nlookup == 0 && alive(fs, ino) && fs->forget_underflows == 1 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
#ifdef NDEBUG
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
#else
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#endif
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_true(alive(fs, ino));
	assert_int_equal(f->nlookup, 0);
	assert_ptr_equal(lk(fs, fs->root, "f"), f);
	sfs_forget(fs, f, 1);
	/* No names, no lookups, not open: gone at once. */
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	assert_false(alive(fs, ino));
	assert_int_equal(count_inodes(fs), 1);
}

static void test_link_unlink(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode *f = mk(fs, fs->root, "f", S_IFREG | 0644), *x;
	uint64_t ino = f->ino;
	struct inode_change ch = { .valid = INODE_SET_CTIME };

	ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(f, &ch));
	assert_ok(ns_link(fs, f, fs->root, "g"));
	fs_ck(fs);
	assert_true(stat_of(f).st_ctim.tv_sec > 1000); /* link changes ctime */
	assert_ok(ns_link(fs, f, d, "h"));
	fs_ck(fs);
	assert_int_equal(nlink_of(f), 3);
	assert_int_equal(f->nlookup, 3);
	assert_int_equal(nlink_of(d), 2); /* a file's name is no subdirectory */
	assert_int_equal(probe(fs, fs->root, "g", &x), 0);
	assert_ptr_equal(x, f);
	assert_int_equal(probe(fs, d, "h", &x), 0);
	assert_ptr_equal(x, f);

	assert_int_equal(ns_link(fs, d, fs->root, "d2"), -EPERM);
	assert_int_equal(ns_link(fs, f, fs->root, "d"), -EEXIST);
	assert_int_equal(ns_link(fs, f, d, "h"), -EEXIST);
	assert_int_equal(ns_link(fs, f, f, "x"), -ENOTDIR);
	assert_int_equal(ns_link(fs, f, fs->root, NAME256), -ENAMETOOLONG);
	fs_ck(fs);
	assert_int_equal(nlink_of(f), 3);
	assert_int_equal(f->nlookup, 3);

	assert_ok(ns_unlink(fs, fs->root, "g"));
	fs_ck(fs);
	assert_int_equal(nlink_of(f), 2);
	assert_int_equal(probe(fs, fs->root, "g", NULL), -ENOENT);
	assert_int_equal(ns_unlink(fs, fs->root, "g"), -ENOENT);
	assert_int_equal(ns_unlink(fs, fs->root, "d"), -EISDIR);
	assert_int_equal(ns_rmdir(fs, fs->root, "f"), -ENOTDIR);
	assert_int_equal(ns_unlink(fs, f, "x"), -ENOTDIR);
	assert_int_equal(ns_unlink(fs, fs->root, NAME256), -ENAMETOOLONG);
	assert_ok(ns_unlink(fs, d, "h"));
	assert_ok(ns_unlink(fs, fs->root, "f"));
	fs_ck(fs);
	assert_int_equal(nlink_of(f), 0);
	assert_true(alive(fs, ino)); /* the kernel still holds 3 lookups */
	/* No name is left to link from. */
	assert_int_equal(ns_link(fs, f, fs->root, "again"), -ENOENT);
	fs_ck(fs);
	sfs_forget(fs, f, 2);
	fs_ck(fs);
	assert_true(alive(fs, ino));
	sfs_forget(fs, f, 1);
	fs_ck(fs);
	assert_false(alive(fs, ino));
	assert_int_equal(count_inodes(fs), 2);
}

static void test_rmdir(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755), *x = NULL;
	uint64_t ino = d->ino;
	struct listing l;

	mk(fs, d, "e", S_IFDIR | 0755);
	mk(fs, d, "x", S_IFREG | 0644);
	assert_int_equal(nlink_of(d), 3);
	assert_int_equal(ns_rmdir(fs, fs->root, "d"), -ENOTEMPTY);
	assert_ok(ns_rmdir(fs, d, "e"));
	fs_ck(fs);
	assert_int_equal(nlink_of(d), 2);
	assert_int_equal(ns_rmdir(fs, fs->root, "d"), -ENOTEMPTY); /* a file is enough */
	assert_ok(ns_unlink(fs, d, "x"));
	assert_int_equal(ns_rmdir(fs, fs->root, "nope"), -ENOENT);
	assert_int_equal(ns_rmdir(fs, fs->root, NAME256), -ENAMETOOLONG);
	assert_ok(ns_rmdir(fs, fs->root, "d"));
	fs_ck(fs);
	assert_int_equal(nlink_of(fs->root), 2);
	assert_int_equal(nlink_of(d), 0);
	assert_true(alive(fs, ino));

	/* A removed directory the kernel still holds: nothing can enter it. */
	assert_int_equal(ns_make(fs, d, "y", S_IFREG | 0644, 0, NULL, owner(1, 1), &x), -ENOENT);
	assert_int_equal(ns_make(fs, d, "y", S_IFDIR | 0755, 0, NULL, owner(1, 1), &x), -ENOENT);
	x = mk(fs, fs->root, "f", S_IFREG | 0644);
	assert_int_equal(ns_link(fs, x, d, "y"), -ENOENT);
	assert_int_equal(ns_rename(fs, fs->root, "f", d, "y", 0), -ENOENT);
	fs_ck(fs);
	assert_int_equal(probe(fs, d, "y", NULL), -ENOENT);
	l = list_dir(fs, d, 0, 64);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.e[0].name, ".");
	assert_string_equal(l.e[1].name, "..");
	assert_int_equal(nlink_of(fs->root), 2);
	sfs_forget(fs, d, 1);
	fs_ck(fs);
	assert_false(alive(fs, ino));
}

static void test_dir_nlink(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFDIR | 0755);
	struct inode *b = mk(fs, fs->root, "b", S_IFDIR | 0755);

	mk(fs, fs->root, "c", S_IFDIR | 0755);
	mk(fs, fs->root, "f", S_IFREG | 0644);
	mk(fs, fs->root, "s", S_IFLNK | 0777);
	assert_int_equal(nlink_of(fs->root), 5);
	mk(fs, a, "a1", S_IFDIR | 0755);
	mk(fs, a, "a2", S_IFDIR | 0755);
	mk(fs, a, "af", S_IFREG | 0644);
	assert_int_equal(nlink_of(a), 4);
	assert_ok(ns_rename(fs, a, "a1", b, "b1", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(a), 3);
	assert_int_equal(nlink_of(b), 3);
	assert_int_equal(nlink_of(fs->root), 5);
	assert_ok(ns_rename(fs, a, "af", b, "bf", 0)); /* files move no links */
	fs_ck(fs);
	assert_int_equal(nlink_of(a), 3);
	assert_int_equal(nlink_of(b), 3);
	assert_ok(ns_rmdir(fs, fs->root, "c"));
	fs_ck(fs);
	assert_int_equal(nlink_of(fs->root), 4);
}

static void test_rename_plain(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644), *x = NULL;
	struct inode *d1 = mk(fs, fs->root, "d1", S_IFDIR | 0755);
	struct inode *d2 = mk(fs, fs->root, "d2", S_IFDIR | 0755);
	struct inode *sub = mk(fs, d1, "sub", S_IFDIR | 0755);
	struct inode_change ch = { .valid = INODE_SET_CTIME };

	ch.ctime.tv_sec = 1000;
	assert_ok(inode_setattr(a, &ch));
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "b", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "a", NULL), -ENOENT);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(nlink_of(a), 1);
	assert_true(stat_of(a).st_ctim.tv_sec > 1000);

	/* A file to another directory. */
	assert_ok(ns_rename(fs, fs->root, "b", d2, "b", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "b", NULL), -ENOENT);
	assert_int_equal(probe(fs, d2, "b", &x), 0);
	assert_ptr_equal(x, a);

	/* A directory to another directory: links and ".." follow it. */
	assert_int_equal(nlink_of(d1), 3);
	assert_ok(ns_rename(fs, d1, "sub", d2, "moved", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(d1), 2);
	assert_int_equal(nlink_of(d2), 3);
	assert_int_equal(nlink_of(sub), 2);
	assert_ptr_equal(dotdot(fs, sub), d2);
	/* ... and up to the root. */
	assert_ok(ns_rename(fs, d2, "moved", fs->root, "top", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(fs->root), 5);
	assert_int_equal(nlink_of(d2), 2);
	assert_ptr_equal(dotdot(fs, sub), fs->root);

	/* Onto itself: nothing happens. */
	assert_ok(ns_rename(fs, fs->root, "top", fs->root, "top", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "top", &x), 0);
	assert_ptr_equal(x, sub);

	assert_int_equal(ns_rename(fs, fs->root, "none", fs->root, "x", 0), -ENOENT);
	assert_int_equal(ns_rename(fs, fs->root, "top", fs->root, NAME256, 0), -ENAMETOOLONG);
	assert_int_equal(ns_rename(fs, fs->root, NAME256, fs->root, "x", 0), -ENAMETOOLONG);
	assert_int_equal(ns_rename(fs, a, "x", fs->root, "y", 0), -ENOTDIR);
	assert_int_equal(ns_rename(fs, fs->root, "top", a, "y", 0), -ENOTDIR);
	fs_ck(fs);
}

static void test_rename_over_file(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644);
	struct inode *b = mk(fs, fs->root, "b", S_IFREG | 0644), *x = NULL;
	struct inode *c = mk(fs, fs->root, "c", S_IFREG | 0644);
	uint64_t bino = b->ino, cino = c->ino;

	write_pages(fs, a, 2);
	write_pages(fs, b, 3);
	write_pages(fs, c, 4);
	assert_int_equal(space_used(&fs->space), 9);
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "b", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(probe(fs, fs->root, "a", NULL), -ENOENT);
	/* b lost its only name; it is closed, so its pages went at once, though
	 * the kernel still holds a lookup. */
	assert_int_equal(nlink_of(b), 0);
	assert_true(alive(fs, bino));
	assert_int_equal(space_used(&fs->space), 6);
	assert_int_equal(stat_of(b).st_blocks, 0);
	sfs_forget(fs, b, 1);
	fs_ck(fs);
	assert_false(alive(fs, bino));

	/* Over an open file: its pages stay until the last close. */
	sfs_open(fs, c);
	assert_ok(ns_rename(fs, fs->root, "b", fs->root, "c", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(c), 0);
	assert_int_equal(space_used(&fs->space), 6);
	assert_int_equal(stat_of(c).st_blocks, 32);
	sfs_forget(fs, c, 1);
	fs_ck(fs);
	assert_true(alive(fs, cino));
	sfs_release(fs, c);
	fs_ck(fs);
	assert_false(alive(fs, cino));
	assert_int_equal(space_used(&fs->space), 2);
	assert_int_equal(count_inodes(fs), 2);
}

static void test_rename_over_dir(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFDIR | 0755);
	struct inode *b = mk(fs, fs->root, "b", S_IFDIR | 0755), *x = NULL;
	struct inode *p = mk(fs, fs->root, "p", S_IFDIR | 0755);
	struct inode *q = mk(fs, p, "q", S_IFDIR | 0755);
	uint64_t bino = b->ino, qino = q->ino;

	mk(fs, a, "inside", S_IFREG | 0644);
	assert_int_equal(nlink_of(fs->root), 5);
	/* Over a non-empty directory: refused, nothing changes. */
	assert_int_equal(ns_rename(fs, fs->root, "b", fs->root, "a", 0), -ENOTEMPTY);
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, b);
	assert_int_equal(probe(fs, fs->root, "a", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(nlink_of(fs->root), 5);

	/* Over an empty one in the same directory. */
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "b", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(nlink_of(b), 0);
	assert_int_equal(nlink_of(fs->root), 4);
	assert_int_equal(probe(fs, a, "inside", NULL), 0);
	sfs_forget(fs, b, 1);
	fs_ck(fs);
	assert_false(alive(fs, bino));

	/* Over an empty one in another directory. */
	assert_ok(ns_rename(fs, fs->root, "b", p, "q", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(q), 0);
	assert_int_equal(nlink_of(p), 3);
	assert_int_equal(nlink_of(fs->root), 3);
	assert_ptr_equal(dotdot(fs, a), p);
	assert_int_equal(probe(fs, p, "q", &x), 0);
	assert_ptr_equal(x, a);
	sfs_forget(fs, q, 1);
	fs_ck(fs);
	assert_false(alive(fs, qino));
}

static void test_rename_errors(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	struct inode *e = mk(fs, d, "e", S_IFDIR | 0755), *x = NULL;

	mk(fs, fs->root, "f", S_IFREG | 0644);
	mk(fs, fs->root, "empty", S_IFDIR | 0755);
	mk(fs, e, "deep", S_IFDIR | 0755);
	assert_int_equal(ns_rename(fs, fs->root, "d", fs->root, "f", 0), -ENOTDIR);
	assert_int_equal(ns_rename(fs, fs->root, "f", fs->root, "empty", 0), -EISDIR);
	/* Into itself or below itself. */
	assert_int_equal(ns_rename(fs, fs->root, "d", d, "x", 0), -EINVAL);
	assert_int_equal(ns_rename(fs, fs->root, "d", e, "x", 0), -EINVAL);
	assert_int_equal(ns_rename(fs, fs->root, "d", e, "deep", 0), -EINVAL);
	assert_int_equal(ns_rename(fs, d, "e", e, "x", 0), -EINVAL);
	fs_ck(fs);
	/* Nothing moved. */
	assert_int_equal(probe(fs, fs->root, "d", &x), 0);
	assert_ptr_equal(x, d);
	assert_int_equal(probe(fs, d, "e", &x), 0);
	assert_ptr_equal(x, e);
	assert_int_equal(probe(fs, e, "deep", NULL), 0);
	assert_int_equal(probe(fs, fs->root, "f", NULL), 0);
	assert_int_equal(probe(fs, fs->root, "empty", NULL), 0);
	assert_int_equal(nlink_of(fs->root), 4);
	assert_int_equal(nlink_of(d), 3);
	assert_int_equal(nlink_of(e), 3);
	/* A parent onto its non-empty child's name is no move into itself. */
	assert_int_equal(ns_rename(fs, d, "e", fs->root, "d", 0), -ENOTEMPTY);
	/* Flags. */
	assert_int_equal(ns_rename(fs, fs->root, "f", fs->root, "g",
				   RENAME_EXCHANGE | RENAME_NOREPLACE),
			 -EINVAL);
	assert_int_equal(ns_rename(fs, fs->root, "f", fs->root, "g", 1u << 6), -EINVAL);
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "g", NULL), -ENOENT);
}

static void test_rename_noreplace(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644);
	struct inode *b = mk(fs, fs->root, "b", S_IFREG | 0644), *x = NULL;

	assert_int_equal(ns_rename(fs, fs->root, "a", fs->root, "b", RENAME_NOREPLACE), -EEXIST);
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "a", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, b);
	assert_int_equal(nlink_of(b), 1);
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "c", RENAME_NOREPLACE));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "c", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(probe(fs, fs->root, "a", NULL), -ENOENT);
}

static void test_rename_exchange(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644);
	struct inode *b = mk(fs, fs->root, "b", S_IFREG | 0644), *x = NULL;
	struct inode *d1 = mk(fs, fs->root, "d1", S_IFDIR | 0755);
	struct inode *d2 = mk(fs, fs->root, "d2", S_IFDIR | 0755);
	struct inode *X = mk(fs, d1, "X", S_IFDIR | 0755);
	struct inode *Y = mk(fs, d2, "Y", S_IFREG | 0644);
	struct inode *Z = mk(fs, d2, "Z", S_IFDIR | 0755);

	/* Two files in one directory swap names. */
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "b", RENAME_EXCHANGE));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "a", &x), 0);
	assert_ptr_equal(x, b);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(nlink_of(a), 1);
	assert_int_equal(nlink_of(b), 1);

	/* A directory and a file across directories: the directory's link to
	 * its parent moves with it. */
	assert_int_equal(nlink_of(d1), 3);
	assert_int_equal(nlink_of(d2), 3);
	assert_ok(ns_rename(fs, d1, "X", d2, "Y", RENAME_EXCHANGE));
	fs_ck(fs);
	assert_int_equal(probe(fs, d1, "X", &x), 0);
	assert_ptr_equal(x, Y);
	assert_int_equal(probe(fs, d2, "Y", &x), 0);
	assert_ptr_equal(x, X);
	assert_int_equal(nlink_of(d1), 2);
	assert_int_equal(nlink_of(d2), 4);
	assert_int_equal(nlink_of(X), 2);
	assert_int_equal(nlink_of(Y), 1);
	assert_ptr_equal(dotdot(fs, X), d2);

	/* Two directories across directories: counts stay, parents swap. */
	assert_ok(ns_rename(fs, d2, "Z", fs->root, "d1", RENAME_EXCHANGE));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "d1", &x), 0);
	assert_ptr_equal(x, Z);
	assert_int_equal(probe(fs, d2, "Z", &x), 0);
	assert_ptr_equal(x, d1);
	assert_ptr_equal(dotdot(fs, Z), fs->root);
	assert_ptr_equal(dotdot(fs, d1), d2);
	assert_int_equal(nlink_of(fs->root), 4);
	assert_int_equal(nlink_of(d2), 4);
	assert_int_equal(nlink_of(d1), 2);

	/* The target must exist. */
	assert_int_equal(ns_rename(fs, fs->root, "a", fs->root, "nope", RENAME_EXCHANGE),
			 -ENOENT);
	assert_int_equal(ns_rename(fs, fs->root, "nope", fs->root, "a", RENAME_EXCHANGE),
			 -ENOENT);
	/* A directory with something below it: that would make a loop. */
	assert_int_equal(ns_rename(fs, fs->root, "d2", d2, "Y", RENAME_EXCHANGE), -EINVAL);
	assert_int_equal(ns_rename(fs, d2, "Y", fs->root, "d2", RENAME_EXCHANGE), -EINVAL);
	/* d1 now lives inside d2: d2 cannot trade places with d1's entry. */
	assert_int_equal(ns_rename(fs, fs->root, "d2", d1, "X", RENAME_EXCHANGE), -EINVAL);
	assert_int_equal(ns_rename(fs, fs->root, "d2", d1, "nope", RENAME_EXCHANGE), -ENOENT);
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "d2", &x), 0);
	assert_ptr_equal(x, d2);
	assert_int_equal(probe(fs, d2, "Y", &x), 0);
	assert_ptr_equal(x, X);
	/* With itself: nothing. */
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "a", RENAME_EXCHANGE));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "a", &x), 0);
	assert_ptr_equal(x, b);
}

static void test_rename_hard_links(void **state)
{
	struct sfs *fs = *state;
	struct inode *a = mk(fs, fs->root, "a", S_IFREG | 0644), *x = NULL;

	assert_ok(ns_link(fs, a, fs->root, "b"));
	fs_ck(fs);
	/* Two names of one file: rename does nothing, both stay (POSIX). */
	assert_ok(ns_rename(fs, fs->root, "a", fs->root, "b", 0));
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "a", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
	assert_int_equal(nlink_of(a), 2);
	/* A third name over another file, then onto one of its own. */
	mk(fs, fs->root, "c", S_IFREG | 0644);
	assert_ok(ns_rename(fs, fs->root, "c", fs->root, "a", 0));
	fs_ck(fs);
	assert_int_equal(nlink_of(a), 1);
	assert_int_equal(probe(fs, fs->root, "b", &x), 0);
	assert_ptr_equal(x, a);
}

static void test_setgid(void **state)
{
	struct sfs *fs = *state;
	struct inode_change ch = { .valid = INODE_SET_MODE | INODE_SET_GID,
				   .mode = 02775,
				   .gid = 100 };
	struct inode *sg = mk(fs, fs->root, "sg", S_IFDIR | 0755), *f, *d, *dd, *plain;

	assert_ok(inode_setattr(sg, &ch));
	assert_int_equal(ns_make(fs, sg, "f", S_IFREG | 0644, 0, NULL, owner(7, 5), &f), 0);
	fs_ck(fs);
	assert_int_equal(stat_of(f).st_gid, 100);
	assert_int_equal(stat_of(f).st_uid, 7);
	assert_int_equal(stat_of(f).st_mode, S_IFREG | 0644); /* files gain no bit */
	assert_int_equal(ns_make(fs, sg, "d", S_IFDIR | 0755, 0, NULL, owner(7, 5), &d), 0);
	fs_ck(fs);
	assert_int_equal(stat_of(d).st_gid, 100);
	assert_int_equal(stat_of(d).st_mode, S_IFDIR | 02755); /* directories do */
	/* ... and so it goes down. */
	assert_int_equal(ns_make(fs, d, "dd", S_IFDIR | 0700, 0, NULL, owner(7, 5), &dd), 0);
	fs_ck(fs);
	assert_int_equal(stat_of(dd).st_gid, 100);
	assert_int_equal(stat_of(dd).st_mode, S_IFDIR | 02700);
	/* Without the bit, the caller's group. */
	assert_int_equal(ns_make(fs, fs->root, "plain", S_IFDIR | 0755, 0, NULL, owner(7, 5),
				 &plain),
			 0);
	fs_ck(fs);
	assert_int_equal(stat_of(plain).st_gid, 5);
	assert_int_equal(stat_of(plain).st_mode, S_IFDIR | 0755);
}

static void test_readdir(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755);
	const char *names[] = { "a", "b", "c", "s" };
	struct inode *ins[4];
	struct listing l, m;
	struct inode *f = mk(fs, fs->root, "file", S_IFREG | 0644);

	for (int i = 0; i < 4; i++)
		ins[i] = mk(fs, d, names[i], i == 3 ? S_IFDIR | 0755 : S_IFREG | 0644);
	l = list_dir(fs, d, 0, 64);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.e[0].name, ".");
	assert_ptr_equal(l.e[0].in, d);
	assert_string_equal(l.e[1].name, "..");
	assert_ptr_equal(l.e[1].in, fs->root);
	for (int i = 0; i < 4; i++) {
		assert_string_equal(l.e[2 + i].name, names[i]);
		assert_ptr_equal(l.e[2 + i].in, ins[i]);
	}
	for (int i = 1; i < l.n; i++)
		assert_true(l.e[i].next > l.e[i - 1].next);
	assert_true(l.e[0].next > 0);
	/* Resuming at any entry's `next` gives exactly what followed it. */
	for (int i = 0; i < l.n; i++) {
		m = list_dir(fs, d, l.e[i].next, 64);
		assert_int_equal(m.n, l.n - i - 1);
		for (int j = 0; j < m.n; j++) {
			assert_string_equal(m.e[j].name, l.e[i + 1 + j].name);
			assert_int_equal(m.e[j].next, l.e[i + 1 + j].next);
		}
	}
	/* A full buffer: emit says stop, the caller resumes where it stopped. */
	m = list_dir(fs, d, 0, 3);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.e[2].name, "a");
	/* Meanwhile "b" goes and "z" comes. */
	assert_ok(ns_unlink(fs, d, "b"));
	mk(fs, d, "z", S_IFREG | 0644);
	m = list_dir(fs, d, m.e[2].next, 64);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.e[0].name, "c");
	assert_string_equal(m.e[1].name, "s");
	assert_string_equal(m.e[2].name, "z");
	/* A subdirectory's ".." is its parent. */
	assert_ptr_equal(dotdot(fs, ins[3]), d);
	/* emit may take lookups for what it hands out, as readdirplus does. */
	assert_int_equal(ins[0]->nlookup, 1);
	{
		struct listing one = { .limit = 64 };

		assert_int_equal(ns_readdir(fs, d, 2, collect, &one), 0);
		for (int i = 0; i < one.n; i++)
			one.e[i].in->nlookup++; /* the glue does this in emit; one thread here */
		fs_ck(fs);
		assert_int_equal(ins[0]->nlookup, 2);
		for (int i = 0; i < one.n; i++)
			sfs_forget(fs, one.e[i].in, 1);
		fs_ck(fs);
	}
	assert_int_equal(ns_readdir(fs, f, 0, collect, &l), -ENOTDIR);
	fs_ck(fs);
}

static void test_inode_budget(void **state)
{
	struct sfs *fs = fs_new(100, 4);
	struct inode *f, *x = NULL;
	struct statvfs st;

	(void)state;
	f = mk(fs, fs->root, "1", S_IFREG | 0644);
	mk(fs, fs->root, "2", S_IFDIR | 0755);
	mk(fs, fs->root, "3", S_IFLNK | 0777);
	assert_int_equal(ns_make(fs, fs->root, "4", S_IFREG | 0644, 0, NULL, owner(1, 1), &x),
			 -ENOSPC);
	fs_ck(fs);
	assert_int_equal(probe(fs, fs->root, "4", NULL), -ENOENT);
	space_statfs(&fs->space, &st);
	assert_int_equal(st.f_files, 4);
	assert_int_equal(st.f_ffree, 0);
	/* A hard link is no new inode. */
	assert_ok(ns_link(fs, f, fs->root, "1b"));
	fs_ck(fs);
	/* Unlinked but still looked up: the inode still counts. */
	assert_ok(ns_unlink(fs, fs->root, "1"));
	assert_ok(ns_unlink(fs, fs->root, "1b"));
	assert_int_equal(ns_make(fs, fs->root, "4", S_IFREG | 0644, 0, NULL, owner(1, 1), &x),
			 -ENOSPC);
	sfs_forget(fs, f, 2);
	fs_ck(fs);
	x = mk(fs, fs->root, "4", S_IFREG | 0644);
	fs_free(fs);
}

/* Allocation failures inside ns_make and ns_rename leave everything as it was. */
static void test_enomem(void **state)
{
	struct sfs *fs = *state;
	struct inode *d = mk(fs, fs->root, "d", S_IFDIR | 0755), *x = NULL;
	unsigned failures = 0;
	char name[32];

	for (int i = 0; i < 40; i++) {
		mode_t mode = i % 3 == 0 ? S_IFDIR | 0755 : i % 3 == 1 ? S_IFREG | 0644
								  : S_IFLNK | 0777;

		snprintf(name, sizeof(name), "n%d", i);
		for (long n = 0;; n++) {
			size_t inodes = count_inodes(fs), entries = d->d.dir.count;
			nlink_t links = nlink_of(d);
			int ret;

			failalloc_nth(n);
			ret = ns_make(fs, d, name, mode, 0, "target", owner(1, 1), &x);
			failalloc_off();
			fs_ck(fs);
			if (ret == 0 && !failalloc_fired())
				break;
			if (ret == 0) { /* a failure it could do without */
				assert_int_equal(x->nlookup, 1);
				break;
			}
			assert_int_equal(ret, -ENOMEM);
			failures++;
			assert_int_equal(count_inodes(fs), inodes);
			assert_int_equal(d->d.dir.count, entries);
			assert_int_equal(nlink_of(d), links);
			assert_int_equal(probe(fs, d, name, NULL), -ENOENT);
		}
	}
	/* rename to a new name in another directory needs an entry there. */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		for (long n = 0;; n++) {
			int ret;

			failalloc_nth(n);
			ret = ns_rename(fs, d, name, fs->root, name, 0);
			failalloc_off();
			fs_ck(fs);
			if (ret == 0)
				break;
			assert_int_equal(ret, -ENOMEM);
			failures++;
			assert_int_equal(probe(fs, d, name, NULL), 0);
			assert_int_equal(probe(fs, fs->root, name, NULL), -ENOENT);
		}
		assert_int_equal(probe(fs, d, name, NULL), -ENOENT);
		assert_int_equal(probe(fs, fs->root, name, NULL), 0);
	}
	assert_true(failures >= 40);
	assert_int_equal(nlink_of(d), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fs_setup, fs_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_root),
		T(test_make_types),
		T(test_make_touches_parent),
		T(test_lookup_counts),
		T(test_link_unlink),
		T(test_rmdir),
		T(test_dir_nlink),
		T(test_rename_plain),
		T(test_rename_over_file),
		T(test_rename_over_dir),
		T(test_rename_errors),
		T(test_rename_noreplace),
		T(test_rename_exchange),
		T(test_rename_hard_links),
		T(test_setgid),
		T(test_readdir),
		cmocka_unit_test(test_inode_budget),
		T(test_enomem),
	};

	return cmocka_run_group_tests_name("ns", tests, NULL, NULL);
}
