/* SPDX-License-Identifier: MIT */
#include "dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_name(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void dir_init(struct dir *d)
{
	memset(d, 0, sizeof(*d));
	d->next_cookie = DIR_FIRST_COOKIE;
}

void dir_destroy(struct dir *d)
{
	for (size_t i = 0; i < d->norder; i++)
		free(d->order[i].de);
	free(d->order);
	free(d->buckets);
	dir_init(d);
}

struct dentry *dir_lookup(const struct dir *d, const char *name, size_t len)
{
	struct dentry *de;

	if (!d->nbuckets)
		return NULL;
	de = d->buckets[hash_name(name, len) & (d->nbuckets - 1)];
	for (; de; de = de->hnext)
		if (de->len == len && memcmp(de->name, name, len) == 0)
			return de;
	return NULL;
}

/* Doubles the hash table; on failure the old one serves on, only slower. */
static void rehash(struct dir *d)
{
	size_t n = d->nbuckets ? d->nbuckets * 2 : 8;
	struct dentry **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct dentry *de = d->buckets[i], *next;

		for (; de; de = next) {
			size_t k = hash_name(de->name, de->len) & (n - 1);

			next = de->hnext;
			de->hnext = b[k];
			b[k] = de;
		}
	}
	free(d->buckets);
	d->buckets = b;
	d->nbuckets = n;
}

/* Squeezes out removed slots, keeping cookie order. */
static void compact(struct dir *d)
{
	size_t live = 0;

	for (size_t i = 0; i < d->norder; i++)
		if (d->order[i].de)
			d->order[live++] = d->order[i];
	d->norder = live;
}

int dir_add(struct dir *d, const char *name, size_t len, struct inode *inode,
	    struct dentry **out)
{
	struct dentry *de;
	size_t k;

	if (len > DIR_NAME_MAX)
		return -ENAMETOOLONG;
	if (d->norder == d->order_cap && d->count < d->norder / 2)
		compact(d);
	if (d->norder == d->order_cap) {
		size_t cap = d->order_cap ? d->order_cap * 2 : 8;
		struct dir_slot *order = realloc(d->order, cap * sizeof(*order));

		if (!order)
			return -ENOMEM;
		d->order = order;
		d->order_cap = cap;
	}
	de = malloc(sizeof(*de) + len + 1);
	if (!de)
		return -ENOMEM;
	memcpy(de->name, name, len);
	de->name[len] = '\0';
	de->len = (uint16_t)len;
	de->inode = inode;
	de->cookie = d->next_cookie++;

	if (d->count >= d->nbuckets)
		rehash(d);
	if (!d->nbuckets) {
		free(de);
		return -ENOMEM;
	}
	k = hash_name(name, len) & (d->nbuckets - 1);
	de->hnext = d->buckets[k];
	d->buckets[k] = de;
	d->order[d->norder].cookie = de->cookie;
	d->order[d->norder].de = de;
	d->norder++;
	d->count++;
	if (out)
		*out = de;
	return 0;
}

/* Index of the first slot whose cookie is >= cookie. */
static size_t slot_at(const struct dir *d, uint64_t cookie)
{
	size_t lo = 0, hi = d->norder;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->order[mid].cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void dir_remove(struct dir *d, struct dentry *de)
{
	struct dentry **pp = &d->buckets[hash_name(de->name, de->len) & (d->nbuckets - 1)];
	size_t i = slot_at(d, de->cookie);

	while (*pp != de)
		pp = &(*pp)->hnext;
	*pp = de->hnext;
	d->order[i].de = NULL;
	d->count--;
	free(de);
	if (d->count == 0)
		d->norder = 0; /* every slot is dead: start over */
}

struct dentry *dir_next(const struct dir *d, uint64_t cookie)
{
	for (size_t i = slot_at(d, cookie); i < d->norder; i++)
		if (d->order[i].de)
			return d->order[i].de;
	return NULL;
}

int dir_check(const struct dir *d)
{
	size_t live = 0, hashed = 0;

	for (size_t i = 0; i < d->norder; i++) {
		const struct dentry *de = d->order[i].de;

		if (i && d->order[i - 1].cookie >= d->order[i].cookie) {
			fprintf(stderr, "dir: cookies out of order at slot %zu\n", i);
			return -1;
		}
		if (!de)
			continue;
		live++;
		if (de->cookie != d->order[i].cookie || de->cookie >= d->next_cookie ||
		    dir_lookup(d, de->name, de->len) != de) {
			fprintf(stderr, "dir: entry '%s' not where it belongs\n", de->name);
			return -1;
		}
	}
	for (size_t i = 0; i < d->nbuckets; i++)
		for (const struct dentry *de = d->buckets[i]; de; de = de->hnext)
			hashed++;
	if (live != d->count || hashed != d->count) {
		fprintf(stderr, "dir: count %zu, %zu in order, %zu hashed\n", d->count, live,
			hashed);
		return -1;
	}
	return 0;
}
