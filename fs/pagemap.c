/* SPDX-License-Identifier: MIT */
#include "pagemap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FANOUT_SHIFT 6
#define FANOUT 64u
#define LOW_MASK (FANOUT - 1)
/* Leaf keys are page >> 6; the largest needs this many interior levels. */
#define MAX_HEIGHT 8

/* Both kinds begin with their slot capacity, so one resizer serves both. */
struct pm_node {
	uint32_t cap;  /* slots allocated */
	uint64_t map;  /* bit i: child i present, stored at slot[rank(map, i)] */
	void *slot[];
};

struct pm_leaf {
	uint32_t cap;  /* page[] entries allocated */
	uint64_t data; /* bit i: page i holds data */
	uint64_t resv; /* bit i: page i is reserved */
	void *page[];  /* one per bit of data | resv, in bit order */
};

static inline uint64_t bit(unsigned i)
{
	return 1ULL << i;
}

static inline unsigned rank(uint64_t map, unsigned i)
{
	return (unsigned)__builtin_popcountll(map & (bit(i) - 1));
}

static inline uint64_t reach(unsigned height)
{
	return 1ULL << (FANOUT_SHIFT * height);
}

static inline unsigned child_index(uint64_t key, unsigned level)
{
	return (unsigned)(key >> (FANOUT_SHIFT * (level - 1))) & LOW_MASK;
}

static unsigned height_for(uint64_t key)
{
	unsigned h = 0;

	while (key >= reach(h))
		h++;
	return h;
}

static uint64_t leaf_bits(const struct pm_leaf *leaf, unsigned mask)
{
	return ((mask & PM_DATA) ? leaf->data : 0) | ((mask & PM_RESERVED) ? leaf->resv : 0);
}

void pagemap_init(struct pagemap *pm)
{
	memset(pm, 0, sizeof(*pm));
}

static void free_subtree(void *n, unsigned level, void (*free_page)(void *, void *),
			 void *arg)
{
	if (level == 0) {
		struct pm_leaf *leaf = n;
		unsigned count = (unsigned)__builtin_popcountll(leaf->data | leaf->resv);

		for (unsigned i = 0; free_page && i < count; i++)
			if (leaf->page[i])
				free_page(leaf->page[i], arg);
		free(leaf);
		return;
	}
	struct pm_node *node = n;
	unsigned count = (unsigned)__builtin_popcountll(node->map);

	for (unsigned i = 0; i < count; i++)
		free_subtree(node->slot[i], level - 1, free_page, arg);
	free(node);
}

void pagemap_destroy(struct pagemap *pm, void (*free_page)(void *page, void *arg), void *arg)
{
	if (pm->root)
		free_subtree(pm->root, pm->height, free_page, arg);
	pagemap_init(pm);
}

static struct pm_leaf *find_leaf(const struct pagemap *pm, uint64_t key)
{
	void *n = pm->root;

	if (!n || key >= reach(pm->height))
		return NULL;
	for (unsigned level = pm->height; level > 0; level--) {
		const struct pm_node *node = n;
		unsigned i = child_index(key, level);

		if (!(node->map & bit(i)))
			return NULL;
		n = node->slot[rank(node->map, i)];
	}
	return n;
}

enum pm_state pagemap_get(const struct pagemap *pm, uint64_t idx, void **page)
{
	const struct pm_leaf *leaf = find_leaf(pm, idx >> FANOUT_SHIFT);
	unsigned i = idx & LOW_MASK;
	uint64_t present;

	if (page)
		*page = NULL;
	if (!leaf)
		return PM_HOLE;
	present = leaf->data | leaf->resv;
	if (!(present & bit(i)))
		return PM_HOLE;
	if (page)
		*page = leaf->page[rank(present, i)];
	return (leaf->data & bit(i)) ? PM_DATA : PM_RESERVED;
}

static void count_state(struct pagemap *pm, enum pm_state state, int delta)
{
	if (state == PM_DATA)
		pm->nr_data += (uint64_t)(int64_t)delta;
	else if (state == PM_RESERVED)
		pm->nr_reserved += (uint64_t)(int64_t)delta;
}

static void leaf_mark(struct pm_leaf *leaf, unsigned i, enum pm_state state)
{
	leaf->data &= ~bit(i);
	leaf->resv &= ~bit(i);
	if (state == PM_DATA)
		leaf->data |= bit(i);
	else
		leaf->resv |= bit(i);
}

/* A new leaf holding one page, under a chain of `levels` single-child nodes. */
static void *build_chain(unsigned levels, uint64_t idx, enum pm_state state, void *page)
{
	uint64_t key = idx >> FANOUT_SHIFT;
	struct pm_leaf *leaf = malloc(sizeof(*leaf) + sizeof(void *));
	void *below;

	if (!leaf)
		return NULL;
	leaf->data = leaf->resv = 0;
	leaf->cap = 1;
	leaf->page[0] = page;
	leaf_mark(leaf, idx & LOW_MASK, state);
	below = leaf;
	for (unsigned level = 1; level <= levels; level++) {
		struct pm_node *node = malloc(sizeof(*node) + sizeof(void *));

		if (!node) {
			free_subtree(below, level - 1, NULL, NULL);
			return NULL;
		}
		node->map = bit(child_index(key, level));
		node->cap = 1;
		node->slot[0] = below;
		below = node;
	}
	return below;
}

/* Resizes n (a node or leaf of `header` bytes) to `cap` slots; NULL if that failed. */
static void *resize(void *n, size_t header, uint32_t cap)
{
	void *moved = realloc(n, header + cap * sizeof(void *));

	if (moved)
		*(uint32_t *)moved = cap;
	return moved;
}

/* Room for one more slot: the (maybe moved) block, or NULL leaving it intact. */
static void *grow(void *n, size_t header, unsigned used)
{
	uint32_t cap = *(uint32_t *)n;

	if (used < cap)
		return n;
	return resize(n, header, used ? (used * 2 < FANOUT ? used * 2 : FANOUT) : 1);
}

/* Gives back slot memory once a block is mostly empty; failure just keeps it. */
static void *shrink(void *n, size_t header, unsigned used)
{
	uint32_t cap = *(uint32_t *)n;
	void *moved;

	if (used == 0 || used * 4 > cap)
		return n;
	moved = resize(n, header, used * 2);
	return moved ? moved : n;
}

static void slot_insert(void **slots, unsigned used, unsigned at, void *item)
{
	memmove(&slots[at + 1], &slots[at], (used - at) * sizeof(void *));
	slots[at] = item;
}

static void slot_remove(void **slots, unsigned used, unsigned at)
{
	memmove(&slots[at], &slots[at + 1], (used - at - 1) * sizeof(void *));
}

static int set_present(struct pagemap *pm, uint64_t idx, enum pm_state state, void *page,
		       void **old)
{
	uint64_t key = idx >> FANOUT_SHIFT;
	void **link = &pm->root;

	if (!pm->root) {
		unsigned h = height_for(key);
		void *chain = build_chain(h, idx, state, page);

		if (!chain)
			return -ENOMEM;
		pm->root = chain;
		pm->height = h;
		count_state(pm, state, 1);
		return 0;
	}
	while (key >= reach(pm->height)) {
		struct pm_node *top = malloc(sizeof(*top) + sizeof(void *));

		if (!top)
			return -ENOMEM; /* taller but equivalent: still a valid map */
		top->map = bit(0);
		top->cap = 1;
		top->slot[0] = pm->root;
		pm->root = top;
		pm->height++;
	}
	for (unsigned level = pm->height; level > 0; level--) {
		struct pm_node *node = *link;
		unsigned i = child_index(key, level);

		if (!(node->map & bit(i))) {
			unsigned used = (unsigned)__builtin_popcountll(node->map);
			void *chain = build_chain(level - 1, idx, state, page);
			struct pm_node *moved;

			if (!chain)
				return -ENOMEM;
			moved = grow(node, sizeof(*node), used);
			if (!moved) {
				free_subtree(chain, level - 1, NULL, NULL);
				return -ENOMEM;
			}
			*link = node = moved;
			slot_insert(node->slot, used, rank(node->map, i), chain);
			node->map |= bit(i);
			count_state(pm, state, 1);
			return 0;
		}
		link = &node->slot[rank(node->map, i)];
	}

	struct pm_leaf *leaf = *link;
	unsigned i = idx & LOW_MASK;
	uint64_t present = leaf->data | leaf->resv;
	unsigned at = rank(present, i);

	if (present & bit(i)) {
		enum pm_state was = (leaf->data & bit(i)) ? PM_DATA : PM_RESERVED;

		*old = leaf->page[at];
		leaf->page[at] = page;
		leaf_mark(leaf, i, state);
		count_state(pm, was, -1);
		count_state(pm, state, 1);
		return 0;
	}
	unsigned used = (unsigned)__builtin_popcountll(present);
	struct pm_leaf *moved = grow(leaf, sizeof(*leaf), used);

	if (!moved)
		return -ENOMEM;
	*link = leaf = moved;
	slot_insert(leaf->page, used, at, page);
	leaf_mark(leaf, i, state);
	count_state(pm, state, 1);
	return 0;
}

static void set_hole(struct pagemap *pm, uint64_t idx, void **old)
{
	uint64_t key = idx >> FANOUT_SHIFT;
	void **links[MAX_HEIGHT + 1]; /* links[level] points at the node of that level */
	void **link = &pm->root;

	if (!pm->root || key >= reach(pm->height))
		return;
	for (unsigned level = pm->height; level > 0; level--) {
		struct pm_node *node = *link;
		unsigned i = child_index(key, level);

		links[level] = link;
		if (!(node->map & bit(i)))
			return;
		link = &node->slot[rank(node->map, i)];
	}
	links[0] = link;

	struct pm_leaf *leaf = *link;
	unsigned i = idx & LOW_MASK;
	uint64_t present = leaf->data | leaf->resv;
	unsigned used = (unsigned)__builtin_popcountll(present);

	if (!(present & bit(i)))
		return;
	*old = leaf->page[rank(present, i)];
	count_state(pm, (leaf->data & bit(i)) ? PM_DATA : PM_RESERVED, -1);
	slot_remove(leaf->page, used, rank(present, i));
	leaf->data &= ~bit(i);
	leaf->resv &= ~bit(i);
	if (used > 1) {
		*link = shrink(leaf, sizeof(*leaf), used - 1);
		return;
	}
	free(leaf);

	/* The leaf is gone: unlink it, and every node it leaves empty. */
	for (unsigned level = 1; level <= pm->height; level++) {
		struct pm_node *node = *links[level];
		unsigned ci = child_index(key, level);

		used = (unsigned)__builtin_popcountll(node->map);
		slot_remove(node->slot, used, rank(node->map, ci));
		node->map &= ~bit(ci);
		if (used > 1) {
			*links[level] = shrink(node, sizeof(*node), used - 1);
			return;
		}
		free(node);
	}
	pm->root = NULL;
	pm->height = 0;
}

int pagemap_set(struct pagemap *pm, uint64_t idx, enum pm_state state, void *page, void **old)
{
	void *dummy;

	if (!old)
		old = &dummy;
	*old = NULL;
	if (idx > PAGEMAP_MAX_INDEX)
		return -EINVAL;
	switch (state) {
	case PM_HOLE:
		if (page)
			return -EINVAL;
		set_hole(pm, idx, old);
		return 0;
	case PM_DATA:
		if (!page)
			return -EINVAL;
		return set_present(pm, idx, state, page, old);
	case PM_RESERVED:
		return set_present(pm, idx, state, page, old);
	}
	return -EINVAL;
}

/* The first page >= from with a state in mask, in the subtree n at `level` whose
 * first leaf key is base. */
static bool find_in(const void *n, unsigned level, uint64_t base, uint64_t from, unsigned mask,
		    uint64_t *out)
{
	if (level == 0) {
		uint64_t first = base << FANOUT_SHIFT;
		uint64_t bits = leaf_bits(n, mask);

		if (from > first)
			bits &= ~0ULL << (from - first);
		if (!bits)
			return false;
		*out = first + (unsigned)__builtin_ctzll(bits);
		return true;
	}

	const struct pm_node *node = n;
	unsigned shift = FANOUT_SHIFT * (level - 1);
	uint64_t from_key = from >> FANOUT_SHIFT;
	uint64_t map = node->map;

	if (from_key > base)
		map &= ~0ULL << ((from_key - base) >> shift);
	while (map) {
		unsigned i = (unsigned)__builtin_ctzll(map);
		const void *child = node->slot[rank(node->map, i)];

		if (find_in(child, level - 1, base + ((uint64_t)i << shift), from, mask, out))
			return true;
		map &= map - 1;
	}
	return false;
}

bool pagemap_find(const struct pagemap *pm, uint64_t from, unsigned mask, uint64_t *idx)
{
	if (!pm->root || from > PAGEMAP_MAX_INDEX || (from >> FANOUT_SHIFT) >= reach(pm->height))
		return false;
	return find_in(pm->root, pm->height, 0, from, mask, idx);
}

uint64_t pagemap_find_not(const struct pagemap *pm, uint64_t from, unsigned mask)
{
	uint64_t p = from;

	while (p <= PAGEMAP_MAX_INDEX) {
		const struct pm_leaf *leaf = find_leaf(pm, p >> FANOUT_SHIFT);
		uint64_t free_bits;

		if (!leaf)
			return p;
		free_bits = ~leaf_bits(leaf, mask) & (~0ULL << (p & LOW_MASK));
		if (free_bits)
			return (p & ~(uint64_t)LOW_MASK) + (unsigned)__builtin_ctzll(free_bits);
		p = (p | LOW_MASK) + 1;
	}
	return p;
}

static uint64_t overhead_of(const void *n, unsigned level)
{
	if (level == 0) {
		const struct pm_leaf *leaf = n;

		return sizeof(*leaf) + leaf->cap * sizeof(void *);
	}
	const struct pm_node *node = n;
	uint64_t sum = sizeof(*node) + node->cap * sizeof(void *);
	unsigned count = (unsigned)__builtin_popcountll(node->map);

	for (unsigned i = 0; i < count; i++)
		sum += overhead_of(node->slot[i], level - 1);
	return sum;
}

uint64_t pagemap_overhead(const struct pagemap *pm)
{
	return pm->root ? overhead_of(pm->root, pm->height) : 0;
}

struct check_totals {
	uint64_t data, resv;
};

static int check_in(const void *n, unsigned level, uint64_t base, struct check_totals *t)
{
	if (level == 0) {
		const struct pm_leaf *leaf = n;
		uint64_t present = leaf->data | leaf->resv;
		unsigned count = (unsigned)__builtin_popcountll(present);

		if (leaf->data & leaf->resv) {
			fprintf(stderr, "pagemap: leaf %#llx has pages both data and reserved\n",
				(unsigned long long)base);
			return -1;
		}
		if (!present || count > leaf->cap) {
			fprintf(stderr, "pagemap: leaf %#llx empty or over capacity\n",
				(unsigned long long)base);
			return -1;
		}
		for (unsigned i = 0; i < FANOUT; i++) {
			if ((leaf->data & bit(i)) && !leaf->page[rank(present, i)]) {
				fprintf(stderr, "pagemap: data page %#llx has no memory\n",
					(unsigned long long)((base << FANOUT_SHIFT) + i));
				return -1;
			}
		}
		t->data += (uint64_t)__builtin_popcountll(leaf->data);
		t->resv += (uint64_t)__builtin_popcountll(leaf->resv);
		return 0;
	}
	const struct pm_node *node = n;
	unsigned shift = FANOUT_SHIFT * (level - 1);
	uint64_t map = node->map;

	if (!map || (unsigned)__builtin_popcountll(map) > node->cap) {
		fprintf(stderr, "pagemap: node at level %u empty or over capacity\n", level);
		return -1;
	}
	while (map) {
		unsigned i = (unsigned)__builtin_ctzll(map);

		if (check_in(node->slot[rank(node->map, i)], level - 1,
			     base + ((uint64_t)i << shift), t))
			return -1;
		map &= map - 1;
	}
	return 0;
}

int pagemap_check(const struct pagemap *pm)
{
	struct check_totals t = { 0, 0 };

	if (!pm->root) {
		if (pm->height || pm->nr_data || pm->nr_reserved) {
			fprintf(stderr, "pagemap: empty map with height or counts\n");
			return -1;
		}
		return 0;
	}
	if (pm->height > MAX_HEIGHT) {
		fprintf(stderr, "pagemap: height %u too large\n", pm->height);
		return -1;
	}
	if (check_in(pm->root, pm->height, 0, &t))
		return -1;
	if (t.data != pm->nr_data || t.resv != pm->nr_reserved) {
		fprintf(stderr, "pagemap: counts %llu/%llu but bits %llu/%llu\n",
			(unsigned long long)pm->nr_data, (unsigned long long)pm->nr_reserved,
			(unsigned long long)t.data, (unsigned long long)t.resv);
		return -1;
	}
	return 0;
}
