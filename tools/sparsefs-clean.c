/* SPDX-License-Identifier: MIT */
/*
 * sparsefs-clean: removes what sparsefs daemons that were killed left behind.
 *
 *  - rados:POOL: a live mount's namespace is never touched: its daemon holds a
 *    lock on the namespace's mount object and renews it; a namespace whose
 *    lock can be taken (it lapsed: the daemon is gone), or that has no mount
 *    object at all, is removed whole.
 *  - DIR: the kernel path's private directories there (kfile.h): a live
 *    mount's daemon holds its directory's flock; one nobody holds is removed.
 *
 * Usage: sparsefs-clean [-n] [-c CEPH_CONF] [-i CEPH_ID] rados:POOL | DIR
 */
#include "kfile.h"
#ifdef SPARSEFS_RADOS
#include "store_rados.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define COOKIE "sparsefs-clean"

struct nslist {
	char **names;
	size_t n, cap;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: sparsefs-clean [-n] [-c CEPH_CONF] [-i CEPH_ID] [-k KEYRING] rados:POOL | DIR\n"
		   "Removes what sparsefs mounts whose daemon is gone (killed) left: their\n"
		   "namespaces in a RADOS pool, or their private directories of kernel files\n"
		   "in DIR; live mounts are left alone.\n"
		   "  -n, --dry-run     only say what would be removed\n"
		   "  -c, --ceph-conf   Ceph configuration (default $CEPH_CONF, /etc/ceph/ceph.conf)\n"
		   "  -i, --ceph-id     client id (default admin)\n"
		   "  -k, --ceph-keyring  keyring with the client's key (default the configuration's)\n");
}

#ifdef SPARSEFS_RADOS
static bool ns_add(struct nslist *l, const char *ns)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], ns) == 0)
			return true;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **moved = realloc(l->names, cap * sizeof(*moved));

		if (!moved)
			return false;
		l->names = moved;
		l->cap = cap;
	}
	l->names[l->n] = strdup(ns);
	return l->names[l->n++] != NULL;
}

/* Every sparsefs namespace in the pool; -errno. */
static int list_namespaces(rados_ioctx_t io, struct nslist *l)
{
	rados_list_ctx_t list;
	const char *oid, *ns;
	int ret;

	rados_ioctx_set_namespace(io, LIBRADOS_ALL_NSPACES);
	ret = rados_nobjects_list_open(io, &list);
	if (ret)
		return ret;
	while ((ret = rados_nobjects_list_next(list, &oid, NULL, &ns)) == 0) {
		if (ns && strncmp(ns, RADOS_NS_PREFIX, strlen(RADOS_NS_PREFIX)) == 0 &&
		    !ns_add(l, ns)) {
			ret = -ENOMEM;
			break;
		}
	}
	rados_nobjects_list_close(list);
	return ret == -ENOENT ? 0 : ret;
}

#endif

#ifdef SPARSEFS_RADOS
static int clean_pool(const char *pool, const char *conf, const char *id, const char *keyring,
		      bool dry);
#endif

/* DIR: the kernel path's private directories no daemon holds. */
static int clean_dir(const char *dir, bool dry)
{
	int n = kstore_clean(dir, dry);

	if (n < 0) {
		fprintf(stderr, "sparsefs-clean: %s: %s\n", dir, strerror(-n));
		return 1;
	}
	printf("%s %d private director%s of a killed daemon in %s\n", dry ? "would remove" : "removed",
	       n, n == 1 ? "y" : "ies", dir);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "ceph-conf", required_argument, NULL, 'c' },
		{ "ceph-id", required_argument, NULL, 'i' },
		{ "ceph-keyring", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *id = NULL, *keyring = NULL;
	bool dry = false;
	int c;

	while ((c = getopt_long(argc, argv, "nc:i:k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry = true;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'k':
			keyring = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || !argv[optind][0] || !strcmp(argv[optind], "rados:")) {
		fprintf(stderr, "sparsefs-clean: expected one argument, rados:POOL or DIR\n");
		return 2;
	}
	if (strncmp(argv[optind], "rados:", 6) != 0)
		return clean_dir(argv[optind], dry);
#ifdef SPARSEFS_RADOS
	return clean_pool(argv[optind] + 6, conf, id, keyring, dry);
#else
	(void)conf;
	(void)id;
	(void)keyring;
	fprintf(stderr, "sparsefs-clean: %s: this sparsefs was built without librados\n",
		argv[optind]);
	return 1;
#endif
}

#ifdef SPARSEFS_RADOS
static int clean_pool(const char *pool, const char *conf, const char *id, const char *keyring,
		      bool dry)
{
	const char *why;
	struct nslist l = { 0 };
	long dead = 0, live = 0, failed = 0;
	rados_t cl;
	rados_ioctx_t io;
	int ret;

	ret = store_rados_connect(conf, id, keyring, 30, &cl, &why);
	if (ret) {
		fprintf(stderr, "sparsefs-clean: rados:%s: %s (%s)\n", pool, why, strerror(-ret));
		return 1;
	}
	ret = rados_ioctx_create(cl, pool, &io);
	if (ret) {
		fprintf(stderr, "sparsefs-clean: rados:%s: %s\n", pool,
			ret == -ENOENT ? "no such pool" : strerror(-ret));
		rados_shutdown(cl);
		return 1;
	}
	ret = list_namespaces(io, &l);
	if (ret) {
		fprintf(stderr, "sparsefs-clean: rados:%s: cannot list the pool: %s\n", pool,
			strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct timeval dur = { 60, 0 };
		long removed = 0, left = 0;
		int r;

		rados_ioctx_set_namespace(io, l.names[i]);
		/* Taken only if the daemon's lock lapsed (or was never there). */
		r = rados_lock_exclusive(io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME, COOKIE,
					 "sparsefs-clean", &dur, 0);
		if (r == -EBUSY) {
			printf("live    %s (its daemon holds the lock)\n", l.names[i]);
			live++;
			continue;
		}
		if (r && r != -ENOENT) {
			printf("error   %s: %s\n", l.names[i], strerror(-r));
			failed++;
			continue;
		}
		if (dry) {
			rados_unlock(io, RADOS_MOUNT_OBJECT, RADOS_LOCK_NAME, COOKIE);
			printf("dead    %s\n", l.names[i]);
			dead++;
			continue;
		}
		r = rados_remove_namespace(io, &removed, &left);
		if (r) {
			printf("error   %s: removed %ld objects, then: %s\n", l.names[i], removed,
			       strerror(-r));
			failed++;
		} else if (left) {
			printf("error   %s: removed %ld objects, %ld could not be\n", l.names[i],
			       removed, left);
			failed++;
		} else {
			printf("removed %s (%ld objects)\n", l.names[i], removed);
			dead++;
		}
	}
	printf("sparsefs-clean: rados:%s: %ld dead mount(s) %s, %ld live left alone%s\n", pool,
	       dead, dry ? "found" : "removed", live, failed ? ", some failed" : "");
	ret = failed ? -EIO : 0;
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	rados_ioctx_destroy(io);
	rados_shutdown(cl);
	return ret ? 1 : 0;
}
#endif
