/* SPDX-License-Identifier: MIT */
/*
 * The filesystem instance (struct sfs, inode.h): set-up and teardown, the
 * kernel's references (lookups, open handles), the namespace lock's unlock
 * that frees what was set aside under it, and the whole-filesystem check.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "kfile.h"

/* The store the filesystem owns: the paged core's, or the kernel files'. */
static void sfs_free_stores(struct sfs *fs)
{
	if (fs->store)
		store_destroy(fs->store);
	if (fs->kstore)
		kstore_destroy(fs->kstore);
	fs->store = NULL;
	fs->kstore = NULL;
}

void sfs_unlock(struct sfs *fs)
{
	struct inode *dead = fs->dead, *next;
	struct grave *g = fs->graves, *gnext;

	fs->dead = NULL;
	fs->graves = NULL;
	pthread_mutex_unlock(&fs->ns_lock);
	for (; dead; dead = next) {
		next = dead->next;
		inode_destroy(fs, dead);
	}
	for (; g; g = gnext) {
		gnext = g->next;
		if (sfs_kernel(fs)) {
			kfile_remove(fs->kstore, g->key);
			space_note_used(&fs->space, -(int64_t)g->pages);
		} else {
			object_destroy(&g->obj);
		}
		free(g);
	}
}

static uint64_t sfs_backing(void *arg)
{
	struct sfs *fs = arg;

	return sfs_kernel(fs) ? kstore_backing_free(fs->kstore) : store_backing_free(fs->store);
}

int sfs_init(struct sfs *fs, const struct sfs_config *cfg)
{
	int ret;

	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->open_lock, NULL);
	atomic_init(&fs->next_ino, 1);
	space_init(&fs->space, cfg->capacity_pages, cfg->max_inodes);
	/* The overdraft is for write-back the daemon sees: none on the kernel path. */
	space_configure(&fs->space, cfg->kstore ? 0 : cfg->overdraft_pages, cfg->policy);
	fs->space.kernel = cfg->kstore != NULL;
	fs->store = cfg->kstore ? NULL : cfg->store;
	fs->kstore = cfg->kstore;
	fs->store_name = cfg->store_name ? cfg->store_name : "memory";
	space_set_backing(&fs->space, sfs_backing, fs);
	ret = inode_create(fs, 0, S_IFDIR | (cfg->root_mode & 07777), cfg->root_uid,
			   cfg->root_gid, 0, NULL, &fs->root);
	if (ret) {
		sfs_free_stores(fs);
		return ret;
	}
	fs->root->d.parent = fs->root;
	fs->root->nlookup = 1; /* the kernel's own, never forgotten */
	return 0;
}

void sfs_destroy(struct sfs *fs)
{
	struct inode *next;

	/* Whatever a last request set aside goes first. */
	pthread_mutex_lock(&fs->ns_lock);
	sfs_unlock(fs);
	for (struct inode *in = fs->all; in; in = next) {
		next = in->next;
		inode_destroy(fs, in);
	}
	fs->all = NULL;
	sfs_free_stores(fs);
	pthread_mutex_destroy(&fs->open_lock);
	pthread_mutex_destroy(&fs->ns_lock);
}

void sfs_refresh(struct sfs *fs)
{
	if (!sfs_kernel(fs))
		return;
	pthread_mutex_lock(&fs->open_lock);
	for (struct inode *in = fs->opened, *next; in; in = next) {
		struct stat ks;

		next = in->kf.next_open;
		if (kfile_stat(fs->kstore, in->ino, &ks) == 0) {
			uint64_t now = kfile_pages(&ks), was = atomic_exchange(&in->kf.pages, now);

			if (now != was)
				space_note_used(&fs->space, (int64_t)(now - was));
		}
		/* A closed file whose last mapping went leaves the list (its
		 * pages were read just now); one busy elsewhere waits for the
		 * next time, or for inode_kf_live. */
		if (pthread_rwlock_trywrlock(&in->lock))
			continue;
		if (!in->kf.opens && in->kf.lingers && !kfile_in_use(fs->kstore, in->ino)) {
			if (in->kf.prev_open)
				in->kf.prev_open->kf.next_open = next;
			else
				fs->opened = next;
			if (next)
				next->kf.prev_open = in->kf.prev_open;
			in->kf.next_open = in->kf.prev_open = NULL;
			in->kf.lingers = in->kf.listed = false;
		}
		pthread_rwlock_unlock(&in->lock);
	}
	pthread_mutex_unlock(&fs->open_lock);
}

void sfs_about(struct sfs *fs, struct store_about *out)
{
	if (!sfs_kernel(fs)) {
		store_about(fs->store, out);
		return;
	}
	out->where = fs->kstore->where;
	out->fstype = fs->kstore->fstype;
	out->shared = fs->kstore->shared;
}

int sfs_totals(struct sfs *fs, uint64_t *data, uint64_t *reserved)
{
	int ret = 0;

	if (!sfs_kernel(fs)) {
		*data = space_data_pages(&fs->space) * SFS_PAGE_SIZE;
		*reserved = space_reserved_pages(&fs->space) * SFS_PAGE_SIZE;
		return 0;
	}
	*data = *reserved = 0;
	pthread_mutex_lock(&fs->ns_lock);
	for (struct inode *in = fs->all; in && !ret; in = in->next) {
		uint64_t length, d, r;

		if (in->type != S_IFREG)
			continue;
		ret = inode_figures(in, &length, &d, &r);
		*data += d;
		*reserved += r;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	return ret;
}

void sfs_forget(struct sfs *fs, struct inode *in, uint64_t n)
{
	pthread_mutex_lock(&fs->ns_lock);
	if (n > in->nlookup) {
		/* The kernel forgets only what it was given: a reply that handed it
		 * an inode was not counted, or was undone twice. The inode may
		 * already have been freed under the kernel's feet: say so loudly
		 * (once), stop a debug build here, and keep serving otherwise. */
		if (atomic_fetch_add(&fs->forget_underflows, 1) == 0)
			fprintf(stderr,
				"sparsefs: BUG: kernel forgot %llu lookup(s) of inode %llu, "
				"which had %llu\n",
				(unsigned long long)n, (unsigned long long)in->ino,
				(unsigned long long)in->nlookup);
		assert(n <= in->nlookup);
		n = in->nlookup;
	}
	in->nlookup -= n;
	inode_reclaim(fs, in);
	sfs_unlock(fs);
}

void sfs_open(struct sfs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->ns_lock);
	in->nopen++;
	sfs_unlock(fs);
}

void sfs_release(struct sfs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->ns_lock);
	if (in->nopen)
		in->nopen--;
	inode_reclaim(fs, in);
	sfs_unlock(fs);
}

int sfs_check(struct sfs *fs)
{
	uint64_t blocks = 0, data = 0, reserved = 0;
	int ret = 0;

	pthread_mutex_lock(&fs->ns_lock);
	for (struct inode *in = fs->all; in && !ret; in = in->next) {
		pthread_rwlock_rdlock(&in->lock);
		ret = inode_check(fs, in, &blocks);
		if (in->type == S_IFREG && !sfs_kernel(fs)) {
			data += in->obj.map.nr_data;
			reserved += in->obj.map.nr_reserved;
		}
		pthread_rwlock_unlock(&in->lock);
	}
	if (!ret && (data != space_data_pages(&fs->space) ||
		     reserved != space_reserved_pages(&fs->space))) {
		fprintf(stderr, "sfs: totals say %llu data + %llu reserved, files hold %llu + %llu\n",
			(unsigned long long)space_data_pages(&fs->space),
			(unsigned long long)space_reserved_pages(&fs->space),
			(unsigned long long)data, (unsigned long long)reserved);
		ret = -1;
	}
	if (!ret && blocks / 8 != space_used(&fs->space)) {
		fprintf(stderr, "sfs: used %llu pages but files hold %llu\n",
			(unsigned long long)space_used(&fs->space),
			(unsigned long long)(blocks / 8));
		ret = -1;
	}
	if (!ret)
		ret = space_check(&fs->space);
	pthread_mutex_unlock(&fs->ns_lock);
	return ret;
}
