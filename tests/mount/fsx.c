/*
 * fsx: random file operations checked against an in-memory model (after the classic
 * fsx of BSD/xfstests, much reduced).
 *
 *   fsx [-F] [-S SEED] [-N OPS] [-l MAXLEN] [-o MAXOP] PATH
 *
 * Ops: pwrite (random bytes, all zeros, or random with a zero page inside), pread,
 * ftruncate up and down, mmap MAP_SHARED write (+msync) and read, and with -F also
 * fallocate mode 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE. After every op the
 * length (fstat) must match the model; every 16th op, and at the end after reopening,
 * the page cache of PATH is dropped (POSIX_FADV_DONTNEED) and the whole file is read
 * back and compared, and st_blocks is checked against DESIGN.md: at least 8 per page
 * holding a non-zero byte, and (without -F) at most 8 per page below the length
 * (plus $FSX_BLOCK_SLACK blocks the filesystem under the file may add: ext4's
 * extent tree).
 * Exit 0 if all is right; else 1, with the last ops and the first bad byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define LOGN 32

static uint64_t rng_state;
static unsigned char *good, *buf;
static off_t model_size, maxlen = 1 << 20, maxop = 1 << 16;
static int fd, use_falloc;
static off_t block_slack;
static const char *path;
static long opno;
static char oplog[LOGN][96];

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

__attribute__((format(printf, 1, 2))) static void logop(const char *fmt, ...)
{
	va_list ap;
	int k = (int)(opno % LOGN);
	int n = snprintf(oplog[k], sizeof(oplog[k]), "%6ld ", opno);

	va_start(ap, fmt);
	vsnprintf(oplog[k] + n, sizeof(oplog[k]) - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsx: last ops (size before each in the model):\n");
	for (long i = opno - LOGN + 1; i <= opno; i++)
		if (i >= 0)
			fprintf(stderr, "  %s\n", oplog[i % LOGN]);
	fprintf(stderr, "fsx: op %ld: ", opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void sysfail(const char *what)
{
	fail("%s: %s", what, strerror(errno));
}

static void check_bytes(const unsigned char *got, off_t off, size_t len, const char *how)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != good[off + (off_t)i])
			fail("%s: byte at %jd is 0x%02x, expected 0x%02x", how, (intmax_t)(off + (off_t)i),
			     got[i], good[off + (off_t)i]);
}

static void check_size(void)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		sysfail("fstat");
	if (st.st_size != model_size)
		fail("st_size %jd, expected %jd", (intmax_t)st.st_size, (intmax_t)model_size);
}

static void check_all(void)
{
	struct stat st;
	off_t nonzero = 0, pos = 0;

	if (fsync(fd) < 0)
		sysfail("fsync");
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		sysfail("posix_fadvise");
	while (pos < model_size) {
		size_t want = (size_t)(model_size - pos < maxop ? model_size - pos : maxop);
		ssize_t n = pread(fd, buf, want, pos);

		if (n < 0)
			sysfail("pread (full check)");
		if (n == 0)
			fail("full check: EOF at %jd, length %jd", (intmax_t)pos, (intmax_t)model_size);
		check_bytes(buf, pos, (size_t)n, "full check");
		pos += n;
	}
	if (pread(fd, buf, 1, model_size) != 0)
		fail("full check: a byte past the length %jd", (intmax_t)model_size);
	for (off_t p = 0; p < model_size; p += PAGE)
		for (off_t i = p; i < p + PAGE && i < model_size; i++)
			if (good[i]) {
				nonzero++;
				break;
			}
	if (fstat(fd, &st) < 0)
		sysfail("fstat");
	if (st.st_blocks < 8 * nonzero)
		fail("st_blocks %jd, but %jd pages hold data (expected >= %jd)", (intmax_t)st.st_blocks,
		     (intmax_t)nonzero, (intmax_t)(8 * nonzero));
	if (!use_falloc && st.st_blocks > 8 * ((model_size + PAGE - 1) / PAGE) + block_slack)
		fail("st_blocks %jd for length %jd: more than 8 per page", (intmax_t)st.st_blocks,
		     (intmax_t)model_size);
}

static void pick(off_t *off, off_t *len, off_t limit)
{
	*off = (off_t)(rng() % (uint64_t)limit);
	*len = 1 + (off_t)(rng() % (uint64_t)maxop);
	if (rng() % 4 == 0) { /* page-aligned ops hit the whole-page paths */
		*off &= ~(off_t)(PAGE - 1);
		*len = (*len + PAGE - 1) & ~(off_t)(PAGE - 1);
	}
	if (*off + *len > maxlen)
		*len = maxlen - *off;
	if (*len <= 0)
		*len = 1, *off = maxlen - 1;
}

static void fill(off_t len, int kind)
{
	for (off_t i = 0; i < len; i++)
		buf[i] = kind == 1 ? 0 : (unsigned char)(rng() >> 56);
	if (kind == 2 && len > 3 * PAGE) /* a zero page (and more) in the middle */
		memset(buf + PAGE, 0, (size_t)(len / 2));
}

static void grow_to(off_t end)
{
	if (end > model_size)
		model_size = end;
}

static void op_write(int kind)
{
	off_t off, len, done = 0;

	pick(&off, &len, maxlen);
	logop("write%s %jd+%jd (%jd)", kind == 1 ? "-zeros" : kind == 2 ? "-mixed" : "", (intmax_t)off,
	      (intmax_t)len, (intmax_t)model_size);
	fill(len, kind);
	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, (size_t)(len - done), off + done);

		if (n <= 0)
			sysfail("pwrite");
		done += n;
	}
	memcpy(good + off, buf, (size_t)len);
	grow_to(off + len);
}

static void op_read(void)
{
	off_t off, len, want;
	ssize_t n;

	pick(&off, &len, maxlen);
	logop("read %jd+%jd (%jd)", (intmax_t)off, (intmax_t)len, (intmax_t)model_size);
	want = off >= model_size ? 0 : (off + len > model_size ? model_size - off : len);
	n = pread(fd, buf, (size_t)len, off);
	if (n < 0)
		sysfail("pread");
	if (n != want)
		fail("pread %jd+%jd returned %zd, expected %jd", (intmax_t)off, (intmax_t)len, n, (intmax_t)want);
	check_bytes(buf, off, (size_t)n, "pread");
}

static void op_truncate(void)
{
	off_t len = (off_t)(rng() % (uint64_t)(maxlen + 1));

	logop("truncate %jd (%jd)", (intmax_t)len, (intmax_t)model_size);
	if (ftruncate(fd, len) < 0)
		sysfail("ftruncate");
	if (len < model_size)
		memset(good + len, 0, (size_t)(model_size - len));
	model_size = len;
}

static void op_mapwrite(void)
{
	off_t off, len, pg;
	unsigned char *map;

	pick(&off, &len, maxlen);
	logop("mapwrite %jd+%jd (%jd)", (intmax_t)off, (intmax_t)len, (intmax_t)model_size);
	if (off + len > model_size) {
		if (ftruncate(fd, off + len) < 0)
			sysfail("ftruncate (before mapwrite)");
		model_size = off + len;
	}
	pg = off & ~(off_t)(PAGE - 1);
	map = mmap(NULL, (size_t)(off + len - pg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (map == MAP_FAILED)
		sysfail("mmap (write)");
	fill(len, (int)(rng() % 3));
	memcpy(map + (off - pg), buf, (size_t)len);
	memcpy(good + off, buf, (size_t)len);
	if (msync(map, (size_t)(off + len - pg), MS_SYNC) < 0)
		sysfail("msync");
	if (munmap(map, (size_t)(off + len - pg)) < 0)
		sysfail("munmap");
}

static void op_mapread(void)
{
	off_t off, len, pg;
	unsigned char *map;

	if (model_size == 0)
		return;
	pick(&off, &len, model_size);
	if (off + len > model_size)
		len = model_size - off;
	logop("mapread %jd+%jd (%jd)", (intmax_t)off, (intmax_t)len, (intmax_t)model_size);
	pg = off & ~(off_t)(PAGE - 1);
	map = mmap(NULL, (size_t)(off + len - pg), PROT_READ, MAP_SHARED, fd, pg);
	if (map == MAP_FAILED)
		sysfail("mmap (read)");
	check_bytes(map + (off - pg), off, (size_t)len, "mapread");
	if (munmap(map, (size_t)(off + len - pg)) < 0)
		sysfail("munmap");
}

static void op_falloc(void)
{
	static const int modes[] = { 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE };
	static const char *names[] = { "0", "KEEP_SIZE", "PUNCH_HOLE|KEEP_SIZE", "ZERO_RANGE",
				       "ZERO_RANGE|KEEP_SIZE" };
	int m = (int)(rng() % 5);
	off_t off, len, end;

	pick(&off, &len, maxlen);
	logop("fallocate %s %jd+%jd (%jd)", names[m], (intmax_t)off, (intmax_t)len, (intmax_t)model_size);
	if (fallocate(fd, modes[m], off, len) < 0)
		sysfail("fallocate");
	if (modes[m] & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		end = off + len < model_size ? off + len : model_size;
		if (end > off)
			memset(good + off, 0, (size_t)(end - off));
	}
	if (!(modes[m] & FALLOC_FL_KEEP_SIZE))
		grow_to(off + len);
}

static void reopen(void)
{
	if (fd >= 0 && close(fd) < 0)
		sysfail("close");
	fd = open(path, O_RDWR);
	if (fd < 0)
		sysfail("open");
}

int main(int argc, char **argv)
{
	long nops = 5000;
	uint64_t seed = 1;
	int c;

	if (getenv("FSX_BLOCK_SLACK"))
		block_slack = strtoll(getenv("FSX_BLOCK_SLACK"), NULL, 0);
	while ((c = getopt(argc, argv, "FS:N:l:o:")) != -1) {
		switch (c) {
		case 'F': use_falloc = 1; break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'N': nops = strtol(optarg, NULL, 0); break;
		case 'l': maxlen = strtoll(optarg, NULL, 0); break;
		case 'o': maxop = strtoll(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || maxlen < PAGE || maxop < 1 || maxop > maxlen)
		goto usage;
	path = argv[optind];
	rng_state = seed * 0x9e3779b97f4a7c15ull | 1;
	good = calloc(1, (size_t)maxlen);
	buf = malloc((size_t)maxop);
	if (!good || !buf)
		sysfail("malloc");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		sysfail("open");

	for (opno = 0; opno < nops; opno++) {
		unsigned int r = (unsigned int)(rng() % (use_falloc ? 120 : 100));

		if (r < 22)
			op_write(0);
		else if (r < 28)
			op_write(1);
		else if (r < 34)
			op_write(2);
		else if (r < 54)
			op_read();
		else if (r < 64)
			op_truncate();
		else if (r < 77)
			op_mapwrite();
		else if (r < 90)
			op_mapread();
		else if (r < 100) {
			logop("reopen (%jd)", (intmax_t)model_size);
			reopen();
		} else
			op_falloc();
		check_size();
		if (opno % 16 == 15)
			check_all();
	}
	reopen();
	check_size();
	check_all();
	if (close(fd) < 0)
		sysfail("close");
	printf("fsx: %ld ops with seed %" PRIu64 "%s: every byte and length as the model says (final length %jd)\n",
	       nops, seed, use_falloc ? " (with fallocate)" : "", (intmax_t)model_size);
	return 0;
usage:
	fprintf(stderr, "usage: fsx [-F] [-S SEED] [-N OPS] [-l MAXLEN] [-o MAXOP] PATH\n");
	return 2;
}
