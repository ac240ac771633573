/*
 * arena: a list of chunks from malloc; allocations bump through the
 * current one. One too large for a chunk gets a chunk of its own.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"

#define ARENA_CHUNK_BYTES (256 * 1024)
#define ARENA_ALIGN alignof(max_align_t)

struct chunk {
	struct chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	ProtobufCAllocator allocator;
	struct chunk *chunks; /* the current one first */
	struct chunk *spare;  /* kept by the last reset, empty */
	size_t keep, used, held;
};

static void *
arena_pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void
arena_pb_free(void *data, void *pointer)
{
	(void)data;
	(void)pointer;
}

struct arena *
arena_new(size_t keep_bytes)
{
	struct arena *arena = calloc(1, sizeof(*arena));

	if (arena == NULL)
		return NULL;
	arena->keep = keep_bytes;
	arena->allocator.alloc = arena_pb_alloc;
	arena->allocator.free = arena_pb_free;
	arena->allocator.allocator_data = arena;
	return arena;
}

static void
chunks_free(struct chunk *c)
{
	while (c != NULL) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
}

void
arena_destroy(struct arena **arenap)
{
	if (*arenap == NULL)
		return;
	chunks_free((*arenap)->chunks);
	chunks_free((*arenap)->spare);
	free(*arenap);
	*arenap = NULL;
}

static struct chunk *
chunk_new(size_t size)
{
	struct chunk *c;

	/* The header and size must not wrap around to a small malloc. */
	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	if ((c = malloc(sizeof(*c) + size)) == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *
arena_alloc(struct arena *arena, size_t size)
{
	struct chunk *c = arena->chunks;
	size_t need;

	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need == 0)
		need = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < need) {
		if (need > ARENA_CHUNK_BYTES / 4) {
			/* Its own chunk, behind the current one, which stays current. */
			struct chunk *big = chunk_new(need);
			if (big == NULL)
				return NULL;
			big->used = need;
			if (c != NULL) {
				big->next = c->next;
				c->next = big;
			} else {
				arena->chunks = big;
			}
			arena->used += need;
			arena->held += need;
			return big->data;
		}
		if (arena->spare != NULL) {
			c = arena->spare;
			arena->spare = c->next;
		} else {
			if ((c = chunk_new(ARENA_CHUNK_BYTES)) == NULL)
				return NULL;
			arena->held += c->size;
		}
		c->next = arena->chunks;
		arena->chunks = c;
	}
	c->used += need;
	arena->used += need;
	return c->data + c->used - need;
}

void
arena_reset(struct arena *arena)
{
	struct chunk *c = arena->chunks, *kept = arena->spare;

	/* Keep whole standard chunks up to keep bytes; the rest go back. */
	for (arena->held = 0, c = kept; c != NULL; c = c->next)
		arena->held += c->size;
	c = arena->chunks;
	while (c != NULL) {
		struct chunk *next = c->next;
		if (c->size == ARENA_CHUNK_BYTES && arena->held + c->size <= arena->keep) {
			c->used = 0;
			c->next = kept;
			kept = c;
			arena->held += c->size;
		} else {
			free(c);
		}
		c = next;
	}
	arena->chunks = NULL;
	arena->spare = kept;
	arena->used = 0;
}

size_t
arena_used(const struct arena *arena)
{
	return arena->used;
}

size_t
arena_held(const struct arena *arena)
{
	return arena->held;
}

ProtobufCAllocator *
arena_allocator(struct arena *arena)
{
	return &arena->allocator;
}
