/* SPDX-License-Identifier: MIT */
#include "vxattr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const policy_names[] = {
	[SPACE_ALWAYS] = "always",
	[SPACE_HEURISTIC] = "heuristic",
	[SPACE_NEVER] = "never",
};

bool vxattr_is(const char *name)
{
	return strncmp(name, VXATTR_PREFIX, strlen(VXATTR_PREFIX)) == 0;
}

/* Formats the root directory's figure called key into text; -ENODATA if none. */
static int mount_figure(struct sfs *fs, const char *key, char *text, size_t len)
{
	struct space *sp = &fs->space;
	uint64_t v;

	if (strcmp(key, "policy") == 0)
		return snprintf(text, len, "%s", policy_names[sp->policy]);
	if (strcmp(key, "dropped") == 0)
		return snprintf(text, len, "%" PRIu64, space_dropped(sp));
	if (strcmp(key, "backing") == 0)
		return store_describe(fs->store, text, len);
	if (strcmp(key, "capacity") == 0)
		v = sp->capacity;
	else if (strcmp(key, "used") == 0)
		v = space_used(sp);
	else if (strcmp(key, "overdraft") == 0)
		v = sp->overdraft;
	else if (strcmp(key, "backing_free") == 0)
		v = space_backing_free(sp);
	else if (strcmp(key, "data") == 0)
		v = space_data_pages(sp);
	else if (strcmp(key, "reserved") == 0)
		v = space_reserved_pages(sp);
	else
		return -ENODATA;
	return snprintf(text, len, "%" PRIu64, v * SFS_PAGE_SIZE);
}

static int file_figure(struct inode *in, const char *key, char *text, size_t len)
{
	uint64_t v;

	pthread_rwlock_rdlock(&in->lock);
	if (strcmp(key, "length") == 0)
		v = in->obj.length;
	else if (strcmp(key, "data") == 0)
		v = in->obj.map.nr_data * SFS_PAGE_SIZE;
	else if (strcmp(key, "reserved") == 0)
		v = in->obj.map.nr_reserved * SFS_PAGE_SIZE;
	else
		v = UINT64_MAX;
	pthread_rwlock_unlock(&in->lock);
	if (v == UINT64_MAX)
		return -ENODATA;
	return snprintf(text, len, "%" PRIu64, v);
}

ssize_t vxattr_get(struct sfs *fs, struct inode *in, const char *name, char *buf, size_t size)
{
	const char *key = name + strlen(VXATTR_PREFIX);
	char text[4096];
	int n;

	if (in == fs->root)
		n = mount_figure(fs, key, text, sizeof(text));
	else if (in->type == S_IFREG)
		n = file_figure(in, key, text, sizeof(text));
	else
		n = -ENODATA;
	if (n < 0)
		return n;
	if (size && size < (size_t)n)
		return -ERANGE;
	if (size)
		memcpy(buf, text, (size_t)n);
	return n;
}
