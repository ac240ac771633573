/*
 * arena: memory handed out by bumping a pointer and given back all at once.
 * Ingest decodes a batch's envelopes and keeps its updates' bytes in one,
 * instead of a malloc and a free for every field. Not thread-safe.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena;

/* An arena that keeps up to keep_bytes of its chunks when reset (the rest
 * go back to malloc). NULL when out of memory. */
struct arena *arena_new(size_t keep_bytes);
void arena_destroy(struct arena **arena);

/* size bytes, aligned for any type; NULL when out of memory. Valid until
 * the next arena_reset. */
void *arena_alloc(struct arena *arena, size_t size);

/* Give back everything handed out. */
void arena_reset(struct arena *arena);

/* Bytes handed out since the last reset, and bytes held from malloc. */
size_t arena_used(const struct arena *arena);
size_t arena_held(const struct arena *arena);

/* The arena as a protobuf-c allocator: free does nothing (arena_reset
 * does it all); never free_unpacked with another allocator. */
ProtobufCAllocator *arena_allocator(struct arena *arena);

#endif
