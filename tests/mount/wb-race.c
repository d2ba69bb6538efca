/* SPDX-License-Identifier: MIT */
/*
 * wb-race FILE ROUNDS otrunc|ftruncate|punch: write-back racing a truncation.
 * Each round fills FILE (8 MiB by write(2)), dirties every page through a
 * MAP_SHARED mapping, starts fsync in a second thread (the dirty pages go to
 * the daemon as write-back), and a moment later empties the file one way:
 * open(O_TRUNC), ftruncate(0), or fallocate PUNCH_HOLE over all of it. Once
 * both calls returned, the file must be empty as the daemon holds it: no
 * write-back sent before the truncation may land after it and bring old bytes
 * back (user.sparsefs.length and user.sparsefs.data must say 0; for punch the
 * length stays and only data must be 0).
 * Prints "rounds=N stale=M"; exit 0 if M is 0, 1 if not, 2 if it could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#define LEN (8u << 20)

static int fd;

static void *syncer(void *arg)
{
	(void)arg;
	fsync(fd); /* its result is not the question here */
	return NULL;
}

static long long vx(const char *path, const char *name)
{
	char v[32];
	ssize_t n = getxattr(path, name, v, sizeof(v) - 1);

	if (n < 0)
		return -1;
	v[n] = 0;
	return atoll(v);
}

static int empty(const char *path, const char *how)
{
	int fd2;

	if (strcmp(how, "otrunc") == 0) {
		fd2 = open(path, O_RDWR | O_TRUNC);
		if (fd2 < 0)
			return -1;
		return close(fd2);
	}
	if (strcmp(how, "ftruncate") == 0)
		return ftruncate(fd, 0);
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, LEN);
}

int main(int argc, char **argv)
{
	const char *path, *how;
	int rounds, stale = 0;
	char *buf;

	if (argc != 4 || (strcmp(argv[3], "otrunc") && strcmp(argv[3], "ftruncate") &&
			  strcmp(argv[3], "punch"))) {
		fprintf(stderr, "usage: wb-race FILE ROUNDS otrunc|ftruncate|punch\n");
		return 2;
	}
	path = argv[1];
	rounds = atoi(argv[2]);
	how = argv[3];
	buf = malloc(LEN);
	if (!buf)
		return 2;
	memset(buf, 'x', LEN);
	for (int r = 0; r < rounds; r++) {
		long long length, data;
		pthread_t t;
		char *m;

		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, buf, LEN) != (ssize_t)LEN) {
			perror("wb-race: filling");
			return 2;
		}
		m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			perror("wb-race: mmap");
			return 2;
		}
		for (size_t i = 0; i < LEN; i += 4096)
			m[i] = 'y';
		if (pthread_create(&t, NULL, syncer, NULL)) {
			fprintf(stderr, "wb-race: no thread\n");
			return 2;
		}
		usleep((unsigned)(r % 50) * 20); /* meet the write-back at every stage */
		if (empty(path, how)) {
			perror("wb-race: emptying the file");
			return 2;
		}
		pthread_join(t, NULL);
		munmap(m, LEN);
		length = vx(path, "user.sparsefs.length");
		data = vx(path, "user.sparsefs.data");
		if ((strcmp(how, "punch") && length != 0) || data != 0) {
			if (++stale <= 3)
				printf("round %d: after %s the daemon holds length %lld, data %lld\n", r,
				       how, length, data);
		}
		close(fd);
	}
	printf("rounds=%d stale=%d\n", rounds, stale);
	free(buf);
	return stale != 0;
}
