/*
 * sparsefs-df: a sparsefs mount's space, broken down.
 *
 *   sparsefs-df [--bytes] [--json] [MOUNT...]
 *
 * Reads only stock interfaces: the virtual xattrs user.sparsefs.* on the mount's root
 * directory (capacity, used, data, reserved, overdraft, backing_free, policy, dropped)
 * and statvfs (free to ordinary writers is f_bavail; with the overdraft, f_bfree).
 * Without MOUNT, every fuse.sparsefs in /proc/self/mounts.
 *
 * Exit status: 0 every mount shown, 1 some MOUNT was not a sparsefs mount root or could
 * not be read (one line on stderr each, the others are still shown) or none is
 * mounted, 2 usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "toolkit.h"

#define PROG "sparsefs-df"
#define XATTR "user.sparsefs."

struct figures {
	uint64_t capacity, used, data, reserved, overdraft, backing_free, dropped;
	uint64_t free, free_overdraft; /* statvfs f_bavail, f_bfree, in bytes */
	uint64_t block_size;
	char policy[32];
	/* The store (user.sparsefs.store*): kind, where, on what, what else draws on it,
	 * the data path, and the store's own figures ("NAME VALUE" lines). Empty
	 * from an older daemon. */
	char store[64], where[4096], fstype[64], shared[256], path[16];
	char extra[1024];
};

static void usage(FILE *f)
{
	fputs("usage: " PROG " [--bytes] [--json] [MOUNT...]\n"
	      "Show a sparsefs mount's space: capacity, used (data + reserved), free to\n"
	      "ordinary writers, overdraft, what the backing can really give, policy and\n"
	      "dropped write-back pages. Without MOUNT, every mounted fuse.sparsefs.\n"
	      "  --bytes      exact bytes instead of K/M/G/T\n"
	      "  --json       one JSON object per mount, one per line (always bytes)\n"
	      "  -h, --help   this help\n",
	      f);
}

static int xattr_text(const char *path, const char *name, char *buf, size_t len)
{
	return tk_xattr_text(-1, path, name, buf, len);
}

/* A figure that must be there: 1, or -errno (-EBADMSG when absent too). */
static int xattr_u64(const char *path, const char *name, uint64_t *v)
{
	int r = tk_xattr_u64(-1, path, name, v);

	return r == 0 ? -EBADMSG : r;
}

/* The store's figures; those an older daemon lacks stay empty. 0 or -errno. */
static int read_store(const char *path, struct figures *f)
{
	char names[512], *save = NULL;
	struct {
		const char *name;
		char *buf;
		size_t len;
	} texts[] = {
		{ "store", f->store, sizeof(f->store) },
		{ "store_where", f->where, sizeof(f->where) },
		{ "store_fstype", f->fstype, sizeof(f->fstype) },
		{ "store_shared", f->shared, sizeof(f->shared) },
		{ "data_path", f->path, sizeof(f->path) },
	};
	size_t n = 0;
	int r;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		r = xattr_text(path, texts[i].name, texts[i].buf, texts[i].len);
		if (r < 0)
			return r;
	}
	r = xattr_text(path, "store_figures", names, sizeof(names));
	if (r < 0)
		return r;
	f->extra[0] = 0;
	for (char *name = r > 0 ? strtok_r(names, " ", &save) : NULL; name;
	     name = strtok_r(NULL, " ", &save)) {
		char key[96];
		uint64_t v;

		snprintf(key, sizeof(key), "store.%s", name);
		r = xattr_u64(path, key, &v);
		if (r < 0)
			return r;
		if (r == 1)
			n += (size_t)snprintf(f->extra + n, n < sizeof(f->extra) ? sizeof(f->extra) - n : 0,
					      "%s %" PRIu64 "\n", name, v);
	}
	return 0;
}

/*
 * Gather a mount's figures. Returns 0, 1 when PATH is not a sparsefs mount root (its
 * capacity xattr is absent), or -errno (-EBADMSG: a figure is missing or malformed).
 */
static int read_figures(const char *path, struct figures *f)
{
	static const struct {
		const char *name;
		size_t off;
	} nums[] = {
		{ "used", offsetof(struct figures, used) },
		{ "data", offsetof(struct figures, data) },
		{ "reserved", offsetof(struct figures, reserved) },
		{ "overdraft", offsetof(struct figures, overdraft) },
		{ "backing_free", offsetof(struct figures, backing_free) },
		{ "dropped", offsetof(struct figures, dropped) },
	};
	char buf[32];
	struct statvfs sv;
	int r = xattr_text(path, "capacity", buf, sizeof(buf));

	if (r == 0)
		return 1;
	if (r < 0)
		return r;
	r = xattr_u64(path, "capacity", &f->capacity);
	for (size_t i = 0; r == 1 && i < sizeof(nums) / sizeof(nums[0]); i++)
		r = xattr_u64(path, nums[i].name, (uint64_t *)((char *)f + nums[i].off));
	if (r < 0)
		return r;
	r = xattr_text(path, "policy", f->policy, sizeof(f->policy));
	if (r <= 0)
		return r == 0 ? -EBADMSG : r;
	r = read_store(path, f);
	if (r < 0)
		return r;
	if (statvfs(path, &sv) < 0)
		return -errno;
	f->block_size = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	f->free = (uint64_t)sv.f_bavail * f->block_size;
	f->free_overdraft = (uint64_t)sv.f_bfree * f->block_size;
	return 0;
}

static void print_json(const char *path, const struct figures *f)
{
	fputs("{\"mount\":", stdout);
	tk_json_string(path);
	printf(",\"capacity\":%" PRIu64 ",\"used\":%" PRIu64 ",\"data\":%" PRIu64
	       ",\"reserved\":%" PRIu64 ",\"free\":%" PRIu64 ",\"free_with_overdraft\":%" PRIu64
	       ",\"overdraft\":%" PRIu64 ",\"backing_free\":%" PRIu64 ",\"policy\":",
	       f->capacity, f->used, f->data, f->reserved, f->free, f->free_overdraft,
	       f->overdraft, f->backing_free);
	tk_json_string(f->policy);
	printf(",\"dropped\":%" PRIu64 ",\"block_size\":%" PRIu64 ",\"store\":", f->dropped,
	       f->block_size);
	tk_json_string(f->store);
	fputs(",\"store_where\":", stdout);
	tk_json_string(f->where);
	fputs(",\"store_fstype\":", stdout);
	tk_json_string(f->fstype);
	fputs(",\"data_path\":", stdout);
	tk_json_string(f->path);
	fputs(",\"store_figures\":{", stdout);
	for (const char *line = f->extra, *sp; *line && (sp = strchr(line, ' '));) {
		const char *nl = strchr(sp, '\n');

		printf("%s\"%.*s\":%.*s", line == f->extra ? "" : ",", (int)(sp - line), line,
		       (int)(nl - sp - 1), sp + 1);
		line = nl + 1;
	}
	fputs("}}\n", stdout);
}

/*
 * The store, as it says of itself: "store disk (-o backing: /var/tmp/x, ext4, kernel
 * path; shared with ...; NAME VALUE, ...)".
 */
static void print_store(const struct figures *f, bool bytes)
{
	printf("  %-13s %*s  (-o backing: %s%s%s, %s path", "store", bytes ? 20 : 7, f->store,
	       strcmp(f->where, "-") ? f->where : "", strcmp(f->where, "-") ? ", " : "",
	       strcmp(f->fstype, "-") ? f->fstype : "in memory", f->path[0] ? f->path : "daemon");
	for (const char *line = f->extra, *sp; *line && (sp = strchr(line, ' '));) {
		const char *nl = strchr(sp, '\n');
		unsigned long long v = strtoull(sp + 1, NULL, 10);
		char buf[32];

		/* A store's figures are bytes, but for its counts of errors. */
		if (bytes || (sp - line >= 6 && strncmp(sp - 6, "errors", 6) == 0))
			snprintf(buf, sizeof(buf), "%llu", v);
		else
			tk_human(buf, sizeof(buf), v);
		printf("; %.*s %s", (int)(sp - line), line, buf);
		line = nl + 1;
	}
	printf(")\n");
	if (f->shared[0])
		printf("  %-13s %*s  (what else takes from it: %s)\n", "", bytes ? 20 : 7, "",
		       f->shared);
}

static void print_human(const char *path, const struct figures *f, bool bytes)
{
	static bool first = true;
	static const char *const what[] = {
		"capacity",     "used",         "  data",       "  reserved",
		"free",         "overdraft",    "backing free",
	};
	static const char *const note[] = {
		"(-o size)",
		"(data + reserved pages, all files)",
		"(pages written)",
		"(pages fallocated, not yet written)",
		"(to ordinary writers: statfs f_bavail)",
		"(kept for mmap write-back only)",
		"(what the memory, disk or pool can really still give)",
	};
	const uint64_t v[] = { f->capacity, f->used,      f->data,         f->reserved,
			       f->free,     f->overdraft, f->backing_free };
	char buf[32];

	if (!first)
		putchar('\n');
	first = false;
	printf("%s\n", path);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (bytes)
			snprintf(buf, sizeof(buf), "%" PRIu64, v[i]);
		else
			tk_human(buf, sizeof(buf), v[i]);
		printf("  %-13s %*s  %s\n", what[i], bytes ? 20 : 7, buf, note[i]);
	}
	printf("  %-13s %*s  %s\n", "policy", bytes ? 20 : 7, f->policy,
	       "(-o overcommit: when a write may take a page)");
	printf("  %-13s %*" PRIu64 "  %s\n", "dropped", bytes ? 20 : 7, f->dropped,
	       "(write-back pages lost to ENOSPC)");
	if (f->store[0])
		print_store(f, bytes);
}

static int df_one(const char *path, bool json, bool bytes)
{
	struct figures f = { 0 };
	int r = read_figures(path, &f);

	if (r == 1) {
		fprintf(stderr, PROG ": %s: not the root of a sparsefs mount\n", path);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, PROG ": %s: %s\n", path,
			r == -EBADMSG ? "missing or malformed user.sparsefs.* figure"
				      : strerror(-r));
		return 1;
	}
	if (json)
		print_json(path, &f);
	else
		print_human(path, &f, bytes);
	return 0;
}

/* Undo the octal escapes (\040 for a space...) of a /proc/self/mounts field, in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static int df_all(bool json, bool bytes)
{
	FILE *m = fopen("/proc/self/mounts", "re");
	char *line = NULL, **seen = NULL;
	size_t cap = 0, nseen = 0;
	int rc = 0, found = 0;

	if (!m) {
		fprintf(stderr, PROG ": /proc/self/mounts: %s\n", strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, m) > 0) {
		char *save, *dev = strtok_r(line, " ", &save);
		char *dir = dev ? strtok_r(NULL, " ", &save) : NULL;
		char *type = dir ? strtok_r(NULL, " ", &save) : NULL;

		if (!type || strcmp(type, "fuse.sparsefs") != 0)
			continue;
		unescape(dir);
		found++;
		/* mounted twice on one path: only the top one is reachable, show it once */
		bool dup = false;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = strcmp(seen[i], dir) == 0;
		if (dup)
			continue;
		char **grown = realloc(seen, (nseen + 1) * sizeof(*seen));
		if (grown) {
			seen = grown;
			seen[nseen] = strdup(dir);
			nseen += seen[nseen] != NULL;
		}
		rc |= df_one(dir, json, bytes);
	}
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	free(line);
	fclose(m);
	if (!found) {
		fprintf(stderr, PROG ": no sparsefs mounted\n");
		return 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bytes", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, bytes = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "bhj", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bytes = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, PROG ": try '" PROG " --help'\n");
			return 2;
		}
	}
	if (optind == argc)
		rc = df_all(json, bytes);
	for (int i = optind; i < argc; i++) {
		rc |= df_one(argv[i], json, bytes);
		fflush(stdout);
	}
	return tk_finish_stdout(PROG, rc);
}
