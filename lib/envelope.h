/*
 * envelope: one frame as the daemon's ingest takes it, decoded as a
 * commissioning.Envelope within the size limit and checked, and the content
 * hash that tells a harmless repeat from a reused event id. Pure.
 */
#ifndef ENVELOPE_H
#define ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"
#include "event_check.h"

#define ENVELOPE_HASH_BYTES 16

/*
 * Decode frame (len bytes) and run event_check on it. max_bytes is the
 * largest frame taken ([ingest] max_envelope_bytes).
 *
 * Return 0 with *env set: an acceptable event, the caller's to free with
 * commissioning__envelope__free_unpacked. Return -1 with why filled when
 * the frame is refused: then *env is NULL when the frame is empty, too
 * large or not an Envelope, and otherwise the decoded Envelope that failed
 * the check (the caller's to free), so that its source and id can be
 * echoed in the Ack.
 */
int envelope_decode_frame(const uint8_t *frame, size_t len, uint64_t max_bytes,
    Commissioning__Envelope **env, struct check_error *why);

/*
 * The content hash of env: every field and occurred_at, schema version
 * aside (DOMAIN.md). env is packed in place with its schema version at 0
 * and given back as it was.
 */
void envelope_content_hash(Commissioning__Envelope *env, uint8_t hash[ENVELOPE_HASH_BYTES]);

#endif
