/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_DIR_H
#define SPARSEFS_DIR_H

/*
 * dir: the entries of one directory — a name hash for lookup and a cookie
 * order for readdir, so that a listing resumes at the right place however the
 * directory changes between two readdir calls.
 *
 *   buckets[hash(name) % n] -> dentry -> dentry        (lookup)
 *   order[] = {cookie 3, de} {cookie 4, NULL} {cookie 7, de} ...  (readdir)
 *
 * Every entry gets the next cookie of its directory (starting at
 * DIR_FIRST_COOKIE; 0..2 are left to the caller for the start, "." and "..").
 * Cookies only grow, so order[] stays sorted; a removed entry leaves a NULL
 * slot until more than half of them are dead and the array is compacted.
 * A listing that resumes at cookie c sees every entry that existed throughout
 * exactly once.
 *
 * Entries point at an inode they do not own. Locking: none inside; the
 * namespace lock serialises every directory.
 */

#include <stddef.h>
#include <stdint.h>

#define DIR_FIRST_COOKIE 3
#define DIR_NAME_MAX 255

struct inode;

struct dentry {
	struct dentry *hnext;  /* hash chain */
	struct inode *inode;
	uint64_t cookie;
	uint16_t len;
	char name[];           /* NUL-terminated */
};

struct dir_slot {
	uint64_t cookie;
	struct dentry *de;     /* NULL once removed */
};

struct dir {
	struct dentry **buckets;
	size_t nbuckets;       /* 0 or a power of two */
	size_t count;          /* live entries */
	struct dir_slot *order;
	size_t norder, order_cap;
	uint64_t next_cookie;
};

void dir_init(struct dir *d);

/* Frees every entry (not the inodes they point at). */
void dir_destroy(struct dir *d);

/* The entry called name (len bytes), or NULL. */
struct dentry *dir_lookup(const struct dir *d, const char *name, size_t len);

/*
 * Adds name -> inode; the name must not be there already. Returns 0 and the
 * new entry in *out (if non-NULL), -ENAMETOOLONG, or -ENOMEM with nothing changed.
 */
int dir_add(struct dir *d, const char *name, size_t len, struct inode *inode,
	    struct dentry **out);

/* Removes and frees de. */
void dir_remove(struct dir *d, struct dentry *de);

/* The first entry whose cookie is >= cookie, or NULL. */
struct dentry *dir_next(const struct dir *d, uint64_t cookie);

/* Verifies hash, order and count agree; 0, or -1 after printing what broke. */
int dir_check(const struct dir *d);

#endif
