/*
 * fail_decode.so: LD_PRELOADed into commissiond by test_faults.py. When
 * the file FAIL_DECODE_FILE names appears, it is removed and the next
 * Envelope unpacked with a budget (lib/pbbudget.h, as ingest unpacks
 * every frame) finds no memory: the allocator behind the budget fails
 * every allocation, as an arena that cannot grow would. Every other
 * unpack goes to protobuf-c as it is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/pbbudget.h"

static void *
no_memory(void *data, size_t size)
{
	(void)data;
	(void)size;
	return NULL;
}

static void
nothing_to_free(void *data, void *pointer)
{
	(void)data;
	(void)pointer;
}

ProtobufCMessage *
protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
    ProtobufCAllocator *allocator, size_t len, const uint8_t *data)
{
	static ProtobufCMessage *(*real)(const ProtobufCMessageDescriptor *,
	    ProtobufCAllocator *, size_t, const uint8_t *);
	static ProtobufCAllocator none = { no_memory, nothing_to_free, NULL };
	const char *trigger = getenv("FAIL_DECODE_FILE");
	struct pb_budget *budget = (struct pb_budget *)allocator;
	ProtobufCAllocator *backing;
	ProtobufCMessage *msg;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "protobuf_c_message_unpack");
	/* A budget's allocator is its first member, its data the budget. */
	if (trigger == NULL || allocator == NULL || allocator->allocator_data != allocator ||
	    strcmp(desc->name, "commissioning.Envelope") != 0 || unlink(trigger) != 0)
		return real(desc, allocator, len, data);
	backing = budget->backing;
	budget->backing = &none;
	msg = real(desc, allocator, len, data);
	budget->backing = backing;
	return msg;
}
