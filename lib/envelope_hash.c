/*
 * envelope_hash: the envelope is hashed as it is packed, through a
 * ProtobufCBuffer that feeds a BLAKE2b state: no copy, nothing to allocate.
 */
#include <sodium.h>

#include "envelope_hash.h"

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
	struct hash_buffer hb = { .base = { hash_buffer_append } };
	uint32_t version = env->schema_version;

	env->schema_version = 0;
	crypto_generichash_init(&hb.state, NULL, 0, ENVELOPE_HASH_BYTES);
	protobuf_c_message_pack_to_buffer(&env->base, &hb.base);
	crypto_generichash_final(&hb.state, hash, ENVELOPE_HASH_BYTES);
	env->schema_version = version;
}
