/* SPDX-License-Identifier: MIT */
/*
 * What the RADOS store and sparsefs-clean both do to a cluster: connect as the
 * rados command would, read a pool's figures from the cluster's JSON answers
 * (json-c), and remove a namespace's objects.
 */
#include "store_rados.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REMOVE_BATCH 64 /* removals in flight at once */

int store_rados_connect(const char *conf, const char *id, const char *keyring, unsigned timeout_s,
			rados_t *out, const char **why)
{
	char t[32];
	rados_t cl;
	int ret;

	*why = "cannot start librados";
	ret = rados_create(&cl, id);
	if (ret)
		return ret;
	*why = conf ? "cannot read the Ceph configuration" : "no Ceph configuration found "
							     "(CEPH_CONF, /etc/ceph/ceph.conf; "
							     "or -o ceph_conf=)";
	ret = rados_conf_read_file(cl, conf);
	if (ret)
		goto out_shutdown;
	ret = rados_conf_parse_env(cl, NULL);
	if (ret)
		goto out_shutdown;
	if (keyring) {
		/* librados reads it only when the cluster asks for a key: read it
		 * now, for a clear word on a path that is wrong. */
		*why = "cannot read the keyring";
		if (access(keyring, R_OK)) {
			ret = -errno;
			goto out_shutdown;
		}
		ret = rados_conf_set(cl, "keyring", keyring);
		if (ret)
			goto out_shutdown;
	}
	snprintf(t, sizeof(t), "%u", RADOS_CONNECT_TIMEOUT_S);
	rados_conf_set(cl, "client_mount_timeout", t);
	snprintf(t, sizeof(t), "%u", timeout_s);
	rados_conf_set(cl, "rados_osd_op_timeout", t);
	rados_conf_set(cl, "rados_mon_op_timeout", t);
	rados_conf_set(cl, "log_to_stderr", "false");
	rados_conf_set(cl, "err_to_stderr", "false");
	ret = rados_connect(cl);
	if (ret) {
		*why = ret == -ETIMEDOUT ? "no Ceph cluster answered within 10 s"
		       : ret == -EACCES || ret == -EPERM
			       ? "the cluster refused the credentials"
		       : ret == -ENOENT ? "no keyring, or no key for the client in it "
					  "(-o ceph_keyring=, -o ceph_id=)"
					: "cannot connect to the Ceph cluster";
		goto out_shutdown;
	}
	*out = cl;
	return 0;

out_shutdown:
	rados_shutdown(cl);
	return ret;
}

/* The unsigned number at key in obj; false if it has none. */
static bool json_u64(struct json_object *obj, const char *key, uint64_t *out)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

/*
 * Asks the monitors (or the manager behind them) for prefix [key: value] in
 * JSON; *out the parsed answer (json_object_put it). 0 or -errno: -EPROTO if
 * the answer is not JSON.
 */
static int mon_json_args(rados_t cl, const char *prefix, const char *key, const char *value,
			 struct json_object **out)
{
	struct json_object *cmd = json_object_new_object();
	const char *cmds[1];
	char *buf = NULL, *st = NULL;
	size_t len = 0, stlen = 0;
	int ret = -ENOMEM;

	if (!cmd)
		return ret;
	json_object_object_add(cmd, "prefix", json_object_new_string(prefix));
	if (key)
		json_object_object_add(cmd, key, json_object_new_string(value));
	json_object_object_add(cmd, "format", json_object_new_string("json"));
	cmds[0] = json_object_to_json_string(cmd);
	if (cmds[0])
		ret = rados_mon_command(cl, cmds, 1, "", 0, &buf, &len, &st, &stlen);
	json_object_put(cmd);
	rados_buffer_free(st);
	if (!ret) {
		struct json_tokener *tok = json_tokener_new();

		*out = tok ? json_tokener_parse_ex(tok, buf ? buf : "", (int)len) : NULL;
		ret = !tok ? -ENOMEM : *out ? 0 : -EPROTO;
		if (tok)
			json_tokener_free(tok);
	}
	rados_buffer_free(buf);
	return ret;
}

static int mon_json(rados_t cl, const char *prefix, const char *pool, struct json_object **out)
{
	return mon_json_args(cl, prefix, pool ? "pool" : NULL, pool, out);
}

/* The "stats" of pool in a `ceph df` answer, or NULL if it is not listed. */
static struct json_object *pool_stats(struct json_object *df, const char *pool)
{
	struct json_object *pools, *p, *v;

	if (!json_object_object_get_ex(df, "pools", &pools) ||
	    !json_object_is_type(pools, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		p = json_object_array_get_idx(pools, i);
		if (json_object_object_get_ex(p, "name", &v) &&
		    strcmp(json_object_get_string(v), pool) == 0 &&
		    json_object_object_get_ex(p, "stats", &v))
			return v;
	}
	return NULL;
}

int rados_pool_figures(rados_t cl, const char *pool, struct rados_figures *out)
{
	struct json_object *df = NULL, *q = NULL, *stats;
	int ret;

	/* `df detail` has the quota too: one command, where Ceph gives it. */
	ret = mon_json_args(cl, "df", "detail", "detail", &df);
	if (ret)
		return ret;
	stats = pool_stats(df, pool);
	ret = !stats ? -ENOENT
	      : json_u64(stats, "max_avail", &out->max_avail) &&
			json_u64(stats, "stored", &out->stored)
		      ? 0 : -EPROTO;
	if (!ret && json_u64(stats, "quota_bytes", &out->quota)) {
		json_object_put(df);
		return 0;
	}
	json_object_put(df);
	if (ret)
		return ret;
	ret = mon_json(cl, "osd pool get-quota", pool, &q);
	if (ret)
		return ret;
	ret = json_u64(q, "quota_max_bytes", &out->quota) ? 0 : -EPROTO;
	json_object_put(q);
	return ret;
}

struct removal {
	rados_completion_t done;
	char oid[RADOS_OID_MAX];
};

/* Waits for the k removals sent; counts them. */
static void removals_finish(struct removal *rm, size_t k, long *removed, long *left)
{
	for (size_t i = 0; i < k; i++) {
		int r;

		rados_aio_wait_for_complete(rm[i].done);
		r = rados_aio_get_return_value(rm[i].done);
		rados_aio_release(rm[i].done);
		if (r == 0)
			(*removed)++;
		else if (r != -ENOENT)
			(*left)++;
	}
}

int rados_remove_namespace(rados_ioctx_t io, long *removed, long *left)
{
	struct removal rm[REMOVE_BATCH];
	rados_list_ctx_t list;
	size_t k = 0;
	int ret, r;

	ret = rados_nobjects_list_open(io, &list);
	if (ret)
		return ret;
	for (;;) {
		const char *oid;

		ret = rados_nobjects_list_next(list, &oid, NULL, NULL);
		if (ret || k == REMOVE_BATCH) {
			removals_finish(rm, k, removed, left);
			k = 0;
		}
		if (ret)
			break;
		if (strcmp(oid, RADOS_MOUNT_OBJECT) == 0)
			continue;
		snprintf(rm[k].oid, sizeof(rm[k].oid), "%s", oid);
		if (rados_aio_create_completion2(NULL, NULL, &rm[k].done)) {
			(*left)++;
			continue;
		}
		if (rados_aio_remove(io, rm[k].oid, rm[k].done)) {
			rados_aio_release(rm[k].done);
			(*left)++;
			continue;
		}
		k++;
	}
	rados_nobjects_list_close(list);
	/* -ENOENT ends the list; anything else, no cluster: the mount object
	 * stays, its lock lapses and sparsefs-clean sees the namespace later. */
	if (ret != -ENOENT)
		return ret;
	r = rados_remove(io, RADOS_MOUNT_OBJECT);
	if (r == 0)
		(*removed)++;
	else if (r != -ENOENT)
		(*left)++;
	return 0;
}
