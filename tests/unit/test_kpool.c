/* SPDX-License-Identifier: MIT */
/*
 * kpool: kernel files made ahead, on both kernel stores (a private tmpfs,
 * skipped without CAP_SYS_ADMIN, and a private directory in /var/tmp), with a
 * registration that counts what it is given instead of the kernel's. A taken
 * file is empty, open for writing, registered, named by its own inode number;
 * the pool refills after takes; kpool_stamp sets its times; a refused
 * registration leaves nothing behind; kpool_stop drops exactly the files not
 * taken.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "inode.h"
#include "kfile.h"
#include "kpool.h"

#define MAX_IDS 4096

struct fake_kernel {
	bool refuse;                   /* every registration fails */
	atomic_int next;               /* ids handed out: 1..next */
	atomic_bool live[MAX_IDS + 1]; /* registered and not dropped */
};

/* Called on the pool's thread too, where a cmocka assertion cannot unwind:
 * a broken promise aborts the test. */
static int32_t fake_reg(int fd, void *arg)
{
	struct fake_kernel *k = arg;
	int id;

	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		abort(); /* registered files are open for reading and writing */
	if (k->refuse)
		return -EPERM;
	id = atomic_fetch_add(&k->next, 1) + 1;
	if (id > MAX_IDS)
		abort();
	atomic_store(&k->live[id], true);
	return id;
}

static void fake_unreg(int32_t id, void *arg)
{
	struct fake_kernel *k = arg;

	if (id <= 0 || id > MAX_IDS || !atomic_exchange(&k->live[id], false))
		abort(); /* an id never given, or dropped twice */
}

static int live_ids(struct fake_kernel *k)
{
	int n = 0;

	for (int i = 1; i <= MAX_IDS; i++)
		n += atomic_load(&k->live[i]);
	return n;
}

static char tmpdir[64];

struct fixture {
	struct kstore *ks;
	struct sfs fs;
	struct fake_kernel k;
};

static int setup(void **state, struct kstore *ks)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ks = ks;
	f->fs.kstore = ks;
	atomic_init(&f->fs.next_ino, 100);
	*state = f;
	return 0;
}

static int memory_setup(void **state)
{
	struct kstore *ks = kstore_memory(64u << 20);

	if (!ks) {
		print_message("# no private tmpfs (%s): skipped\n", strerror(errno));
		skip();
	}
	return setup(state, ks);
}

static int disk_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/sparsefs-kpool.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return setup(state, kstore_disk(tmpdir));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kstore_destroy(f->ks);
	if (tmpdir[0]) {
		assert_ok(rmdir(tmpdir));
		tmpdir[0] = 0;
	}
	free(f);
	return 0;
}

/* The kernel files in the kstore. */
static int files(struct kstore *ks)
{
	int fd = openat(ks->dirfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A take, waiting up to 2 s for the thread to make one. */
static bool take(struct kpool *p, struct kpool_file *out)
{
	for (int i = 0; i < 200; i++) {
		if (kpool_take(p, out))
			return true;
		usleep(10000);
	}
	return false;
}

static void test_take_refill_stop(void **state)
{
	struct fixture *f = *state;
	struct kpool *p = kpool_start(&f->fs, fake_reg, fake_unreg, &f->k);
	static struct kpool_file got[200];
	struct stat st;
	int n = 200;

	assert_non_null(p);
	/* More than the pool holds: it refills while they are taken. */
	for (int i = 0; i < n; i++) {
		assert_true(take(p, &got[i]));
		assert_true(got[i].id > 0);
		assert_true(atomic_load(&f->k.live[got[i].id]));
		for (int j = 0; j < i; j++) {
			assert_true(got[j].ino != got[i].ino);
			assert_true(got[j].id != got[i].id);
		}
		/* Named by its inode number, empty, open for writing. */
		assert_ok(kfile_stat(f->ks, got[i].ino, &st));
		assert_int_equal(st.st_size, 0);
		assert_ok(fstat(got[i].fd, &st));
		assert_int_equal(st.st_size, 0);
		assert_int_equal(pwrite(got[i].fd, "x", 1, 0), 1);
		assert_ok(kfile_stat(f->ks, got[i].ino, &st));
		assert_int_equal(st.st_size, 1);
	}
	/* Inode numbers come from the filesystem's counter, past every one taken. */
	for (int i = 0; i < n; i++)
		assert_true(got[i].ino >= 100 && got[i].ino < atomic_load(&f->fs.next_ino));
	usleep(200000); /* the thread refills meanwhile */
	kpool_stop(p);
	/* Every file not taken went, unregistered; the taken ones are the takers'. */
	assert_int_equal(files(f->ks), n);
	assert_int_equal(live_ids(&f->k), n);
	for (int i = 0; i < n; i++) {
		fake_unreg(got[i].id, &f->k);
		close(got[i].fd);
		kfile_remove(f->ks, got[i].ino);
	}
	assert_int_equal(files(f->ks), 0);
}

static void test_stamp(void **state)
{
	struct fixture *f = *state;
	struct kpool *p = kpool_start(&f->fs, fake_reg, fake_unreg, &f->k);
	struct kpool_file k;
	struct timespec before, made;
	struct stat st;

	assert_non_null(p);
	assert_true(take(p, &k));
	usleep(20000); /* made before now: the stamp must move its times */
	clock_gettime(CLOCK_REALTIME, &before);
	assert_ok(kpool_stamp(&k, &made));
	assert_true(made.tv_sec > before.tv_sec ||
		    (made.tv_sec == before.tv_sec && made.tv_nsec >= before.tv_nsec));
	assert_ok(fstat(k.fd, &st));
	assert_int_equal(st.st_mtim.tv_sec, made.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, made.tv_nsec);
	assert_int_equal(st.st_atim.tv_sec, made.tv_sec);
	assert_int_equal(st.st_atim.tv_nsec, made.tv_nsec);
	fake_unreg(k.id, &f->k);
	close(k.fd);
	kfile_remove(f->ks, k.ino);
	kpool_stop(p);
	assert_int_equal(live_ids(&f->k), 0);
	assert_int_equal(files(f->ks), 0);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct kpool *p;
	struct kpool_file k;

	f->k.refuse = true;
	p = kpool_start(&f->fs, fake_reg, fake_unreg, &f->k);
	assert_non_null(p);
	usleep(100000);
	assert_false(kpool_take(p, &k));
	usleep(100000); /* the take asked again: refused again */
	assert_false(kpool_take(p, &k));
	assert_int_equal(files(f->ks), 0);
	kpool_stop(p);
	assert_int_equal(files(f->ks), 0);
	assert_int_equal(live_ids(&f->k), 0);
}

#define BOTH(fn) cmocka_unit_test_setup_teardown(fn, memory_setup, teardown), \
		 cmocka_unit_test_setup_teardown(fn, disk_setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_take_refill_stop),
		BOTH(test_stamp),
		BOTH(test_refused),
	};

	return cmocka_run_group_tests_name("kpool", tests, NULL, NULL);
}
