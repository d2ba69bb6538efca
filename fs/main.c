/* SPDX-License-Identifier: MIT */
/*
 * sparsefs: option parsing, mount and the session loop. Anything wrong with
 * the command line is one line on stderr and exit status 1, before anything
 * is mounted.
 */
#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inode.h"
#include "ops.h"
#include "opts.h"

/* Values of sparsefs's own options, and the mountpoint, strdup'd by fuse_opt_parse. */
struct cli {
	char *source;
	char *mountpoint;
	char *size;
	char *nr_inodes;
	char *mode;
	char *uid;
	char *gid;
	char *overcommit;
	char *overdraft;
	char *backing;
	char *ceph_conf;
	char *ceph_id;
	char *rados_timeout;
	int writeback_cache;
};

static void cli_free(struct cli *cli)
{
	free(cli->source);
	free(cli->mountpoint);
	free(cli->size);
	free(cli->nr_inodes);
	free(cli->mode);
	free(cli->uid);
	free(cli->gid);
	free(cli->overcommit);
	free(cli->overdraft);
	free(cli->backing);
	free(cli->ceph_conf);
	free(cli->ceph_id);
	free(cli->rados_timeout);
}

#define CLI_OPT(t, field) { t, offsetof(struct cli, field), 0 }

static const struct fuse_opt cli_spec[] = {
	CLI_OPT("size=%s", size),
	CLI_OPT("nr_inodes=%s", nr_inodes),
	CLI_OPT("mode=%s", mode),
	CLI_OPT("uid=%s", uid),
	CLI_OPT("gid=%s", gid),
	CLI_OPT("overcommit=%s", overcommit),
	CLI_OPT("overdraft=%s", overdraft),
	CLI_OPT("backing=%s", backing),
	CLI_OPT("ceph_conf=%s", ceph_conf),
	CLI_OPT("ceph_id=%s", ceph_id),
	CLI_OPT("rados_timeout=%s", rados_timeout),
	{ "writeback_cache", offsetof(struct cli, writeback_cache), 1 },
	FUSE_OPT_END,
};

/*
 * Takes the non-option arguments out of libfuse's hands, so that what is wrong
 * with them is said our way: MOUNTPOINT, or SOURCE MOUNTPOINT as mount(8) and
 * mount.fuse3 pass them (`mount -t fuse.sparsefs none /mnt`; the source names
 * nothing for a memory-backed mount and is ignored).
 */
static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *cli = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (cli->source) {
		fprintf(stderr, "sparsefs: unexpected argument '%s' (usage: [SOURCE] MOUNTPOINT)\n",
			arg);
		return -1;
	}
	if (cli->mountpoint)
		cli->source = cli->mountpoint;
	cli->mountpoint = strdup(arg);
	return cli->mountpoint ? 0 : -1;
}

static void usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-o OPT[,OPT...]] [SOURCE] MOUNTPOINT\n\n"
	       "sparsefs options:\n"
	       "    -o backing=WHERE      memory (default); DIR: pages live in a private\n"
	       "                          pool on the filesystem that holds DIR; rados:POOL:\n"
	       "                          in objects of a Ceph pool, a namespace per mount\n"
	       "    -o size=SIZE          capacity: bytes with k/m/g/t/p suffix, or N%% of RAM\n"
	       "                          (default 50%%); with backing=DIR, N%% of DIR's\n"
	       "                          filesystem (default: what it has available); with\n"
	       "                          rados:POOL, N%% of what the pool can still take\n"
	       "    -o ceph_conf=PATH     with rados: the Ceph configuration (default as the\n"
	       "                          rados command: $CEPH_CONF, /etc/ceph/ceph.conf)\n"
	       "    -o ceph_id=NAME       with rados: the client's id (default admin)\n"
	       "    -o rados_timeout=S    with rados: seconds before an operation the cluster\n"
	       "                          does not answer fails with EIO (default 30)\n"
	       "    -o nr_inodes=N        most inodes (k/m/g suffix; default 0 = unlimited)\n"
	       "    -o mode=MODE          root directory permissions, octal (default 1777)\n"
	       "    -o uid=UID            root directory owner (default: who mounts)\n"
	       "    -o gid=GID            root directory group (default: who mounts)\n"
	       "    -o overcommit=POLICY  always (default), heuristic or never: how much of a\n"
	       "                          file's length must be backed by space\n"
	       "    -o overdraft=SIZE     space only mmap write-back may use (default the\n"
	       "                          smaller of 64M and size/8; 0 turns it off)\n"
	       "    -o writeback_cache    let the kernel cache writes: faster, but ENOSPC\n"
	       "                          shows at msync/fsync, not at write(2)\n\n"
	       "general options:\n"
	       "    -h   --help           print help\n"
	       "    -V   --version        print version\n"
	       "    -d   -o debug         print every request (implies -f)\n"
	       "    -f                    stay in the foreground\n"
	       "    -s                    serve requests with one thread\n"
	       "    -o max_threads=N      serve requests with at most N threads (default:\n"
	       "                          one per CPU, at least 2; 16 with rados)\n\n",
	       prog);
	/* Not fuse_cmdline_help(): it offers clone_fd and max_idle_threads,
	 * which this daemon refuses (refuse_unsupported). */
	fuse_lowlevel_help();
}

static int bad(const char *what, const char *value, int err, const char *expected)
{
	fprintf(stderr, "sparsefs: bad %s '%s': %s (expected %s)\n", what, value,
		err == -ERANGE ? "too large" : "not a valid value", expected);
	return -1;
}

/* backing=rados:POOL; NULL after one line saying why not. */
static struct store *open_rados(const struct cli *cli, const char *pool)
{
	struct store_rados_opts o = { pool, cli->ceph_conf, cli->ceph_id, 30 };

	if (!*pool) {
		fprintf(stderr, "sparsefs: bad backing 'rados:': expected rados:POOL\n");
		return NULL;
	}
	if (cli->rados_timeout) {
		const char *s = cli->rados_timeout;
		char *end;
		unsigned long secs;

		errno = 0;
		secs = strtoul(s, &end, 10);
		if (*s < '0' || *s > '9' || *end || errno || secs == 0 || secs > 86400) {
			bad("rados_timeout", s, secs > 86400 ? -ERANGE : -EINVAL,
			    "whole seconds from 1 to 86400");
			return NULL;
		}
		o.timeout_s = (unsigned)secs;
	}
#ifdef SPARSEFS_RADOS
	return store_rados_create(&o);
#else
	fprintf(stderr, "sparsefs: backing rados:%s: this sparsefs was built without librados\n",
		pool);
	return NULL;
#endif
}

/* The store backing= names; NULL after one line saying why not. */
static struct store *open_store(const struct cli *cli)
{
	const char *backing = cli->backing;
	struct store *st;

	if ((cli->ceph_conf || cli->ceph_id || cli->rados_timeout) &&
	    (!backing || strncmp(backing, "rados:", 6) != 0)) {
		fprintf(stderr, "sparsefs: ceph_conf, ceph_id and rados_timeout need "
				"backing=rados:POOL\n");
		return NULL;
	}
	if (backing && strncmp(backing, "rados:", 6) == 0)
		return open_rados(cli, backing + 6);
	if (!backing || strcmp(backing, "memory") == 0) {
		st = store_mem_create();
		if (!st)
			fprintf(stderr, "sparsefs: out of memory\n");
		return st;
	}
	if (!*backing) {
		fprintf(stderr, "sparsefs: bad backing '': expected memory, a directory or "
				"rados:POOL\n");
		return NULL;
	}
	return store_disk_create(backing);
}

/*
 * Turns the option strings into a configuration, cfg->store already open;
 * -1 after printing why not.
 */
static int configure(const struct cli *cli, struct sfs_config *cfg)
{
	struct store_size sz;
	uint64_t pct_base, bytes;
	uint32_t id;
	int ret;

	ret = store_size(cfg->store, &sz);
	if (ret) {
		fprintf(stderr, "sparsefs: cannot size the %s store: %s: give -o size=\n",
			cfg->store->ops->name, strerror(-ret));
		return -1;
	}
	pct_base = sz.pct_base;

	cfg->root_mode = 01777;
	cfg->root_uid = getuid();
	cfg->root_gid = getgid();
	cfg->max_inodes = 0;
	cfg->policy = SPACE_ALWAYS;
	if (cli->size) {
		ret = opts_parse_size(cli->size, pct_base, &bytes);
		if (ret)
			return bad("size", cli->size, ret, "bytes with k/m/g/t/p suffix, or N%");
		if (!bytes) {
			fprintf(stderr, "sparsefs: bad size '%s': must be at least one page\n",
				cli->size);
			return -1;
		}
		cfg->capacity_pages = bytes / SFS_PAGE_SIZE + (bytes % SFS_PAGE_SIZE != 0);
	} else {
		cfg->capacity_pages = sz.default_bytes / SFS_PAGE_SIZE;
		if (!cfg->capacity_pages) {
			fprintf(stderr, "sparsefs: the %s store has no room: give -o size=\n",
				cfg->store->ops->name);
			return -1;
		}
	}
	cfg->overdraft_pages = space_default_overdraft(cfg->capacity_pages);
	if (cli->overdraft) {
		ret = opts_parse_size(cli->overdraft, pct_base, &bytes);
		if (ret)
			return bad("overdraft", cli->overdraft, ret, "bytes with k/m/g/t/p suffix");
		cfg->overdraft_pages = bytes / SFS_PAGE_SIZE + (bytes % SFS_PAGE_SIZE != 0);
		if (cfg->overdraft_pages > cfg->capacity_pages) {
			fprintf(stderr, "sparsefs: bad overdraft '%s': larger than the size\n",
				cli->overdraft);
			return -1;
		}
	}
	if (cli->overcommit) {
		if (strcmp(cli->overcommit, "always") == 0)
			cfg->policy = SPACE_ALWAYS;
		else if (strcmp(cli->overcommit, "heuristic") == 0)
			cfg->policy = SPACE_HEURISTIC;
		else if (strcmp(cli->overcommit, "never") == 0)
			cfg->policy = SPACE_NEVER;
		else
			return bad("overcommit", cli->overcommit, -EINVAL,
				   "always, heuristic or never");
	}
	if (cli->nr_inodes) {
		ret = opts_parse_count(cli->nr_inodes, &cfg->max_inodes);
		if (ret)
			return bad("nr_inodes", cli->nr_inodes, ret, "a count with k/m/g suffix");
	}
	if (cli->mode) {
		ret = opts_parse_mode(cli->mode, &cfg->root_mode);
		if (ret)
			return bad("mode", cli->mode, ret, "octal permissions up to 7777");
	}
	if (cli->uid) {
		ret = opts_parse_id(cli->uid, &id);
		if (ret)
			return bad("uid", cli->uid, ret, "a numeric user id");
		cfg->root_uid = id;
	}
	if (cli->gid) {
		ret = opts_parse_id(cli->gid, &id);
		if (ret)
			return bad("gid", cli->gid, ret, "a numeric group id");
		cfg->root_gid = id;
	}
	return 0;
}

/*
 * libfuse parses two threading options that mean nothing to sparsefs's own
 * fixed pool of workers on one shared /dev/fuse descriptor (loop.c): refused,
 * rather than accepted and ignored. -1 if one was given, after saying so.
 */
static int refuse_unsupported(const struct fuse_cmdline_opts *opts)
{
	if (opts->clone_fd) {
		fprintf(stderr, "sparsefs: -o clone_fd is not supported (all threads share "
				"one /dev/fuse descriptor)\n");
		return -1;
	}
	if (opts->max_idle_threads != UINT_MAX) {
		fprintf(stderr, "sparsefs: -o max_idle_threads is not supported (the thread pool "
				"has a fixed size: use -o max_threads=N)\n");
		return -1;
	}
	return 0;
}

/* The mountpoint made absolute (the daemon leaves its cwd), or NULL after saying why. */
static char *check_mountpoint(const char *mnt)
{
	char *path = realpath(mnt, NULL);
	struct stat st;

	if (!path || stat(path, &st)) {
		fprintf(stderr, "sparsefs: mountpoint %s: %s\n", mnt, strerror(errno));
		free(path);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sparsefs: mountpoint %s: %s\n", mnt, strerror(ENOTDIR));
		free(path);
		return NULL;
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		fprintf(stderr, "sparsefs: /dev/fuse: %s\n", strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

/* Mount options sparsefs always wants; put first, so the user's win. */
static int add_mount_options(struct fuse_args *args)
{
	const char *opts = geteuid() == 0
		? "-odefault_permissions,allow_other,fsname=sparsefs,subtype=sparsefs"
		: "-odefault_permissions,fsname=sparsefs,subtype=sparsefs";

	return fuse_opt_insert_arg(args, 1, opts);
}

/*
 * Pages of a memory-backed mount, reserved ones above all, are the users'
 * files: like tmpfs's, they must not vanish because another process ate the
 * machine's memory, so the OOM killer is told to pick someone else. Only
 * root may ask; anyone else keeps the default.
 */
static void shield_from_oom(void)
{
	FILE *f;

	if (geteuid() != 0)
		return;
	f = fopen("/proc/self/oom_score_adj", "w");
	if (f) {
		fputs("-1000\n", f);
		fclose(f);
	}
}

/*
 * How many threads serve requests: -s means one; -o max_threads=N caps it;
 * otherwise one per CPU, at least 2 so that one slow request (a large
 * fallocate populating memory) does not stall every other, or as many as
 * the store wants in flight (RADOS: each request waits on the network).
 */
static unsigned serving_threads(const struct fuse_cmdline_opts *opts, const struct store *st)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cpus > 2 ? (unsigned)cpus : 2;

	if (st->ops->threads > n)
		n = st->ops->threads;
	if (opts->singlethread)
		return 1;
	if (opts->max_threads != UINT_MAX && opts->max_threads > 0 && opts->max_threads < n)
		n = opts->max_threads;
	return n;
}

/*
 * Sets the mount's readahead (its bdi, named by the device number that
 * mountinfo gives it) where the store wants more than the kernel's default.
 * Called after INIT, whose answer would take the smaller of the two again.
 * Failing, only sequential reads are slower: nothing is said.
 */
static void set_readahead(const char *mountpoint, unsigned kb)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], dev[32] = "", path[4096];
	unsigned maj, min;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, path) == 3 &&
		    strcmp(path, mountpoint) == 0)
			snprintf(dev, sizeof(dev), "%u:%u", maj, min); /* the last one is on top */
	fclose(f);
	if (!*dev || snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev) < 0)
		return;
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%u\n", kb);
		fclose(f);
	}
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	struct cli cli = { 0 };
	struct sfs_config cfg;
	struct fuse_session *se;
	char *mountpoint = NULL;
	struct sparsefs_mount m = { 0 };
	struct sparsefs_loop *loop;
	int ret = 1;

	if (fuse_opt_parse(&args, &cli, cli_spec, cli_proc) || fuse_parse_cmdline(&args, &opts))
		goto out_args; /* libfuse has said what was wrong */
	if (opts.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("sparsefs version %s\n", SPARSEFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (refuse_unsupported(&opts))
		goto out_args;
	if (!cli.mountpoint) {
		fprintf(stderr, "sparsefs: no mountpoint given (usage: %s [-o OPTS] MOUNTPOINT)\n",
			argv[0]);
		goto out_args;
	}
	mountpoint = check_mountpoint(cli.mountpoint);
	if (!mountpoint)
		goto out_args;
	cfg.store = open_store(&cli);
	if (!cfg.store)
		goto out_args;
	if (configure(&cli, &cfg)) {
		store_destroy(cfg.store);
		goto out_args;
	}
	if (add_mount_options(&args)) {
		fprintf(stderr, "sparsefs: out of memory\n");
		store_destroy(cfg.store);
		goto out_args;
	}
	m.writeback_cache = cli.writeback_cache;
	/* From here the filesystem owns the store, even if sfs_init fails. */
	if (sfs_init(&m.fs, &cfg)) {
		fprintf(stderr, "sparsefs: out of memory\n");
		goto out_args;
	}
	se = fuse_session_new(&args, &sparsefs_ops, sizeof(sparsefs_ops), &m);
	if (!se)
		goto out_fs; /* libfuse has said why (e.g. an unknown option) */
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, mountpoint))
		goto out_signals;
	fuse_daemonize(opts.foreground);
	shield_from_oom();
	if (store_start(m.fs.store)) {
		fuse_session_unmount(se);
		goto out_signals; /* the store has said why */
	}
	m.se = se;
	ret = sparsefs_loop_start(se, serving_threads(&opts, m.fs.store), &loop);
	if (ret) {
		/* Unmounted or signalled before INIT is a clean end too. */
		if (ret != -ENODEV && !fuse_session_exited(se))
			fprintf(stderr, "sparsefs: starting the session: %s\n", strerror(-ret));
		ret = ret != -ENODEV && !fuse_session_exited(se);
		fuse_session_unmount(se);
		goto out_signals;
	}
	if (m.fs.store->ops->readahead_kb)
		set_readahead(mountpoint, m.fs.store->ops->readahead_kb);
	/* A signal or an unmount ends the loop cleanly; a failed read does not. */
	sparsefs_loop_run(loop);
	ret = sparsefs_loop_stop(loop) < 0;
	refusal_drain();
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fs:
	sfs_destroy(&m.fs);
out_args:
	cli_free(&cli);
	free(mountpoint);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
