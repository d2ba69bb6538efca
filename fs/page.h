/* SPDX-License-Identifier: MIT */
#ifndef SPARSEFS_PAGE_H
#define SPARSEFS_PAGE_H

/*
 * The one page size. Every count of pages in sparsefs (the page map, space
 * accounting, statfs's f_bsize, the stores' slots) is of these 4096-byte
 * pages, whatever the machine's own page size.
 */
#define SFS_PAGE_SHIFT 12
#define SFS_PAGE_SIZE (1u << SFS_PAGE_SHIFT)

#endif
