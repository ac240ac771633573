/*
 * fail_history.so: LD_PRELOADed into commissiond and commissionctl by
 * test_live_memory.py. When the file FAIL_HISTORY_FILE names appears, it
 * is removed and the next commissioning.History unpacked with protobuf-c's
 * own allocator, or on a pb_budget (as a picture unpacks each history it
 * holds), finds no memory: every allocation of that unpack fails, as
 * malloc would, and a budget knows it (out_of_memory). Every other unpack
 * goes to protobuf-c as it is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <protobuf-c/protobuf-c.h>

#include "../../lib/pbbudget.h"

static void *
no_memory(void *data, size_t size)
{
	(void)size;
	if (data != NULL)
		((struct pb_budget *)data)->out_of_memory = true;
	return NULL;
}

static void
nothing_to_free(void *data, void *pointer)
{
	(void)data;
	(void)pointer;
}

/* A pb_budget's allocator is its first member, its data the budget. */
static int
is_budget(const ProtobufCAllocator *allocator)
{
	return allocator != NULL && allocator->allocator_data == (const void *)allocator;
}

ProtobufCMessage *
protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *allocator, size_t len, const uint8_t *data)
{
	static ProtobufCMessage *(*real)(const ProtobufCMessageDescriptor *,
	    ProtobufCAllocator *, size_t, const uint8_t *);
	ProtobufCAllocator none = { no_memory, nothing_to_free, NULL };
	const char *trigger = getenv("FAIL_HISTORY_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "protobuf_c_message_unpack");
	if (trigger == NULL || (allocator != NULL && !is_budget(allocator)) ||
	    strcmp(desc->name, "commissioning.History") != 0 || unlink(trigger) != 0)
		return real(desc, allocator, len, data);
	if (allocator != NULL)
		none.allocator_data = allocator->allocator_data;
	return real(desc, &none, len, data);
}
