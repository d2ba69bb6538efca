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
	char backing[4096]; /* "KIND WHERE FSTYPE FREE", or empty from an older daemon */
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
	r = xattr_text(path, "backing", f->backing, sizeof(f->backing));
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
	printf(",\"dropped\":%" PRIu64 ",\"block_size\":%" PRIu64 ",\"backing\":", f->dropped,
	       f->block_size);
	tk_json_string(f->backing);
	putchar('}');
	putchar('\n');
}

/* "disk /var/tmp/pool ext4 85610782720": the store, where, and its free space. */
static void print_backing(const char *line, bool bytes)
{
	char kind[32], where[4096], fstype[64], buf[32];
	unsigned long long free_bytes;

	if (sscanf(line, "%31s %4095s %63s %llu", kind, where, fstype, &free_bytes) != 4) {
		printf("  %-13s %s\n", "store", line);
		return;
	}
	if (bytes)
		snprintf(buf, sizeof(buf), "%llu", free_bytes);
	else
		tk_human(buf, sizeof(buf), free_bytes);
	if (strcmp(kind, "memory") == 0) {
		printf("  %-13s %*s  %s\n", "store", bytes ? 20 : 7, "memory",
		       "(-o backing: pages live in the daemon's memory)");
	} else if (strcmp(kind, "rados") == 0) {
		/* "rados POOL/NAMESPACE ceph FREE max_avail=N quota=N stored=N ..." */
		const char *ns = strchr(where, '/');

		printf("  %-13s %*s  (-o backing: RADOS pool %.*s, namespace %s, %s free", "store",
		       bytes ? 20 : 7, kind, ns ? (int)(ns - where) : (int)strlen(where), where,
		       ns ? ns + 1 : "?", buf);
		for (const char *f = "max_avail=\0quota=\0stored=\0"; *f; f += strlen(f) + 1) {
			const char *at = strstr(line, f);
			unsigned long long v;
			char vb[32];

			if (!at || sscanf(at + strlen(f), "%llu", &v) != 1)
				continue;
			if (strcmp(f, "quota=") == 0 && v == 0) {
				printf("; no quota");
				continue;
			}
			if (bytes)
				snprintf(vb, sizeof(vb), "%llu", v);
			else
				tk_human(vb, sizeof(vb), v);
			printf("; pool %.*s %s", (int)strlen(f) - 1, f, vb);
		}
		printf(")\n");
	} else {
		printf("  %-13s %*s  (-o backing: a pool in %s, %s, %s free)\n", "store",
		       bytes ? 20 : 7, kind, where, fstype, buf);
	}
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
	if (f->backing[0])
		print_backing(f->backing, bytes);
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
