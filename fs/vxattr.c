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

/*
 * The store's figures: store (its kind), store_where, store_fstype,
 * store_shared, store_figures (the names of its own, space-separated) and
 * store.NAME for each of those.
 */
static int store_figure_text(struct sfs *fs, const char *key, char *text, size_t len)
{
	struct store_about ab;
	uint64_t v;

	sfs_about(fs, &ab);
	if (strcmp(key, "store") == 0)
		return snprintf(text, len, "%s", fs->store_name);
	if (strcmp(key, "store_where") == 0)
		return snprintf(text, len, "%s", ab.where);
	if (strcmp(key, "store_fstype") == 0)
		return snprintf(text, len, "%s", ab.fstype);
	if (strcmp(key, "store_shared") == 0)
		return snprintf(text, len, "%s", ab.shared);
	if (strcmp(key, "store_figures") == 0) {
		size_t n = 0;

		text[0] = 0;
		for (const char *const *f = sfs_kernel(fs) ? NULL : fs->store->ops->figures; f && *f;
		     f++)
			n += (size_t)snprintf(text + n, n < len ? len - n : 0, "%s%s", n ? " " : "", *f);
		/* None: no such attribute (an empty value reads as malformed). */
		return !n ? -ENODATA : n < len ? (int)n : -ERANGE;
	}
	if (strncmp(key, "store.", 6) == 0 && !sfs_kernel(fs) &&
	    store_figure(fs->store, key + 6, &v) == 0)
		return snprintf(text, len, "%" PRIu64, v);
	return -ENODATA;
}

/* Formats the root directory's figure called key into text; -ENODATA if none. */
static int mount_figure(struct sfs *fs, const char *key, char *text, size_t len)
{
	struct space *sp = &fs->space;
	uint64_t v;

	if (strcmp(key, "policy") == 0)
		return snprintf(text, len, "%s", policy_names[sp->policy]);
	if (strcmp(key, "data_path") == 0)
		return snprintf(text, len, "%s", sfs_kernel(fs) ? "kernel" : "daemon");
	if (strcmp(key, "dropped") == 0)
		return snprintf(text, len, "%" PRIu64, space_dropped(sp));
	if (strncmp(key, "store", 5) == 0)
		return store_figure_text(fs, key, text, len);
	if (strcmp(key, "data") == 0 || strcmp(key, "reserved") == 0) {
		uint64_t data, reserved;
		int ret = sfs_totals(fs, &data, &reserved);

		if (ret)
			return ret;
		return snprintf(text, len, "%" PRIu64, key[0] == 'd' ? data : reserved);
	}
	if (strcmp(key, "capacity") == 0) {
		v = sp->capacity;
	} else if (strcmp(key, "used") == 0) {
		sfs_refresh(fs);
		v = space_used(sp);
	}
	else if (strcmp(key, "overdraft") == 0)
		v = sp->overdraft;
	else if (strcmp(key, "backing_free") == 0)
		v = space_backing_free(sp);
	else
		return -ENODATA;
	return snprintf(text, len, "%" PRIu64, v * SFS_PAGE_SIZE);
}

static int file_figure(struct inode *in, const char *key, char *text, size_t len)
{
	uint64_t length, data, reserved, v;
	int ret = inode_figures(in, &length, &data, &reserved);

	if (ret)
		return ret;
	if (strcmp(key, "length") == 0)
		v = length;
	else if (strcmp(key, "data") == 0)
		v = data;
	else if (strcmp(key, "reserved") == 0)
		v = reserved;
	else
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
