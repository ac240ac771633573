/*
 * envelope: the decoding and checking of one ingest frame, apart from the
 * socket and the store, so that the daemon and the fuzz targets run the
 * same code on the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>

#include "envelope.h"
#include "pbbudget.h"

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
	if (*env == NULL) {
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: the frame is not a commissioning.Envelope (protobuf decoding "
		    "failed)");
		return -1;
	}
	return event_check(*env, why);
}
