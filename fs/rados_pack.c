/* SPDX-License-Identifier: MIT */
/*
 * The RADOS store's page places (rados_pack.h): which slab object and page
 * each backed page lives in, the holes left by pages given back, and the
 * plans that zero, compact, cut and remove slab objects.
 *
 * A place is in one of four states:
 *   used     a live page, rev[] names its handle
 *   zero     given back; still holds old bytes; may be taken again at once
 *   zeroing  given back; a plan in flight zeroes it; not to be taken
 *   free     none of these: a hole below top, or nothing at or above it
 * Every used, zero and zeroing place lies below the slab's top.
 */
#include "rados_pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Moved only when the holes below a slab's last live page exceed this. */
#define WASTE_SLACK 4

static bool test(const uint64_t *w, unsigned i)
{
	return w[i / 64] >> (i % 64) & 1;
}

static void set(uint64_t *w, unsigned i)
{
	w[i / 64] |= 1ull << (i % 64);
}

static void clear(uint64_t *w, unsigned i)
{
	w[i / 64] &= ~(1ull << (i % 64));
}

static uint64_t no_of(const struct pack *pk, const struct pack_slab *s)
{
	return (uint64_t)(s - pk->slabs);
}

void pack_init(struct pack *pk)
{
	memset(pk, 0, sizeof(*pk));
	pk->nhandles = 1; /* handle 0 is no handle */
}

void pack_free_all(struct pack *pk)
{
	for (uint64_t i = 0; i < pk->nslabs; i++)
		free(pk->slabs[i].rev);
	free(pk->slabs);
	free(pk->loc);
	free(pk->free_handles);
	pack_init(pk);
}

/* One past the highest used place of s, or 0. */
static unsigned used_end(const struct pack_slab *s)
{
	for (unsigned w = PACK_WORDS; w-- > 0;)
		if (s->used[w])
			return w * 64 + 64 - (unsigned)__builtin_clzll(s->used[w]);
	return 0;
}

static bool any(const uint64_t *w)
{
	for (unsigned i = 0; i < PACK_WORDS; i++)
		if (w[i])
			return true;
	return false;
}

/* The bits of word w that lie below s's top. */
static uint64_t below(const struct pack_slab *s, unsigned w)
{
	return s->top >= w * 64 + 64 ? ~0ull : s->top <= w * 64 ? 0 : (1ull << (s->top - w * 64)) - 1;
}

/* Places below top that a page may take now: free or zero. */
static uint32_t holes(const struct pack_slab *s)
{
	uint32_t n = 0;

	for (unsigned w = 0; w < PACK_WORDS; w++)
		n += (uint32_t)__builtin_popcountll(~(s->used[w] | s->zeroing[w]) & below(s, w));
	return n;
}

/* Whether s holds enough holes below its last live page to compact. */
static bool wasteful(const struct pack_slab *s)
{
	unsigned end = used_end(s);

	return s->nused && end - s->nused > s->nused / 4 + WASTE_SLACK;
}

/* Whether a plan has anything to do to s. */
static bool has_work(const struct pack_slab *s)
{
	return any(s->zero) || (!s->nused && s->top) || (s->nused && used_end(s) < s->top) ||
	       wasteful(s);
}

static void enqueue(struct pack *pk, struct pack_slab *s)
{
	uint64_t no = no_of(pk, s);

	if (s->queued || s->busy)
		return; /* a busy one is looked at again when its plan is done */
	s->queued = true;
	s->qnext = 0;
	if (pk->qtail)
		pk->slabs[pk->qtail - 1].qnext = no + 1;
	else
		pk->qhead = no + 1;
	pk->qtail = no + 1;
}

static int grow_handles(struct pack *pk, size_t n)
{
	uint64_t need = pk->nhandles + n;

	if (pk->nfree >= n || need <= pk->loc_cap)
		return 0;
	uint64_t cap = pk->loc_cap ? pk->loc_cap : 1024;

	while (cap < need)
		cap *= 2;
	uint64_t *loc = realloc(pk->loc, cap * sizeof(*loc));

	if (!loc)
		return -ENOMEM;
	memset(loc + pk->loc_cap, 0, (cap - pk->loc_cap) * sizeof(*loc));
	pk->loc = loc;
	pk->loc_cap = cap;
	return 0;
}

static uint64_t new_handle(struct pack *pk)
{
	return pk->nfree ? pk->free_handles[--pk->nfree] : pk->nhandles++;
}

static void put_handle(struct pack *pk, uint64_t h)
{
	pk->loc[h] = 0;
	if (pk->nfree == pk->free_cap) {
		uint64_t cap = pk->free_cap ? pk->free_cap * 2 : 1024;
		uint64_t *f = realloc(pk->free_handles, cap * sizeof(*f));

		if (!f)
			return; /* the handle number is only lost */
		pk->free_handles = f;
		pk->free_cap = cap;
	}
	pk->free_handles[pk->nfree++] = h;
}

/* Slab no, made if it is one past the last; NULL on ENOMEM. */
static struct pack_slab *slab_at(struct pack *pk, uint64_t no)
{
	struct pack_slab *s;

	if (no == pk->nslabs) {
		if (pk->nslabs == pk->cap) {
			uint64_t cap = pk->cap ? pk->cap * 2 : 16;
			struct pack_slab *m = realloc(pk->slabs, cap * sizeof(*m));

			if (!m)
				return NULL;
			pk->slabs = m;
			pk->cap = cap;
		}
		memset(&pk->slabs[pk->nslabs++], 0, sizeof(struct pack_slab));
	}
	s = &pk->slabs[no];
	if (!s->rev) {
		s->rev = calloc(PACK_SLAB_PAGES, sizeof(*s->rev));
		if (!s->rev)
			return NULL;
	}
	return s;
}

static void take(struct pack *pk, struct pack_slab *s, unsigned i, uint64_t h)
{
	set(s->used, i);
	clear(s->zero, i);
	s->nused++;
	s->rev[i] = h;
	pk->loc[h] = (no_of(pk, s) << PACK_SLAB_SHIFT) + i + 1;
}

/* A hole of the lowest slab that has one (not a slab whose pages move). */
static bool take_hole(struct pack *pk, uint64_t h)
{
	for (uint64_t no = pk->hole_hint; no < pk->nslabs; no++) {
		struct pack_slab *s = &pk->slabs[no];

		if (s->moving || !holes(s)) {
			if (no == pk->hole_hint && !s->moving)
				pk->hole_hint = no + 1;
			continue;
		}
		for (unsigned w = 0; w * 64 < s->top; w++) {
			uint64_t avail = ~(s->used[w] | s->zeroing[w]) & below(s, w);

			if (avail) {
				take(pk, s, w * 64 + (unsigned)__builtin_ctzll(avail), h);
				return true;
			}
		}
	}
	return false;
}

/* The next place at the end of the open slab, opening another if need be. */
static int take_end(struct pack *pk, uint64_t h)
{
	struct pack_slab *s = pk->open < pk->nslabs ? &pk->slabs[pk->open] : NULL;

	if (!s || s->busy || s->moving || s->top == PACK_SLAB_PAGES) {
		uint64_t no = 0;

		/* The lowest empty slab, else a new one. */
		while (no < pk->nslabs && (pk->slabs[no].top || pk->slabs[no].busy ||
					   pk->slabs[no].moving))
			no++;
		s = slab_at(pk, no);
		if (!s)
			return -ENOMEM;
		pk->open = no;
	} else if (!s->rev && !slab_at(pk, pk->open)) {
		return -ENOMEM;
	}
	take(pk, s, s->top++, h);
	return 0;
}

int pack_alloc(struct pack *pk, size_t n, uint64_t *handles)
{
	size_t k;

	if (grow_handles(pk, n))
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		uint64_t h = new_handle(pk);

		handles[k] = h;
		if (!take_hole(pk, h) && take_end(pk, h)) {
			put_handle(pk, h);
			pack_release(pk, handles, k);
			return -ENOMEM;
		}
		pk->live++;
	}
	return 0;
}

void pack_release(struct pack *pk, const uint64_t *handles, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t place = pack_where(pk, handles[k]), no = place >> PACK_SLAB_SHIFT;
		struct pack_slab *s = &pk->slabs[no];
		unsigned i = (unsigned)(place & (PACK_SLAB_PAGES - 1));

		clear(s->used, i);
		set(s->zero, i);
		s->nused--;
		put_handle(pk, handles[k]);
		pk->live--;
		if (no < pk->hole_hint)
			pk->hole_hint = no;
		enqueue(pk, s);
	}
}

static struct pack_slab *dequeue(struct pack *pk)
{
	struct pack_slab *s;

	if (!pk->qhead)
		return NULL;
	s = &pk->slabs[pk->qhead - 1];
	pk->qhead = s->qnext;
	if (!pk->qhead)
		pk->qtail = 0;
	s->queued = false;
	return s;
}

/* Plans moves of s's highest live pages into its lowest holes. Returns the
 * slab's end once they are done. */
static unsigned plan_moves(struct pack *pk, struct pack_slab *s, struct pack_plan *p)
{
	uint64_t source[PACK_WORDS] = { 0 };
	unsigned lo = 0, hi = used_end(s);

	while (p->nmove < PACK_MOVE_MAX) {
		while (lo < hi && test(s->used, lo))
			lo++;
		while (hi > lo && !test(s->used, hi - 1))
			hi--;
		if (lo + 1 >= hi)
			break;
		hi--;
		p->move[p->nmove++] = (struct pack_move){ hi, lo, s->rev[hi] };
		set(source, hi);
		take(pk, s, lo, s->rev[hi]); /* the handle moves there when done */
		pk->loc[s->rev[hi]] = (no_of(pk, s) << PACK_SLAB_SHIFT) + hi + 1;
	}
	if (p->nmove)
		s->moving = true;
	/* The end once the sources are gone. */
	for (unsigned w = PACK_WORDS; w-- > 0;) {
		uint64_t left = s->used[w] & ~source[w];

		if (left)
			return w * 64 + 64 - (unsigned)__builtin_clzll(left);
	}
	return 0;
}

bool pack_plan(struct pack *pk, struct pack_plan *p)
{
	struct pack_slab *s;

	while ((s = dequeue(pk))) {
		unsigned end;

		if (s->busy)
			continue;
		p->slab = no_of(pk, s);
		p->top = s->top;
		p->nzero = p->nmove = 0;
		p->remove = !s->nused && s->top;
		end = 0;
		if (s->nused)
			end = wasteful(s) ? plan_moves(pk, s, p) : used_end(s);
		/* Holes below the end are zeroed, what lies past it is cut. */
		for (unsigned i = 0; i < end; i++) {
			if (!test(s->zero, i))
				continue;
			if (p->nzero && p->zero[p->nzero - 1].first + p->zero[p->nzero - 1].n == i)
				p->zero[p->nzero - 1].n++;
			else
				p->zero[p->nzero++] = (struct pack_extent){ i, 1 };
			set(s->zeroing, i);
		}
		memset(s->zero, 0, sizeof(s->zero));
		p->truncate = end < s->top ? end : s->top;
		if (!p->remove && !p->nmove && !p->nzero && p->truncate == p->top)
			continue;
		s->top = p->truncate;
		s->busy = true;
		if (p->slab == pk->open && p->remove)
			pk->open = pk->nslabs; /* the next append looks for a slab */
		return true;
	}
	return false;
}

void pack_done(struct pack *pk, const struct pack_plan *p, bool ok)
{
	struct pack_slab *s = &pk->slabs[p->slab];
	uint64_t base = p->slab << PACK_SLAB_SHIFT;

	for (size_t k = 0; k < p->nmove; k++) {
		const struct pack_move *m = &p->move[k];
		bool live = test(s->used, m->from) && pk->loc[m->handle] == base + m->from + 1;

		if (ok && live) {
			pk->loc[m->handle] = base + m->to + 1;
			clear(s->used, m->from);
		} else {
			/* Given back meanwhile, or not moved: the new place is a hole
			 * that may hold some bytes. */
			clear(s->used, m->to);
			set(s->zero, m->to);
		}
		s->nused--;
	}
	for (unsigned w = 0; w < PACK_WORDS; w++) {
		if (!ok)
			s->zero[w] |= s->zeroing[w];
		s->zeroing[w] = 0;
	}
	if (ok) {
		/* Places past the cut hold nothing any more. */
		for (unsigned i = p->truncate; i < PACK_SLAB_PAGES; i++)
			clear(s->zero, i);
	} else if (s->top < p->top) {
		s->top = p->top; /* the object may still extend as far */
	}
	s->busy = s->moving = false;
	if (p->slab < pk->hole_hint)
		pk->hole_hint = p->slab;
	/* After a failure, nothing is tried again until the slab changes. */
	if (ok && has_work(s))
		enqueue(pk, s);
}

uint64_t pack_extent_bytes(const struct pack *pk)
{
	uint64_t pages = 0;

	for (uint64_t i = 0; i < pk->nslabs; i++)
		pages += pk->slabs[i].top;
	return pages << 12;
}

int pack_check(const struct pack *pk)
{
	uint64_t live = 0;

	for (uint64_t no = 0; no < pk->nslabs; no++) {
		const struct pack_slab *s = &pk->slabs[no];
		uint32_t n = 0;

		for (unsigned w = 0; w < PACK_WORDS; w++) {
			if ((s->used[w] & s->zero[w]) || (s->used[w] & s->zeroing[w]) ||
			    (s->zero[w] & s->zeroing[w]))
				return -1; /* a place in two states */
			if ((s->used[w] | s->zero[w] | s->zeroing[w]) & ~below(s, w))
				return -2; /* a place past the top */
			n += (uint32_t)__builtin_popcountll(s->used[w]);
		}
		if (n != s->nused)
			return -3;
		if (s->moving)
			return -4; /* checked between plans only */
		for (unsigned i = 0; i < PACK_SLAB_PAGES; i++)
			if (test(s->used, i) && pk->loc[s->rev[i]] != (no << PACK_SLAB_SHIFT) + i + 1)
				return -5; /* the place and its handle disagree */
		live += n;
	}
	return live == pk->live ? 0 : -6;
}
