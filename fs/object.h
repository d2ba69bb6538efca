/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_OBJECT_H
#define SPARSEFS_OBJECT_H

/*
 * object: a regular file's contents — a logical length and a sparse map of
 * 4096-byte pages, each a hole, reserved or data (see pagemap.h).
 *
 *   length  ────────────────────────────────────────────────┐ st_size
 *   pages   [data][hole ... hole][data][resv][hole]...       │
 *   blocks  8 x (data + reserved pages)                      st_blocks
 *
 * Invariants (object_check):
 *   - no data page lies at or past ceil(length / 4096) (reserved pages may:
 *     fallocate KEEP_SIZE puts them there);
 *   - every reserved page has backing (a slot), so filling it takes no space;
 *   - under the never policy, no hole lies below ceil(length / 4096);
 *   - the bytes of the last data page past length read as zeros;
 *   - every present page is charged to the space, and nothing else is.
 *
 * All functions return 0 (or a byte count) or -errno; lack of space is ENOSPC,
 * lack of memory ENOMEM. Locking: the caller holds the owning inode's lock,
 * shared for the const functions, exclusive for the others.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pagemap.h"
#include "space.h"
#include "store.h"

#define OBJECT_MAX_LENGTH ((uint64_t)INT64_MAX)

/*
 * Asked between chunks of OBJECT_CANCEL_CHUNK pages of a long reservation
 * (fallocate, or a truncate under the never policy): true means the caller
 * gave up, and the call is undone whole with -EINTR. NULL: never asked.
 */
struct kfile_cancel;
struct object_cancel {
	bool (*requested)(void *arg);
	void *arg;
	struct kfile_cancel *kernel; /* the same for the kernel path (kfile.h), or NULL */
};

#define OBJECT_CANCEL_CHUNK 4096u /* 16 MiB */

struct object {
	uint64_t length;    /* logical length in bytes, <= OBJECT_MAX_LENGTH */
	struct pagemap map; /* page -> state and the store's slot */
	struct space *space;
	struct store *store;
	uint64_t key;       /* names the file to the store (its inode number) */
};

void object_init(struct object *o, struct space *sp, struct store *st, uint64_t key);

/* Frees every page and gives its space back. The object is empty afterwards. */
void object_destroy(struct object *o);

/* st_blocks: 512-byte units held, reserved and data pages alike. */
uint64_t object_blocks(const struct object *o);

/*
 * Writes size bytes at off, extending the length to cover what was written.
 * A page of zeros written into a hole or a reserved page leaves it as it was.
 * Returns the bytes written: all of them, or fewer if space or memory ran out
 * part way (the next write then reports it); -ENOSPC / -ENOMEM if not one byte
 * could be written; -EFBIG if off is at or past the largest length.
 */
ssize_t object_write(struct object *o, const void *buf, size_t size, uint64_t off);

/*
 * The same for the kernel's write-back (mmap'd pages, -o writeback_cache),
 * which may take the overdraft (space.h). All or nothing as far as space
 * goes: size, or -ENOSPC with nothing stored, since the kernel ignores the
 * count of a write-back reply. -ENOMEM may leave part stored. On an error the
 * kernel drops the pages: the caller counts and reports it.
 */
ssize_t object_write_wb(struct object *o, const void *buf, size_t size, uint64_t off);

/* Copies up to size bytes at off into buf; returns the count (short at EOF)
 * or -EIO from the store. */
ssize_t object_read(const struct object *o, void *buf, size_t size, uint64_t off);

/* Whether the store can hand out its pages' memory (object_read_iov). */
bool object_maps(const struct object *o);

/*
 * The same bytes without copying, where object_maps: fills iov[0..*iovcnt)
 * with pointers into the pages (holes point at a shared zero buffer) and
 * returns how many bytes they cover — fewer than asked if maxiov entries were
 * not enough, which the caller must treat as "fall back to object_read", not
 * as EOF. The pointers stay valid while the caller keeps holding the inode
 * lock. Covers nothing on a store that cannot map.
 */
size_t object_read_iov(const struct object *o, size_t size, uint64_t off, struct iovec *iov,
		       int maxiov, int *iovcnt);

/*
 * Sets the length. Shrinking — or setting the same length — frees every page
 * past the end (reserved ones too, KEEP_SIZE ones included) and zeroes the tail
 * of the last partial page. Growing adds holes, or
 * under the never policy reserved pages (-ENOSPC, nothing changed, if they
 * cannot all be had); under heuristic, a length past the capacity is -EFBIG.
 * Returns 0 or -errno; -EFBIG for a length past OBJECT_MAX_LENGTH, -EINTR
 * (nothing changed) if cancel asked.
 */
int object_truncate(struct object *o, uint64_t length, const struct object_cancel *cancel);

/*
 * fallocate(2) on [off, off + len), all or nothing (DESIGN.md):
 *   0 / KEEP_SIZE          every hole becomes reserved (committed memory);
 *                          the length grows to off + len unless KEEP_SIZE
 *   PUNCH_HOLE|KEEP_SIZE   whole pages become holes (reserved, under never,
 *                          below the length); partial edges are zeroed
 *   ZERO_RANGE[|KEEP_SIZE] the range reads zeros and every page of it is
 *                          reserved or data
 * Under heuristic, a range ending past the capacity is -EFBIG (no write could
 * reach it). Returns 0, -ENOSPC, -EFBIG, -ENOMEM, -EINTR (cancel),
 * -EINVAL (len 0), -EOPNOTSUPP (other modes). On error nothing has changed.
 */
int object_fallocate(struct object *o, int mode, uint64_t off, uint64_t len,
		     const struct object_cancel *cancel);

/*
 * lseek's SEEK_DATA / SEEK_HOLE (whence) from off: the first byte >= off in
 * data, or in a hole (reserved pages are holes; so is EOF). Returns the
 * offset, -ENXIO if off is at or past the length, -EINVAL for another whence.
 */
int64_t object_seek(const struct object *o, uint64_t off, int whence);

/* Verifies the invariants above; 0, or -1 after printing what broke. */
int object_check(const struct object *o);

#endif
