/*
 * client: owns the DEALER to commissiond and the window of envelopes in
 * flight. The outbox holds the bytes; the window holds only what is needed
 * to match an Ack (source, event_id) and to know when to send again.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "client.h"
#include "commissioning.pb-c.h"
#include "event_check.h"
#include "keyindex.h"
#include "log.h"
#include "zwatch.h"

#define CLIENT_TICK_MS 200
#define CLIENT_BACKOFF_MAX_MS 30000
#define CLIENT_ACK_MAX_BYTES 65536
/* Envelopes in flight and no answer for this many resend_ms: said once,
 * and again when commissiond answers. */
#define CLIENT_UNANSWERED_RESENDS 10
#define CLIENT_SEND_HWM_MIN 1000 /* ZeroMQ's default */

struct flight {
	bool used;
	uint64_t seq;
	int64_t due_ms; /* send (again) at this time */
	unsigned tries;
	char source[EVENT_SOURCE_MAX_BYTES + 1];
	char event_id[EVENT_ID_MAX_BYTES + 1];
};

struct client {
	struct client_options opt;
	struct outbox *outbox;
	void *socket;
	struct zwatch *watch;
	struct event *tick;
	struct flight *flights;
	size_t n_used;
	struct keyindex *by_key; /* the flights in use, by source and event id */
	size_t *free;		 /* the flights not in use: free[0..window - n_used) */
	uint64_t scan_from; /* outbox sequences below this are in flight or settled */
	struct outbox_settlement *settle;
	char (*reasons)[256];
	size_t n_settle;
	uint64_t commits_at_tick; /* the outbox's commit count at the last tick */
	struct client_stats stats;
	/* Since when envelopes have been in flight with no answer: the last
	 * answer, or the send that ended a time with none in flight. */
	int64_t unanswered_since_ms;
	bool unanswered_said;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send bytes now; if the daemon cannot take it, it stays due for later. */
static void
client_send(struct client *c, struct flight *f, const uint8_t *bytes, size_t len)
{
	f->tries++;
	f->due_ms = now_ms() + (int64_t)c->opt.resend_ms;
	/* ZMQ_IMMEDIATE: with no daemon connected this fails at once
	 * rather than queueing; the tick sends it again. */
	if (zmq_send(c->socket, bytes, len, ZMQ_DONTWAIT) < 0)
		return;
	if (f->tries > 1)
		c->stats.resent++;
	else
		c->stats.sent++;
}

static struct flight *
client_free_flight(struct client *c)
{
	return c->n_used < c->opt.window ? &c->flights[c->free[c->opt.window - c->n_used - 1]]
					 : NULL;
}

/* f, from client_free_flight, is in flight with its key set. */
static void
client_take_flight(struct client *c, struct flight *f)
{
	size_t i = (size_t)(f - c->flights);

	f->used = true;
	keyindex_add(c->by_key, i, keyindex_hash(f->source, f->event_id));
	if (c->n_used++ == 0 && !c->unanswered_said)
		c->unanswered_since_ms = now_ms();
}

/* f is settled, or let go: its place is free for the next. */
static void
client_let_go(struct client *c, struct flight *f)
{
	size_t i = (size_t)(f - c->flights);

	keyindex_remove(c->by_key, i);
	f->used = false;
	c->n_used--;
	c->free[c->opt.window - c->n_used - 1] = i;
}

/* The flight of (source, event_id); NULL when none is in flight. */
static struct flight *
client_find_flight(struct client *c, const char *source, const char *event_id)
{
	uint32_t hash = keyindex_hash(source, event_id);
	size_t cursor = 0, i;

	while ((i = keyindex_next(c->by_key, hash, &cursor)) != SIZE_MAX)
		if (strcmp(c->flights[i].event_id, event_id) == 0 &&
		    strcmp(c->flights[i].source, source) == 0)
			return &c->flights[i];
	return NULL;
}

/* A protobuf varint at *p (before end); false when there is none. */
static bool
client_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
	*value = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*value |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Copy a string field into out (cut to fit: an id over the limit matches
 * nothing the daemon would send back). */
static void
client_copy_text(char *out, size_t outlen, const uint8_t *text, uint64_t len)
{
	size_t n = len < outlen - 1 ? (size_t)len : outlen - 1;

	memcpy(out, text, n);
	out[n] = '\0';
}

/*
 * The Envelope's source (field 1) and event_id (field 2), what an Ack is
 * matched by, read from its wire form: unpacking the whole Envelope (and
 * freeing it) for two strings was a tenth of the adapter's work. The
 * outbox holds only Envelopes this adapter packed; on anything malformed
 * both stay empty, as they did when unpacking failed.
 */
static void
client_envelope_key(const uint8_t *bytes, size_t len, char *source, size_t source_len,
    char *event_id, size_t event_id_len)
{
	const uint8_t *p = bytes, *end = bytes + len;
	uint64_t key, n;

	source[0] = event_id[0] = '\0';
	while (p < end && client_read_varint(&p, end, &key)) {
		switch (key & 7) {
		case 0:
			if (!client_read_varint(&p, end, &n))
				goto bad;
			break;
		case 1:
		case 5:
			if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
				goto bad;
			p += (key & 7) == 1 ? 8 : 4;
			break;
		case 2:
			if (!client_read_varint(&p, end, &n) || n > (uint64_t)(end - p))
				goto bad;
			if (key >> 3 == 1)
				client_copy_text(source, source_len, p, n);
			else if (key >> 3 == 2)
				client_copy_text(event_id, event_id_len, p, n);
			p += n;
			break;
		default:
			goto bad;
		}
	}
	return;
bad:
	source[0] = event_id[0] = '\0';
}

static int
client_load(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct client *c = arg;
	struct flight *f = client_free_flight(c);

	if (f == NULL)
		return 1;
	memset(f, 0, sizeof(*f));
	f->seq = seq;
	client_envelope_key(bytes, len, f->source, sizeof(f->source), f->event_id,
	    sizeof(f->event_id));
	client_take_flight(c, f);
	client_send(c, f, bytes, len);
	/* Go on: outbox_scan's max stops at the window. Stopping here would
	 * leave *next at this envelope, which the next fill would send again. */
	return 0;
}

/* Take more of the outbox into the window. */
static void
client_fill(struct client *c)
{
	uint64_t next = c->scan_from;

	if (c->n_used >= c->opt.window)
		return;
	if (outbox_scan(c->outbox, c->scan_from, c->opt.window - c->n_used, client_load, c,
		&next) != OUTBOX_OK)
		log_error("delivery: %s", outbox_error(c->outbox));
	c->scan_from = next;
}

struct resend_ctx {
	struct client *c;
	struct flight *f;
	bool found;
};

static int
client_resend_cb(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	struct resend_ctx *rc = arg;

	if (seq == rc->f->seq) {
		client_send(rc->c, rc->f, bytes, len);
		rc->found = true;
	}
	return 1; /* one record is all we asked for */
}

static void
client_resend_due(struct client *c)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < c->opt.window; i++) {
		struct flight *f = &c->flights[i];
		struct resend_ctx rc = { c, f, false };
		if (!f->used || f->due_ms > now)
			continue;
		if (outbox_scan(c->outbox, f->seq, 1, client_resend_cb, &rc, NULL) != OUTBOX_OK) {
			/* Not read, so not known to be settled: tried again
			 * at its next due time, not let go. */
			log_error("delivery: %s", outbox_error(c->outbox));
			f->due_ms = now + (int64_t)c->opt.resend_ms;
			continue;
		}
		if (!rc.found) /* settled meanwhile: let it go */
			client_let_go(c, f);
	}
}

/* Hand the answered envelopes to the outbox, which commits them with its
 * next put (or client_on_tick's flush). */
static void
client_flush_settlements(struct client *c)
{
	if (c->n_settle == 0)
		return;
	if (outbox_settle(c->outbox, c->settle, c->n_settle) != OUTBOX_OK)
		/* Held for the next commit, or (out of memory) sent again
		 * after a restart and answered DUPLICATE. */
		log_error("delivery: %s", outbox_error(c->outbox));
	c->n_settle = 0;
}

/* No put committed the held settlements for a whole tick: commit them
 * alone, so that a quiet source does not leave them held. */
static void
client_commit_idle_settlements(struct client *c)
{
	struct outbox_stats st;

	outbox_get_stats(c->outbox, &st);
	if (st.commits == c->commits_at_tick && outbox_flush(c->outbox) != OUTBOX_OK)
		log_error("delivery: %s", outbox_error(c->outbox));
	outbox_get_stats(c->outbox, &st);
	c->commits_at_tick = st.commits;
}

static void
client_on_ack(struct client *c, const Commissioning__Ack *ack)
{
	struct flight *f = client_find_flight(c, ack->source, ack->event_id);

	if (f == NULL) {
		/* An answer to a resend already settled; or, with no source
		 * and no event id, to an envelope commissiond could not read
		 * even those of (it echoes them when it can, PROTOCOL.md): no
		 * flight can be told from it, so that one is sent again, and
		 * again. */
		if (ack->status == COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED &&
		    ack->source[0] == '\0' && ack->event_id[0] == '\0')
			log_warning("delivery: commissiond REJECTED an envelope it could not read, "
				    "which is sent again until it can: %s",
			    ack->reason);
		return;
	}
	switch (ack->status) {
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED:
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE:
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED: {
		bool rejected = ack->status == COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED;
		struct outbox_settlement *s = &c->settle[c->n_settle];
		if (rejected) {
			c->stats.rejected++;
			log_warning("delivery: REJECTED by commissiond: source=%s event_id=%s: %s",
			    ack->source, ack->event_id, ack->reason);
			snprintf(c->reasons[c->n_settle], sizeof(c->reasons[0]), "%s", ack->reason);
		} else if (ack->status == COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED) {
			c->stats.accepted++;
		} else {
			c->stats.duplicates++;
		}
		s->seq = f->seq;
		s->rejected = rejected;
		s->reason = c->reasons[c->n_settle];
		c->n_settle++;
		client_let_go(c, f);
		break;
	}
	default: {
		/* RETRY_LATER: the daemon's store is full; back off. A status
		 * this adapter does not know (a newer daemon's, or 0) is taken
		 * the same way, kept and sent again, but said. */
		int64_t wait = (int64_t)c->opt.resend_ms << (f->tries < 5 ? f->tries : 5);
		if (ack->status != COMMISSIONING__ACK_STATUS__ACK_STATUS_RETRY_LATER)
			log_warning("delivery: commissiond answered source=%s event_id=%s with "
				    "status %d, which this adapter does not know; it is kept and "
				    "sent again later: %s",
			    ack->source, ack->event_id, (int)ack->status, ack->reason);
		c->stats.retry_later++;
		f->due_ms = now_ms() + (wait < CLIENT_BACKOFF_MAX_MS ? wait : CLIENT_BACKOFF_MAX_MS);
		break;
	}
	}
}

/* What waits in the outbox, for the lines below; UINT64_MAX: not known. */
static uint64_t
client_pending(struct client *c)
{
	struct outbox_counts counts;

	return outbox_counts(c->outbox, &counts) == OUTBOX_OK ? counts.pending : UINT64_MAX;
}

/* commissiond answered (an Ack of any kind). */
static void
client_answered(struct client *c)
{
	int64_t now = now_ms();

	if (c->unanswered_said) {
		uint64_t pending = client_pending(c);
		log_info("delivery: commissiond answers again, after %" PRId64 " s; delivering what "
			 "waits in the outbox (%" PRIu64 " envelopes)",
		    (now - c->unanswered_since_ms) / 1000, pending);
		c->unanswered_said = false;
	}
	c->unanswered_since_ms = now;
}

/* Envelopes in flight with no answer for CLIENT_UNANSWERED_RESENDS times
 * resend_ms: said once. The adapter goes on taking input; it waits in the
 * outbox. */
static void
client_check_unanswered(struct client *c)
{
	int64_t now = now_ms();

	if (c->n_used == 0 || c->unanswered_said ||
	    (uint64_t)(now - c->unanswered_since_ms) / CLIENT_UNANSWERED_RESENDS <
		c->opt.resend_ms)
		return;
	c->unanswered_said = true;
	log_warning("delivery: commissiond at %s has not answered for %" PRId64 " s; what is taken "
		    "waits in the outbox (%" PRIu64 " envelopes) and is delivered when it "
		    "answers: is it running, and reachable%s?",
	    c->opt.endpoint, (now - c->unanswered_since_ms) / 1000, client_pending(c),
	    c->opt.curve != NULL && c->opt.curve->enabled ? " with this adapter's key allowed" : "");
}

static void
client_on_readable(void *arg)
{
	struct client *c = arg;
	zmq_msg_t msg;
	bool answered = false;

	for (size_t n = 0; n < c->opt.window; n++) {
		Commissioning__Ack *ack;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, c->socket, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			break;
		}
		ack = commissioning__ack__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
		zmq_msg_close(&msg);
		if (ack == NULL) {
			log_warning("delivery: commissiond sent something that is not an Ack");
			continue;
		}
		answered = true;
		client_on_ack(c, ack);
		commissioning__ack__free_unpacked(ack, NULL);
	}
	if (answered)
		client_answered(c);
	client_flush_settlements(c);
	client_fill(c);
}

static void
client_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	client_commit_idle_settlements(c);
	client_check_unanswered(c);
	client_resend_due(c);
	client_fill(c);
	zwatch_kick(c->watch);
}

void
client_kick(struct client *c)
{
	client_fill(c);
	zwatch_kick(c->watch);
}

struct client *
client_new(struct event_base *base, void *zmq_ctx, struct outbox *outbox,
    const struct client_options *opt, char *err, size_t errlen)
{
	struct client *c = calloc(1, sizeof(*c));
	int one = 1, linger = 0;
	/* Room in the socket's queue for the whole window: past ZeroMQ's
	 * default of 1,000, a send fails (EAGAIN) while the daemon is busy,
	 * and that envelope waits resend_ms. Resends past it wait too. */
	int send_hwm = opt->window > CLIENT_SEND_HWM_MIN ? (int)opt->window : CLIENT_SEND_HWM_MIN;
	/* The daemon answers with Acks of a few hundred bytes. */
	int64_t max_frame = CLIENT_ACK_MAX_BYTES;
	struct timeval tick = { 0, CLIENT_TICK_MS * 1000 };
	char why[160];

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->opt = *opt;
	c->outbox = outbox;
	c->scan_from = 1;
	c->flights = calloc(opt->window, sizeof(*c->flights));
	c->settle = calloc(opt->window, sizeof(*c->settle));
	c->reasons = calloc(opt->window, sizeof(*c->reasons));
	c->by_key = keyindex_new(opt->window);
	c->free = calloc(opt->window, sizeof(*c->free));
	if (c->flights == NULL || c->settle == NULL || c->reasons == NULL || c->by_key == NULL ||
	    c->free == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < opt->window; i++)
		c->free[i] = i;
	c->socket = zmq_socket(zmq_ctx, ZMQ_DEALER);
	if (c->socket == NULL ||
	    zmq_setsockopt(c->socket, ZMQ_IMMEDIATE, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(c->socket, ZMQ_SNDHWM, &send_hwm, sizeof(send_hwm)) < 0 ||
	    zmq_setsockopt(c->socket, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame)) < 0) {
		snprintf(err, errlen, "delivery: cannot make the socket: %s",
		    zmq_strerror(zmq_errno()));
		goto fail;
	}
	if (curve_client_socket(c->socket, opt->curve, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "delivery: %s", why);
		goto fail;
	}
	if (zmq_connect(c->socket, opt->endpoint) < 0) {
		snprintf(err, errlen, "delivery: cannot connect to commissiond at %s: %s",
		    opt->endpoint, zmq_strerror(zmq_errno()));
		goto fail;
	}
	c->watch = zwatch_new(base, c->socket, client_on_readable, c);
	c->tick = event_new(base, -1, EV_PERSIST, client_on_tick, c);
	if (c->watch == NULL || c->tick == NULL || event_add(c->tick, &tick) < 0) {
		snprintf(err, errlen, "delivery: cannot watch the socket");
		goto fail;
	}
	return c;
fail:
	if (c->tick != NULL)
		event_free(c->tick);
	zwatch_destroy(&c->watch);
	if (c->socket != NULL)
		zmq_close(c->socket);
	free(c->flights);
	free(c->settle);
	free(c->reasons);
	keyindex_destroy(&c->by_key);
	free(c->free);
	free(c);
	return NULL;
}

void
client_destroy(struct client **cp)
{
	struct client *c = *cp;

	if (c == NULL)
		return;
	client_flush_settlements(c);
	event_free(c->tick);
	zwatch_destroy(&c->watch);
	zmq_close(c->socket);
	free(c->flights);
	free(c->settle);
	free(c->reasons);
	keyindex_destroy(&c->by_key);
	free(c->free);
	free(c);
	*cp = NULL;
}

void
client_get_stats(const struct client *c, struct client_stats *stats)
{
	*stats = c->stats;
	stats->in_flight = c->n_used;
}
