/*
 * keyindex: linear probing over a power of two of places, at least twice
 * the slots; removal moves the entries after the hole back (no
 * tombstones), so that a long-running adapter's probes stay short.
 */
#include <stdlib.h>

#include "keyindex.h"

#define KEYINDEX_FREE UINT32_MAX

struct keyindex {
	uint32_t *places; /* a slot, or KEYINDEX_FREE */
	size_t mask;	  /* places - 1 */
	uint32_t *hashes; /* each slot's hash */
	uint8_t *in;	  /* is the slot in? */
	size_t n_slots;
};

struct keyindex *
keyindex_new(size_t n_slots)
{
	struct keyindex *x;
	size_t n_places = 2;

	if (n_slots > KEYINDEX_MAX_SLOTS)
		return NULL;
	while (n_places < 2 * n_slots)
		n_places *= 2;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->places = malloc(n_places * sizeof(*x->places));
	x->hashes = calloc(n_slots ? n_slots : 1, sizeof(*x->hashes));
	x->in = calloc(n_slots ? n_slots : 1, sizeof(*x->in));
	if (x->places == NULL || x->hashes == NULL || x->in == NULL) {
		keyindex_destroy(&x);
		return NULL;
	}
	for (size_t i = 0; i < n_places; i++)
		x->places[i] = KEYINDEX_FREE;
	x->mask = n_places - 1;
	x->n_slots = n_slots;
	return x;
}

void
keyindex_destroy(struct keyindex **index)
{
	struct keyindex *x = *index;

	if (x == NULL)
		return;
	free(x->places);
	free(x->hashes);
	free(x->in);
	free(x);
	*index = NULL;
}

/* FNV-1a over a, a NUL, then b. */
uint32_t
keyindex_hash(const char *a, const char *b)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)a; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	h *= 16777619u; /* the NUL between: ("ab", "") is not ("a", "b") */
	for (const unsigned char *p = (const unsigned char *)b; *p != '\0'; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

void
keyindex_add(struct keyindex *x, size_t slot, uint32_t hash)
{
	size_t at = hash & x->mask;

	if (slot >= x->n_slots || x->in[slot])
		return;
	while (x->places[at] != KEYINDEX_FREE)
		at = (at + 1) & x->mask;
	x->places[at] = (uint32_t)slot;
	x->hashes[slot] = hash;
	x->in[slot] = 1;
}

void
keyindex_remove(struct keyindex *x, size_t slot)
{
	size_t hole, at;

	if (slot >= x->n_slots || !x->in[slot])
		return;
	hole = x->hashes[slot] & x->mask;
	while (x->places[hole] != slot)
		hole = (hole + 1) & x->mask;
	x->places[hole] = KEYINDEX_FREE;
	x->in[slot] = 0;
	/* Each entry after the hole, up to a free place, moves into it
	 * unless its home lies cyclically after the hole, up to where it is
	 * (then a probe from its home would still reach it). */
	for (at = (hole + 1) & x->mask; x->places[at] != KEYINDEX_FREE; at = (at + 1) & x->mask) {
		size_t home = x->hashes[x->places[at]] & x->mask;
		if (((at - home) & x->mask) < ((at - hole) & x->mask))
			continue;
		x->places[hole] = x->places[at];
		x->places[at] = KEYINDEX_FREE;
		hole = at;
	}
}

size_t
keyindex_next(const struct keyindex *x, uint32_t hash, size_t *cursor)
{
	/* *cursor counts the places probed from hash's home. */
	for (size_t at = (hash + *cursor) & x->mask; x->places[at] != KEYINDEX_FREE;
	    at = (at + 1) & x->mask) {
		uint32_t slot = x->places[at];
		++*cursor;
		if (x->hashes[slot] == hash)
			return slot;
	}
	return SIZE_MAX;
}
