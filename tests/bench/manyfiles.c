/* SPDX-License-Identifier: MIT */
/*
 * manyfiles DIR N [PID]: N files in DIR (a mount), each given one page with
 * write(2) and closed, in subdirectories of 10,000; then every file is read
 * back (its first bytes name it) and stat'ed (one page each). Prints the
 * rates, and with the daemon's PID its open descriptors and RSS before and
 * after: a closed file must cost the daemon no descriptor. Run by hand
 * (issue 16: a mount holding 2,000,000 closed files); exit 1 at the first
 * failed call or wrong byte.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PER_DIR 10000L

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long count_fds(long pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static long rss_kib(long pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void die(const char *what, long i)
{
	fprintf(stderr, "manyfiles: %s (file %ld): %s\n", what, i, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	static char page[4096], got[4096];
	char path[4096];
	long n, pid = 0;
	double t0, t1, t2;
	struct stat st;

	if (argc < 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: manyfiles DIR N [DAEMON-PID]\n");
		return 2;
	}
	if (argc > 3)
		pid = atol(argv[3]);
	if (pid)
		printf("daemon before: %ld descriptors, RSS %ld KiB\n", count_fds(pid), rss_kib(pid));
	t0 = now();
	for (long i = 0; i < n; i++) {
		int fd, k;

		if (i % PER_DIR == 0) {
			snprintf(path, sizeof(path), "%s/d%05ld", argv[1], i / PER_DIR);
			if (mkdir(path, 0755) && errno != EEXIST)
				die("mkdir", i);
		}
		snprintf(path, sizeof(path), "%s/d%05ld/f%07ld", argv[1], i / PER_DIR, i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", i);
		k = snprintf(page, sizeof(page), "file %ld\n", i);
		memset(page + k, 'x', sizeof(page) - (size_t)k);
		if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page))
			die("write", i);
		if (close(fd))
			die("close", i);
		if (pid && (i + 1) % 500000 == 0)
			printf("  %ld files: daemon %ld descriptors, RSS %ld KiB\n", i + 1, count_fds(pid),
			       rss_kib(pid));
	}
	t1 = now();
	if (pid)
		printf("daemon after %ld closed files: %ld descriptors, RSS %ld KiB\n", n, count_fds(pid),
		       rss_kib(pid));
	for (long i = 0; i < n; i++) {
		char want[32];
		int fd;
		ssize_t r;

		snprintf(path, sizeof(path), "%s/d%05ld/f%07ld", argv[1], i / PER_DIR, i);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", i);
		r = read(fd, got, sizeof(got));
		if (r != (ssize_t)sizeof(got))
			die("read", i);
		if (fstat(fd, &st) || st.st_blocks != 8 || st.st_size != 4096) {
			fprintf(stderr, "manyfiles: file %ld: size %lld, blocks %lld\n", i,
				(long long)st.st_size, (long long)st.st_blocks);
			return 1;
		}
		close(fd);
		snprintf(want, sizeof(want), "file %ld\n", i);
		if (memcmp(got, want, strlen(want))) {
			fprintf(stderr, "manyfiles: file %ld reads '%.20s'\n", i, got);
			return 1;
		}
	}
	t2 = now();
	printf("%ld files: created+written+closed %.0f/s, read+stat %.0f/s\n", n, n / (t1 - t0),
	       n / (t2 - t1));
	if (pid)
		printf("daemon at the end: %ld descriptors, RSS %ld KiB\n", count_fds(pid), rss_kib(pid));
	return 0;
}
