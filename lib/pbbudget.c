/*
 * pbbudget: counts what protobuf-c asks for and refuses past the limit.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pbbudget.h"

/* Unpacked bytes per frame byte allowed, and a floor for tiny frames
 * (the message structs alone weigh a few hundred bytes). */
#define PB_BUDGET_PER_FRAME_BYTE 8
#define PB_BUDGET_FLOOR_BYTES (64 * 1024)

static void *
pb_budget_alloc(void *data, size_t size)
{
	struct pb_budget *b = data;
	size_t cost = size + PB_BUDGET_OVERHEAD_BYTES;
	void *p;

	if (cost < size || cost > b->limit - b->used) {
		b->exceeded = true;
		return NULL;
	}
	b->used += cost;
	p = b->backing != NULL ? b->backing->alloc(b->backing->allocator_data, size) : malloc(size);
	if (p == NULL)
		b->out_of_memory = true;
	return p;
}

static void
pb_budget_free(void *data, void *pointer)
{
	struct pb_budget *b = data;

	if (b->backing != NULL)
		b->backing->free(b->backing->allocator_data, pointer);
	else
		free(pointer);
}

ProtobufCAllocator *
pb_budget_init(struct pb_budget *budget, size_t limit)
{
	return pb_budget_init_on(budget, limit, NULL);
}

ProtobufCAllocator *
pb_budget_init_on(struct pb_budget *budget, size_t limit, ProtobufCAllocator *backing)
{
	budget->base.alloc = pb_budget_alloc;
	budget->base.free = pb_budget_free;
	budget->base.allocator_data = budget;
	budget->used = 0;
	budget->limit = limit;
	budget->exceeded = false;
	budget->out_of_memory = false;
	budget->backing = backing;
	return &budget->base;
}

size_t
pb_budget_for_frame(size_t frame_bytes)
{
	if (frame_bytes > (SIZE_MAX - PB_BUDGET_FLOOR_BYTES) / PB_BUDGET_PER_FRAME_BYTE)
		return SIZE_MAX;
	return frame_bytes * PB_BUDGET_PER_FRAME_BYTE + PB_BUDGET_FLOOR_BYTES;
}
