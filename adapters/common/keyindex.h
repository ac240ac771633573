/*
 * keyindex: which of n slots holds a key, found in constant time. The
 * caller keeps the keys (an adapter's window of flights, each matched to
 * its Ack by source and event id); the index keeps each slot's hash, and
 * hands back the slots of a hash for the caller to compare. Open
 * addressing over twice as many places as slots, so that it never fills.
 * Not thread-safe.
 */
#ifndef KEYINDEX_H
#define KEYINDEX_H

#include <stddef.h>
#include <stdint.h>

struct keyindex;

/* An index of slots 0..n_slots-1, none of them in it; NULL when out of
 * memory or n_slots is above KEYINDEX_MAX_SLOTS. */
#define KEYINDEX_MAX_SLOTS (1u << 24)
struct keyindex *keyindex_new(size_t n_slots);
void keyindex_destroy(struct keyindex **index);

/* The hash of the key (a, b): two strings, told apart however they split. */
uint32_t keyindex_hash(const char *a, const char *b);

/* Put slot in under hash; it must not be in already. */
void keyindex_add(struct keyindex *index, size_t slot, uint32_t hash);
/* Take slot out; one that is not in is no error. */
void keyindex_remove(struct keyindex *index, size_t slot);

/* The slots in under hash, one a call: *cursor 0 to begin; SIZE_MAX when
 * there are no more. Slots of other hashes are never handed back; the
 * caller compares the keys of those that are. */
size_t keyindex_next(const struct keyindex *index, uint32_t hash, size_t *cursor);

#endif
