/*
 * envelope_hash: the content hash that tells a harmless repeat of an event
 * from a reused event id: every field and occurred_at, schema version
 * aside (DOMAIN.md). Ingest stores it with the dedupe key; verify checks it.
 */
#ifndef ENVELOPE_HASH_H
#define ENVELOPE_HASH_H

#include <stdint.h>

#include "commissioning.pb-c.h"

#define ENVELOPE_HASH_BYTES 16

/* BLAKE2b-128 of env packed with schema_version 0 (env is restored). */
void envelope_content_hash(Commissioning__Envelope *env, uint8_t hash[ENVELOPE_HASH_BYTES]);
/* The same hash, fed to BLAKE2b field by field as it is packed: what
 * envelope_content_hash does for an envelope too large for its stack. */
void envelope_content_hash_streamed(Commissioning__Envelope *env,
    uint8_t hash[ENVELOPE_HASH_BYTES]);

#endif
