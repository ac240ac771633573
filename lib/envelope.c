/*
 * envelope: the decoding and checking of one ingest frame, apart from the
 * socket and the store, so that the daemon and the fuzz targets run the
 * same code on the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>

#include "envelope.h"
#include "pbbudget.h"
#include "pbwire.h"

/*
 * Refuse a frame whose bytes say more than its unpacking shows, wherever
 * it sits (pbwire_fault_find): a string that is not UTF-8 or holds a NUL
 * byte, a message field given twice. The checks see what protobuf-c
 * unpacks, while the bytes stored, published and replayed carry all of it
 * (a ward of "W1", then a NUL and a name; an admission whose first copy,
 * which other readers merge in, holds what the second leaves out). The
 * field is named as event_check names it: a field of a nested message or
 * list under the event's field that holds it.
 */
static int
envelope_check_wire(const uint8_t *frame, size_t len, struct check_error *why)
{
	struct pbwire_fault fault;
	const ProtobufCFieldDescriptor *named, *inner;
	int rc;

	rc = pbwire_fault_find(&commissioning__envelope__descriptor, frame, len, &fault);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		snprintf(why->field, sizeof(why->field), "envelope");
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: the frame is not a commissioning.Envelope (protobuf decoding "
		    "failed)");
		return -1;
	}
	named = fault.path[fault.depth > 1 ? 1 : 0];
	inner = fault.path[fault.depth - 1];
	snprintf(why->field, sizeof(why->field), "%s", named->name);
	if (fault.kind == PBWIRE_FAULT_MESSAGE_TWICE)
		snprintf(why->reason, sizeof(why->reason), "%s: %s%sgiven twice; send it once",
		    named->name, named != inner ? inner->name : "", named != inner ? " " : "");
	else
		snprintf(why->reason, sizeof(why->reason), "%s: %s%s%s %zu %s", named->name,
		    named != inner ? inner->name : "", named != inner ? ": " : "",
		    fault.kind == PBWIRE_FAULT_NUL ? "byte" : "not UTF-8 from byte",
		    fault.offset + 1,
		    fault.kind == PBWIRE_FAULT_NUL ? "is NUL, which text may not hold"
						   : "on (text is UTF-8)");
	return -1;
}

int
envelope_decode_frame(const uint8_t *frame, size_t len, uint64_t max_bytes,
    Commissioning__Envelope **env, struct check_error *why)
{
	return envelope_decode_frame_on(frame, len, max_bytes, NULL, env, why);
}

int
envelope_decode_frame_on(const uint8_t *frame, size_t len, uint64_t max_bytes,
    ProtobufCAllocator *allocator, Commissioning__Envelope **env, struct check_error *why)
{
	struct pb_budget budget;

	*env = NULL;
	snprintf(why->field, sizeof(why->field), "envelope");
	if (len == 0) {
		snprintf(why->reason, sizeof(why->reason), "envelope: the frame is empty");
		return -1;
	}
	if (len > max_bytes) {
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: the frame is %zu bytes, above the limit of %" PRIu64
		    " bytes ([ingest] max_envelope_bytes)",
		    len, max_bytes);
		return -1;
	}
	/* protobuf-c has no limits: a frame of many tiny fields would unpack
	 * into far more memory than its size. The budget's memory is
	 * allocator's, so the envelope is freed with allocator. */
	*env = commissioning__envelope__unpack(
	    pb_budget_init_on(&budget, pb_budget_for_frame(len), allocator), len, frame);
	if (*env == NULL && budget.exceeded) {
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: decoding the frame would take more than %zu bytes of memory "
		    "(too many fields for its size)",
		    budget.limit);
		return -1;
	}
	if (*env == NULL && budget.out_of_memory) {
		snprintf(why->reason, sizeof(why->reason), "%s", ENVELOPE_NO_MEMORY_REASON);
		return ENVELOPE_NO_MEMORY;
	}
	if (*env == NULL) {
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: the frame is not a commissioning.Envelope (protobuf decoding "
		    "failed)");
		return -1;
	}
	if (envelope_check_wire(frame, len, why) != 0)
		return -1;
	return event_check(*env, why);
}
