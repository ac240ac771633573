/*
 * state: the one place where the pure projections (thing keys, history
 * insertion) meet the store's write batch.
 */
#include "log.h"
#include "projections.h"
#include "state.h"

enum store_result
state_apply(struct store_batch *batch, const Commissioning__Envelope *env, const uint8_t *bytes,
    size_t len)
{
	struct thing_key key;
	const uint8_t *old;
	size_t old_len;
	uint8_t stack[4096];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	enum store_result r;

	/* event_check bounds every text, so the key always fits. */
	if (thing_key_of(env, &key) < 0) {
		log_error("state: no projection key for %s/%s", env->source, env->event_id);
		return STORE_OK;
	}
	r = store_batch_get_history(batch, key.bytes, key.len, &old, &old_len);
	if (r != STORE_OK)
		return r;
	if (history_insert(&key, old, old_len, env, bytes, len, &out.base) < 0) {
		/* Written by a build that this one cannot read: keep it as it is
		 * and say so; `commissionctl rebuild` remakes it from the log. */
		log_error("state: unreadable history for %s/%s; not updated", env->source,
		    env->event_id);
		PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
		return STORE_OK;
	}
	r = store_batch_put_history(batch, key.bytes, key.len, out.data, out.len);
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	return r;
}
