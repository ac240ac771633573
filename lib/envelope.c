/*
 * envelope: the decoding and checking of one ingest frame, apart from the
 * socket and the store, so that the daemon and the fuzz target run the same
 * code on the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>

#include <sodium.h>

#include "envelope.h"

int
envelope_decode_frame(const uint8_t *frame, size_t len, uint64_t max_bytes,
    Commissioning__Envelope **env, struct check_error *why)
{
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
	*env = commissioning__envelope__unpack(NULL, len, frame);
	if (*env == NULL) {
		snprintf(why->reason, sizeof(why->reason),
		    "envelope: the frame is not a commissioning.Envelope (protobuf decoding "
		    "failed)");
		return -1;
	}
	return event_check(*env, why);
}

/* A ProtobufCBuffer that feeds what is packed into a hash: the content
 * is hashed as it is encoded, with no copy and nothing to allocate. */
struct hash_buffer {
	ProtobufCBuffer base;
	crypto_generichash_state state;
};

static void
hash_buffer_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
	crypto_generichash_update(&((struct hash_buffer *)(void *)buffer)->state, data, len);
}

void
envelope_content_hash(Commissioning__Envelope *env, uint8_t hash[ENVELOPE_HASH_BYTES])
{
	struct hash_buffer hb = {.base = {hash_buffer_append}};
	uint32_t version = env->schema_version;

	env->schema_version = 0;
	crypto_generichash_init(&hb.state, NULL, 0, ENVELOPE_HASH_BYTES);
	protobuf_c_message_pack_to_buffer(&env->base, &hb.base);
	crypto_generichash_final(&hb.state, hash, ENVELOPE_HASH_BYTES);
	env->schema_version = version;
}
