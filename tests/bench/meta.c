/* SPDX-License-Identifier: MIT */
/*
 * meta DIR N: the metadata workload of tests/bench/run. Creates N empty files in
 * DIR (creat + close), stats each, unlinks each, timing each phase; prints
 * "CREATE STAT UNLINK" in operations per second. A failed call is fatal (exit 1,
 * one line naming it), so a figure always means N operations succeeded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double t[4];
	char name[64];
	struct stat st;
	long n;
	int dfd;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: meta DIR N\n");
		return 2;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror(argv[1]);
		return 1;
	}
	t[0] = now();
	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(name, sizeof(name), "f%07ld", i);
		fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0 || close(fd)) {
			perror(name);
			return 1;
		}
	}
	t[1] = now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (fstatat(dfd, name, &st, 0)) {
			perror(name);
			return 1;
		}
	}
	t[2] = now();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%07ld", i);
		if (unlinkat(dfd, name, 0)) {
			perror(name);
			return 1;
		}
	}
	t[3] = now();
	printf("%.6g %.6g %.6g\n", n / (t[1] - t[0]), n / (t[2] - t[1]), n / (t[3] - t[2]));
	return 0;
}
