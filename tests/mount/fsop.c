/*
 * fsop: one syscall per invocation, for shell tests that need exact errno values.
 *
 *   fsop pwrite PATH OFFSET STRING     open(O_WRONLY|O_CREAT), pwrite all of STRING
 *   fsop pwrite-zeros PATH OFFSET LEN  the same with LEN zero bytes
 *   fsop ftruncate PATH LENGTH         open(O_WRONLY), ftruncate
 *   fsop expect-zero PATH OFFSET LEN   pread LEN bytes at OFFSET; all must be zero
 *   fsop seek PATH data|hole OFFSET    lseek(SEEK_DATA/SEEK_HOLE): prints the offset
 *   fsop mapped-seek PATH OFFSET      store a byte at OFFSET through a MAP_SHARED
 *                                      mapping, then (not synced, still mapped)
 *                                      lseek(SEEK_DATA) from 0: prints the offset
 *   fsop stored-after-close PATH PAGES
 *                                      map PAGES pages of PATH (MAP_SHARED), close
 *                                      the file, stat it (once its release is
 *                                      served: 100 ms), store a byte into each
 *                                      page; then, still mapped, prints "BLOCKS
 *                                      USED" (st_blocks, the filesystem's used
 *                                      4 KiB blocks, used first), unmaps, and
 *                                      prints them again
 *   fsop extents PATH                  one "DATA HOLE" line per data extent, by lseek
 *   fsop setxattr PATH NAME VALUE create|replace|none
 *   fsop creat PATH | mkdir PATH | mksock PATH | stat PATH
 *   fsop symlink TARGET PATH | link OLD NEW
 *   fsop interrupted MS fallocate|ftruncate PATH LENGTH
 *                                      the call (fallocate mode 0 from 0) with a
 *                                      signal caught MS ms into it (no SA_RESTART)
 *
 * Prints "0" (or the offset, for seek) when every syscall succeeded, else the errno
 * name of the first one that failed (e.g. "EEXIST"), or a word saying what was wrong
 * with the data; exit status 0 either way, so the test compares the words. Exit 2 for
 * a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: see the comment at the top of fsop.c\n");
	return 2;
}

static int say_errno(void)
{
	const char *name = strerrorname_np(errno);

	printf("%s\n", name ? name : "E?");
	return 0;
}

static int say_ok(void)
{
	printf("0\n");
	return 0;
}

static void caught(int sig)
{
	(void)sig;
}

/* One fallocate or ftruncate, a caught SIGALRM arriving ms into it. */
static int do_interrupted(long ms, const char *what, const char *path, off_t len)
{
	struct sigaction sa = { .sa_handler = caught };
	struct itimerval when = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };
	int fd = open(path, O_WRONLY | O_CREAT, 0644), ret, e;

	if (fd < 0)
		return say_errno();
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: the call sees the signal */
	setitimer(ITIMER_REAL, &when, NULL);
	ret = strcmp(what, "fallocate") == 0 ? fallocate(fd, 0, 0, len) : ftruncate(fd, len);
	e = errno;
	close(fd);
	errno = e;
	return ret < 0 ? say_errno() : say_ok();
}

static int parse_off(const char *s, off_t *out)
{
	char *end;
	intmax_t v;

	errno = 0;
	v = strtoimax(s, &end, 0);
	if (errno || *end || end == s)
		return -1;
	*out = (off_t)v;
	return 0;
}

static int do_pwrite(const char *path, off_t off, const char *data, size_t len)
{
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	if (fd < 0)
		return say_errno();
	while (done < len) {
		ssize_t n = pwrite(fd, data + done, len - done, off + (off_t)done);

		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return say_errno();
		}
		done += (size_t)n;
	}
	if (close(fd) < 0)
		return say_errno();
	return say_ok();
}

static int do_ftruncate(const char *path, off_t len)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		return say_errno();
	if (ftruncate(fd, len) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return say_errno();
	}
	if (close(fd) < 0)
		return say_errno();
	return say_ok();
}

static int do_expect_zero(const char *path, off_t off, off_t len)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	off_t pos = off;

	if (fd < 0)
		return say_errno();
	while (pos < off + len) {
		size_t want = (size_t)(off + len - pos) < sizeof(buf) ? (size_t)(off + len - pos) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, pos);

		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return say_errno();
		}
		if (n == 0) {
			printf("SHORT at %jd\n", (intmax_t)pos);
			close(fd);
			return 0;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i]) {
				printf("NONZERO at %jd\n", (intmax_t)(pos + i));
				close(fd);
				return 0;
			}
		}
		pos += n;
	}
	if (close(fd) < 0)
		return say_errno();
	return say_ok();
}

static int do_seek(const char *path, const char *what, off_t off)
{
	int whence = strcmp(what, "data") == 0 ? SEEK_DATA : SEEK_HOLE;
	int fd = open(path, O_RDONLY);
	off_t r;

	if (fd < 0)
		return say_errno();
	r = lseek(fd, off, whence);
	if (r < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return say_errno();
	}
	close(fd);
	printf("%jd\n", (intmax_t)r);
	return 0;
}

static int do_mapped_seek(const char *path, off_t off)
{
	off_t base = off & ~(off_t)4095, r;
	int fd = open(path, O_RDWR), e;
	char *map;

	if (fd < 0)
		return say_errno();
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);
	if (map == MAP_FAILED) {
		e = errno;
		close(fd);
		errno = e;
		return say_errno();
	}
	map[off - base] = 'm';
	r = lseek(fd, 0, SEEK_DATA);
	e = errno;
	munmap(map, 4096);
	close(fd);
	errno = e;
	if (r < 0)
		return say_errno();
	printf("%jd\n", (intmax_t)r);
	return 0;
}

static void print_blocks_used(const char *path)
{
	struct statvfs sv;
	struct stat st;

	if (statvfs(path, &sv) || stat(path, &st)) {
		say_errno();
		return;
	}
	printf("%jd %ju\n", (intmax_t)st.st_blocks,
	       (uintmax_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize / 4096));
}

static int do_stored_after_close(const char *path, off_t pages)
{
	int fd = open(path, O_RDWR), e;
	struct stat st;
	char *map;

	if (fd < 0)
		return say_errno();
	map = mmap(NULL, (size_t)pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		errno = e;
		return say_errno();
	}
	usleep(100000);
	if (stat(path, &st)) /* what the kernel may keep */
		return say_errno();
	for (off_t i = 0; i < pages; i++)
		map[i * 4096] = 'c';
	print_blocks_used(path);
	munmap(map, (size_t)pages * 4096);
	print_blocks_used(path);
	return 0;
}

static int do_extents(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t d, h = 0;

	if (fd < 0)
		return say_errno();
	for (;;) {
		d = lseek(fd, h, SEEK_DATA);
		if (d < 0)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			break;
		printf("%jd %jd\n", (intmax_t)d, (intmax_t)h);
	}
	if (errno != ENXIO) {
		int e = errno;

		close(fd);
		errno = e;
		return say_errno();
	}
	close(fd);
	return 0;
}

static int do_setxattr(const char *path, const char *name, const char *value, const char *how)
{
	int flags = 0;

	if (strcmp(how, "create") == 0)
		flags = XATTR_CREATE;
	else if (strcmp(how, "replace") == 0)
		flags = XATTR_REPLACE;
	else if (strcmp(how, "none") != 0)
		return usage();
	if (setxattr(path, name, value, strlen(value), flags) < 0)
		return say_errno();
	return say_ok();
}

static int do_creat(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return say_errno();
	if (close(fd) < 0)
		return say_errno();
	return say_ok();
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	off_t a, b;
	struct stat st;

	if (strcmp(cmd, "pwrite") == 0 && argc == 5 && parse_off(argv[3], &a) == 0)
		return do_pwrite(argv[2], a, argv[4], strlen(argv[4]));
	if (strcmp(cmd, "pwrite-zeros") == 0 && argc == 5 && parse_off(argv[3], &a) == 0 &&
	    parse_off(argv[4], &b) == 0 && b >= 0 && b <= (1 << 20)) {
		static const char zeros[1 << 20];

		return do_pwrite(argv[2], a, zeros, (size_t)b);
	}
	if (strcmp(cmd, "ftruncate") == 0 && argc == 4 && parse_off(argv[3], &a) == 0)
		return do_ftruncate(argv[2], a);
	if (strcmp(cmd, "expect-zero") == 0 && argc == 5 && parse_off(argv[3], &a) == 0 &&
	    parse_off(argv[4], &b) == 0)
		return do_expect_zero(argv[2], a, b);
	if (strcmp(cmd, "seek") == 0 && argc == 5 && parse_off(argv[4], &a) == 0)
		return do_seek(argv[2], argv[3], a);
	if (strcmp(cmd, "mapped-seek") == 0 && argc == 4 && parse_off(argv[3], &a) == 0)
		return do_mapped_seek(argv[2], a);
	if (strcmp(cmd, "stored-after-close") == 0 && argc == 4 && parse_off(argv[3], &a) == 0)
		return do_stored_after_close(argv[2], a);
	if (strcmp(cmd, "extents") == 0 && argc == 3)
		return do_extents(argv[2]);
	if (strcmp(cmd, "setxattr") == 0 && argc == 6)
		return do_setxattr(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(cmd, "creat") == 0 && argc == 3)
		return do_creat(argv[2]);
	if (strcmp(cmd, "mkdir") == 0 && argc == 3)
		return mkdir(argv[2], 0755) < 0 ? say_errno() : say_ok();
	if (strcmp(cmd, "mksock") == 0 && argc == 3)
		return mknod(argv[2], S_IFSOCK | 0644, 0) < 0 ? say_errno() : say_ok();
	if (strcmp(cmd, "stat") == 0 && argc == 3)
		return lstat(argv[2], &st) < 0 ? say_errno() : say_ok();
	if (strcmp(cmd, "symlink") == 0 && argc == 4)
		return symlink(argv[2], argv[3]) < 0 ? say_errno() : say_ok();
	if (strcmp(cmd, "interrupted") == 0 && argc == 6 && parse_off(argv[2], &a) == 0 &&
	    (strcmp(argv[3], "fallocate") == 0 || strcmp(argv[3], "ftruncate") == 0) &&
	    parse_off(argv[5], &b) == 0)
		return do_interrupted((long)a, argv[3], argv[4], b);
	if (strcmp(cmd, "link") == 0 && argc == 4)
		return link(argv[2], argv[3]) < 0 ? say_errno() : say_ok();
	return usage();
}
