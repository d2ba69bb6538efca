/* SPDX-License-Identifier: MIT */
/* Shared test support: allocation failure injection and a fake backing (unit.h). */
#include "unit.h"

static long countdown = -1; /* allocations to let through before one fails */
static bool fired;

void failalloc_nth(long n)
{
	countdown = n;
	fired = false;
}

bool failalloc_fired(void)
{
	return fired;
}

void failalloc_off(void)
{
	countdown = -1;
}

static bool should_fail(void)
{
	if (countdown < 0)
		return false;
	if (countdown-- > 0)
		return false;
	fired = true;
	return true;
}

void *__wrap_malloc(size_t size)
{
	return should_fail() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return should_fail() ? NULL : __real_realloc(p, size);
}

uint64_t unit_backing(void *arg)
{
	return *(const uint64_t *)arg;
}
