/*
 * ingest: the ROUTER where adapters send Envelopes. Owns the socket and the
 * batch in hand: drain up to batch_limit, one LMDB transaction, commit with
 * fsync, and only then the acks and the updates (an ack means durable).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "arena.h"
#include "commissiond.h"
#include "envelope.h"
#include "envelope_hash.h"
#include "event_check.h"
#include "log.h"
#include "pbwire.h"
#include "pbbudget.h"
#include "state.h"
#include "text.h"

/* Routing frames a request may carry before its payload: the ROUTER's
 * identity, and the empty delimiter a REQ socket adds. */
#define INGEST_MAX_ROUTE_FRAMES 4
#define INGEST_TOPIC_MAX 320
/* An accepted event's updates: the event itself, and each place of the
 * picture it changes (state.h). */
#define INGEST_UPDATES_MAX (1 + PLACES_MAX)
/* A store that stays full is tried again at most this often per batch. */
#define INGEST_GROW_ATTEMPTS 8
/* Frame bytes read into one batch at most (always at least one frame):
 * with each unpack's budget (pbbudget.h) it bounds a batch's memory. */
#define INGEST_BATCH_MAX_BYTES (16 * 1024 * 1024)
/* The store's pages a batch reads stay mapped, and count in the RSS,
 * until let go (each read maps its neighbours too: the kernel's fault
 * around): beyond STORE_MAPPED_MAX_BYTES of them, they are, looked at every
 * INGEST_MAPPED_CHECK_EVERY envelopes. */
#define INGEST_MAPPED_CHECK_EVERY 64
/* The batch's envelopes and its updates' bytes live in one arena, given
 * back whole once the batch is answered; this much of it is kept for the
 * next batch, so that its pages are not faulted in afresh every batch. */
#define INGEST_ARENA_KEEP_BYTES (16u << 20)

struct ingest_item {
	zmq_msg_t route[INGEST_MAX_ROUTE_FRAMES];
	int n_route;
	int n_dropped; /* frames between the routing frames kept and the payload */
	zmq_msg_t payload;
	/* the outcome */
	Commissioning__AckStatus status;
	uint64_t sequence;
	char source[EVENT_SOURCE_MAX_BYTES + 1];
	char event_id[EVENT_ID_MAX_BYTES + 1];
	const char *kind; /* the event kind's name, for metrics */
	struct check_error why;
	/* ACCEPTED: the event, where it changed the picture, and the
	 * updates to publish after commit (both in the batch's arena) */
	Commissioning__Envelope *env;
	struct state_change change;
	struct ingest_update {
		char topic[INGEST_TOPIC_MAX];
		uint8_t *bytes;
		size_t len;
	} updates[INGEST_UPDATES_MAX];
	int n_updates;
};

struct ingest {
	void *socket;
	struct zwatch *watch;
	struct store *store;
	struct publish *pub;
	struct live *live;
	struct housekeeping *hk; /* catches the running totals up while ingest waits */
	struct metrics *metrics;
	void (*on_committed)(void *arg); /* after each batch: the stream pumps */
	void *on_committed_arg;
	const struct config *cfg;
	struct ingest_item *items;
	size_t n_items, items_size;
	struct arena *arena; /* the batch's envelopes and updates */
	bool stopped;
	int64_t refused_at_ms;	/* the last batch answered RETRY_LATER, monotonic (0: never) */
	const char *refusal;	/* why the batch failed, when not the store's error */
	int64_t last_commit_ms; /* of the last batch that stored events */
	uint64_t accepted, duplicates, rejected, retry_later, batches;
};

static void
item_reset_outcome(struct ingest_item *item)
{
	item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_UNSPECIFIED;
	item->sequence = 0;
	item->source[0] = item->event_id[0] = '\0';
	item->kind = "unknown";
	memset(&item->why, 0, sizeof(item->why));
	/* The envelope and the updates' bytes are the batch arena's. */
	item->n_updates = 0;
	item->env = NULL;
	item->change.n_places = item->change.n_persons = 0;
}

static void
item_release(struct ingest_item *item)
{
	for (int i = 0; i < item->n_route; i++)
		zmq_msg_close(&item->route[i]);
	zmq_msg_close(&item->payload);
	item->n_route = item->n_dropped = 0;
	item_reset_outcome(item);
}

static void __attribute__((format(printf, 3, 4)))
item_reject(struct ingest_item *item, const char *field, const char *fmt, ...)
{
	va_list ap;

	item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED;
	snprintf(item->why.field, sizeof(item->why.field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(item->why.reason, sizeof(item->why.reason), fmt, ap);
	va_end(ap);
}

/*
 * Receive one multipart message into item: its routing frames and its
 * payload, the last frame. The frames past INGEST_MAX_ROUTE_FRAMES before
 * the payload are dropped and counted (item->n_dropped): the message is
 * answered REJECTED through the routing frames kept. Returns 1 when an
 * item was read, 0 when nothing is waiting, -1 for a message that cannot
 * be answered (no routing frame): it is dropped and logged.
 */
static int
ingest_receive(struct ingest *ingest, struct ingest_item *item)
{
	zmq_msg_t frame;
	int more, n = 0, dropped = 0;
	size_t len = sizeof(more);

	zmq_msg_init(&frame);
	if (zmq_msg_recv(&frame, ingest->socket, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&frame);
		return 0;
	}
	for (;;) {
		zmq_getsockopt(ingest->socket, ZMQ_RCVMORE, &more, &len);
		if (!more)
			break;
		if (n < INGEST_MAX_ROUTE_FRAMES) {
			zmq_msg_init(&item->route[n]);
			zmq_msg_move(&item->route[n], &frame);
			n++;
		} else {
			dropped++;
		}
		zmq_msg_close(&frame);
		zmq_msg_init(&frame);
		/* The rest of a multipart message is already here. */
		if (zmq_msg_recv(&frame, ingest->socket, 0) < 0)
			break;
	}
	item->n_route = n;
	item->n_dropped = dropped;
	zmq_msg_init(&item->payload);
	zmq_msg_move(&item->payload, &frame);
	zmq_msg_close(&frame);
	if (n == 0) {
		log_warning("ingest: dropped a message with no routing frame");
		item_release(item);
		return -1;
	}
	return 1;
}

/* The store keeps the content hash that envelope_hash.c works out. */
_Static_assert(STORE_HASH_BYTES == ENVELOPE_HASH_BYTES, "one content hash size");

static enum store_result
ingest_dead_letter(struct store_batch *batch, struct ingest_item *item, int64_t now_ms)
{
	Commissioning__DeadLetter dead = COMMISSIONING__DEAD_LETTER__INIT;

	dead.received_at = now_ms;
	dead.source = item->source;
	dead.event_id = item->event_id;
	dead.field = item->why.field;
	dead.reason = item->why.reason;
	dead.raw.data = zmq_msg_data(&item->payload);
	dead.raw.len = zmq_msg_size(&item->payload);
	return store_batch_append_dead_letter(batch, &dead);
}

/* The topic of the item's next update, to write into. */
static char *
ingest_next_topic(struct ingest_item *item)
{
	return item->updates[item->n_updates].topic;
}

/* Append update under the topic written at ingest_next_topic, and keep its
 * bytes to publish after commit. */
static enum store_result
ingest_add_update(struct ingest *ingest, struct store_batch *batch, struct ingest_item *item,
    Commissioning__Update *update)
{
	struct ingest_update *u = &item->updates[item->n_updates];
	enum store_result r;

	update->topic = u->topic;
	update->event_sequence = item->sequence;
	r = store_batch_append_update_copy(batch, update, arena_allocator(ingest->arena), &u->bytes,
	    &u->len);
	if (r != STORE_OK)
		return r;
	if (u->bytes == NULL) {
		/* Stored all the same: a subscriber heals the gap by replay. */
		log_error("ingest: out of memory packing update %" PRIu64, update->sequence);
		return STORE_OK;
	}
	item->n_updates++;
	return STORE_OK;
}

/*
 * The EventAccepted of an envelope as it was received: its bytes go on the
 * wire as the sub-message they are (field 1, length-prefixed), carried as
 * protobuf-c's unknown field, so that they are not unpacked and packed
 * again. *buf holds them, in arena; NULL when out of memory.
 */
static void
event_accepted_raw(Commissioning__EventAccepted *accepted, ProtobufCMessageUnknownField *field,
    const uint8_t *envelope, size_t len, struct arena *arena, uint8_t **buf)
{
	uint8_t prefix[10];
	size_t n = 0;

	for (size_t v = len; n == 0 || v > 0; v >>= 7)
		prefix[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
	*buf = arena_alloc(arena, n + len);
	if (*buf == NULL)
		return;
	memcpy(*buf, prefix, n);
	memcpy(*buf + n, envelope, len);
	field->tag = 1; /* EventAccepted.envelope */
	field->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	field->len = n + len;
	field->data = *buf;
	accepted->base.n_unknown_fields = 1;
	accepted->base.unknown_fields = field;
}

/* Does env change who holds which interest, or a decision? Then the
 * conflict alerts before the batch are noted, to publish what it raises
 * and clears. */
static bool
event_touches_alerts(const Commissioning__Envelope *env)
{
	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED:
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN:
		return true;
	default:
		return false;
	}
}

/* Move the projections' state with an event just stored, in the same
 * transaction. The item keeps the event for its updates. */
static enum store_result
ingest_accept(struct ingest *ingest, struct store_batch *batch, struct ingest_item *item,
    Commissioning__Envelope *env)
{
	enum store_result r;

	/* The conflict alerts before the batch, to publish what it raises and
	 * clears: noted before its first change to who holds which interest
	 * or to a decision. */
	if (event_touches_alerts(env))
		live_note_alerts(ingest->live);
	r = state_apply(batch, live_context(ingest->live), env, zmq_msg_data(&item->payload),
	    zmq_msg_size(&item->payload), &item->change);
	if (r != STORE_OK)
		return r;
	item->env = env;
	item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED;
	return STORE_OK;
}

/* An accepted event's updates: the event itself (event.<kind>.<source>)
 * and one per place of the picture it changed (<area>.<icb>.<code>), with
 * the place's figures as the whole batch leaves them, which is as of the
 * commit. */
static enum store_result
ingest_add_updates(struct ingest *ingest, struct store_batch *batch, struct ingest_item *item,
    int64_t now_ms)
{
	Commissioning__Update update = COMMISSIONING__UPDATE__INIT;
	Commissioning__EventAccepted accepted = COMMISSIONING__EVENT_ACCEPTED__INIT;
	ProtobufCMessageUnknownField raw;
	const struct state_change *change = &item->change;
	uint8_t *raw_bytes;
	enum store_result r;

	update.commit_time = now_ms;
	update.body_case = COMMISSIONING__UPDATE__BODY_EVENT_ACCEPTED;
	event_accepted_raw(&accepted, &raw, zmq_msg_data(&item->payload),
	    zmq_msg_size(&item->payload), ingest->arena, &raw_bytes);
	if (raw_bytes == NULL)
		accepted.envelope = item->env; /* out of memory: packed again */
	update.event_accepted = &accepted;
	text_join(ingest_next_topic(item), INGEST_TOPIC_MAX, '.', "event",
	    event_kind_name(item->env), item->env->source);
	r = ingest_add_update(ingest, batch, item, &update);
	for (int i = 0; r == STORE_OK && i < change->n_places; i++) {
		Commissioning__StateChanged changed = COMMISSIONING__STATE_CHANGED__INIT;
		const char *figures = live_place_figures(ingest->live, change->places[i].area,
		    change->places[i].icb, change->places[i].code, item->env,
		    (const char (*)[65])change->persons, change->n_persons);
		changed.area = (char *)change->places[i].area;
		changed.icb = (char *)change->places[i].icb;
		changed.code = (char *)change->places[i].code;
		changed.thing = (char *)change->thing;
		changed.figures = (char *)(figures != NULL ? figures : "{}");
		update.body_case = COMMISSIONING__UPDATE__BODY_STATE_CHANGED;
		update.state_changed = &changed;
		text_join(ingest_next_topic(item), INGEST_TOPIC_MAX, '.', changed.area, changed.icb,
		    changed.code);
		r = ingest_add_update(ingest, batch, item, &update);
	}
	return r;
}

/* Keep the store's mapped pages from growing the RSS with the store: they
 * are the page cache's, not ours. */
static void
ingest_bound_mapped(struct ingest *ingest)
{
	if (store_bound_mapped(ingest->store) != STORE_OK)
		log_warning("ingest: %s", store_error(ingest->store));
}

/* After every item is decided: keep the tallies, then write each accepted
 * event's updates, with the figures as the whole batch leaves them. */
static enum store_result
ingest_write_updates(struct ingest *ingest, struct store_batch *batch, int64_t now_ms)
{
	enum store_result r = live_batch_flush(ingest->live);

	for (size_t i = 0; r == STORE_OK && i < ingest->n_items; i++) {
		if (ingest->items[i].env != NULL)
			r = ingest_add_updates(ingest, batch, &ingest->items[i], now_ms);
		if (i % INGEST_MAPPED_CHECK_EVERY == INGEST_MAPPED_CHECK_EVERY - 1)
			ingest_bound_mapped(ingest);
	}
	return r;
}

/* Echo what can be read, bounded, so that the sender can match the ack.
 * A valid source or event id is printable ASCII (event_check), so it comes
 * back as sent; an invalid one must not put bytes that are not UTF-8 into
 * the Ack (proto3 strings must be UTF-8: strict decoders refuse the whole
 * message): text_copy_ascii. */
static void
ingest_echo(struct ingest_item *item, const Commissioning__Envelope *env)
{
	text_copy_ascii(item->source, sizeof(item->source), env->source, strlen(env->source));
	text_copy_ascii(item->event_id, sizeof(item->event_id), env->event_id,
	    strlen(env->event_id));
	item->kind = event_kind_name(env);
}

/* A frame refused unread (too large, over its decoding budget, not an
 * Envelope): its source and id (fields 1 and 2) as far as they can be read
 * off the wire, so that the sender can match the REJECTED ack and settle
 * the envelope, instead of sending it again for ever. */
static void
ingest_echo_unread(struct ingest_item *item)
{
	const uint8_t *frame = zmq_msg_data(&item->payload), *value;
	size_t len = zmq_msg_size(&item->payload), n;

	if (pbwire_bytes(frame, len, 1, &value, &n) > 0)
		text_copy_ascii(item->source, sizeof(item->source), (const char *)value, n);
	if (pbwire_bytes(frame, len, 2, &value, &n) > 0)
		text_copy_ascii(item->event_id, sizeof(item->event_id), (const char *)value, n);
}

/* Decide one item inside the batch's transaction. */
static enum store_result
ingest_decide(struct ingest *ingest, struct store_batch *batch, struct ingest_item *item,
    int64_t now_ms)
{
	Commissioning__Envelope *env = NULL;
	uint8_t hash[STORE_HASH_BYTES], stored_hash[STORE_HASH_BYTES];
	enum store_result r = STORE_OK;
	bool stored;
	int rc;

	rc = envelope_decode_frame_on(zmq_msg_data(&item->payload), zmq_msg_size(&item->payload),
	    ingest->cfg->ingest_max_envelope_bytes, arena_allocator(ingest->arena), &env,
	    &item->why);
	/* Nothing judged the frame: the whole batch is sent again later. */
	if (rc == ENVELOPE_NO_MEMORY) {
		ingest->refusal = ENVELOPE_NO_MEMORY_REASON;
		return STORE_FAILED;
	}
	if (env != NULL)
		ingest_echo(item, env);
	else
		ingest_echo_unread(item);
	/* The frames before the last are the peer's routing, not envelopes:
	 * a sender that put more there is confused about the protocol, and
	 * whatever the last frame holds is not taken. */
	if (item->n_dropped > 0) {
		item_reject(item, "envelope",
		    "envelope: the request has %d frames before its last; at most %d (a REQ "
		    "socket's empty delimiter, routing ids) may come before the Envelope",
		    item->n_route - 1 + item->n_dropped, INGEST_MAX_ROUTE_FRAMES - 1);
		goto reject;
	}
	if (rc < 0) {
		item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED;
		goto reject;
	}
	envelope_content_hash(env, hash);
	/* Stored at once unless its (source, event_id) already is. */
	r = store_batch_append_new_event(batch, env->source, env->event_id, hash,
	    zmq_msg_data(&item->payload), zmq_msg_size(&item->payload), &item->sequence, &stored,
	    stored_hash);
	if (r != STORE_OK)
		return r;
	if (stored) {
		if (memcmp(hash, stored_hash, sizeof(hash)) == 0) {
			item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE;
			store_batch_count_duplicate(batch);
			goto done;
		}
		item->sequence = 0;
		item_reject(item, "event_id",
		    "event_id: event id reused with different content (the event stored "
		    "under it stands)");
		goto reject;
	}
	return ingest_accept(ingest, batch, item, env);
reject:
	r = ingest_dead_letter(batch, item, now_ms);
done:
	/* env is the batch arena's: nothing to free. */
	return r;
}

/* Run the whole batch as one transaction. */
static enum store_result
ingest_write_batch(struct ingest *ingest, int64_t now_ms)
{
	struct store_batch *batch;
	enum store_result r;
	double synced;

	/* A batch written again (the map grown) starts from nothing. */
	for (size_t i = 0; i < ingest->n_items; i++)
		item_reset_outcome(&ingest->items[i]);
	ingest->refusal = NULL;
	arena_reset(ingest->arena);
	r = store_batch_begin(ingest->store, &batch);
	if (r != STORE_OK)
		return r;
	r = live_batch_begin(ingest->live, batch, now_ms);
	if (r != STORE_OK)
		goto fail;
	for (size_t i = 0; i < ingest->n_items; i++) {
		r = ingest_decide(ingest, batch, &ingest->items[i], now_ms);
		if (r != STORE_OK)
			goto fail;
		if (i % INGEST_MAPPED_CHECK_EVERY == INGEST_MAPPED_CHECK_EVERY - 1)
			ingest_bound_mapped(ingest);
	}
	r = ingest_write_updates(ingest, batch, now_ms);
	if (r != STORE_OK)
		goto fail;
	synced = clock_monotonic_seconds();
	r = store_batch_commit(&batch);
	metrics_observe_sync(ingest->metrics, clock_monotonic_seconds() - synced);
	if (r != STORE_OK)
		live_batch_failed(ingest->live);
	else
		live_batch_end(ingest->live);
	return r;
fail:
	store_batch_abort(&batch);
	live_batch_failed(ingest->live);
	return r;
}

static void
ingest_send_ack(struct ingest *ingest, struct ingest_item *item)
{
	Commissioning__Ack ack = COMMISSIONING__ACK__INIT;
	uint8_t buf[1024];
	size_t len;

	ack.event_id = item->event_id;
	ack.source = item->source;
	ack.status = item->status;
	ack.sequence = item->sequence;
	ack.reason = item->why.reason;
	ack.field = item->why.field;
	len = commissioning__ack__pack(&ack, buf); /* bounded fields: fits */
	for (int i = 0; i < item->n_route; i++) {
		if (zmq_msg_send(&item->route[i], ingest->socket, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			goto lost;
	}
	/* The ROUTER drops when the peer is gone or full; the sender's resend
	 * and the dedupe make that harmless. */
	if (zmq_send(ingest->socket, buf, len, ZMQ_DONTWAIT) < 0)
		goto lost;
	item->n_route = 0; /* zmq_msg_send took the frames */
	return;
lost:
	log_debug("ingest: ack for %s/%s not delivered: %s", item->source, item->event_id,
	    zmq_strerror(zmq_errno()));
}

static const char *
ack_status_label(Commissioning__AckStatus status)
{
	switch (status) {
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED:
		return "accepted";
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE:
		return "duplicate";
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED:
		return "rejected";
	default:
		return "retry_later";
	}
}

static void
ingest_count(struct ingest *ingest, const struct ingest_item *item)
{
	metrics_count_event(ingest->metrics, item->source, item->kind,
	    ack_status_label(item->status));
	switch (item->status) {
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED:
		ingest->accepted++;
		break;
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE:
		ingest->duplicates++;
		break;
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED:
		ingest->rejected++;
		log_info("ingest: rejected source=%s event_id=%s field=%s: %s",
		    item->source[0] ? item->source : "-", item->event_id[0] ? item->event_id : "-",
		    item->why.field, item->why.reason);
		break;
	default:
		ingest->retry_later++;
		break;
	}
}

/* The store could not take the batch: every item is answered RETRY_LATER,
 * so that each sender keeps its copy and sends again. */
static void
ingest_refuse_batch(struct ingest *ingest, enum store_result r)
{
	const char *field = "store", *logged = store_error(ingest->store);
	const char *why = r == STORE_MAP_FULL
	    ? "store: the store map is full ([store] map_max); send again later"
	    : r == STORE_DISK_FULL ? "store: the disk is full; send again later"
				   : "store: the batch could not be stored (commissiond's log "
				     "says why); send again later";

	if (ingest->refusal != NULL) { /* not the store's doing */
		field = "envelope";
		why = logged = ingest->refusal;
	}
	log_error("ingest: %zu envelope(s) answered RETRY_LATER: %s", ingest->n_items, logged);
	for (size_t i = 0; i < ingest->n_items; i++) {
		struct ingest_item *item = &ingest->items[i];
		item_reset_outcome(item);
		item->status = COMMISSIONING__ACK_STATUS__ACK_STATUS_RETRY_LATER;
		snprintf(item->why.field, sizeof(item->why.field), "%s", field);
		snprintf(item->why.reason, sizeof(item->why.reason), "%s", why);
	}
}

static void
ingest_caught_up(void *arg)
{
	struct ingest *ingest = arg;

	zwatch_hold(ingest->watch, false);
}

static void
ingest_on_readable(void *arg)
{
	struct ingest *ingest = arg;
	enum store_result r;
	int64_t now_ms;
	double started, answered;
	size_t batch_bytes = 0;

	if (ingest->stopped)
		return;
	/* The running totals far behind the clock (a long stop) catch up
	 * first, a committed step a loop turn, and only then more events. */
	if (live_behind(ingest->live, clock_now_ms())) {
		zwatch_hold(ingest->watch, true);
		housekeeping_catch_up(ingest->hk, ingest_caught_up, ingest);
		return;
	}
	ingest->n_items = 0;
	while (ingest->n_items < ingest->cfg->ingest_batch_limit &&
	    batch_bytes < INGEST_BATCH_MAX_BYTES) {
		int got = ingest_receive(ingest, &ingest->items[ingest->n_items]);
		if (got == 0)
			break;
		if (got > 0)
			batch_bytes += zmq_msg_size(&ingest->items[ingest->n_items++].payload);
	}
	if (ingest->n_items == 0)
		return;

	now_ms = clock_now_ms();
	started = clock_monotonic_seconds();
	r = ingest_write_batch(ingest, now_ms);
	for (int attempt = 0; r == STORE_MAP_FULL && attempt < INGEST_GROW_ATTEMPTS; attempt++) {
		if (store_grow(ingest->store) != STORE_OK)
			break;
		metrics_count_map_grown(ingest->metrics);
		log_info("ingest: store map grown; writing the batch again");
		r = ingest_write_batch(ingest, now_ms);
	}
	metrics_observe_batch(ingest->metrics, ingest->n_items, clock_monotonic_seconds() - started);
	if (r != STORE_OK) {
		ingest->refused_at_ms = clock_monotonic_ms();
		ingest_refuse_batch(ingest, r);
	}
	else
		ingest->last_commit_ms = now_ms;
	ingest->batches++;

	/* Committed: now, and only now, the acks, every one before the
	 * updates so that none waits for the publishing. */
	for (size_t i = 0; i < ingest->n_items; i++) {
		ingest_send_ack(ingest, &ingest->items[i]);
		ingest_count(ingest, &ingest->items[i]);
	}
	/* Every envelope of the batch waited from its read to this answer. */
	answered = clock_monotonic_seconds() - started;
	for (size_t i = 0; i < ingest->n_items; i++) {
		struct ingest_item *item = &ingest->items[i];
		for (int u = 0; u < item->n_updates; u++)
			publish_send(ingest->pub, item->updates[u].topic, item->updates[u].bytes,
			    item->updates[u].len);
		metrics_count_published(ingest->metrics, (uint64_t)item->n_updates);
		metrics_observe_ack_latency(ingest->metrics, answered);
		item_release(item);
	}
	ingest->n_items = 0;
	arena_reset(ingest->arena);
	ingest_bound_mapped(ingest);
	store_cache_ahead(ingest->store);
	if (ingest->on_committed != NULL)
		ingest->on_committed(ingest->on_committed_arg);
}

struct ingest *
ingest_new(struct event_base *base, void *zmq_ctx, const struct config *cfg,
    const struct zap *zap, struct store *store, struct publish *pub, struct live *live,
    struct housekeeping *hk, struct metrics *metrics, char *err, size_t errlen)
{
	struct ingest *ingest = calloc(1, sizeof(*ingest));
	int hwm = (int)cfg->ingest_high_water_mark, linger = 2000;
	/* Frames far above the envelope limit are cut off by ZeroMQ itself
	 * (the peer is disconnected) so that one sender cannot exhaust memory;
	 * those up to 16 times the limit get a REJECTED ack. */
	int64_t max_frame = (int64_t)cfg->ingest_max_envelope_bytes * 16;

	if (ingest == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ingest->cfg = cfg;
	ingest->store = store;
	ingest->pub = pub;
	ingest->live = live;
	ingest->hk = hk;
	ingest->metrics = metrics;
	ingest->arena = arena_new(INGEST_ARENA_KEEP_BYTES);
	if (ingest->arena == NULL) {
		snprintf(err, errlen, "out of memory");
		free(ingest);
		return NULL;
	}
	ingest->socket = zmq_socket(zmq_ctx, ZMQ_ROUTER);
	if (ingest_reconfigure(ingest) < 0 || ingest->socket == NULL ||
	    zmq_setsockopt(ingest->socket, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(ingest->socket, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(ingest->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(ingest->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame)) < 0 ||
	    zap_bind(zap, ingest->socket, ZAP_DOMAIN_INGEST, cfg->ingest_endpoint) < 0) {
		snprintf(err, errlen, "ingest: cannot bind %s: %s", cfg->ingest_endpoint,
		    zmq_strerror(zmq_errno()));
		goto fail;
	}
	ingest->watch = zwatch_new(base, ingest->socket, ingest_on_readable, ingest);
	if (ingest->watch == NULL) {
		snprintf(err, errlen, "ingest: cannot watch the socket");
		goto fail;
	}
	return ingest;
fail:
	if (ingest->socket != NULL)
		zmq_close(ingest->socket);
	arena_destroy(&ingest->arena);
	free(ingest->items);
	free(ingest);
	return NULL;
}

int
ingest_reconfigure(struct ingest *ingest)
{
	int64_t max_frame = (int64_t)ingest->cfg->ingest_max_envelope_bytes * 16;

	/* Called between batches: no item is in hand. The items only grow. */
	if (ingest->cfg->ingest_batch_limit > ingest->items_size) {
		struct ingest_item *items = realloc(ingest->items,
		    ingest->cfg->ingest_batch_limit * sizeof(*items));
		if (items == NULL)
			return -1;
		memset(items + ingest->items_size, 0,
		    (ingest->cfg->ingest_batch_limit - ingest->items_size) * sizeof(*items));
		ingest->items = items;
		ingest->items_size = ingest->cfg->ingest_batch_limit;
	}
	/* ZeroMQ applies this to connections made from now on. */
	if (ingest->socket != NULL)
		zmq_setsockopt(ingest->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame));
	return 0;
}

void
ingest_stop(struct ingest *ingest)
{
	ingest->stopped = true;
	log_info("ingest: stopped after %" PRIu64 " batches: %" PRIu64 " accepted, %" PRIu64
		 " duplicate, %" PRIu64 " rejected, %" PRIu64 " retry later",
	    ingest->batches, ingest->accepted, ingest->duplicates, ingest->rejected,
	    ingest->retry_later);
}

void
ingest_destroy(struct ingest **ingestp)
{
	struct ingest *ingest = *ingestp;

	if (ingest == NULL)
		return;
	zwatch_destroy(&ingest->watch);
	zmq_close(ingest->socket);
	arena_destroy(&ingest->arena);
	free(ingest->items);
	free(ingest);
	*ingestp = NULL;
}

void
ingest_on_committed(struct ingest *ingest, void (*fn)(void *arg), void *arg)
{
	ingest->on_committed = fn;
	ingest->on_committed_arg = arg;
}

/* A nearly full store refuses a large batch and may still take a small
 * one after it: readiness must not flap with every batch. */
#define INGEST_REFUSING_WINDOW_MS 10000

bool
ingest_refusing(const struct ingest *ingest)
{
	return ingest->refused_at_ms != 0 &&
	    clock_monotonic_ms() - ingest->refused_at_ms < INGEST_REFUSING_WINDOW_MS;
}

int64_t
ingest_last_commit_ms(const struct ingest *ingest)
{
	return ingest->last_commit_ms;
}
