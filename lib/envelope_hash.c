/*
 * envelope_hash: the envelope packed (schema_version 0) and hashed in one
 * go. A typical envelope packs into a buffer on the stack: packing flat
 * and hashing once costs far less than feeding the hash field by field
 * through a ProtobufCBuffer, which a larger one still does, so that
 * nothing is allocated. Both give the same bytes, so the same hash.
 */
#include <sodium.h>

#include "envelope_hash.h"

/* Envelopes up to this size are packed on the stack (the median is
 * about 130 bytes). */
#define ENVELOPE_HASH_STACK_BYTES 2048

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
envelope_content_hash_streamed(Commissioning__Envelope *env, uint8_t hash[ENVELOPE_HASH_BYTES])
{
	struct hash_buffer hb = { .base = { hash_buffer_append } };
	uint32_t version = env->schema_version;

	env->schema_version = 0;
	crypto_generichash_init(&hb.state, NULL, 0, ENVELOPE_HASH_BYTES);
	protobuf_c_message_pack_to_buffer(&env->base, &hb.base);
	crypto_generichash_final(&hb.state, hash, ENVELOPE_HASH_BYTES);
	env->schema_version = version;
}

void
envelope_content_hash(Commissioning__Envelope *env, uint8_t hash[ENVELOPE_HASH_BYTES])
{
	uint8_t buf[ENVELOPE_HASH_STACK_BYTES];
	uint32_t version = env->schema_version;
	size_t len;

	env->schema_version = 0;
	len = protobuf_c_message_get_packed_size(&env->base);
	if (len <= sizeof(buf)) {
		protobuf_c_message_pack(&env->base, buf);
		crypto_generichash(hash, ENVELOPE_HASH_BYTES, buf, len, NULL, 0);
	}
	env->schema_version = version;
	if (len > sizeof(buf))
		envelope_content_hash_streamed(env, hash);
}
