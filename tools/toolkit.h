/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_TOOLKIT_H
#define SPARSEFS_TOOLKIT_H

/* What the tools print alike: sizes for people, strings for JSON, the end of output. */

#include <stddef.h>
#include <stdint.h>

/* v bytes as "512", "4.0K", "238.4T": one decimal, powers of 1024, into buf. */
void tk_human(char *buf, size_t len, uint64_t v);

/*
 * Ends a tool's output: rc, or 1 after one line "PROG: write error: ..." if
 * stdout could not be written (a full disk, a closed pipe).
 */
int tk_finish_stdout(const char *prog, int rc);

/*
 * The one reader of sparsefs's figures: user.sparsefs.NAME of fd (or of path
 * when fd < 0) as text into buf, a final newline dropped. Returns its length,
 * 0 when absent (not a sparsefs file or root), -errno otherwise (-EBADMSG for
 * an empty value).
 */
int tk_xattr_text(int fd, const char *path, const char *name, char *buf, size_t len);

/* The same, as a decimal number: 1 and *v, 0 when absent, -errno (-EBADMSG: not a number). */
int tk_xattr_u64(int fd, const char *path, const char *name, uint64_t *v);

/* s as a JSON string literal on stdout (quotes, backslashes, control bytes escaped). */
void tk_json_string(const char *s);

#endif
