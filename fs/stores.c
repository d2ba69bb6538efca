/* SPDX-License-Identifier: MIT */
/*
 * The registry of stores (store.h): one line a kind. A new store is a source
 * file defining its struct store_kind, its line here, and its test hooks in
 * tests/mount/stores/.
 */
#include <stdio.h>
#include <string.h>

#include "store.h"

#ifndef SPARSEFS_RADOS
/* Built without librados: backing=rados:POOL is still known, and refused. */
static struct store *no_rados(const char *where, const struct store_args *args)
{
	(void)args;
	fprintf(stderr, "sparsefs: backing rados:%s: this sparsefs was built without librados\n",
		where);
	return NULL;
}

static const struct store_option rados_options[] = {
	{ "ceph_conf", "with rados: the Ceph configuration" },
	{ "ceph_id", "with rados: the client's id" },
	{ "ceph_keyring", "with rados: the keyring holding the client's key" },
	{ "rados_timeout", "with rados: seconds before an operation fails with EIO" },
	{ NULL, NULL },
};

const struct store_kind store_kind_rados = {
	.name = "rados",
	.syntax = "rados:POOL",
	.prefix = "rados:",
	.help = "objects in a Ceph RADOS pool (not in this build: no librados)",
	.options = rados_options,
	.create = no_rados,
};
#endif

const struct store_kind *const store_registry[] = {
	&store_kind_memory,
	&store_kind_rados,
	&store_kind_disk,
	NULL,
};

const char *store_arg(const struct store_args *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->names[i], name) == 0)
			return a->values[i];
	return NULL;
}

const struct store_kind *store_kind_of(const char *backing, const char **where)
{
	const struct store_kind *any = NULL;

	*where = "";
	if (!backing)
		return store_registry[0];
	for (const struct store_kind *const *k = store_registry; *k; k++) {
		if ((*k)->prefix && strncmp(backing, (*k)->prefix, strlen((*k)->prefix)) == 0) {
			*where = backing + strlen((*k)->prefix);
			return *k;
		}
		if (!(*k)->prefix && !(*k)->any_path && strcmp(backing, (*k)->name) == 0)
			return *k;
		if ((*k)->any_path)
			any = *k;
	}
	if (any && *backing)
		*where = backing;
	return any && *backing ? any : NULL;
}
