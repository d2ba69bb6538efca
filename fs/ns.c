/* SPDX-License-Identifier: MIT */
#include "ns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kfile.h"

#define DIRENT_SIZE 20

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len > DIR_NAME_MAX)
		return -ENAMETOOLONG;
	if (!len || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

/* The directory a request names, alive. Needs ns_lock. */
static int live_dir(struct inode *dir)
{
	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	return dir->nlink ? 0 : -ENOENT;
}

/* A name was added to or taken from dir: its size and times change. */
static void dir_changed(struct inode *dir, int delta)
{
	pthread_rwlock_wrlock(&dir->lock);
	dir->d.size += (uint64_t)(int64_t)(delta * DIRENT_SIZE);
	inode_touch(dir, 1);
	pthread_rwlock_unlock(&dir->lock);
}

static void set_nlink(struct inode *in, nlink_t n)
{
	pthread_rwlock_wrlock(&in->lock);
	in->nlink = n;
	inode_touch(in, 0);
	pthread_rwlock_unlock(&in->lock);
}

/* The entry called name in dir: 0, -ENOTDIR or -ENOENT. Needs ns_lock. */
static int find_entry(struct inode *dir, const char *name, struct dentry **de)
{
	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	*de = dir_lookup(&dir->d.dir, name, strlen(name));
	return *de ? 0 : -ENOENT;
}

int ns_lookup(struct sfs *fs, struct inode *parent, const char *name, struct inode **out)
{
	struct dentry *de;
	int ret = check_name(name);

	if (ret)
		return ret;
	pthread_mutex_lock(&fs->ns_lock);
	ret = find_entry(parent, name, &de);
	if (!ret) {
		de->inode->nlookup++;
		*out = de->inode;
	}
	sfs_unlock(fs);
	return ret;
}

int ns_create(struct sfs *fs, struct inode *parent, const char *name, mode_t mode,
	      dev_t rdev, const char *target, struct ns_owner who, struct ns_kfile *kf,
	      struct inode **out)
{
	struct inode *in;
	uint64_t ino = 0;
	mode_t pmode;
	gid_t pgid;
	int fd = -1, ret = check_name(name);
	bool given = kf && kf->fd >= 0;

	if (ret)
		return ret;
	if (given) {
		ino = kf->ino;
	} else if (S_ISREG(mode) && sfs_kernel(fs)) {
		/* Its kernel file first, outside ns_lock: the file system call
		 * holds up no other request. */
		ino = inode_new_ino(fs);
		fd = kfile_make(fs->kstore, ino);
		if (fd < 0)
			return fd;
	}
	pthread_mutex_lock(&fs->ns_lock);
	ret = live_dir(parent);
	if (ret)
		goto out;
	if (dir_lookup(&parent->d.dir, name, strlen(name))) {
		ret = -EEXIST;
		goto out;
	}
	pthread_rwlock_rdlock(&parent->lock);
	pmode = parent->mode;
	pgid = parent->gid;
	pthread_rwlock_unlock(&parent->lock);
	if (pmode & S_ISGID) {
		who.gid = pgid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	ret = inode_create(fs, ino, mode, who.uid, who.gid, rdev, target, &in);
	if (ret)
		goto out;
	ret = dir_add(&parent->d.dir, name, strlen(name), in, NULL);
	if (ret) {
		in->nlink = 0;
		inode_reclaim(fs, in);
		goto out;
	}
	if (S_ISDIR(mode)) {
		in->d.parent = parent;
		pthread_rwlock_wrlock(&parent->lock);
		parent->nlink++;
		pthread_rwlock_unlock(&parent->lock);
	}
	dir_changed(parent, 1);
	in->nlookup++;
	*out = in;
out:
	sfs_unlock(fs);
	if (fd >= 0) {
		if (ret)
			kfile_remove(fs->kstore, ino); /* if inode_reclaim has not */
		if (ret || !kf) {
			close(fd);
		} else {
			kf->ino = ino;
			kf->fd = fd;
		}
	}
	return ret;
}

int ns_make(struct sfs *fs, struct inode *parent, const char *name, mode_t mode, dev_t rdev,
	    const char *target, struct ns_owner who, struct inode **out)
{
	return ns_create(fs, parent, name, mode, rdev, target, who, NULL, out);
}

int ns_link(struct sfs *fs, struct inode *in, struct inode *parent, const char *name)
{
	int ret = check_name(name);

	if (ret)
		return ret;
	if (in->type == S_IFDIR)
		return -EPERM;
	pthread_mutex_lock(&fs->ns_lock);
	ret = live_dir(parent);
	if (ret)
		goto out;
	if (!in->nlink) {
		ret = -ENOENT;
		goto out;
	}
	if (dir_lookup(&parent->d.dir, name, strlen(name))) {
		ret = -EEXIST;
		goto out;
	}
	ret = dir_add(&parent->d.dir, name, strlen(name), in, NULL);
	if (ret)
		goto out;
	set_nlink(in, in->nlink + 1);
	dir_changed(parent, 1);
	in->nlookup++;
out:
	sfs_unlock(fs);
	return ret;
}

/* Takes away in's name de in parent (a directory loses "." and its ".." link). */
static void drop_name(struct sfs *fs, struct inode *parent, struct dentry *de)
{
	struct inode *in = de->inode;

	dir_remove(&parent->d.dir, de);
	dir_changed(parent, -1);
	if (in->type == S_IFDIR) {
		set_nlink(in, 0);
		set_nlink(parent, parent->nlink - 1);
	} else {
		set_nlink(in, in->nlink - 1);
	}
	inode_reclaim(fs, in);
}

static int remove_name(struct sfs *fs, struct inode *parent, const char *name, int want_dir)
{
	struct dentry *de;
	int ret = check_name(name);

	if (ret)
		return ret;
	pthread_mutex_lock(&fs->ns_lock);
	ret = find_entry(parent, name, &de);
	if (!ret && want_dir && de->inode->type != S_IFDIR)
		ret = -ENOTDIR;
	else if (!ret && !want_dir && de->inode->type == S_IFDIR)
		ret = -EISDIR;
	else if (!ret && want_dir && de->inode->d.dir.count)
		ret = -ENOTEMPTY;
	if (!ret)
		drop_name(fs, parent, de);
	sfs_unlock(fs);
	return ret;
}

int ns_unlink(struct sfs *fs, struct inode *parent, const char *name)
{
	return remove_name(fs, parent, name, 0);
}

int ns_rmdir(struct sfs *fs, struct inode *parent, const char *name)
{
	return remove_name(fs, parent, name, 1);
}

/* Is dir the directory `in` or below it? Needs ns_lock. */
static int is_within(struct inode *dir, struct inode *in)
{
	for (;;) {
		if (dir == in)
			return 1;
		if (dir == dir->d.parent)
			return 0;
		dir = dir->d.parent;
	}
}

/* in, a directory, now lives in `to` instead of `from`. */
static void reparent(struct inode *in, struct inode *from, struct inode *to)
{
	if (in->type != S_IFDIR || from == to)
		return;
	in->d.parent = to;
	set_nlink(from, from->nlink - 1);
	set_nlink(to, to->nlink + 1);
}

static void touch_ctime(struct inode *in)
{
	pthread_rwlock_wrlock(&in->lock);
	inode_touch(in, 0);
	pthread_rwlock_unlock(&in->lock);
}

static int exchange(struct inode *p1, struct dentry *de1, struct inode *p2, struct dentry *de2)
{
	struct inode *in1 = de1->inode, *in2 = de2->inode;

	if ((in1->type == S_IFDIR && is_within(p2, in1)) ||
	    (in2->type == S_IFDIR && is_within(p1, in2)))
		return -EINVAL;
	de1->inode = in2;
	de2->inode = in1;
	reparent(in1, p1, p2);
	reparent(in2, p2, p1);
	touch_ctime(in1);
	touch_ctime(in2);
	dir_changed(p1, 0);
	if (p2 != p1)
		dir_changed(p2, 0);
	return 0;
}

static int move(struct sfs *fs, struct inode *p1, struct dentry *de1, struct inode *p2,
		const char *newname, struct dentry *de2)
{
	struct inode *in1 = de1->inode, *in2 = de2 ? de2->inode : NULL;
	int ret;

	if (in1->type == S_IFDIR && is_within(p2, in1))
		return -EINVAL;
	if (in2) {
		if (in1->type == S_IFDIR && in2->type != S_IFDIR)
			return -ENOTDIR;
		if (in1->type != S_IFDIR && in2->type == S_IFDIR)
			return -EISDIR;
		if (in2->type == S_IFDIR && in2->d.dir.count)
			return -ENOTEMPTY;
		/* The target's entry now names in1; in2 loses that name. */
		de2->inode = in1;
		if (in2->type == S_IFDIR) {
			set_nlink(in2, 0);
			set_nlink(p2, p2->nlink - 1);
		} else {
			set_nlink(in2, in2->nlink - 1);
		}
		dir_changed(p2, 0);
	} else {
		ret = dir_add(&p2->d.dir, newname, strlen(newname), in1, NULL);
		if (ret)
			return ret;
		dir_changed(p2, 1);
	}
	dir_remove(&p1->d.dir, de1);
	dir_changed(p1, -1);
	reparent(in1, p1, p2);
	touch_ctime(in1); /* rename changes ctime, as Linux filesystems do */
	if (in2)
		inode_reclaim(fs, in2);
	return 0;
}

int ns_rename(struct sfs *fs, struct inode *parent, const char *name, struct inode *newparent,
	      const char *newname, unsigned flags)
{
	struct dentry *de1, *de2;
	int ret;

	if ((flags & RENAME_EXCHANGE) && (flags & RENAME_NOREPLACE))
		return -EINVAL;
	if (flags & ~(RENAME_EXCHANGE | RENAME_NOREPLACE))
		return -EINVAL;
	ret = check_name(name);
	if (!ret)
		ret = check_name(newname);
	if (ret)
		return ret;
	pthread_mutex_lock(&fs->ns_lock);
	ret = live_dir(parent);
	if (!ret)
		ret = live_dir(newparent);
	if (ret)
		goto out;
	de1 = dir_lookup(&parent->d.dir, name, strlen(name));
	de2 = dir_lookup(&newparent->d.dir, newname, strlen(newname));
	if (!de1 || (!de2 && (flags & RENAME_EXCHANGE))) {
		ret = -ENOENT;
		goto out;
	}
	if (de2 && (flags & RENAME_NOREPLACE)) {
		ret = -EEXIST;
		goto out;
	}
	if (de2 && de2->inode == de1->inode)
		goto out; /* two names of one file: rename does nothing */
	if (flags & RENAME_EXCHANGE)
		ret = exchange(parent, de1, newparent, de2);
	else
		ret = move(fs, parent, de1, newparent, newname, de2);
out:
	sfs_unlock(fs);
	return ret;
}

int ns_readdir(struct sfs *fs, struct inode *dir, uint64_t off, ns_emit_fn emit, void *arg)
{
	struct dentry *de;

	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	pthread_mutex_lock(&fs->ns_lock);
	if (off < 1 && emit(arg, ".", dir, 1))
		goto out;
	if (off < 2 && emit(arg, "..", dir->d.parent, 2))
		goto out;
	if (!dir->nlink)
		goto out; /* removed: only "." and ".." remain */
	for (de = dir_next(&dir->d.dir, off > DIR_FIRST_COOKIE ? off : DIR_FIRST_COOKIE); de;
	     de = dir_next(&dir->d.dir, de->cookie + 1))
		if (emit(arg, de->name, de->inode, de->cookie + 1))
			break;
out:
	sfs_unlock(fs);
	return 0;
}
