/* SPDX-License-Identifier: MIT */
/*
 * sparsefs: option parsing, mount and the session loop. Anything wrong with
 * the command line is one line on stderr and exit status 1, before anything
 * is mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "inode.h"
#include "kfile.h"
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
	char *passthrough;
	int writeback_cache;
	/* The stores' own options (store.h): NAME=VALUE, split, strdup'd. */
	struct store_args store;
	char *store_owned[STORE_ARGS_MAX];
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
	free(cli->passthrough);
	for (size_t i = 0; i < cli->store.n; i++)
		free(cli->store_owned[i]);
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
	CLI_OPT("passthrough=%s", passthrough),
	{ "writeback_cache", offsetof(struct cli, writeback_cache), 1 },
	FUSE_OPT_END,
};

/*
 * Takes the non-option arguments out of libfuse's hands, so that what is wrong
 * with them is said our way: MOUNTPOINT, or SOURCE MOUNTPOINT as mount(8) and
 * mount.fuse3 pass them (`mount -t fuse.sparsefs none /mnt`; the source names
 * nothing for a memory-backed mount and is ignored).
 */
/* The kind that has an -o option called name (size_t len of it), or NULL. */
static const struct store_kind *option_owner(const char *name, size_t len)
{
	for (const struct store_kind *const *k = store_registry; *k; k++)
		for (const struct store_option *o = (*k)->options; o->name; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return *k;
	return NULL;
}

/* -o NAME=VALUE of a store (store.h): kept for its kind, not passed to libfuse. */
static int store_option(struct cli *cli, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *copy;

	if (!eq || !option_owner(arg, (size_t)(eq - arg)))
		return 1;
	if (cli->store.n == STORE_ARGS_MAX) {
		fprintf(stderr, "sparsefs: too many store options\n");
		return -1;
	}
	copy = strdup(arg);
	if (!copy)
		return -1;
	copy[eq - arg] = 0;
	cli->store_owned[cli->store.n] = copy;
	cli->store.names[cli->store.n] = copy;
	cli->store.values[cli->store.n++] = copy + (eq - arg) + 1;
	return 0;
}

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *cli = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT)
		return store_option(cli, arg);
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
	       "    -o backing=WHERE      where pages live (default memory):\n", prog);
	for (const struct store_kind *const *k = store_registry; *k; k++)
		printf("        %-18s%s\n", (*k)->syntax, (*k)->help);
	for (const struct store_kind *const *k = store_registry; *k; k++)
		for (const struct store_option *o = (*k)->options; o->name; o++)
			printf("    -o %s=...\n        %s\n", o->name, o->help);
	printf(
	       "    -o size=SIZE          capacity: bytes with k/m/g/t/p suffix, or N%% of RAM\n"
	       "                          (default 50%%); with backing=DIR, N%% of DIR's\n"
	       "                          filesystem (default: what it has available); with\n"
	       "                          rados:POOL, N%% of what the pool can still take\n"
	       "    -o nr_inodes=N        most inodes (k/m/g suffix; default 0 = unlimited)\n"
	       "    -o mode=MODE          root directory permissions, octal (default 1777)\n"
	       "    -o uid=UID            root directory owner (default: who mounts)\n"
	       "    -o gid=GID            root directory group (default: who mounts)\n"
	       "    -o overcommit=POLICY  always (default), heuristic or never: how much of a\n"
	       "                          file's length must be backed by space\n"
	       "    -o overdraft=SIZE     space only mmap write-back may use (default the\n"
	       "                          smaller of 64M and size/8; 0 turns it off)\n"
	       "    -o writeback_cache    let the kernel cache writes: faster, but ENOSPC\n"
	       "                          shows at msync/fsync, not at write(2)\n"
	       "    -o passthrough=WHEN   auto (default): the kernel serves read, write and\n"
	       "                          mmap from a kernel file per file where it can (a\n"
	       "                          local store, root, FUSE passthrough); on: that or\n"
	       "                          no mount; off: every byte crosses the daemon\n\n"
	       "general options:\n"
	       "    -h   --help           print help\n"
	       "    -V   --version        print version\n"
	       "    -d   -o debug         print every request (implies -f)\n"
	       "    -f                    stay in the foreground\n"
	       "    -s                    serve requests with one thread\n"
	       "    -o max_threads=N      serve requests with at most N threads (default:\n"
	       "                          one per CPU, at least 2; 16 with rados)\n\n");
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

/*
 * The kind of store backing= names, with the store options given checked
 * against it; NULL after one line saying why not.
 */
static const struct store_kind *store_kind(const struct cli *cli, const char **where)
{
	const struct store_kind *kind = store_kind_of(cli->backing, where);

	if (!kind) {
		fprintf(stderr, "sparsefs: bad backing '%s': expected", cli->backing ? cli->backing : "");
		for (const struct store_kind *const *k = store_registry; *k; k++)
			fprintf(stderr, "%s%s", k == store_registry ? " " : k[1] ? ", " : " or ",
				(*k)->syntax);
		fprintf(stderr, "\n");
		return NULL;
	}
	for (size_t i = 0; i < cli->store.n; i++) {
		const struct store_kind *owner =
			option_owner(cli->store.names[i], strlen(cli->store.names[i]));

		if (owner != kind) {
			fprintf(stderr, "sparsefs: %s needs backing=%s\n", cli->store.names[i],
				owner->syntax);
			return NULL;
		}
	}
	return kind;
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
 * Into the background as fuse_daemonize does, except that the command that
 * mounted learns how the start ended. fuse_daemonize's parent exits 0 as soon
 * as the child has forked, but the store starts in the child (librados's
 * threads do not survive a fork) and may still fail: then the parent exits 1
 * and the child's one line has reached the terminal, which the child keeps
 * until started(). -f: only the chdir.
 */
static int started_fd = -1;

static void background(bool foreground)
{
	int pipefd[2];
	char status;

	if (chdir("/"))
		perror("sparsefs: chdir /");
	if (foreground)
		return;
	if (pipe(pipefd)) {
		perror("sparsefs: going into the background: pipe");
		exit(1);
	}
	switch (fork()) {
	case -1:
		perror("sparsefs: going into the background: fork");
		exit(1);
	case 0:
		break;
	default:
		/* No word (the child died or failed): a failed start. */
		close(pipefd[1]);
		if (read(pipefd[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(pipefd[0]);
	started_fd = pipefd[1];
	setsid();
}

/* The mount serves: the waiting parent exits 0, the terminal is let go. */
static void started(void)
{
	char ok = 0;
	int null;

	if (started_fd < 0)
		return;
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(started_fd, &ok, 1) != 1)
		perror("sparsefs: telling the mount command");
	close(started_fd);
	started_fd = -1;
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

	if (st && st->ops->threads > n)
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

enum passthrough_mode { PT_AUTO, PT_ON, PT_OFF };

/*
 * Why the mount cannot take the kernel path (FUSE passthrough, kfile.h), or
 * NULL if it may: the kernel files need a local store, the registration of a
 * backing file needs CAP_SYS_ADMIN, and two promises need the daemon to see
 * every write: the writeback cache's (the kernel excludes the two) and
 * overcommit=never's (a write past the end that the daemon does not see
 * would leave an unreserved hole behind it).
 */
static const char *kernel_path_refused(const struct cli *cli, const struct store_kind *kind,
				       const struct sfs_config *cfg)
{
	static char why[128];

	if (!kind->create_kernel) {
		snprintf(why, sizeof(why), "the %s store has no kernel files", kind->name);
		return why;
	}
	if (cli->writeback_cache)
		return "writeback_cache: the kernel serves no passthrough file with it";
	if (cfg->policy == SPACE_NEVER)
		return "overcommit=never: a write past the end must be seen by the daemon";
	if (geteuid() != 0)
		return "not root: registering a kernel file for passthrough needs CAP_SYS_ADMIN";
	return NULL;
}

/* The kernel files' store; NULL with errno set or after saying why. */
static struct kstore *open_kstore(const struct store_kind *kind, const char *where,
				  const struct sfs_config *cfg, bool quiet)
{
	struct kstore *ks;

	errno = 0;
	ks = kind->create_kernel(where, cfg->capacity_pages * SFS_PAGE_SIZE);
	if (!ks && errno && !quiet)
		fprintf(stderr, "sparsefs: the kernel files of the %s store: %s\n", kind->name,
			strerror(errno));
	return ks;
}

static void say_path(const char *what)
{
	fprintf(stderr, "sparsefs: %s\n", what);
	syslog(LOG_INFO, "%s", what);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	struct cli cli = { 0 };
	struct sfs_config cfg = { 0 };
	struct fuse_session *se;
	char *mountpoint = NULL;
	struct sparsefs_mount m = { 0 };
	struct sparsefs_loop *loop;
	enum passthrough_mode pt = PT_AUTO;
	const char *refused;
	struct kstore *kstore = NULL;
	const struct store_kind *kind;
	const char *where;
	char why[256];
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
	kind = store_kind(&cli, &where);
	if (!kind)
		goto out_args;
	cfg.store_name = kind->name;
	cfg.store = kind->create(where, &cli.store);
	if (!cfg.store)
		goto out_args; /* the store has said why */
	if (configure(&cli, &cfg)) {
		store_destroy(cfg.store);
		goto out_args;
	}
	if (cli.passthrough && strcmp(cli.passthrough, "on") == 0) {
		pt = PT_ON;
	} else if (cli.passthrough && strcmp(cli.passthrough, "off") == 0) {
		pt = PT_OFF;
	} else if (cli.passthrough && strcmp(cli.passthrough, "auto") != 0) {
		bad("passthrough", cli.passthrough, -EINVAL, "auto, on or off");
		store_destroy(cfg.store);
		goto out_args;
	}
	refused = pt == PT_OFF ? "passthrough=off" : kernel_path_refused(&cli, kind, &cfg);
	if (refused && pt == PT_ON) {
		fprintf(stderr, "sparsefs: passthrough=on: %s\n", refused);
		store_destroy(cfg.store);
		goto out_args;
	}
	if (!refused) {
		kstore = open_kstore(kind, where, &cfg, pt == PT_AUTO);
		if (!kstore && pt == PT_ON) {
			store_destroy(cfg.store);
			goto out_args; /* said why */
		}
		if (!kstore) {
			snprintf(why, sizeof(why), "no kernel files: %s", strerror(errno));
			refused = why;
		}
	}
	if (add_mount_options(&args)) {
		fprintf(stderr, "sparsefs: out of memory\n");
		store_destroy(cfg.store);
		goto out_args;
	}
	m.writeback_cache = cli.writeback_cache;
	se = fuse_session_new(&args, &sparsefs_ops, sizeof(sparsefs_ops), &m);
	if (!se)
		goto out_stores; /* libfuse has said why (e.g. an unknown option) */
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, mountpoint))
		goto out_signals;
	m.se = se;
	ret = sparsefs_loop_init(se, kstore != NULL);
	if (ret) {
		/* Unmounted or signalled before INIT is a clean end too. */
		if (ret != -ENODEV && !fuse_session_exited(se))
			fprintf(stderr, "sparsefs: starting the session: %s\n", strerror(-ret));
		ret = ret != -ENODEV && !fuse_session_exited(se);
		fuse_session_unmount(se);
		goto out_signals;
	}
	if (kstore && !sparsefs_passthrough()) {
		refused = "the kernel offered no FUSE passthrough (Linux 6.9+, CONFIG_FUSE_PASSTHROUGH)";
		kstore_destroy(kstore);
		kstore = NULL;
		if (pt == PT_ON) {
			fprintf(stderr, "sparsefs: passthrough=on: %s\n", refused);
			ret = 1;
			fuse_session_unmount(se);
			goto out_signals;
		}
	}
	if (kstore) {
		store_destroy(cfg.store);
		cfg.store = NULL;
		cfg.kstore = kstore;
		kstore = NULL;
	} else if (pt == PT_AUTO) {
		char line[512];

		snprintf(line, sizeof(line), "the daemon serves every byte: %s", refused);
		say_path(line);
	}
	/* From here the filesystem owns the store, even if sfs_init fails. */
	ret = sfs_init(&m.fs, &cfg);
	cfg.store = NULL;
	cfg.kstore = NULL;
	if (ret) {
		fprintf(stderr, "sparsefs: %s\n", strerror(-ret));
		ret = 1;
		fuse_session_unmount(se);
		goto out_signals;
	}
	m.fs_ready = true;
	background(opts.foreground);
	shield_from_oom();
	if (m.fs.store && store_start(m.fs.store)) {
		ret = 1;
		fuse_session_unmount(se);
		goto out_signals; /* the store has said why */
	}
	sparsefs_kpool_start(&m);
	ret = sparsefs_loop_start(se, serving_threads(&opts, m.fs.store), &loop);
	if (ret) {
		fprintf(stderr, "sparsefs: starting the session: %s\n", strerror(-ret));
		sparsefs_kpool_stop(&m);
		ret = 1;
		fuse_session_unmount(se);
		goto out_signals;
	}
	if (m.fs.store && m.fs.store->ops->readahead_kb)
		set_readahead(mountpoint, m.fs.store->ops->readahead_kb);
	started();
	/* A signal or an unmount ends the loop cleanly; a failed read does not. */
	sparsefs_loop_run(loop);
	ret = sparsefs_loop_stop(loop) < 0;
	sparsefs_kpool_stop(&m);
	refusal_drain();
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_stores:
	if (m.fs_ready)
		sfs_destroy(&m.fs);
	if (cfg.store)
		store_destroy(cfg.store);
	if (kstore)
		kstore_destroy(kstore);
out_args:
	cli_free(&cli);
	free(mountpoint);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
