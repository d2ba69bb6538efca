/* SPDX-License-Identifier: MIT */
/*
 * mmapfill FILE BYTES [fallocate|existing]: the "SIGBUS after ftruncate on a
 * full disk" scenario. Creates FILE, sets its length to BYTES with ftruncate
 * (after fallocate(0, BYTES) if asked; `existing` takes FILE as it is, e.g.
 * reserved earlier by fallocate(1)), maps it MAP_SHARED, writes a distinct pattern
 * into every page, msync(MS_SYNC)s, unmaps, and reads it all back with pread.
 * Prints what happened, for the test to judge:
 *   msync=ok|<errno name> fsync=ok|<errno name> intact=N lost=M[ sigbus=S]
 * (a lost page is one that does not read back as written; sigbus counts the
 * pages whose store the kernel answered with SIGBUS, as tmpfs does for a new
 * page on a full mount, and is said only when there were some). Exit status 0
 * if it could run at all, 2 if setting up failed (the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u

static const char *errname(int err)
{
	return err == ENOSPC ? "ENOSPC" : err == EIO ? "EIO" : strerror(err);
}

static void pattern(char *page, uint64_t idx)
{
	for (unsigned k = 0; k < PAGE; k += 8) {
		uint64_t v = idx * 0x9e3779b97f4a7c15ULL + k + 1;

		memcpy(page + k, &v, 8);
	}
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/* Stores the pattern into every page: how many stores were SIGBUS. */
static uint64_t store_all(char *map, uint64_t pages)
{
	volatile uint64_t sigbus = 0;

	signal(SIGBUS, on_sigbus);
	for (volatile uint64_t i = 0; i < pages; i++) {
		if (sigsetjmp(bus_jmp, 1)) {
			sigbus++;
			continue;
		}
		pattern(map + i * PAGE, i);
	}
	signal(SIGBUS, SIG_DFL);
	return sigbus;
}

int main(int argc, char **argv)
{
	uint64_t bytes, pages, intact = 0, lost = 0, sigbus = 0;
	char want[PAGE], got[PAGE];
	const char *msync_res = "ok", *fsync_res = "ok";
	char *map;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: mmapfill FILE BYTES [fallocate]\n");
		return 2;
	}
	const char *how = argc > 3 ? argv[3] : "";
	int existing = strcmp(how, "existing") == 0;

	bytes = strtoull(argv[2], NULL, 0);
	pages = bytes / PAGE;
	fd = open(argv[1], O_RDWR | (existing ? 0 : O_CREAT | O_TRUNC), 0644);
	if (fd < 0) {
		perror("mmapfill: open");
		return 2;
	}
	if (strcmp(how, "fallocate") == 0 && fallocate(fd, 0, 0, (off_t)bytes)) {
		perror("mmapfill: fallocate");
		return 2;
	}
	if (!existing && ftruncate(fd, (off_t)bytes)) {
		perror("mmapfill: ftruncate");
		return 2;
	}
	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmapfill: mmap");
		return 2;
	}
	sigbus = store_all(map, pages);
	if (msync(map, bytes, MS_SYNC))
		msync_res = errname(errno);
	munmap(map, bytes);
	if (fsync(fd))
		fsync_res = errname(errno);
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		perror("mmapfill: posix_fadvise");
		return 2;
	}
	for (uint64_t i = 0; i < pages; i++) {
		pattern(want, i);
		if (pread(fd, got, PAGE, (off_t)(i * PAGE)) == PAGE && !memcmp(want, got, PAGE))
			intact++;
		else
			lost++;
	}
	close(fd);
	printf("msync=%s fsync=%s intact=%llu lost=%llu", msync_res, fsync_res,
	       (unsigned long long)intact, (unsigned long long)lost);
	if (sigbus)
		printf(" sigbus=%llu", (unsigned long long)sigbus);
	printf("\n");
	return 0;
}
