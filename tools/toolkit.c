/* SPDX-License-Identifier: MIT */
#include "toolkit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

void tk_human(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "KMGTPE";
	double d = (double)v;
	int u = -1;

	if (v < 1024) {
		snprintf(buf, len, "%" PRIu64, v);
		return;
	}
	while (d >= 1024.0 && u < 5) {
		d /= 1024.0;
		u++;
	}
	/* 1023.96 would print as "1024.0": carry it into the next unit */
	if (d >= 1023.95 && u < 5) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f%c", d, units[u]);
}

void tk_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

int tk_finish_stdout(const char *prog, int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		return 1;
	}
	return rc;
}

int tk_xattr_text(int fd, const char *path, const char *name, char *buf, size_t len)
{
	char full[64];
	ssize_t n;

	snprintf(full, sizeof(full), "user.sparsefs.%s", name);
	n = fd >= 0 ? fgetxattr(fd, full, buf, len - 1) : getxattr(path, full, buf, len - 1);
	if (n < 0) {
		if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP)
			return 0;
		return -errno;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n > 0 ? (int)n : -EBADMSG;
}

int tk_xattr_u64(int fd, const char *path, const char *name, uint64_t *v)
{
	char buf[32], *end;
	int r = tk_xattr_text(fd, path, name, buf, sizeof(buf));

	if (r <= 0)
		return r;
	if (buf[0] < '0' || buf[0] > '9')
		return -EBADMSG;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno || *end ? -EBADMSG : 1;
}
