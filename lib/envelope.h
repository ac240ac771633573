/*
 * envelope: one frame as the daemon's ingest takes it, decoded as a
 * commissioning.Envelope within the size limit and the unpacking budget
 * (pbbudget.h), and checked (event_check). Pure.
 */
#ifndef ENVELOPE_H
#define ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"
#include "event_check.h"

/*
 * Decode frame (len bytes) and run event_check on it. max_bytes is the
 * largest frame taken ([ingest] max_envelope_bytes); the unpacking may take
 * pb_budget_for_frame(len) bytes of memory at most.
 *
 * Return 0 with *env set: an acceptable event, the caller's to free with
 * commissioning__envelope__free_unpacked. Return -1 with why filled when
 * the frame is refused: then *env is NULL when the frame is empty, too
 * large, over its budget or not an Envelope, and otherwise the decoded
 * Envelope that failed the check (the caller's to free), so that its
 * source and id can be echoed in the Ack. Return ENVELOPE_NO_MEMORY, *env
 * NULL and why filled, when memory ran out decoding it: the frame was not
 * judged, and may be sent again.
 */
#define ENVELOPE_NO_MEMORY (-2)
#define ENVELOPE_NO_MEMORY_REASON "envelope: out of memory decoding the frame; send it again later"
int envelope_decode_frame(const uint8_t *frame, size_t len, uint64_t max_bytes,
    Commissioning__Envelope **env, struct check_error *why);
/* The same, the memory from allocator (NULL: malloc); *env is then freed
 * as allocator frees: free_unpacked(*env, allocator). */
int envelope_decode_frame_on(const uint8_t *frame, size_t len, uint64_t max_bytes,
    ProtobufCAllocator *allocator, Commissioning__Envelope **env, struct check_error *why);

#endif
