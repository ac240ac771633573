/*
 * pbbudget: a ProtobufCAllocator with a ceiling. protobuf-c has no limits
 * of its own: a small frame of many tiny fields (unknown ones included)
 * unpacks into many allocations. Unpacking with a budget fails instead.
 */
#ifndef PBBUDGET_H
#define PBBUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* What one allocation costs the budget beyond its size (malloc's header
 * and rounding), so that a million one-byte fields count as they weigh. */
#define PB_BUDGET_OVERHEAD_BYTES 16

struct pb_budget {
	ProtobufCAllocator base;
	size_t used;
	size_t limit;
	bool exceeded;	    /* an allocation was refused: past the limit */
	bool out_of_memory; /* one within the limit failed: no memory */
	ProtobufCAllocator *backing; /* where the memory comes from (NULL: malloc) */
};

/* Start a budget of limit bytes; pass the result to *_unpack. Memory comes
 * from malloc, so what was unpacked may be freed with the default
 * allocator (free_unpacked(msg, NULL)) after the budget is gone. */
ProtobufCAllocator *pb_budget_init(struct pb_budget *budget, size_t limit);
/* The same, the memory from backing (NULL: malloc): what was unpacked is
 * then freed as backing frees (free_unpacked(msg, backing)). */
ProtobufCAllocator *pb_budget_init_on(struct pb_budget *budget, size_t limit,
    ProtobufCAllocator *backing);

/* The budget for unpacking a frame of frame_bytes: generous for any real
 * message (measured on the sample day in tests/unit/test_pbbudget.c), far
 * below what a hostile frame of tiny fields would take. */
size_t pb_budget_for_frame(size_t frame_bytes);

#endif
