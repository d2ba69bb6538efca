/*
 * rename2 FROM TO none|noreplace|exchange: one renameat2(2) through syscall(2).
 * Prints "0" on success, else the errno name (e.g. "EEXIST"); exit 0 either way,
 * exit 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned int flags;
	const char *name;

	if (argc != 4)
		goto usage;
	if (strcmp(argv[3], "none") == 0)
		flags = 0;
	else if (strcmp(argv[3], "noreplace") == 0)
		flags = RENAME_NOREPLACE;
	else if (strcmp(argv[3], "exchange") == 0)
		flags = RENAME_EXCHANGE;
	else
		goto usage;
	if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], flags) == 0) {
		printf("0\n");
		return 0;
	}
	name = strerrorname_np(errno);
	printf("%s\n", name ? name : "E?");
	return 0;
usage:
	fprintf(stderr, "usage: rename2 FROM TO none|noreplace|exchange\n");
	return 2;
}
