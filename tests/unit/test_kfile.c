/* SPDX-License-Identifier: MIT */
/*
 * kfile: the kernel data path's files, on both kernel stores unchanged (the
 * conformance suite of kstores): a private tmpfs of 64 MiB (needs
 * CAP_SYS_ADMIN: skipped without it) of 512 MiB and a private directory in a temporary
 * directory (/var/tmp: on the machine's disk). Creation and removal, lengths
 * to 2^63-1 (or the filesystem's largest file: EFBIG past it), fallocate in
 * every mode and all or nothing (ENOSPC past a room, EINTR from a cancel, on
 * the tmpfs's own capacity), SEEK_DATA/SEEK_HOLE and the data figure, times,
 * and a killed daemon's directory removed by the next kstore.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "kfile.h"

#define PS 4096u

static char tmpdir[64];

static int memory_setup(void **state)
{
	struct kstore *ks = kstore_memory(512u << 20);

	if (!ks) {
		print_message("# no private tmpfs (%s): skipped\n", strerror(errno));
		skip();
	}
	*state = ks;
	return 0;
}

static int disk_setup(void **state)
{
	struct kstore *ks;

	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/sparsefs-kfile.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	ks = kstore_disk(tmpdir);
	assert_non_null(ks);
	*state = ks;
	return 0;
}

static int teardown(void **state)
{
	kstore_destroy(*state);
	if (tmpdir[0]) {
		assert_ok(rmdir(tmpdir)); /* the kstore left nothing behind */
		tmpdir[0] = 0;
	}
	return 0;
}

static struct stat st_of(struct kstore *ks, uint64_t key)
{
	struct stat st;

	assert_ok(kfile_stat(ks, key, &st));
	return st;
}

static void put(struct kstore *ks, uint64_t key, uint64_t off, const void *buf, size_t n)
{
	int fd = kfile_open(ks, key, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void test_create_remove(void **state)
{
	struct kstore *ks = *state;

	assert_ok(kfile_create(ks, 7));
	assert_int_equal(kfile_create(ks, 7), -EEXIST);
	assert_int_equal(st_of(ks, 7).st_size, 0);
	assert_int_equal(st_of(ks, 7).st_blocks, 0);
	kfile_remove(ks, 7);
	assert_int_equal(kfile_open(ks, 7, O_RDONLY), -ENOENT);
	kfile_remove(ks, 7); /* twice is harmless */
}

static void test_lengths(void **state)
{
	struct kstore *ks = *state;
	int ret;

	assert_ok(kfile_create(ks, 1));
	assert_ok(kfile_truncate(ks, 1, (uint64_t)1 << 40));
	assert_int_equal(st_of(ks, 1).st_blocks, 0);
	/* The largest length: 2^63-1 where the filesystem allows it. */
	ret = kfile_truncate(ks, 1, INT64_MAX);
	if (ks->memory)
		assert_ok(ret);
	else
		assert_true(ret == 0 || ret == -EFBIG);
	assert_int_equal(kfile_truncate(ks, 1, (uint64_t)INT64_MAX + 1), -EFBIG);
	assert_ok(kfile_truncate(ks, 1, 0));
	kfile_remove(ks, 1);
}

static void test_fallocate_modes(void **state)
{
	struct kstore *ks = *state;
	char page[PS], got[3 * PS];
	uint64_t data;
	struct stat st;
	int fd;

	memset(page, 'x', sizeof(page));
	assert_ok(kfile_create(ks, 2));
	/* mode 0: reserved, length grows; reserved pages are holes to SEEK_DATA */
	assert_ok(kfile_fallocate(ks, 2, 0, 0, 4 * PS, UINT64_MAX, NULL));
	st = st_of(ks, 2);
	assert_int_equal(st.st_size, 4 * PS);
	assert_int_equal(st.st_blocks, 32);
	assert_int_equal(kfile_seek(ks, 2, 0, SEEK_DATA), -ENXIO);
	assert_ok(kfile_data_bytes(ks, 2, &st, &data));
	assert_int_equal(data, 0);
	/* KEEP_SIZE past the end */
	assert_ok(kfile_fallocate(ks, 2, FALLOC_FL_KEEP_SIZE, 4 * PS, 2 * PS, UINT64_MAX, NULL));
	st = st_of(ks, 2);
	assert_int_equal(st.st_size, 4 * PS);
	assert_int_equal(st.st_blocks, 48);
	/* data, then PUNCH_HOLE: the page goes, edges zeroed */
	put(ks, 2, 0, page, PS);
	put(ks, 2, PS, page, PS);
	put(ks, 2, 2 * PS, page, PS);
	st = st_of(ks, 2);
	assert_ok(kfile_data_bytes(ks, 2, &st, &data));
	assert_int_equal(data, 3 * PS);
	assert_int_equal(kfile_seek(ks, 2, 0, SEEK_DATA), 0);
	assert_ok(kfile_fallocate(ks, 2, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * PS,
				  UINT64_MAX, NULL));
	st = st_of(ks, 2);
	assert_int_equal(st.st_blocks, 40); /* page 1 gone */
	fd = kfile_open(ks, 2, O_RDONLY);
	assert_int_equal(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	close(fd);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], i < 100 || i >= 2 * PS + 100 ? 'x' : 0);
	/* ZERO_RANGE: zeros, every page backed, length grows (ext4 counts an extent
	 * block of its own in st_blocks too) */
	assert_ok(kfile_fallocate(ks, 2, FALLOC_FL_ZERO_RANGE, 0, 8 * PS, UINT64_MAX, NULL));
	st = st_of(ks, 2);
	assert_int_equal(st.st_size, 8 * PS);
	assert_true(st.st_blocks >= 64);
	if (ks->memory)
		assert_int_equal(st.st_blocks, 64);
	fd = kfile_open(ks, 2, O_RDONLY);
	assert_int_equal(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	close(fd);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	/* others */
	assert_int_equal(kfile_fallocate(ks, 2, FALLOC_FL_PUNCH_HOLE, 0, PS, UINT64_MAX, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(kfile_fallocate(ks, 2, FALLOC_FL_COLLAPSE_RANGE, 0, PS, UINT64_MAX, NULL),
			 -EOPNOTSUPP);
	assert_int_equal(kfile_fallocate(ks, 2, 0, INT64_MAX, PS, UINT64_MAX, NULL), -EFBIG);
	kfile_remove(ks, 2);
}

/* A fallocate that fails leaves no hole reserved and no length changed. */
static void test_fallocate_all_or_nothing(void **state)
{
	struct kstore *ks = *state;
	char page[PS];
	struct stat before, after;

	memset(page, 'y', sizeof(page));
	assert_ok(kfile_create(ks, 3));
	put(ks, 3, 5 * PS, page, PS);
	assert_ok(kfile_fallocate(ks, 3, FALLOC_FL_KEEP_SIZE, 2 * PS, PS, UINT64_MAX, NULL));
	before = st_of(ks, 3);
	/* Past a room: the range's 9 holes need more than 8 pages. */
	assert_int_equal(kfile_fallocate(ks, 3, 0, 0, 11 * PS, 8, NULL), -ENOSPC);
	after = st_of(ks, 3);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_blocks, before.st_blocks);
	/* Exactly the room: fits where the filesystem maps its holes (FIEMAP); tmpfs
	 * has no map, and a range wider than the room is refused there. */
	if (ks->self_undo) {
		assert_int_equal(kfile_fallocate(ks, 3, 0, 0, 11 * PS, 9, NULL), -ENOSPC);
		assert_ok(kfile_fallocate(ks, 3, 0, 0, 11 * PS, 11, NULL));
	} else {
		assert_ok(kfile_fallocate(ks, 3, 0, 0, 11 * PS, 9, NULL));
	}
	assert_true(st_of(ks, 3).st_blocks >= 88);
	/* Past the tmpfs's own capacity (512 MiB): its ENOSPC, undone. */
	if (ks->memory) {
		before = st_of(ks, 3);
		assert_int_equal(kfile_fallocate(ks, 3, 0, 0, 600u << 20, UINT64_MAX, NULL), -ENOSPC);
		after = st_of(ks, 3);
		assert_int_equal(after.st_size, before.st_size);
		assert_int_equal(after.st_blocks, before.st_blocks);
	}
	kfile_remove(ks, 3);
}

static bool at_once(void *arg)
{
	(void)arg;
	return true;
}

/* A cancel asked before the call gives up at once, with nothing taken. */
static void test_fallocate_cancel(void **state)
{
	struct kstore *ks = *state;
	struct kfile_cancel c = { at_once, NULL, 0, false };
	struct stat st;

	assert_ok(kfile_create(ks, 4));
	kfile_cancel_now(&c);
	assert_int_equal(kfile_fallocate(ks, 4, 0, 0, 48u << 20, UINT64_MAX, &c), -EINTR);
	st = st_of(ks, 4);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	kfile_remove(ks, 4);
}

struct canceller {
	struct kfile_cancel *c;
	unsigned ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *x = arg;

	usleep(x->ms * 1000);
	kfile_cancel_now(x->c);
	return NULL;
}

/*
 * Cancelled while the kernel allocates: undone whole. (If the machine did it
 * all before the cancel, it stands, whole: all or nothing either way.)
 */
static void test_fallocate_cancel_midway(void **state)
{
	struct kstore *ks = *state;
	struct kfile_cancel c = { NULL, NULL, 0, false };
	struct canceller x = { &c, 20 };
	pthread_t t;
	struct stat st;
	int ret;

	assert_ok(kfile_create(ks, 5));
	assert_ok(pthread_create(&t, NULL, cancel_later, &x));
	ret = kfile_fallocate(ks, 5, 0, 0, 400u << 20, UINT64_MAX, &c);
	pthread_join(t, NULL);
	st = st_of(ks, 5);
	print_message("# cancelled 20 ms in: %s\n", ret ? strerror(-ret) : "done first");
	if (ret) {
		assert_int_equal(ret, -EINTR);
		assert_int_equal(st.st_size, 0);
		assert_int_equal(st.st_blocks, 0);
	} else {
		assert_int_equal(st.st_size, 400u << 20);
		assert_true(st.st_blocks >= (400u << 20) / 512);
	}
	assert_int_equal(atomic_load(&c.helper), 0);
	kfile_remove(ks, 5);
}

static void test_times(void **state)
{
	struct kstore *ks = *state;
	struct timespec ts[2] = { { 1000, 5 }, { 2000, 7 } };
	struct stat st;

	assert_ok(kfile_create(ks, 6));
	assert_ok(kfile_utimes(ks, 6, ts));
	st = st_of(ks, 6);
	assert_int_equal(st.st_atim.tv_sec, 1000);
	assert_int_equal(st.st_mtim.tv_sec, 2000);
	assert_int_equal(st.st_mtim.tv_nsec, 7);
	kfile_remove(ks, 6);
}

/* A killed daemon's private directory: the next kstore of the same DIR removes it. */
static void test_leftovers(void **state)
{
	struct kstore *ks = *state, *other;
	char name[sizeof(ks->name)];

	if (ks->memory)
		skip(); /* a private tmpfs goes with its last descriptor */
	assert_ok(kfile_create(ks, 8));
	/* A second mount of the same DIR leaves a live one alone. */
	other = kstore_disk(tmpdir);
	assert_non_null(other);
	assert_int_equal(kfile_stat(ks, 8, &(struct stat){ 0 }), 0);
	kstore_destroy(other);
	/* As if killed: the descriptor (and its lock) gone, the directory left. */
	snprintf(name, sizeof(name), "%s", ks->name);
	ks->name[0] = 0;
	close(ks->dirfd);
	ks->dirfd = -1;
	assert_int_equal(kstore_clean(tmpdir, true), 1);
	assert_int_equal(kstore_clean(tmpdir, false), 1);
	assert_int_equal(faccessat(ks->parentfd, name, F_OK, 0), -1);
	assert_int_equal(kstore_clean(tmpdir, false), 0);
}

#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, memory_setup, teardown), \
		 cmocka_unit_test_setup_teardown(fn, disk_setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_create_remove),
		BOTH(test_lengths),
		BOTH(test_fallocate_modes),
		BOTH(test_fallocate_all_or_nothing),
		BOTH(test_fallocate_cancel),
		BOTH(test_fallocate_cancel_midway),
		BOTH(test_times),
		BOTH(test_leftovers),
	};

	return cmocka_run_group_tests_name("kfile", tests, NULL, NULL);
}
