/* SPDX-License-Identifier: MIT */
/*
 * opts: the option value parsers. Strict: the whole string, no wrap; on error
 * *out is left alone.
 */
#include <errno.h>
#include <unistd.h>

#include "opts.h"
#include "unit.h"

#define GiB (1ULL << 30)
#define SENTINEL 0xDEADBEEFCAFEULL

static void size_is(const char *s, uint64_t ram, uint64_t want)
{
	uint64_t v = SENTINEL;
	int ret = opts_parse_size(s, ram, &v);

	if (ret || v != want) {
		fprintf(stderr, "size \"%s\" (ram %llu): ret %d, %llu; want %llu\n", s,
			(unsigned long long)ram, ret, (unsigned long long)v,
			(unsigned long long)want);
		fail();
	}
}

static void size_err(const char *s, uint64_t ram, int err)
{
	uint64_t v = SENTINEL;
	int ret = opts_parse_size(s, ram, &v);

	if (ret != err || v != SENTINEL) {
		fprintf(stderr, "size \"%s\": ret %d, out %#llx; want %d, untouched\n", s, ret,
			(unsigned long long)v, err);
		fail();
	}
}

static void test_size(void **state)
{
	const uint64_t ram = 16 * GiB;

	(void)state;
	size_is("0", ram, 0);
	size_is("4096", ram, 4096);
	size_is("16G", ram, 16 * GiB);
	size_is("16g", ram, 16 * GiB);
	size_is("1k", ram, 1024);
	size_is("1K", ram, 1024);
	size_is("3m", ram, 3ULL << 20);
	size_is("3M", ram, 3ULL << 20);
	size_is("2t", ram, 2ULL << 40);
	size_is("2T", ram, 2ULL << 40);
	size_is("1p", ram, 1ULL << 50);
	size_is("1e", ram, 1ULL << 60);
	size_is("15E", ram, 15ULL << 60);
	size_is("007", ram, 7);
	size_is("18446744073709551615", ram, UINT64_MAX);
	size_is("16777215T", ram, 16777215ULL << 40);

	size_err("99999999999999999999", ram, -ERANGE);
	size_err("18446744073709551616", ram, -ERANGE);
	size_err("16777216T", ram, -ERANGE);
	size_err("16E", ram, -ERANGE);
	size_err("17179869184G", ram, -ERANGE);

	size_err("", ram, -EINVAL);
	size_err("12x", ram, -EINVAL);
	size_err("-1", ram, -EINVAL);
	size_err("+1", ram, -EINVAL);
	size_err("1.5G", ram, -EINVAL);
	size_err("k", ram, -EINVAL);
	size_err("G", ram, -EINVAL);
	size_err("1kk", ram, -EINVAL);
	size_err("1gb", ram, -EINVAL);
	size_err(" 1", ram, -EINVAL);
	size_err("1 ", ram, -EINVAL);
	size_err("0x10", ram, -EINVAL);
	size_err("1e3", ram, -EINVAL);
}

static void test_size_percent(void **state)
{
	const uint64_t ram = 16 * GiB;

	(void)state;
	size_is("50%", ram, 8 * GiB);
	size_is("100%", ram, ram);
	size_is("200%", ram, 32 * GiB);
	size_is("0%", ram, 0);
	size_is("25%", 1000, 250);
	size_is("33%", 100, 33);
	size_is("1%", 199, 1); /* rounds down */
	size_is("150%", ram, 24 * GiB);
	size_is("50%", 8 * GiB + 4096, 4 * GiB + 2048);

	size_err("%", ram, -EINVAL);
	size_err("-5%", ram, -EINVAL);
	size_err("5.5%", ram, -EINVAL);
	size_err("5%%", ram, -EINVAL);
	size_err("5k%", ram, -EINVAL);
	size_err("50 %", ram, -EINVAL);
	size_err("99999999999999999999%", ram, -ERANGE);
	/* Too many times the RAM is out of range, not wrapped. */
	size_err("1000000000000%", ram, -ERANGE);
}

static void count_is(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;

	assert_int_equal(opts_parse_count(s, &v), 0);
	assert_int_equal(v, want);
}

static void count_err(const char *s, int err)
{
	uint64_t v = SENTINEL;

	assert_int_equal(opts_parse_count(s, &v), err);
	assert_int_equal(v, SENTINEL);
}

static void test_count(void **state)
{
	(void)state;
	count_is("0", 0);
	count_is("1000", 1000);
	count_is("1k", 1024);
	count_is("1K", 1024);
	count_is("2m", 2ULL << 20);
	count_is("3G", 3ULL << 30);
	count_is("18446744073709551615", UINT64_MAX);
	count_err("99999999999999999999", -ERANGE);
	count_err("17179869184G", -ERANGE);
	count_err("", -EINVAL);
	count_err("1t", -EINVAL); /* counts stop at g */
	count_err("1.5k", -EINVAL);
	count_err("-1", -EINVAL);
	count_err("50%", -EINVAL);
	count_err("k", -EINVAL);
	count_err("12x", -EINVAL);
}

static void mode_is(const char *s, mode_t want)
{
	mode_t v = 0123;

	assert_int_equal(opts_parse_mode(s, &v), 0);
	assert_int_equal(v, want);
}

static void mode_err(const char *s, int err)
{
	mode_t v = 0123;

	assert_int_equal(opts_parse_mode(s, &v), err);
	assert_int_equal(v, 0123);
}

static void test_mode(void **state)
{
	(void)state;
	mode_is("1777", 01777);
	mode_is("0755", 0755);
	mode_is("755", 0755);
	mode_is("0", 0);
	mode_is("7777", 07777);
	mode_is("00000700", 0700);
	mode_err("8", -EINVAL);
	mode_err("9", -EINVAL);
	mode_err("0758", -EINVAL);
	mode_err("17777", -ERANGE);
	mode_err("77777777777777777777777777", -ERANGE);
	mode_err("", -EINVAL);
	mode_err("-1", -EINVAL);
	mode_err("0o755", -EINVAL);
	mode_err("u+rwx", -EINVAL);
	mode_err("755k", -EINVAL);
}

static void id_is(const char *s, uint32_t want)
{
	uint32_t v = 77;

	assert_int_equal(opts_parse_id(s, &v), 0);
	assert_int_equal(v, want);
}

static void id_err(const char *s, int err)
{
	uint32_t v = 77;

	assert_int_equal(opts_parse_id(s, &v), err);
	assert_int_equal(v, 77);
}

static void test_id(void **state)
{
	(void)state;
	id_is("0", 0);
	id_is("1000", 1000);
	id_is("65534", 65534);
	id_is("4294967294", 4294967294u);
	id_err("4294967295", -ERANGE); /* (uid_t)-1 means "no change" */
	id_err("4294967296", -ERANGE);
	id_err("99999999999999999999", -ERANGE);
	id_err("-1", -EINVAL);
	id_err("", -EINVAL);
	id_err("1k", -EINVAL);
	id_err("root", -EINVAL);
	id_err("10 ", -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_size_percent),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_id),
	};

	return cmocka_run_group_tests_name("opts", tests, NULL, NULL);
}
