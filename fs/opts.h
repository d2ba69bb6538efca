/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_OPTS_H
#define SPARSEFS_OPTS_H

/*
 * opts: the values of sparsefs's own mount options, parsed strictly: the
 * whole string must be used, and overflow is an error, never a wrap.
 * Every parser returns 0, or -EINVAL (not a value of that kind) or -ERANGE
 * (too large), leaving *out alone on error.
 */

#include <stdint.h>
#include <sys/types.h>

/*
 * A size: bytes with an optional k/m/g/t/p/e suffix (powers of 1024, either
 * case), or N% of pct_base (N a whole number; more than 100 is allowed).
 */
int opts_parse_size(const char *s, uint64_t pct_base, uint64_t *out);

/* A count with an optional k/m/g suffix (powers of 1024), as nr_inodes= takes. */
int opts_parse_count(const char *s, uint64_t *out);

/* An octal permission mode, at most 07777. */
int opts_parse_mode(const char *s, mode_t *out);

/* A numeric uid or gid (not (uid_t)-1, which means "no change" to chown). */
int opts_parse_id(const char *s, uint32_t *out);

#endif
