/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_KABI_H
#define SPARSEFS_KABI_H

/*
 * The parts of the kernel's FUSE protocol that libfuse 3.14 (Debian 12) cannot
 * ask for and Debian 12's <linux/fuse.h> (7.38) does not have, which the
 * daemon speaks itself (loop.c): passthrough, from Linux's
 * include/uapi/linux/fuse.h at protocol 7.40 (Linux 6.9). The layout comments
 * give each structure as 7.40 has it; what 7.38 has too (HANDLE_KILLPRIV_V2,
 * the kill bits, the request structures) comes from <linux/fuse.h>.
 */

#include <stdint.h>
#include <sys/ioctl.h>

/* fuse_init_in/out flags: the high 32 bits travel in flags2 (FUSE_INIT_EXT). */
#define KABI_PASSTHROUGH        (1ULL << 37) /* 7.40: flags2 bit 5 */

/*
 * struct fuse_init_out (7.40): major, minor, max_readahead, flags (u32 each),
 * max_background, congestion_threshold (u16), max_write, time_gran (u32),
 * max_pages, map_alignment (u16), flags2, max_stack_depth (u32), unused[6].
 */
#define KABI_INIT_OUT_FLAGS           12
#define KABI_INIT_OUT_FLAGS2          32
#define KABI_INIT_OUT_MAX_STACK_DEPTH 36
#define KABI_INIT_OUT_SIZE            64

/* struct fuse_open_out (7.40): fh (u64), open_flags (u32), backing_id (s32). */
#define KABI_OPEN_OUT_FLAGS      8
#define KABI_OPEN_OUT_BACKING_ID 12
#define KABI_OPEN_OUT_SIZE       16
/* struct fuse_entry_out, which precedes fuse_open_out in a CREATE reply */
#define KABI_ENTRY_OUT_SIZE      128

/* fuse_open_out.open_flags */
#define KABI_FOPEN_KEEP_CACHE   (1u << 1)
#define KABI_FOPEN_PASSTHROUGH  (1u << 7)

/*
 * /dev/fuse ioctls (7.40): register a file as the backing of passthrough
 * opens (returns its backing id, > 0), and drop one. Both need CAP_SYS_ADMIN.
 */
struct kabi_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define KABI_DEV_IOC_MAGIC         229
#define KABI_DEV_IOC_BACKING_OPEN  _IOW(KABI_DEV_IOC_MAGIC, 1, struct kabi_backing_map)
#define KABI_DEV_IOC_BACKING_CLOSE _IOW(KABI_DEV_IOC_MAGIC, 2, uint32_t)

#endif
