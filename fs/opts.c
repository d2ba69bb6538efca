/* SPDX-License-Identifier: MIT */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A whole decimal (or, with base 8, octal) number filling s[0..len). */
static int parse_uint(const char *s, size_t len, unsigned base, uint64_t *out)
{
	uint64_t v = 0;

	if (!len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (d >= base)
			return -EINVAL;
		if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static int suffix_shift(char c, const char *allowed)
{
	const char *p = strchr(allowed, tolower((unsigned char)c));

	return (c && p) ? 10 * (int)(p - allowed + 1) : -1;
}

static int parse_scaled(const char *s, const char *suffixes, uint64_t *out)
{
	size_t len = strlen(s);
	int shift = len ? suffix_shift(s[len - 1], suffixes) : -1;
	uint64_t v;
	int ret;

	if (shift > 0)
		len--;
	ret = parse_uint(s, len, 10, &v);
	if (ret)
		return ret;
	if (shift > 0) {
		if (v > (UINT64_MAX >> shift))
			return -ERANGE;
		v <<= shift;
	}
	*out = v;
	return 0;
}

int opts_parse_size(const char *s, uint64_t pct_base, uint64_t *out)
{
	size_t len = strlen(s);
	uint64_t pct, v;
	int ret;

	if (len && s[len - 1] == '%') {
		ret = parse_uint(s, len - 1, 10, &pct);
		if (ret)
			return ret;
		if (!pct_base)
			return -EINVAL;
		/* pct x base / 100, as tmpfs computes it of RAM */
		if (__builtin_mul_overflow(pct_base, pct, &v))
			return -ERANGE;
		*out = v / 100;
		return 0;
	}
	return parse_scaled(s, "kmgtpe", out);
}

int opts_parse_count(const char *s, uint64_t *out)
{
	return parse_scaled(s, "kmg", out);
}

int opts_parse_mode(const char *s, mode_t *out)
{
	uint64_t v;
	int ret = parse_uint(s, strlen(s), 8, &v);

	if (ret)
		return ret;
	if (v > 07777)
		return -ERANGE;
	*out = (mode_t)v;
	return 0;
}

int opts_parse_id(const char *s, uint32_t *out)
{
	uint64_t v;
	int ret = parse_uint(s, strlen(s), 10, &v);

	if (ret)
		return ret;
	if (v >= UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}
