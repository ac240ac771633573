/*
 * commissiond-hl7: providers' HL7 v2 ADT feeds over MLLP to commissiond.
 * Owns the listener and its connections. A message is answered AA only
 * once it is durable in the outbox; AE when it is wrong (the ERR segment
 * names the field); AR when it cannot be stored now.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "ack.h"
#include "adapter.h"
#include "adt.h"
#include "clock.h"
#include "log.h"
#include "mllp.h"

/* Messages taken from one connection per turn of the event loop: the rest
 * wait in its buffer for the next turn. */
#define HL7_MESSAGES_PER_READ 256
/* A connection's input stops being read past one whole message and this
 * (libevent's read high-water mark), so its buffer stays bounded. */
#define HL7_READ_SLACK_BYTES (64 * 1024)
/* ACKs waiting for a sender that does not read them: past this, its input
 * is no longer read until they drain to half. */
#define HL7_OUTPUT_MAX_BYTES (1024 * 1024)
/*
 * TCP keepalive on every connection: after a network break with no reset
 * (a firewall that forgets the flow, a peer powered off), a connection
 * would otherwise stay open for good and hold one of max_connections.
 * Probes start after 60 s of silence, every 10 s, and 6 unanswered ones
 * close it: a dead peer is found in about two minutes. A live peer
 * answers probes at the TCP level, so an interface engine that keeps its
 * connection open overnight with nothing to send is never closed.
 */
#define HL7_KEEPALIVE_IDLE_SECONDS 60
#define HL7_KEEPALIVE_INTERVAL_SECONDS 10
#define HL7_KEEPALIVE_PROBES 6
/* A connection being closed (hl7_conn_linger) waits this long at most for
 * the sender to close its side. */
#define HL7_LINGER_MS (5 * 1000)
/* How often the connections are looked at for lingering and for frames
 * begun and not ended ([hl7] frame_timeout_ms): every 5 s, or a quarter of
 * a shorter frame timeout, but not more often than every 100 ms. */
#define HL7_SWEEP_INTERVAL_MS (5 * 1000)
#define HL7_SWEEP_INTERVAL_MIN_MS 100
/* The groups: those in flight in the outbox and the one filling. */
#define HL7_GROUPS (OUTBOX_PIPELINE + 1)
/* accept() failed for want of file descriptors (or memory): the listener
 * pauses this long, the connections waiting in the listen backlog, rather
 * than being called again at once for the same pending connection. */
#define HL7_ACCEPT_PAUSE_MS 250

struct hl7_conn;

/* One message taken from a connection, waiting for the group commit. */
struct hl7_taken {
	size_t at, len;		  /* the message in its connection's input buffer */
	enum ack_code code;
	struct hl7_error err;	  /* why, for AE and AR */
	size_t packed_at, packed_len; /* the Envelope in the server's packed bytes (AA) */
};

/*
 * A group of messages from any connections, made durable by one outbox
 * put (one fsync). Groups commit on the outbox's threads, up to
 * OUTBOX_PIPELINE at once, while the next fills from what the connections
 * send meanwhile: group commit, with the fsyncs of groups overlapping.
 */
struct hl7_group {
	struct hl7_taken *taken;
	size_t n_taken, taken_cap;
	uint8_t *packed; /* the Envelopes, one after another */
	size_t packed_len, packed_cap;
	struct outbox_item *items;
	size_t items_cap;
	struct hl7_conn *conns, **tail; /* in the order they were read */
};

struct hl7_server {
	struct adapter *a;
	struct evconnlistener *listener;
	struct adt_facility facilities[CONFIG_PROVIDERS_MAX];
	struct adt_options options;
	struct hl7_conn *conns;
	size_t n_conns;
	/* At max_connections, or after accept() failed: the listen queue holds the rest. */
	bool paused;
	bool stopping;
	uint64_t aa, ae, ar;
	/* A ring: n_committing groups in the outbox from groups[committing],
	 * oldest first, then the one filling with this turn's messages. */
	struct hl7_group groups[HL7_GROUPS];
	size_t committing, n_committing;
	struct hl7_group *filling;
	struct event *turn_end;	      /* after this turn's reads: commit */
	struct event *sweep;	      /* closes connections stalled mid-frame or lingering */
	struct event *accept_resume;  /* accepting again after accept() failed */
	struct evbuffer *acks;	      /* one connection's ACKs, on their way out */
	/* Scratch for deciding and answering one message at a time. */
	struct hl7_message msg;
	struct adt_event event;
};

struct hl7_conn {
	struct hl7_server *srv;
	struct bufferevent *bev;
	char peer[64];
	struct hl7_conn *prev, *next;
	/* In a group (filling or committing): its messages are group->taken
	 * [first, first + n), the first taken_bytes of its input (drained
	 * once they are answered). It is not read again until then. */
	struct hl7_group *group;
	struct hl7_conn *next_in_group;
	size_t first, n, taken_bytes;
	bool close_after; /* a message too large came, or an ACK was lost: close once answered */
	bool read_closed; /* the sender shut its side (EOF): answer what came, then close */
	bool write_shut;  /* lingering, and our side is shut (FIN sent) */
	/* When hl7_conn_linger began closing it (monotonic ms), else 0. */
	int64_t lingering_since_ms;
	/* When the frame its input ends in began (monotonic ms), 0 when it
	 * holds no part of a frame. */
	int64_t partial_since_ms;
	/* How many bytes at the start of its input (once the messages of its
	 * group are drained) are a frame begun that mllp_find has looked
	 * through already, finding no end; 0 when not known. */
	size_t scanned;
};

static const char *
hl7_outbox_path(const struct config *cfg)
{
	return cfg->hl7_outbox;
}

static void hl7_conn_close(struct hl7_conn *c);
static void hl7_conn_linger(struct hl7_conn *c);
static void hl7_conn_linger_on(struct hl7_conn *c);

static void
hl7_resume_listening(struct hl7_server *srv)
{
	if (srv->paused && !srv->stopping && srv->n_conns < srv->a->cfg->hl7_max_connections) {
		evconnlistener_enable(srv->listener);
		srv->paused = false;
	}
}

/* Make room for one more taken message. */
static int
hl7_reserve_taken(struct hl7_group *g)
{
	size_t cap = g->taken_cap ? 2 * g->taken_cap : HL7_MESSAGES_PER_READ;
	struct hl7_taken *grown;

	if (g->n_taken < g->taken_cap)
		return 0;
	if ((grown = realloc(g->taken, cap * sizeof(*grown))) == NULL)
		return -1;
	g->taken = grown;
	g->taken_cap = cap;
	return 0;
}

/* Make room for len more bytes of packed Envelopes. */
static int
hl7_reserve_packed(struct hl7_group *g, size_t len)
{
	size_t cap = g->packed_cap ? g->packed_cap : 64 * 1024;
	uint8_t *grown;

	if (g->packed_cap - g->packed_len >= len)
		return 0;
	while (cap - g->packed_len < len)
		cap *= 2;
	if ((grown = realloc(g->packed, cap)) == NULL)
		return -1;
	g->packed = grown;
	g->packed_cap = cap;
	return 0;
}

/* Decide one message: parse, map and pack it; wrong ones get AE. */
static void
hl7_decide(struct hl7_server *srv, struct hl7_group *g, struct hl7_taken *t, const char *text,
    size_t len)
{
	struct adt_event *ev = &srv->event;

	memset(&t->err, 0, sizeof(t->err));
	t->packed_len = 0;
	if (hl7_parse(&srv->msg, text, len, &t->err) < 0 ||
	    adt_to_envelope(&srv->msg, &srv->options, srv->a->pseudonymiser, ev, &t->err) < 0) {
		t->code = ACK_CODE_ERROR;
		return;
	}
	t->packed_len = commissioning__envelope__get_packed_size(&ev->envelope);
	if (hl7_reserve_packed(g, t->packed_len) < 0) {
		t->packed_len = 0;
		t->code = ACK_CODE_REJECT;
		snprintf(t->err.field, sizeof(t->err.field), "MSH-10");
		snprintf(t->err.text, sizeof(t->err.text),
		    "out of memory in the adapter; send the message again later");
		t->err.code = HL7_ERROR_APPLICATION_INTERNAL;
		return;
	}
	t->packed_at = g->packed_len;
	commissioning__envelope__pack(&ev->envelope, g->packed + t->packed_at);
	g->packed_len += t->packed_len;
	t->code = ACK_CODE_ACCEPT;
}

/* Add the ACK of one message to srv->acks; text is the message itself
 * (parsed again here, so that no parse is kept per message while the
 * commit waits). False when it could not be added: then no later ACK may
 * go to this connection before it. */
static bool
hl7_answer(struct hl7_conn *c, const struct hl7_taken *t, const char *text)
{
	struct hl7_server *srv = c->srv;
	struct hl7_error ignored;
	char ack[ACK_BUFSIZE], control_id[24];
	uint8_t framed[ACK_BUFSIZE + 3];
	int64_t now = clock_now_ms();
	int len;
	size_t n, parsed;

	/* The ACK mirrors the header: of a message taken, that is all there
	 * is to parse again, unless its trigger is in EVN-1 (v2.2), so that
	 * AA says ACK^A01 as AE does; a refused one is mirrored as far as its
	 * header was read when it was parsed whole. */
	parsed = t->code == ACK_CODE_ERROR ? t->len : hl7_header_length(text, t->len);
	hl7_parse(&srv->msg, text, parsed, &ignored);
	if (parsed < t->len && ack_needs_evn(&srv->msg))
		hl7_parse(&srv->msg, text, t->len, &ignored);
	/* Each ACK gets a control id of its own (MSH-10, at most 20). */
	snprintf(control_id, sizeof(control_id), "CD%" PRIx64 "%04" PRIx64, (uint64_t)now,
	    (srv->aa + srv->ae + srv->ar) & 0xffff);
	len = ack_build(&srv->msg, t->code, t->code == ACK_CODE_ACCEPT ? NULL : &t->err,
	    control_id, now, ack, sizeof(ack));
	if (len < 0) {
		log_error("hl7: %s: cannot build an ACK; closing the connection, the sender will "
			  "resend what is unanswered", c->peer);
		return false;
	}
	n = mllp_wrap(ack, (size_t)len, framed, sizeof(framed));
	if (evbuffer_add(srv->acks, framed, n) < 0) {
		log_error("hl7: %s: out of memory for an ACK; closing the connection, the sender "
			  "will resend what is unanswered", c->peer);
		return false;
	}
	switch (t->code) {
	case ACK_CODE_ACCEPT:
		srv->aa++;
		break;
	case ACK_CODE_ERROR:
		srv->ae++;
		/* The field and the rule, never the value: it may be personal.
		 * The text starts with the field ("PID-3: ..."). */
		log_info("hl7: %s: AE: %s", c->peer, t->err.text);
		break;
	case ACK_CODE_REJECT:
		srv->ar++;
		break;
	}
	return true;
}

/*
 * After a read: does the connection's input end in a frame begun and not
 * ended? Its time starts with the first read that left it so, and again
 * whenever whole messages were taken before it (it is a new frame then).
 */
static void
hl7_note_partial_frame(struct hl7_conn *c, bool partial, bool restarted)
{
	if (!partial)
		c->partial_since_ms = 0;
	else if (c->partial_since_ms == 0 || restarted)
		c->partial_since_ms = clock_monotonic_ms();
}

/*
 * Bytes outside any frame. Line breaks and spaces between frames are what
 * some senders send to keep a connection open: debug. An end block with
 * nothing before it (a doubled 0x1C 0x0D) held no message: a warning that
 * says so. Anything else is most likely a message sent without its start
 * block (0x0B), which is never read: a warning, so that its sender's team
 * can be told.
 */
static void
hl7_log_skipped(const struct hl7_conn *c, const uint8_t *bytes, size_t n)
{
	bool end_block = false;

	for (size_t i = 0; i < n; i++) {
		if (bytes[i] == MLLP_END) {
			end_block = true;
			continue;
		}
		if (bytes[i] != '\r' && bytes[i] != '\n' && bytes[i] != ' ' && bytes[i] != '\t') {
			log_warning("hl7: %s: %zu bytes outside MLLP frames skipped: a message sent "
				    "without its start block (0x0B) is not read", c->peer, n);
			return;
		}
	}
	if (end_block)
		log_warning("hl7: %s: a stray end block (0x1C) outside any frame skipped (a doubled "
			    "end block?): no message was in it", c->peer);
	else
		log_debug("hl7: %s: skipped %zu blank bytes between MLLP frames", c->peer, n);
}

/*
 * A message refused before it was whole (a frame cut short by the next
 * start block, one too large) is answered AE when its header gives an
 * MSH-10 the sender can match the ACK to; else an ACK would be taken for
 * the next message's, and it is dropped.
 */
static bool
hl7_can_answer_header(struct hl7_server *srv, const uint8_t *text, size_t len)
{
	const char *value;
	size_t value_len;

	hl7_parse(&srv->msg, (const char *)text, hl7_header_length((const char *)text, len), NULL);
	return srv->msg.has_header &&
	    hl7_get_raw_field(&srv->msg, "MSH", 1, 10, &value, &value_len) == 0 && value_len > 0;
}

/*
 * Answer t AE (code from HL7 table 0357) without deciding it: a message
 * refused before it was whole. The text names no field, as it is about
 * the message as sent, not a value in it.
 */
static void hl7_refuse_unread(struct hl7_taken *t, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
hl7_refuse_unread(struct hl7_taken *t, unsigned code, const char *fmt, ...)
{
	va_list ap;

	memset(&t->err, 0, sizeof(t->err));
	t->packed_len = 0;
	t->code = ACK_CODE_ERROR;
	va_start(ap, fmt);
	(void)hl7_error_vset(&t->err, code, "", fmt, ap);
	va_end(ap);
}

/*
 * A message longer than [hl7] max_message_bytes begins at data[start]
 * (len bytes in all): take it as an AE when its header gives an MSH-10 to
 * answer it by, else only say so. Either way its connection closes.
 */
static void
hl7_take_too_large(struct hl7_conn *c, struct hl7_group *g, const uint8_t *data, size_t start,
    size_t len)
{
	uint64_t max = c->srv->a->cfg->hl7_max_message_bytes;
	struct hl7_taken *t;

	if (!hl7_can_answer_header(c->srv, data + start, len - start)) {
		log_warning("hl7: %s: a message longer than %" PRIu64 " bytes ([hl7] "
			    "max_message_bytes), with no MSH-10 to answer it by: closing the "
			    "connection", c->peer, max);
		return;
	}
	if (hl7_reserve_taken(g) < 0) {
		log_error("hl7: %s: out of memory; the sender will resend", c->peer);
		return;
	}
	log_warning("hl7: %s: a message longer than %" PRIu64 " bytes ([hl7] max_message_bytes): "
		    "answered AE; closing the connection", c->peer, max);
	t = &g->taken[g->n_taken++];
	t->at = start;
	t->len = hl7_header_length((const char *)data + start, len - start);
	hl7_refuse_unread(t, HL7_ERROR_DATA_TYPE,
	    "the message is longer than %" PRIu64 " bytes ([hl7] max_message_bytes of the "
	    "receiver): it is not read, and the connection is closed", max);
	c->n++;
}

/*
 * Can what came since the frame begun at the start of in was looked
 * through (its first scanned bytes) end it? Only a start block or an end
 * block can (one 0x1C may be the last byte looked at): each read of a
 * frame sent a few bytes at a time looks at those bytes alone, not again
 * at all the frame has, which would cost a slow sender's every read the
 * whole frame (up to [hl7] max_message_bytes) again.
 */
static bool
hl7_frame_may_end(struct evbuffer *in, size_t scanned)
{
	struct evbuffer_ptr from;

	if (evbuffer_ptr_set(in, &from, scanned - 1, EVBUFFER_PTR_SET) < 0)
		return true;
	return evbuffer_search_range(in, "\x0b", 1, &from, NULL).pos >= 0 ||
	    evbuffer_search_range(in, "\x1c\x0d", 2, &from, NULL).pos >= 0;
}

/* Take the whole messages in a connection's buffer (at most
 * HL7_MESSAGES_PER_READ), decide each, and leave them for the group commit
 * of this turn. */
static void
hl7_on_read(struct bufferevent *bev, void *arg)
{
	struct hl7_conn *c = arg;
	struct hl7_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct hl7_group *g = srv->filling;
	const uint8_t *data;
	size_t len, done = 0;
	bool partial, restarted = false;

	if (c->lingering_since_ms != 0) {
		/* Being closed: what it sends now is not read. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (srv->stopping || c->group != NULL)
		return; /* one in a group is read again once answered */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > HL7_OUTPUT_MAX_BYTES) {
		/* It sends and does not read its ACKs: hear it again once it
		 * has (hl7_on_write). */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	len = evbuffer_get_length(in);
	if (c->scanned > 0 && !c->read_closed &&
	    len <= srv->a->cfg->hl7_max_message_bytes + 2 && !hl7_frame_may_end(in, c->scanned)) {
		/* The frame goes on, and is not too large yet. */
		c->scanned = len;
		return;
	}
	c->scanned = 0;
	data = len ? evbuffer_pullup(in, -1) : NULL;
	c->first = g->n_taken;
	c->n = 0;
	partial = false;
	while (data != NULL && c->n < HL7_MESSAGES_PER_READ) {
		size_t at, msg_len, consumed, skipped;
		enum mllp_status st = mllp_find(data + done, len - done,
		    srv->a->cfg->hl7_max_message_bytes, &at, &msg_len, &consumed, &skipped);
		struct hl7_taken *t;

		if (skipped > 0)
			hl7_log_skipped(c, data + done, skipped);
		if (st == MLLP_TOO_LARGE) {
			/* What came before it is answered first; the rest of it,
			 * and anything after, is discarded as the connection
			 * closes. */
			c->close_after = true;
			hl7_take_too_large(c, g, data, done + skipped + 1, len);
			done = len;
			break;
		}
		if (st == MLLP_MORE) {
			done += consumed; /* junk only */
			partial = done < len;
			break;
		}
		if (st == MLLP_UNENDED && msg_len == 0) {
			/* 0x0B 0x0B: nothing is lost; the frame is the next one. */
			log_warning("hl7: %s: a doubled start block (0x0B 0x0B) read as one",
			    c->peer);
			done += consumed;
			continue;
		}
		if (st == MLLP_UNENDED && !hl7_can_answer_header(srv, data + done + at, msg_len)) {
			log_warning("hl7: %s: a frame with no end block (0x1C 0x0D) before the next "
				    "start block (0x0B), and no MSH-10 to answer it by: %zu bytes "
				    "dropped", c->peer, msg_len);
			done += consumed;
			restarted = true;
			continue;
		}
		if (hl7_reserve_taken(g) < 0) {
			log_error("hl7: %s: out of memory; the sender will resend", c->peer);
			break;
		}
		t = &g->taken[g->n_taken++];
		t->at = done + at;
		t->len = msg_len;
		if (st == MLLP_UNENDED) {
			log_warning("hl7: %s: a frame with no end block (0x1C 0x0D) before the next "
				    "start block (0x0B): answered AE", c->peer);
			hl7_refuse_unread(t, HL7_ERROR_SEGMENT_SEQUENCE, "%s",
			    "MLLP framing: this frame had no end block (0x1C 0x0D) before the next "
			    "start block (0x0B), so the message may be cut short and is not taken; "
			    "send it again in a whole frame");
		} else {
			if (consumed - at > msg_len + 2)
				log_warning("hl7: %s: a doubled end block (0x1C 0x1C 0x0D) read as "
					    "one", c->peer);
			hl7_decide(srv, g, t, (const char *)data + t->at, msg_len);
		}
		c->n++;
		done += consumed;
		restarted = true;
	}
	hl7_note_partial_frame(c, partial, restarted);
	/* The frame begun at done: looked through to the end of the input. */
	c->scanned = partial ? len - done : 0;
	if (c->n == 0) {
		evbuffer_drain(in, done);
		/* A sender that shut its side has had every whole message it
		 * sent answered by now: what is left can never end. */
		if (c->read_closed && partial)
			log_warning("hl7: %s: the sender shut its side in mid-frame: %zu bytes with no "
				    "end block (0x1C 0x0D) are not read", c->peer, len - done);
		if (c->close_after || c->read_closed)
			hl7_conn_linger(c);
		return;
	}
	c->taken_bytes = done;
	c->group = g;
	c->next_in_group = NULL;
	*g->tail = c;
	g->tail = &c->next_in_group;
	/* After every read callback of this turn, which are queued already. */
	event_active(srv->turn_end, EV_TIMEOUT, 0);
}

/* Send the ACKs gathered in srv->acks to c. Straight to the socket when
 * nothing is queued before them (the usual case): no write event is added
 * and removed for each answer, and the sender has it on this turn. What the
 * socket does not take now goes through the bufferevent, which also meets
 * and reports any error of the socket (hl7_on_event). */
static void
hl7_send_acks(struct hl7_conn *c)
{
	struct evbuffer *acks = c->srv->acks;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		(void)evbuffer_write(acks, bufferevent_getfd(c->bev));
	if (evbuffer_get_length(acks) > 0 && bufferevent_write_buffer(c->bev, acks) < 0) {
		log_error("hl7: %s: out of memory for ACKs; closing the connection, the sender "
			  "will resend what is unanswered", c->peer);
		evbuffer_drain(acks, evbuffer_get_length(acks));
		c->close_after = true;
	}
}

/* Answer a connection of a group: its messages in order, then drain them. */
static void
hl7_answer_conn(struct hl7_conn *c, bool durable)
{
	struct hl7_group *g = c->group;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)c->taken_bytes);

	for (size_t i = c->first; i < c->first + c->n; i++) {
		struct hl7_taken *t = &g->taken[i];
		if (t->code == ACK_CODE_ACCEPT && !durable) {
			/* Not durable: the sender must keep its copy and resend. */
			t->code = ACK_CODE_REJECT;
			snprintf(t->err.field, sizeof(t->err.field), "MSH-10");
			snprintf(t->err.text, sizeof(t->err.text),
			    "the message cannot be stored now (outbox full or disk full); send it again later");
			t->err.code = HL7_ERROR_APPLICATION_INTERNAL;
		}
		if (!hl7_answer(c, t, data + t->at)) {
			/* Its ACK lost: none after it, out of order. */
			c->close_after = true;
			break;
		}
	}
	hl7_send_acks(c);
	evbuffer_drain(in, c->taken_bytes);
	c->group = NULL;
	c->n = 0;
	if (c->close_after) {
		hl7_conn_linger(c);
		return;
	}
	/* More whole messages may be waiting: come back for them on the next
	 * turn, rather than when the sender writes again; and to a sender that
	 * shut its side, to close once all it sent is answered. */
	if (evbuffer_get_length(in) > 0 || c->read_closed)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Answer every connection of a group, in the order they were read, and
 * empty it for the turn after next. */
static void
hl7_answer_group(struct hl7_group *g, bool durable)
{
	while (g->conns != NULL) {
		struct hl7_conn *c = g->conns;
		g->conns = c->next_in_group;
		hl7_answer_conn(c, durable);
	}
	g->tail = &g->conns;
	g->n_taken = 0;
	g->packed_len = 0;
}

static void hl7_commit(struct hl7_server *srv);

/* The outbox has committed the oldest group in flight (or failed to). */
static void
hl7_on_committed(void *arg, enum outbox_result r)
{
	struct hl7_server *srv = arg;
	struct hl7_group *g = &srv->groups[srv->committing];

	srv->committing = (srv->committing + 1) % HL7_GROUPS;
	srv->n_committing--;
	hl7_answer_group(g, r == OUTBOX_OK);
	/* What came while it committed: the next group, at once. */
	if (!srv->stopping)
		hl7_commit(srv);
}

/* The group commit: the filling group, from every connection, into the
 * outbox as one put (one fsync) on the outbox's threads, unless the
 * outbox has no room for another now: then it goes when one is done. */
static void
hl7_commit(struct hl7_server *srv)
{
	struct hl7_group *g = srv->filling;
	size_t n_items = 0;
	enum outbox_result r;

	if (g->conns == NULL || !adapter_put_room(srv->a))
		return;
	if (g->items_cap < g->n_taken) {
		struct outbox_item *grown = realloc(g->items, g->taken_cap * sizeof(*grown));
		if (grown == NULL) {
			log_error("hl7: out of memory; the senders will resend");
			hl7_answer_group(g, false);
			return;
		}
		g->items = grown;
		g->items_cap = g->taken_cap;
	}
	for (struct hl7_conn *c = g->conns; c != NULL; c = c->next_in_group)
		for (size_t i = c->first; i < c->first + c->n; i++)
			if (g->taken[i].code == ACK_CODE_ACCEPT)
				g->items[n_items++] = (struct outbox_item){
					g->packed + g->taken[i].packed_at, g->taken[i].packed_len
				};
	if (n_items == 0) {
		hl7_answer_group(g, true); /* AE only: nothing to store */
		return;
	}
	r = adapter_put_start(srv->a, g->items, n_items, hl7_on_committed, srv);
	if (r == OUTBOX_BUSY)
		return; /* it needs the outbox alone: once those in flight are done */
	if (r != OUTBOX_OK) {
		hl7_answer_group(g, false);
		return;
	}
	srv->n_committing++;
	srv->filling = &srv->groups[(srv->committing + srv->n_committing) % HL7_GROUPS];
}

static void
hl7_on_turn_end(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hl7_commit(arg);
}

/* The ACKs have drained to the write low-water mark: read again, what is
 * already buffered first. */
static void
hl7_on_write(struct bufferevent *bev, void *arg)
{
	struct hl7_conn *c = arg;

	if (c->lingering_since_ms != 0) {
		hl7_conn_linger_on(c); /* its ACKs are all written */
		return;
	}
	if (c->srv->stopping)
		return;
	if (c->read_closed) {
		/* Nothing more comes to read: take what it sent, unless its
		 * group will come back for it. */
		if (c->group == NULL)
			bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	if (bufferevent_get_enabled(bev) & EV_READ)
		return;
	bufferevent_enable(bev, EV_READ);
	/* While it was not read, its frame could not end here. */
	if (c->partial_since_ms != 0)
		c->partial_since_ms = clock_monotonic_ms();
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * The sender shut its side (EOF). It may still read: a sender that writes
 * its messages, then shuts its side and reads the ACKs, is told of every
 * whole message it sent, as any other, and then the connection is closed
 * (hl7_conn_linger) once they are written.
 */
static void
hl7_conn_read_closed(struct hl7_conn *c)
{
	c->read_closed = true;
	if (c->lingering_since_ms != 0)
		hl7_conn_linger_on(c);
	else if (c->group == NULL)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	/* In a group: hl7_answer_conn comes back once it is answered. */
}

static void
hl7_on_event(struct bufferevent *bev, short events, void *arg)
{
	struct hl7_conn *c = arg;

	(void)bev;
	if (events & BEV_EVENT_ERROR)
		hl7_conn_close(c); /* a reset: nothing can be written to it */
	else if (events & BEV_EVENT_EOF)
		hl7_conn_read_closed(c);
}

/*
 * Close the connections that have held a frame begun and not ended for
 * longer than [hl7] frame_timeout_ms while they were being read: a
 * sender stalled mid-message, or gone without a reset. What it left
 * unanswered, it sends again. Close too those lingering (hl7_conn_linger)
 * for HL7_LINGER_MS without the sender closing its side.
 */
static void
hl7_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct hl7_server *srv = arg;
	int64_t now = clock_monotonic_ms();
	struct hl7_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->lingering_since_ms != 0 && now - c->lingering_since_ms >= HL7_LINGER_MS) {
			log_debug("hl7: %s: closed; the sender did not close its side", c->peer);
			hl7_conn_close(c);
			continue;
		}
		if (c->partial_since_ms == 0 || c->group != NULL ||
		    !(bufferevent_get_enabled(c->bev) & EV_READ) ||
		    now - c->partial_since_ms < (int64_t)srv->a->cfg->hl7_frame_timeout_ms)
			continue;
		log_warning("hl7: %s: a frame begun %" PRId64 " s ago has no end block (0x1C "
			    "0x0D): the sender stalled mid-message; closing the connection",
		    c->peer, (now - c->partial_since_ms) / 1000);
		hl7_conn_close(c);
	}
}

/*
 * Go on closing a lingering connection: once its ACKs are all written,
 * shut our side (FIN); once the sender has shut its side too, close it.
 * c may be freed. Nothing is left unread by then (the sender's EOF came
 * after all it sent), so the close sends no reset.
 */
static void
hl7_conn_linger_on(struct hl7_conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	if (!c->write_shut) {
		c->write_shut = true;
		(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	}
	if (c->read_closed)
		hl7_conn_close(c);
}

/*
 * Close c gracefully: nothing more is read from it as messages (what it
 * sends is discarded), its ACKs are written, then our side is shut (FIN)
 * and it is closed when the sender closes its side (at once, if it has
 * already), or HL7_LINGER_MS later. Closed at once with its input unread,
 * TCP would send a reset, which can destroy at the sender's end the ACKs
 * it has not read yet: the AE of a message too large among them. c may be
 * freed.
 */
static void
hl7_conn_linger(struct hl7_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->lingering_since_ms = clock_monotonic_ms();
	c->partial_since_ms = 0;
	c->scanned = 0;
	evbuffer_drain(in, evbuffer_get_length(in));
	/* The write callback once every ACK is written, not at half. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	/* Read its EOF (what it sends is discarded), unless it came. */
	bufferevent_enable(c->bev, c->read_closed ? EV_WRITE : EV_READ | EV_WRITE);
	hl7_conn_linger_on(c);
}

/* TCP keepalive on an accepted socket (HL7_KEEPALIVE_*); false when the
 * system refuses it. */
static bool
hl7_set_keepalive(evutil_socket_t fd)
{
	int on = 1, idle = HL7_KEEPALIVE_IDLE_SECONDS, interval = HL7_KEEPALIVE_INTERVAL_SECONDS,
	    probes = HL7_KEEPALIVE_PROBES;

	return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == 0 &&
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0 &&
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval)) == 0 &&
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes)) == 0;
}

static void
hl7_conn_close(struct hl7_conn *c)
{
	struct hl7_server *srv = c->srv;

	/* Taken but not answered: the sender resends (should its group be
	 * committing, the resend is a duplicate, which commissiond drops). */
	if (c->group != NULL) {
		struct hl7_group *g = c->group;
		struct hl7_conn **p = &g->conns;
		while (*p != c)
			p = &(*p)->next_in_group;
		*p = c->next_in_group;
		if (g->tail == &c->next_in_group)
			g->tail = p;
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	free(c);
	srv->n_conns--;
	hl7_resume_listening(srv);
}

static void
hl7_on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
    int socklen, void *arg)
{
	struct hl7_server *srv = arg;
	struct hl7_conn *c = calloc(1, sizeof(*c));
	char host[48] = "?";

	(void)listener;
	(void)socklen;
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (addr->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)addr)->sin_addr, host, sizeof(host));
	else if (addr->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)addr)->sin6_addr, host,
		    sizeof(host));
	snprintf(c->peer, sizeof(c->peer), "%s", host);
	if (!hl7_set_keepalive(fd))
		log_warning("hl7: %s: cannot set TCP keepalive (%s): a peer gone without a reset "
			    "will hold its connection open", c->peer, strerror(errno));
	c->srv = srv;
	c->bev = bufferevent_socket_new(srv->a->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, hl7_on_read, hl7_on_write, hl7_on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    (size_t)srv->a->cfg->hl7_max_message_bytes + HL7_READ_SLACK_BYTES);
	bufferevent_setwatermark(c->bev, EV_WRITE, HL7_OUTPUT_MAX_BYTES / 2, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	if (++srv->n_conns >= srv->a->cfg->hl7_max_connections) {
		evconnlistener_disable(srv->listener);
		srv->paused = true;
	}
}

/*
 * accept() failed for a reason that waiting cures (EMFILE, ENFILE: no file
 * descriptor to give the connection; ENOBUFS, ENOMEM). The pending
 * connection stays in the listen backlog, so the listener would be called
 * again at once, for ever, and the loop spin: pause it instead, and accept
 * again HL7_ACCEPT_PAUSE_MS later or once a connection closes.
 */
static void
hl7_on_accept_error(struct evconnlistener *listener, void *arg)
{
	struct hl7_server *srv = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { 0, HL7_ACCEPT_PAUSE_MS * 1000 };

	evconnlistener_disable(listener);
	srv->paused = true;
	if (evtimer_add(srv->accept_resume, &pause) < 0) {
		srv->paused = false;
		evconnlistener_enable(listener);
		return;
	}
	log_warning("hl7: cannot accept a connection: %s (%zu open; the open files limit, "
		    "LimitNOFILE, bounds [hl7] max_connections); accepting again in %d ms",
	    evutil_socket_error_to_string(err), srv->n_conns, HL7_ACCEPT_PAUSE_MS);
}

static void
hl7_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hl7_resume_listening(arg);
}

static int
hl7_start(struct adapter *a, char *err, size_t errlen)
{
	const struct config *cfg = a->cfg;
	struct hl7_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->a = a;
	a->source = srv;
	for (size_t i = 0; i < HL7_GROUPS; i++)
		srv->groups[i].tail = &srv->groups[i].conns;
	srv->filling = &srv->groups[0];
	srv->turn_end = event_new(a->base, -1, 0, hl7_on_turn_end, srv);
	srv->sweep = event_new(a->base, -1, EV_PERSIST, hl7_on_sweep, srv);
	srv->accept_resume = evtimer_new(a->base, hl7_on_accept_resume, srv);
	srv->acks = evbuffer_new();
	if (srv->turn_end == NULL || srv->sweep == NULL || srv->accept_resume == NULL ||
	    srv->acks == NULL) {
		snprintf(err, errlen, "cannot create the commit, sweep and accept events and the "
				      "ACK buffer");
		return -1;
	}
	{
		uint64_t every_ms = cfg->hl7_frame_timeout_ms / 4;
		struct timeval every;

		if (every_ms > HL7_SWEEP_INTERVAL_MS)
			every_ms = HL7_SWEEP_INTERVAL_MS;
		if (every_ms < HL7_SWEEP_INTERVAL_MIN_MS)
			every_ms = HL7_SWEEP_INTERVAL_MIN_MS;
		every.tv_sec = (time_t)(every_ms / 1000);
		every.tv_usec = (suseconds_t)(every_ms % 1000 * 1000);
		if (event_add(srv->sweep, &every) < 0) {
			snprintf(err, errlen, "cannot start the sweep of stalled connections");
			return -1;
		}
	}
	for (size_t i = 0; i < cfg->n_hl7_providers; i++) {
		srv->facilities[i].facility = cfg->hl7_providers[i].facility;
		srv->facilities[i].provider = cfg->hl7_providers[i].provider;
	}
	srv->options.facilities = srv->facilities;
	srv->options.n_facilities = cfg->n_hl7_providers;
	srv->options.facility_is_provider = cfg->hl7_provider_from_facility;
	srv->options.processing_ids = cfg->hl7_processing_ids;
	if (adt_options_check(&srv->options, err, errlen) < 0)
		return -1;
	if (evutil_parse_sockaddr_port(cfg->hl7_listen, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "[hl7] listen: \"%s\" is not ADDRESS:PORT", cfg->hl7_listen);
		return -1;
	}
	srv->listener = evconnlistener_new_bind(a->base, hl7_on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
	    (struct sockaddr *)&ss, sslen);
	if (srv->listener == NULL) {
		snprintf(err, errlen, "[hl7] listen: cannot listen on %s: %s", cfg->hl7_listen,
		    strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(srv->listener, hl7_on_accept_error);
	log_info("hl7: listening on %s (MLLP); %zu sending facilities configured",
	    cfg->hl7_listen, cfg->n_hl7_providers);
	return 0;
}

static void
hl7_stop(struct adapter *a)
{
	struct hl7_server *srv = a->source;

	/* Every message answered was answered after its commit; what a
	 * sender has not had an answer for, it sends again. */
	srv->stopping = true;
	evconnlistener_disable(srv->listener);
	if (srv->sweep != NULL)
		event_del(srv->sweep);
	if (srv->accept_resume != NULL)
		event_del(srv->accept_resume);
	log_info("hl7: stopping: %" PRIu64 " AA, %" PRIu64 " AE, %" PRIu64 " AR", srv->aa, srv->ae,
	    srv->ar);
}

static void
hl7_destroy(struct adapter *a)
{
	struct hl7_server *srv = a->source;

	if (srv == NULL)
		return;
	/* The groups committing point at their memory: let them end first,
	 * and start no other. */
	srv->stopping = true;
	adapter_put_wait(a);
	while (srv->conns != NULL)
		hl7_conn_close(srv->conns);
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	if (srv->turn_end != NULL)
		event_free(srv->turn_end);
	if (srv->sweep != NULL)
		event_free(srv->sweep);
	if (srv->accept_resume != NULL)
		event_free(srv->accept_resume);
	if (srv->acks != NULL)
		evbuffer_free(srv->acks);
	for (size_t i = 0; i < HL7_GROUPS; i++) {
		free(srv->groups[i].taken);
		free(srv->groups[i].packed);
		free(srv->groups[i].items);
	}
	free(srv);
	a->source = NULL;
}

int
main(int argc, char **argv)
{
	static const struct adapter_spec spec = {
		.name = "commissiond-hl7",
		.summary = "Takes providers' HL7 v2 ADT messages over MLLP, answers with ACKs\n"
			   "once each is durable, and delivers them to commissiond (docs/HL7.md).",
		.outbox_path = hl7_outbox_path,
		.start = hl7_start,
		.stop = hl7_stop,
		.destroy = hl7_destroy,
	};

	return adapter_main(argc, argv, &spec);
}
