/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_FSFX_H
#define SPARSEFS_FSFX_H

/*
 * A small filesystem for the inode and ns tests: sfs_init in setup,
 * sfs_check and sfs_destroy in teardown (so a leak shows under ASan or
 * valgrind), and short helpers that assert as they go.
 */

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "inode.h"
#include "ns.h"
#include "unit.h"

#define FS_PAGES 1024
#define FS_UID 1000
#define FS_GID 1000

/* What the machine could still give, as the filesystems here see it. */
static uint64_t fs_backing = UINT64_MAX / 2;

static inline struct sfs *fs_new_cfg(const struct sfs_config *cfg)
{
	struct sfs *fs = calloc(1, sizeof(*fs));
	struct sfs_config with_store = *cfg;

	assert_non_null(fs);
	if (!with_store.store)
		with_store.store = store_mem_create();
	assert_non_null(with_store.store);
	assert_int_equal(sfs_init(fs, &with_store), 0);
	/* The machine's real MemAvailable would make results vary. */
	fs_backing = UINT64_MAX / 2;
	space_set_backing(&fs->space, unit_backing, &fs_backing);
	assert_int_equal(sfs_check(fs), 0);
	return fs;
}

static inline struct sfs *fs_new(uint64_t pages, uint64_t max_inodes)
{
	struct sfs_config cfg = {
		.capacity_pages = pages,
		.overdraft_pages = 0,
		.policy = SPACE_ALWAYS,
		.max_inodes = max_inodes,
		.root_mode = 0755,
		.root_uid = 0,
		.root_gid = 0,
	};

	return fs_new_cfg(&cfg);
}

static inline void fs_free(struct sfs *fs)
{
	assert_int_equal(sfs_check(fs), 0);
	sfs_destroy(fs);
	free(fs);
}

static inline int fs_setup(void **state)
{
	*state = fs_new(FS_PAGES, 0);
	return 0;
}

static inline int fs_teardown(void **state)
{
	fs_free(*state);
	return 0;
}

static inline void fs_ck(struct sfs *fs)
{
	assert_int_equal(sfs_check(fs), 0);
}

static inline struct ns_owner owner(uid_t uid, gid_t gid)
{
	return (struct ns_owner){ .uid = uid, .gid = gid };
}

/* ns_make that must succeed; a symlink points at "target". */
static inline struct inode *mk(struct sfs *fs, struct inode *parent, const char *name,
			       mode_t mode)
{
	struct inode *in = NULL;

	assert_int_equal(ns_make(fs, parent, name, mode, 0, S_ISLNK(mode) ? "target" : NULL,
				 owner(FS_UID, FS_GID), &in),
			 0);
	fs_ck(fs);
	assert_non_null(in);
	assert_int_equal(in->nlookup, 1);
	return in;
}

/* ns_lookup that must find name; adds one to nlookup. */
static inline struct inode *lk(struct sfs *fs, struct inode *parent, const char *name)
{
	struct inode *in = NULL;

	assert_int_equal(ns_lookup(fs, parent, name, &in), 0);
	fs_ck(fs);
	assert_non_null(in);
	return in;
}

/* What lookup says about a name, giving back the reference it took. */
static inline int probe(struct sfs *fs, struct inode *parent, const char *name,
			struct inode **out)
{
	struct inode *in = NULL;
	int ret = ns_lookup(fs, parent, name, &in);

	if (ret == 0) {
		sfs_forget(fs, in, 1);
		if (out)
			*out = in;
	}
	fs_ck(fs);
	return ret;
}

static inline struct stat stat_of(struct inode *in)
{
	struct stat st;

	inode_stat(in, &st);
	return st;
}

/* Is an inode with this number still allocated? (Numbers are never reused,
 * so this asks without touching memory that may have been freed.) */
static inline bool alive(struct sfs *fs, uint64_t ino)
{
	bool found = false;

	pthread_mutex_lock(&fs->ns_lock);
	for (struct inode *in = fs->all; in; in = in->next)
		if (in->ino == ino)
			found = true;
	pthread_mutex_unlock(&fs->ns_lock);
	return found;
}

static inline size_t count_inodes(struct sfs *fs)
{
	size_t n = 0;

	pthread_mutex_lock(&fs->ns_lock);
	for (struct inode *in = fs->all; in; in = in->next)
		n++;
	pthread_mutex_unlock(&fs->ns_lock);
	return n;
}

static inline void fill_bytes(void *buf, size_t n, unsigned seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(((i + seed) * 131 + (i >> 8)) % 251 + 1);
}

/* Writes `pages` pages of non-zero bytes from offset 0. */
static inline void write_pages(struct sfs *fs, struct inode *in, unsigned pages)
{
	char buf[4096];

	fill_bytes(buf, sizeof(buf), pages);
	for (unsigned i = 0; i < pages; i++)
		assert_int_equal(inode_write(in, buf, sizeof(buf), (uint64_t)i * 4096),
				 (ssize_t)sizeof(buf));
	fs_ck(fs);
}

#endif
