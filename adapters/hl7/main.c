/*
 * commissiond-hl7: providers' HL7 v2 ADT feeds over MLLP to commissiond.
 * Owns the listener and its connections. A message is answered AA only
 * once it is durable in the outbox; AE when it is wrong (the ERR segment
 * names the field); AR when it cannot be stored now.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
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

/* Messages answered per read: the rest wait in the connection's buffer. */
#define HL7_MESSAGES_PER_READ 256
/* A connection's input stops being read past one whole message and this
 * (libevent's read high-water mark), so its buffer stays bounded. */
#define HL7_READ_SLACK_BYTES (64 * 1024)
/* ACKs waiting for a sender that does not read them: past this, its input
 * is no longer read until they drain to half. */
#define HL7_OUTPUT_MAX_BYTES (1024 * 1024)

struct hl7_conn;

struct hl7_server {
	struct adapter *a;
	struct evconnlistener *listener;
	struct adt_facility facilities[CONFIG_PROVIDERS_MAX];
	struct adt_options options;
	struct hl7_conn *conns;
	size_t n_conns;
	bool paused; /* at max_connections: the listen queue holds the rest */
	bool stopping;
	uint64_t aa, ae, ar;
};

struct hl7_conn {
	struct hl7_server *srv;
	struct bufferevent *bev;
	char peer[64];
	struct hl7_conn *prev, *next;
};

/* One message of a read, and what it gets. */
struct hl7_taken {
	struct hl7_message msg;
	bool parsed;
	struct hl7_error err;
	struct adt_event event;
	uint8_t *packed;
	size_t packed_len;
	enum ack_code code;
};

static const char *
hl7_outbox_path(const struct config *cfg)
{
	return cfg->hl7_outbox;
}

static void hl7_conn_close(struct hl7_conn *c);

static void
hl7_resume_listening(struct hl7_server *srv)
{
	if (srv->paused && !srv->stopping && srv->n_conns < srv->a->cfg->hl7_max_connections) {
		evconnlistener_enable(srv->listener);
		srv->paused = false;
	}
}

/* Decide one message: parse and map it; wrong ones get AE now. */
static void
hl7_decide(struct hl7_server *srv, struct hl7_taken *t, const char *text, size_t len)
{
	memset(&t->err, 0, sizeof(t->err));
	t->packed = NULL;
	t->parsed = hl7_parse(&t->msg, text, len, &t->err) == 0;
	/* The ACK mirrors what of a refused message's header could be read. */
	if (!t->parsed ||
	    adt_to_envelope(&t->msg, &srv->options, srv->a->pseudonymiser, &t->event, &t->err) < 0) {
		t->code = ACK_CODE_ERROR;
		return;
	}
	t->packed_len = commissioning__envelope__get_packed_size(&t->event.envelope);
	t->packed = malloc(t->packed_len);
	if (t->packed == NULL) {
		t->code = ACK_CODE_REJECT;
		return;
	}
	commissioning__envelope__pack(&t->event.envelope, t->packed);
	t->code = ACK_CODE_ACCEPT;
}

static void
hl7_answer(struct hl7_conn *c, struct hl7_taken *t)
{
	struct hl7_server *srv = c->srv;
	char ack[ACK_BUFSIZE], control_id[24];
	uint8_t framed[ACK_BUFSIZE + 3];
	int64_t now = clock_now_ms();
	int len;
	size_t n;

	/* Each ACK gets a control id of its own (MSH-10, at most 20). */
	snprintf(control_id, sizeof(control_id), "CD%" PRIx64 "%04" PRIx64, (uint64_t)now,
	    (srv->aa + srv->ae + srv->ar) & 0xffff);
	len = ack_build(&t->msg, t->code, t->code == ACK_CODE_ACCEPT ? NULL : &t->err, control_id,
	    now, ack, sizeof(ack));
	if (len < 0) {
		log_error("hl7: %s: cannot build an ACK", c->peer);
		return;
	}
	n = mllp_wrap(ack, (size_t)len, framed, sizeof(framed));
	bufferevent_write(c->bev, framed, n);
	switch (t->code) {
	case ACK_CODE_ACCEPT:
		srv->aa++;
		break;
	case ACK_CODE_ERROR:
		srv->ae++;
		/* The field and the rule, never the value: it may be personal. */
		log_info("hl7: %s: AE field=%s: %s", c->peer, t->err.field, t->err.text);
		break;
	case ACK_CODE_REJECT:
		srv->ar++;
		break;
	}
}

/* Take every whole message in the connection's buffer: decide each, make
 * the good ones durable in one outbox transaction, then answer in order. */
static void
hl7_on_read(struct bufferevent *bev, void *arg)
{
	struct hl7_conn *c = arg;
	struct hl7_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct hl7_taken *taken = NULL;
	struct outbox_item *items = NULL;
	const uint8_t *data;
	size_t n = 0, n_items = 0, len, done = 0;
	bool too_large = false;

	if (srv->stopping)
		return;
	if (evbuffer_get_length(bufferevent_get_output(bev)) > HL7_OUTPUT_MAX_BYTES) {
		/* It sends and does not read its ACKs: hear it again once it
		 * has (hl7_on_write). */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	taken = calloc(HL7_MESSAGES_PER_READ, sizeof(*taken));
	items = calloc(HL7_MESSAGES_PER_READ, sizeof(*items));
	if (taken == NULL || items == NULL) {
		log_error("hl7: %s: out of memory; the sender will resend", c->peer);
		goto out;
	}
	/* The parsed messages index this memory: it is drained only after
	 * they are answered. */
	len = evbuffer_get_length(in);
	data = len ? evbuffer_pullup(in, -1) : NULL;
	while (data != NULL && n < HL7_MESSAGES_PER_READ) {
		size_t at, msg_len, consumed, skipped;
		enum mllp_status st = mllp_find(data + done, len - done,
		    srv->a->cfg->hl7_max_message_bytes, &at, &msg_len, &consumed, &skipped);

		if (skipped > 0)
			log_debug("hl7: %s: skipped %zu bytes outside MLLP frames", c->peer, skipped);
		if (st == MLLP_TOO_LARGE) {
			too_large = true;
			break;
		}
		if (st == MLLP_MORE) {
			done += consumed; /* junk only */
			break;
		}
		hl7_decide(srv, &taken[n], (const char *)data + done + at, msg_len);
		if (taken[n].packed != NULL)
			items[n_items++] = (struct outbox_item){ taken[n].packed, taken[n].packed_len };
		n++;
		done += consumed;
	}
	if (n_items > 0 && adapter_put(srv->a, items, n_items) != OUTBOX_OK) {
		/* Not durable: the sender must keep its copy and resend. */
		for (size_t i = 0; i < n; i++) {
			if (taken[i].packed == NULL)
				continue;
			taken[i].code = ACK_CODE_REJECT;
			snprintf(taken[i].err.field, sizeof(taken[i].err.field), "MSH-10");
			snprintf(taken[i].err.text, sizeof(taken[i].err.text),
			    "the message cannot be stored now (outbox full or disk full); send it again later");
			taken[i].err.code = HL7_ERROR_APPLICATION_INTERNAL;
		}
	}
	for (size_t i = 0; i < n; i++)
		hl7_answer(c, &taken[i]);
	evbuffer_drain(in, done);
	/* More whole messages may be waiting: come back for them on the next
	 * turn, rather than when the sender writes again. */
	if (!too_large && n == HL7_MESSAGES_PER_READ && evbuffer_get_length(in) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	if (too_large) {
		log_warning("hl7: %s: a message longer than %" PRIu64 " bytes ([hl7] "
			    "max_message_bytes): closing the connection",
		    c->peer, srv->a->cfg->hl7_max_message_bytes);
		hl7_conn_close(c);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(taken[i].packed);
	free(taken);
	free(items);
}

/* The ACKs have drained to the write low-water mark: read again, what is
 * already buffered first. */
static void
hl7_on_write(struct bufferevent *bev, void *arg)
{
	struct hl7_conn *c = arg;

	if (c->srv->stopping || (bufferevent_get_enabled(bev) & EV_READ))
		return;
	bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void
hl7_on_event(struct bufferevent *bev, short events, void *arg)
{
	struct hl7_conn *c = arg;

	(void)bev;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		hl7_conn_close(c);
}

static void
hl7_conn_close(struct hl7_conn *c)
{
	struct hl7_server *srv = c->srv;

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
	for (size_t i = 0; i < cfg->n_hl7_providers; i++) {
		srv->facilities[i].facility = cfg->hl7_providers[i].facility;
		srv->facilities[i].provider = cfg->hl7_providers[i].provider;
	}
	srv->options.facilities = srv->facilities;
	srv->options.n_facilities = cfg->n_hl7_providers;
	srv->options.facility_is_provider = cfg->hl7_provider_from_facility;
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
	log_info("hl7: stopping: %" PRIu64 " AA, %" PRIu64 " AE, %" PRIu64 " AR", srv->aa, srv->ae,
	    srv->ar);
}

static void
hl7_destroy(struct adapter *a)
{
	struct hl7_server *srv = a->source;

	if (srv == NULL)
		return;
	while (srv->conns != NULL)
		hl7_conn_close(srv->conns);
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
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
