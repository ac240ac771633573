/*
 * http: commissiond's HTTP interface (docs/HTTP.md) on libevent's evhttp:
 * health, readiness, Prometheus metrics, the integrated-care figures as
 * JSON and CSV, the live stream and the embedded dashboard. Owns the evhttp
 * server and the readings: every other answer is made in its request's
 * callback from the live picture; those of the discharges area, and of
 * flow for an as-of that folds every spell, a slice at a time from a
 * snapshot of the store (http_reading).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "commissiond.h"
#include "dates.h"
#include "embedded.h"
#include "ids.h"
#include "jtext.h"
#include "log.h"
#include "text.h"
#include "pbjson.h"

#define HTTP_PAGE_DEFAULT 100
#define HTTP_PAGE_MAX 1000
#define HTTP_PARAM_MAX 256
/* Counted for a request whose client went before its answer, which was
 * never sent: nginx's "client closed request", so dashboards know it. */
#define HTTP_STATUS_CLIENT_WENT 499
/* accept() failing (out of descriptors): how long to stop accepting. */
#define HTTP_ACCEPT_PAUSE_MS 250
/* How often the connections are looked at for a request that did not
 * arrive in time (http_arrival). */
#define HTTP_ARRIVAL_SWEEP_MS 100
/* A Host header's name without its port: a DNS name (253 characters at
 * most, RFC 1035) or a bracketed IPv6 address. */
#define HTTP_HOST_NAME_MAX 255

/*
 * A connection, from its accept until libevent lets it go, and the
 * instant by which its next request must have arrived. libevent 2.1's
 * time-out restarts on every read, so a request sent a byte at a time
 * would never end; and it tells us of a connection only when a whole
 * request has come. So the bufferevent of each connection is made here
 * (evhttp_set_bevcb) and held by a reference of ours, and a connection
 * whose request has not arrived by its deadline is shut down, which
 * libevent reads as the client leaving.
 */
struct http_arrival {
	TAILQ_ENTRY(http_arrival) link;
	struct bufferevent *bev; /* a reference of ours (bufferevent_incref) */
	int64_t deadline_ms;	 /* monotonic; 0: none (a request of it is with us) */
};

struct http {
	const struct config *cfg;
	struct store *store;
	struct live *live;
	struct ingest *ingest;
	struct metrics *metrics;
	struct stream *stream;
	struct evhttp *server;
	struct evconnlistener *listener;
	struct event *accept_resume; /* accepting again after a pause */
	/* The connections, each with its request's deadline (http_arrival). */
	TAILQ_HEAD(, http_arrival) arrivals;
	struct event *arrival_sweep;
	int64_t fold_ready_ms; /* monotonic: no fold before this (http_fold_admitted) */
	/* The readings (http_reading): those under way, read a slice at a
	 * time in turn, and those waiting for one to finish. */
	struct event *reading_turn;
	TAILQ_HEAD(, http_reading) reading, waiting;
	size_t n_reading, n_waiting;
	uint64_t reading_slices;
	/* The connections that have made a request, for max_connections.
	 * A pointer is dropped when its connection closes. */
	struct evhttp_connection **conns;
	size_t n_conns, conns_size;
};

/* The parameters of one request, checked against what its route takes. */
struct http_params {
	struct evkeyvalq q;
	int64_t as_of_ms;
	bool as_of_asked; /* else as_of_ms is now, as the request came */
	struct figures_filter_spec filter;
	uint64_t limit, offset;
	bool csv;
	const char *topic;
	uint64_t last_event_id;
};

/* ---------------------------------------------------------------- answers */

#define HTTP_CONTENT_SECURITY_POLICY                                                      \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "  \
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* Send an answer already counted in the metrics, with the headers every
 * answer has. */
static void
http_send(struct evhttp_request *req, int status, const char *content_type,
    struct evbuffer *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	/* The dashboard's policy (index.html's meta says the same), and what
	 * a meta cannot say: no page of another site may frame this one,
	 * which holds the token, nor learn its address from a link. */
	evhttp_add_header(out, "Content-Security-Policy", HTTP_CONTENT_SECURITY_POLICY);
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	/* Every 503 says when to ask again (docs/HTTP.md): what it waits for
	 * (a place, the store taking input) is looked at again by then. */
	if (status == 503)
		evhttp_add_header(out, "Retry-After", "1");
	/* An answer to HEAD has no content (RFC 9110 9.3.2): libevent would
	 * write the body without its length, on a connection kept open. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		body = NULL;
	/* libevent 2.1 names 429 (RFC 6585) "Client Error". */
	evhttp_send_reply(req, status, status == 429 ? "Too Many Requests" : NULL, body);
}

static void
http_reply(struct http *h, struct evhttp_request *req, const char *route, int status,
    const char *content_type, struct evbuffer *body)
{
	metrics_count_http(h->metrics, route, status);
	http_send(req, status, content_type, body);
}

static void
http_reply_json(struct http *h, struct evhttp_request *req, const char *route, int status,
    json_t *json)
{
	struct evbuffer *body = evbuffer_new();
	char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

	if (body == NULL) {
		free(text);
		metrics_count_http(h->metrics, route, 500);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (text == NULL) {
		/* jansson made no text: it was out of memory, or was given
		 * text that is not UTF-8 (which http_error keeps from it). */
		evbuffer_add_printf(body, "{\"error\":{\"status\":500,\"message\":\"the answer "
					  "could not be written as JSON\"}}\n");
		http_reply(h, req, route, 500, "application/json", body);
		evbuffer_free(body);
		return;
	}
	evbuffer_add(body, text, strlen(text));
	evbuffer_add(body, "\n", 1);
	free(text);
	http_reply(h, req, route, status, "application/json", body);
	evbuffer_free(body);
}

/* Is text (len bytes) UTF-8, as jansson judges it? */
static bool
http_text_is_utf8(const char *text, size_t len)
{
	json_t *json = json_stringn(text, len);

	json_decref(json);
	return json != NULL;
}

static void __attribute__((format(printf, 6, 7)))
http_error(struct http *h, struct evhttp_request *req, const char *route, int status,
    const char *parameter, const char *fmt, ...)
{
	char message[512];
	json_t *json;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json = json_pack("{s:{s:i, s:s, s:s?}}", "error", "status", status, "message", message,
	    "parameter", parameter);
	if (json == NULL) {
		/* jansson takes only UTF-8: a message that quotes what a client
		 * sent, or a parameter's name, may not be. Say it in ASCII. */
		char name[HTTP_PARAM_MAX];
		snprintf(name, sizeof(name), "%s", parameter ? parameter : "");
		text_copy_ascii(message, sizeof(message), message, sizeof(message));
		text_copy_ascii(name, sizeof(name), name, sizeof(name));
		json = json_pack("{s:{s:i, s:s, s:s?}}", "error", "status", status, "message",
		    message, "parameter", parameter ? name : NULL);
	}
	http_reply_json(h, req, route, status, json);
	json_decref(json);
}

/* How fresh an answer is: the last event stored and the commit time of
 * the last update (kept in the store, so it survives a restart). */
static int
http_last_update_time(void *arg, uint64_t seq, const uint8_t *bytes, size_t len)
{
	Commissioning__Update *u = commissioning__update__unpack(NULL, len, bytes);

	(void)seq;
	if (u != NULL) {
		*(int64_t *)arg = u->commit_time;
		commissioning__update__free_unpacked(u, NULL);
	}
	return 1;
}

/* The freshness into obj; false when the store cannot be read (a 0 there
 * would say the store is empty): the caller answers 503, naming it. */
static bool
http_freshness(struct http *h, json_t *obj, int64_t as_of_ms)
{
	struct store_counts c = { 0 };
	int64_t last_time = 0;

	if (store_read_counts(h->store, &c) != STORE_OK ||
	    (c.last_update_sequence > 0 &&
		store_scan_updates(h->store, c.last_update_sequence, 1, http_last_update_time,
		    &last_time, NULL) != STORE_OK))
		return false;
	json_object_set_new(obj, "as_of", json_integer(as_of_ms));
	json_object_set_new(obj, "last_sequence", json_integer((json_int_t)c.last_event_sequence));
	json_object_set_new(obj, "last_event_time", last_time ? json_integer(last_time) : json_null());
	return true;
}

/* The freshness as kept when a reading began (fresh), else as it is now. */
static bool
http_freshness_of(struct http *h, json_t *obj, int64_t as_of_ms, const json_t *fresh)
{
	if (fresh == NULL)
		return http_freshness(h, obj, as_of_ms);
	json_object_update(obj, (json_t *)fresh);
	return true;
}

/* The answer when http_freshness could not read the store. */
static void
http_store_unreadable(struct http *h, struct evhttp_request *req, const char *route)
{
	http_error(h, req, route, 503, NULL, "store: %s", store_error(h->store));
}

/* ---------------------------------------------------------------- parameters */

enum {
	P_AS_OF = 1 << 0,
	P_FILTER = 1 << 1, /* icb, org, council */
	P_PAGE = 1 << 2,   /* limit, cursor, format */
	P_STREAM = 1 << 3, /* topic, last_event_id */
	P_DASHBOARD = 1 << 4,
};

static int
param_u64(const char *text, uint64_t *out)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(text, &end, 10);
	return errno || *end ? -1 : 0;
}

/* What is wrong with a query (http_query_parse). */
enum query_fault {
	QUERY_OK,
	QUERY_MALFORMED, /* a piece without '=', or with no name */
	QUERY_NAME_NUL,	 /* a name holds %00 */
	QUERY_VALUE_NUL, /* a value holds %00 */
};

/* Does the text of n bytes hold %00? libevent decodes every %00 to a NUL:
 * a '%' is never part of an escape before it. */
static bool
query_span_holds_nul(const char *text, size_t n)
{
	for (size_t i = 0; i + 3 <= n; i++)
		if (memcmp(text + i, "%00", 3) == 0)
			return true;
	return false;
}

/*
 * Parse query into q, names and values decoded alike. libevent 2.1's
 * evhttp_parse_query_str decodes the values (%XX, and '+' a space) but
 * not the names: each name is decoded here the same way, in its own
 * buffer (decoding only shortens), so that as%5Fof is as_of. A name or
 * value holding %00 is refused: libevent hands C strings, which the NUL
 * would cut short. On a fault, *fault_name is the name at fault (as sent
 * for QUERY_NAME_NUL, else decoded), or NULL.
 */
static enum query_fault
http_query_parse(const char *query, struct evkeyvalq *q, const char **fault_name)
{
	const char *piece = query;
	struct evkeyval *kv;

	*fault_name = NULL;
	if (evhttp_parse_query_str(query, q) < 0)
		return QUERY_MALFORMED;
	/* q holds one entry a piece of query (between '&'), in order:
	 * evhttp_parse_query_str fails on any piece it cannot take. */
	TAILQ_FOREACH(kv, q, next) {
		size_t piece_len = strcspn(piece, "&"), decoded_len;
		const char *equals = memchr(piece, '=', piece_len);
		char *decoded;

		if (equals == NULL)
			return QUERY_MALFORMED;
		*fault_name = kv->key;
		if ((decoded = evhttp_uridecode(kv->key, 1, &decoded_len)) == NULL)
			return QUERY_MALFORMED;
		if (strlen(decoded) != decoded_len) {
			free(decoded);
			return QUERY_NAME_NUL;
		}
		memcpy(kv->key, decoded, decoded_len + 1);
		free(decoded);
		equals++;
		if (query_span_holds_nul(equals, piece_len - (size_t)(equals - piece)))
			return QUERY_VALUE_NUL;
		piece += piece_len + (piece[piece_len] == '&');
	}
	*fault_name = NULL;
	return QUERY_OK;
}

/* ---------------------------------------------------------------- Accept */

/* How the Accept fields weigh one media type (RFC 9110 12.5.1): the
 * weight of the most specific range that names it. */
struct accept_weight {
	int q;		 /* thousandths, 0 (not acceptable) to 1000 */
	int specificity; /* 0 no range names it, 1 * / *, 2 type/ *, 3 type/subtype */
};

/* Past optional white space (OWS: spaces and tabs), before end. */
static const char *
accept_ows(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* Are the n bytes at s the token want, ASCII case aside? */
static bool
accept_token_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && evutil_ascii_strncasecmp(s, want, n) == 0;
}

/* A qvalue (RFC 9110 12.4.2: 0 to 1, three decimals at most) in
 * thousandths; -1 if the n bytes at s are not one. */
static int
accept_qvalue(const char *s, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* Weigh type/sub by the range [range, range_end) (its '/' at slash) of
 * weight q, if it names it more specifically than a range before. */
static void
accept_match(const char *range, const char *slash, const char *range_end, const char *type,
    const char *sub, int q, struct accept_weight *w)
{
	size_t type_len = (size_t)(slash - range), sub_len = (size_t)(range_end - slash - 1);
	int specificity;

	if (accept_token_is(range, type_len, "*") && accept_token_is(slash + 1, sub_len, "*"))
		specificity = 1;
	else if (!accept_token_is(range, type_len, type))
		return;
	else if (accept_token_is(slash + 1, sub_len, "*"))
		specificity = 2;
	else if (accept_token_is(slash + 1, sub_len, sub))
		specificity = 3;
	else
		return;
	/* Of two ranges alike (text/csv twice), the higher weight. */
	if (specificity > w->specificity || (specificity == w->specificity && q > w->q)) {
		w->specificity = specificity;
		w->q = q;
	}
}

/* One element of an Accept field, [s, end): a media range and its
 * parameters, of which only q counts. A range that is not type/subtype,
 * or whose parameters or q cannot be read, is left out. */
static void
accept_weigh_range(const char *s, const char *end, struct accept_weight *csv,
    struct accept_weight *json)
{
	const char *range = accept_ows(s, end), *slash, *range_end;
	int q = 1000;

	for (s = range; s < end && *s != ';' && *s != ' ' && *s != '\t'; s++)
		;
	range_end = s;
	slash = memchr(range, '/', (size_t)(range_end - range));
	if (slash == NULL || slash == range || slash + 1 == range_end)
		return;
	while ((s = accept_ows(s, end)) < end) {
		const char *name, *value;
		size_t name_len;
		if (*s != ';')
			return;
		s = accept_ows(s + 1, end);
		if (s == end || *s == ';')
			continue; /* an empty parameter */
		for (name = s; s < end && *s != '=' && *s != ' ' && *s != '\t' && *s != ';'; s++)
			;
		name_len = (size_t)(s - name);
		/* White space around '=' (q = 0) is not in the grammar, but is
		 * read as the client meant it. */
		s = accept_ows(s, end);
		if (s == end || *s != '=')
			return;
		value = s = accept_ows(s + 1, end);
		if (s < end && *s == '"') {
			for (s++; s < end && *s != '"'; s++)
				if (*s == '\\' && s + 1 < end)
					s++;
			if (s == end)
				return;
			s++;
		} else {
			while (s < end && *s != ';' && *s != ' ' && *s != '\t')
				s++;
		}
		if (accept_token_is(name, name_len, "q") &&
		    (q = accept_qvalue(value, (size_t)(s - value))) < 0)
			return;
	}
	accept_match(range, slash, range_end, "text", "csv", q, csv);
	accept_match(range, slash, range_end, "application", "json", q, json);
}

/*
 * Does the request's Accept prefer CSV to JSON? Every Accept field counts,
 * each a list of media ranges split at commas outside quoted strings.
 * text/csv and application/json are each weighed by the most specific
 * range naming it (RFC 9110 12.5.1: text/csv before text/ * before * / *,
 * q 1 unless given): CSV when text/csv's weight is above 0 and above
 * JSON's, or the same with a more specific range (text/csv, * / *). JSON,
 * the default, otherwise: no Accept, * / *, text/csv;q=0, and a tie.
 */
static bool
http_accept_prefers_csv(const struct evkeyvalq *headers)
{
	struct accept_weight csv = { 0, 0 }, json = { 0, 0 };
	const struct evkeyval *kv;

	TAILQ_FOREACH(kv, headers, next) {
		const char *s = kv->value;
		if (evutil_ascii_strcasecmp(kv->key, "Accept") != 0)
			continue;
		while (*s != '\0') {
			const char *end = s;
			bool quoted = false;
			for (; *end != '\0' && (quoted || *end != ','); end++) {
				if (*end == '"')
					quoted = !quoted;
				else if (*end == '\\' && quoted && end[1] != '\0')
					end++;
			}
			accept_weigh_range(s, end, &csv, &json);
			s = *end == ',' ? end + 1 : end;
		}
	}
	if (csv.q == 0)
		return false;
	return csv.q > json.q || (csv.q == json.q && csv.specificity > json.specificity);
}

/* Parse and check the query; -1 after answering 400. */
static int
http_params_parse(struct http *h, struct evhttp_request *req, const char *route, unsigned allowed,
    struct http_params *p)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *last_id =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	const char *name;
	struct evkeyval *kv;

	memset(p, 0, sizeof(*p));
	TAILQ_INIT(&p->q);
	p->as_of_ms = clock_now_ms();
	p->limit = HTTP_PAGE_DEFAULT;
	p->topic = "";
	p->csv = (allowed & P_PAGE) && http_accept_prefers_csv(evhttp_request_get_input_headers(req));
	switch (query != NULL ? http_query_parse(query, &p->q, &name) : QUERY_OK) {
	case QUERY_OK:
		break;
	case QUERY_MALFORMED:
		http_error(h, req, route, 400, NULL, "the query string is not well formed");
		return -1;
	case QUERY_NAME_NUL:
		http_error(h, req, route, 400, name,
		    "%s: a parameter's name holds %%00, a NUL character", name);
		return -1;
	case QUERY_VALUE_NUL:
		http_error(h, req, route, 400, name, "%s: the value holds %%00, a NUL character",
		    name);
		return -1;
	}
	TAILQ_FOREACH(kv, &p->q, next) {
		const char *k = kv->key, *v = kv->value;
		struct evkeyval *earlier;
		uint64_t n;
		/* One value a name: which of two would be meant is a guess. */
		for (earlier = TAILQ_FIRST(&p->q); earlier != kv; earlier = TAILQ_NEXT(earlier, next))
			if (strcmp(earlier->key, k) == 0)
				break;
		if (earlier != kv) {
			http_error(h, req, route, 400, k, "%s: given more than once", k);
			return -1;
		}
		if (!http_text_is_utf8(k, strlen(k))) {
			http_error(h, req, route, 400, k, "a parameter's name is not UTF-8 text");
			return -1;
		}
		if (!http_text_is_utf8(v, strlen(v))) {
			http_error(h, req, route, 400, k, "%s: the value is not UTF-8 text", k);
			return -1;
		}
		if (strlen(v) >= HTTP_PARAM_MAX) {
			http_error(h, req, route, 400, k, "%s: longer than %d characters", k,
			    HTTP_PARAM_MAX - 1);
			return -1;
		}
		if ((allowed & P_AS_OF) && strcmp(k, "as_of") == 0) {
			if (param_u64(v, &n) < 0 || n > INT64_MAX) {
				http_error(h, req, route, 400, k, "as_of: \"%s\" is not UTC milliseconds", v);
				return -1;
			}
			if ((int64_t)n > DATES_MS_MAX) {
				http_error(h, req, route, 400, k,
				    "as_of: %s is past 9999-12-31T23:59:59.999Z; as_of is UTC "
				    "milliseconds from %" PRId64 " to %" PRId64, v, DATES_MS_MIN,
				    DATES_MS_MAX);
				return -1;
			}
			p->as_of_ms = (int64_t)n;
			p->as_of_asked = true;
		} else if ((allowed & P_FILTER) && strcmp(k, "icb") == 0) {
			if (!ids_is_icb(v) && strcmp(v, "unmapped") != 0) {
				http_error(h, req, route, 400, k,
				    "icb: \"%s\" is not an ICB code (Q and two letters or digits)", v);
				return -1;
			}
			p->filter.icb = v;
		} else if ((allowed & P_FILTER) && strcmp(k, "org") == 0) {
			if (ids_kinds_of(v) == 0) {
				http_error(h, req, route, 400, k, "org: \"%s\" is not an organisation code", v);
				return -1;
			}
			p->filter.org = v;
		} else if ((allowed & P_FILTER) && strcmp(k, "council") == 0) {
			if (!ids_is_local_authority(v) && strcmp(v, "unmapped") != 0 &&
			    strcmp(v, "unattributed") != 0) {
				http_error(h, req, route, 400, k,
				    "council: \"%s\" is not a local authority code (E06, E08, E09 or E10 "
				    "and six digits)", v);
				return -1;
			}
			p->filter.council = v;
		} else if ((allowed & P_PAGE) && strcmp(k, "limit") == 0) {
			if (param_u64(v, &n) < 0 || n < 1 || n > HTTP_PAGE_MAX) {
				http_error(h, req, route, 400, k, "limit: \"%s\" is not 1 to %d", v,
				    HTTP_PAGE_MAX);
				return -1;
			}
			p->limit = n;
		} else if ((allowed & P_PAGE) && strcmp(k, "cursor") == 0) {
			if (param_u64(v, &p->offset) < 0) {
				http_error(h, req, route, 400, k,
				    "cursor: \"%s\" is not a cursor this server gave", v);
				return -1;
			}
		} else if (((allowed & P_PAGE) || (allowed & P_AS_OF)) && strcmp(k, "format") == 0) {
			if (strcmp(v, "csv") != 0 && strcmp(v, "json") != 0) {
				http_error(h, req, route, 400, k, "format: \"%s\" is not json or csv", v);
				return -1;
			}
			if (strcmp(v, "csv") == 0 && !(allowed & P_PAGE)) {
				http_error(h, req, route, 400, k,
				    "format: csv is for tables (e.g. /api/v1/flow/providers), not for "
				    "a whole area");
				return -1;
			}
			p->csv = strcmp(v, "csv") == 0;
		} else if ((allowed & P_STREAM) && strcmp(k, "topic") == 0) {
			p->topic = v;
		} else if ((allowed & P_STREAM) && strcmp(k, "last_event_id") == 0) {
			last_id = v;
		} else if ((allowed & P_DASHBOARD) &&
		    (strcmp(k, "icb") == 0 || strcmp(k, "token") == 0 || strcmp(k, "as_of") == 0)) {
			/* read by the page's script */
		} else {
			http_error(h, req, route, 400, k, "%s: no such parameter here", k);
			return -1;
		}
	}
	if ((allowed & P_STREAM) && last_id != NULL && param_u64(last_id, &p->last_event_id) < 0) {
		http_error(h, req, route, 400, "last_event_id",
		    "Last-Event-ID: \"%s\" is not a sequence number", last_id);
		return -1;
	}
	/* No update can follow the largest sequence: resuming after it is
	 * a mistake, not a wait for ever. */
	if ((allowed & P_STREAM) && last_id != NULL && p->last_event_id == UINT64_MAX) {
		http_error(h, req, route, 400, "last_event_id",
		    "Last-Event-ID: %s is past any sequence this server gives", last_id);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- tables */

enum table_shape {
	TABLE_LIST,	    /* path -> [ {..} ] */
	TABLE_KEYED,	    /* path -> { key: {..} } */
	TABLE_KEYED2,	    /* path -> { key: { key2: {..} } } */
	TABLE_KEYED_LISTS,  /* path -> { key: [ {..} ] } */
};

static const struct http_table {
	const char *name; /* after /api/v1/ */
	const char *area;
	const char *path[2];
	enum table_shape shape;
	const char *key[2];
} http_tables[] = {
	{ "flow/providers", "flow", { "flow", "providers" }, TABLE_KEYED, { "provider" } },
	{ "flow/icbs", "flow", { "flow", "icbs" }, TABLE_KEYED, { "icb" } },
	{ "discharges/cases", "discharges", { "discharges", "cases" }, TABLE_LIST, { NULL } },
	{ "discharges/icbs", "discharges", { "discharges", "icbs" }, TABLE_KEYED, { "icb" } },
	{ "discharges/councils", "discharges", { "discharges", "councils" }, TABLE_KEYED,
	    { "council" } },
	{ "capacity/lines", "capacity", { "capacity", "lines" }, TABLE_LIST, { NULL } },
	{ "capacity/icbs", "capacity", { "capacity", "icbs" }, TABLE_KEYED, { "icb" } },
	{ "capacity/councils", "capacity", { "capacity", "councils" }, TABLE_KEYED, { "council" } },
	{ "services", "services", { "services", NULL }, TABLE_KEYED, { "service_id" } },
	{ "finance/commissioners", "finance", { "finance", "commissioners" }, TABLE_KEYED2,
	    { "commissioner", "financial_year" } },
	{ "finance/contracts", "finance", { "finance", "contracts" }, TABLE_KEYED,
	    { "contract_id" } },
	{ "governance/alerts", "governance", { "governance", "conflict_alerts" }, TABLE_LIST,
	    { NULL } },
	{ "governance/closures", "governance", { "governance", "closure_without_consultation" },
	    TABLE_LIST, { NULL } },
	{ "governance/register", "governance", { "governance", "register" }, TABLE_KEYED_LISTS,
	    { "organisation" } },
	{ "organisations", "organisations", { "organisations", NULL }, TABLE_KEYED, { NULL } },
};
#define N_TABLES (sizeof(http_tables) / sizeof(http_tables[0]))

/* A row: the key columns first, then the item's own fields. */
static json_t *
table_row(const struct http_table *t, const char *k0, const char *k1, json_t *item)
{
	json_t *row = json_object();

	if (t->key[0] != NULL && k0 != NULL)
		json_object_set_new(row, t->key[0], json_string(k0));
	if (t->key[1] != NULL && k1 != NULL)
		json_object_set_new(row, t->key[1], json_string(k1));
	if (json_is_object(item))
		json_object_update_missing(row, item);
	return row;
}

static json_t *
table_rows(const struct http_table *t, json_t *figures)
{
	json_t *node = json_object_get(figures, t->path[0]), *rows = json_array();
	const char *k, *k2;
	json_t *v, *v2;
	size_t i;

	if (t->path[1] != NULL)
		node = json_object_get(node, t->path[1]);
	switch (t->shape) {
	case TABLE_LIST:
		json_array_foreach(node, i, v)
			json_array_append_new(rows, table_row(t, NULL, NULL, v));
		break;
	case TABLE_KEYED:
		json_object_foreach(node, k, v)
			json_array_append_new(rows, table_row(t, k, NULL, v));
		break;
	case TABLE_KEYED2:
		json_object_foreach(node, k, v)
			json_object_foreach(v, k2, v2)
				json_array_append_new(rows, table_row(t, k, k2, v2));
		break;
	case TABLE_KEYED_LISTS:
		json_object_foreach(node, k, v)
			json_array_foreach(v, i, v2)
				json_array_append_new(rows, table_row(t, k, NULL, v2));
		break;
	}
	return rows;
}

/* Flatten a row: nested objects give dotted names, lists JSON text. */
static void
csv_flatten(json_t *out, const char *prefix, json_t *obj)
{
	const char *k;
	json_t *v;
	char name[512];

	json_object_foreach(obj, k, v) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		if (json_is_object(v))
			csv_flatten(out, name, v);
		else
			json_object_set(out, name, v);
	}
}

/* One field, quoted per RFC 4180 when it must be. */
static void
csv_text(struct evbuffer *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		evbuffer_add(out, s, strlen(s));
		return;
	}
	evbuffer_add(out, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			evbuffer_add(out, "\"", 1);
		evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

/* A value: null is empty, text as it is, anything else as JSON. */
static void
csv_field(struct evbuffer *out, json_t *v)
{
	char *text;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		csv_text(out, json_string_value(v));
		return;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text != NULL)
		csv_text(out, text);
	free(text);
}

static int
csv_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Write the page as CSV; -1 out of memory. */
static int
csv_write(struct evbuffer *out, const struct http_table *t, json_t *page)
{
	json_t *flat = json_array(), *columns = json_object(), *row;
	const char **names, *k;
	size_t n = 0, i, c;
	json_t *v;

	json_array_foreach(page, i, row) {
		json_t *f = json_object();
		csv_flatten(f, "", row);
		json_object_foreach(f, k, v)
			json_object_set_new(columns, k, json_true());
		json_array_append_new(flat, f);
	}
	/* An empty table still says its key columns: added before the names
	 * are counted, since each takes a place among them. */
	for (c = 0; json_array_size(page) == 0 && c < 2; c++)
		if (t->key[c] != NULL)
			json_object_set_new(columns, t->key[c], json_true());
	if ((names = calloc(json_object_size(columns) + 1, sizeof(*names))) == NULL) {
		json_decref(flat);
		json_decref(columns);
		return -1;
	}
	json_object_foreach(columns, k, v) {
		if ((t->key[0] && strcmp(k, t->key[0]) == 0) || (t->key[1] && strcmp(k, t->key[1]) == 0))
			continue;
		names[n++] = k;
	}
	qsort(names, n, sizeof(*names), csv_name_cmp);
	/* The key columns first, in their order. */
	for (c = 0; c < 2; c++) {
		if (t->key[c] == NULL || json_object_get(columns, t->key[c]) == NULL)
			continue;
		memmove(names + c + 1, names + c, (n - c) * sizeof(*names));
		names[c] = t->key[c];
		n++;
	}
	for (c = 0; c < n; c++) {
		if (c)
			evbuffer_add(out, ",", 1);
		csv_text(out, names[c]);
	}
	evbuffer_add(out, "\r\n", 2);
	json_array_foreach(flat, i, row) {
		for (c = 0; c < n; c++) {
			if (c)
				evbuffer_add(out, ",", 1);
			csv_field(out, json_object_get(row, names[c]));
		}
		evbuffer_add(out, "\r\n", 2);
	}
	free(names);
	json_decref(flat);
	json_decref(columns);
	return 0;
}

/* ---------------------------------------------------------------- handlers */

/* A route that takes no parameter: false after answering 400 naming
 * the first one given, as every route does for one it does not take. */
static bool
http_no_params(struct http *h, struct evhttp_request *req, const char *route)
{
	struct http_params p;
	int rc = http_params_parse(h, req, route, 0, &p);

	evhttp_clear_headers(&p.q);
	return rc == 0;
}

static void
http_healthz(struct http *h, struct evhttp_request *req, const char *rest)
{
	json_t *json;

	(void)rest;
	if (!http_no_params(h, req, "/healthz"))
		return;
	json = json_pack("{s:s}", "status", "ok");
	http_reply_json(h, req, "/healthz", 200, json);
	json_decref(json);
}

static void
http_readyz(struct http *h, struct evhttp_request *req, const char *rest)
{
	bool refusing = ingest_refusing(h->ingest), readable;
	struct store_counts c;
	json_t *json;

	(void)rest;
	if (!http_no_params(h, req, "/readyz"))
		return;
	/* A store that cannot be read (LMDB's reader table full) answers no
	 * figures: not ready either. */
	readable = store_read_counts(h->store, &c) == STORE_OK;
	json = json_pack("{s:b, s:s, s:s, s:b}", "ready", readable && !refusing, "store",
	    readable ? "open" : "unreadable", "sockets", "bound", "refusing_input", refusing);
	if (json != NULL && !readable)
		json_object_set_new(json, "store_error", json_string(store_error(h->store)));
	http_reply_json(h, req, "/readyz", readable && !refusing ? 200 : 503, json);
	json_decref(json);
}

static void
http_metrics(struct http *h, struct evhttp_request *req, const char *rest)
{
	struct metrics_gauges g = { 0 };
	struct store_counts c = { 0 };
	struct evbuffer *body;
	int64_t totals_as_of_ms;
	bool catching_up;

	(void)rest;
	if (!http_no_params(h, req, "/metrics"))
		return;
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	/* Counters read as 0 would look to Prometheus like a reset: a scrape
	 * that fails says what it is. */
	if (store_read_counts(h->store, &c) != STORE_OK) {
		evbuffer_free(body);
		http_store_unreadable(h, req, "/metrics");
		return;
	}
	g.last_sequence = c.last_event_sequence;
	g.last_update_sequence = c.last_update_sequence;
	g.store_used_bytes = c.used_bytes;
	g.store_map_bytes = c.map_size_bytes;
	g.dead_letters = c.first_dead_letter ? c.dead_letters - c.first_dead_letter + 1 : 0;
	g.duplicates = c.duplicates;
	g.refusing_input = ingest_refusing(h->ingest);
	g.stream_clients = stream_clients(h->stream);
	g.histories_read = store_histories_read(h->store);
	g.batches_pruned = store_batches_pruned(h->store);
	g.figures_folds = live_figures_folds(h->live);
	g.figures_readings = h->n_reading + h->n_waiting;
	g.figures_reading_slices = h->reading_slices;
	live_running_totals(h->live, &totals_as_of_ms, &g.totals_steps, &catching_up);
	g.totals_as_of_seconds = totals_as_of_ms > 0 ? (uint64_t)totals_as_of_ms / 1000 : 0;
	g.totals_catching_up = catching_up;
	/* Counted before rendering, so that this request shows in it. */
	metrics_count_http(h->metrics, "/metrics", 200);
	metrics_render(h->metrics, &g, body);
	http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", body);
	evbuffer_free(body);
}

static const char *const http_areas[] = { "flow", "discharges", "capacity", "services",
	"finance", "governance", "organisations", NULL };

/*
 * May a fold of the flow figures as of as_of_ms begin now? It reads every
 * spell, in slices between which ingest runs, but it still takes the loop's
 * time: after a fold that took T in its slices, the next waits T times
 * [http] fold_wait_factor (http_fold_done). False after answering 429 with
 * Retry-After.
 */
static bool
http_fold_admitted(struct http *h, struct evhttp_request *req, const char *route,
    int64_t as_of_ms)
{
	int64_t wait_ms = h->fold_ready_ms - clock_monotonic_ms();
	char retry[24];

	if (wait_ms <= 0)
		return true;
	snprintf(retry, sizeof(retry), "%" PRId64, (wait_ms + 999) / 1000);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
	http_error(h, req, route, 429, "as_of",
	    "flow as of %" PRId64 ", before the running totals' as-of, is folded from every spell, "
	    "which takes the daemon's time: the last fold was too recent ([http] "
	    "fold_wait_factor); try again in %s s, or use commissionctl show flow --as-of %" PRId64,
	    as_of_ms, retry, as_of_ms);
	return false;
}

/* A fold took busy seconds in its slices: when may the next begin? */
static void
http_fold_done(struct http *h, double busy)
{
	/* Whole milliseconds, at least one: a quick fold still waits. */
	int64_t took_ms = (int64_t)(busy * 1000.0) + 1;

	h->fold_ready_ms = h->cfg->http_fold_wait_factor > (uint64_t)(INT64_MAX / 2 / took_ms)
	    ? INT64_MAX / 2 /* no wait this long ends: no fold till a restart */
	    : clock_monotonic_ms() + took_ms * (int64_t)h->cfg->http_fold_wait_factor;
}

/* The figures of an area as of the request, as they stand (never a
 * reading's); NULL after answering an error. */
static json_t *
http_area_figures(struct http *h, struct evhttp_request *req, const char *route,
    const char *area, const struct http_params *p)
{
	json_t *figures = live_figures(h->live, area, p->as_of_ms);

	if (figures == NULL)
		http_error(h, req, route, 500, NULL, "the figures could not be worked out");
	return figures;
}

/* Is the case one the filter keeps (a list item, as figures_filter judges)?
 * 1 kept, 0 not, -1 out of memory: the request fails rather than answer
 * without the case. */
static int
http_case_kept(const struct discharges_case *c, const char *icb,
    const struct figures_filter_spec *f)
{
	json_t *holder;
	int kept;

	if (f->icb == NULL && f->org == NULL && f->council == NULL)
		return 1;
	holder = json_pack("{s:[o]}", "items", discharges_case_json(c, icb));
	if (holder == NULL)
		return -1;
	figures_filter(holder, f);
	kept = json_array_size(json_object_get(holder, "items")) == 1;
	json_decref(holder);
	return kept;
}

/* A page of a list table, from its items handed one at a time. */
struct case_page {
	const struct http_params *p;
	const struct http_table *t;
	json_t *page;
	size_t total;
	bool failed; /* out of memory: the answer would lack cases */
};

static int
case_page_take(void *arg, const struct discharges_case *c, const char *icb)
{
	struct case_page *cp = arg;
	bool on_page = cp->total >= cp->p->offset && cp->total < cp->p->offset + cp->p->limit;
	int kept = http_case_kept(c, icb, &cp->p->filter);
	json_t *item;

	if (kept <= 0) {
		cp->failed = kept < 0;
		return cp->failed ? 1 : 0;
	}
	/* A case off the page is only counted. */
	if (on_page) {
		item = discharges_case_json(c, icb);
		if (item == NULL || json_array_append_new(cp->page,
					table_row(cp->t, NULL, NULL, item)) < 0) {
			json_decref(item);
			cp->failed = true;
			return 1;
		}
		json_decref(item);
	}
	cp->total++;
	return 0;
}

/* The roll-ups' tables need no case: hand none. */
static int
case_skip(void *arg, const struct discharges_case *c, const char *icb)
{
	(void)arg;
	(void)c;
	(void)icb;
	return 1;
}

/* The cases of the discharges area as JSON text, comma-separated, as they
 * come (discharges_case_dump: as jansson would write them, without the
 * tree): the area's answer holds them as text, not as a tree. */
struct case_text {
	const struct figures_filter_spec *filter;
	struct jtext out;
};

static int
case_text_take(void *arg, const struct discharges_case *c, const char *icb)
{
	struct case_text *ct = arg;
	int kept = http_case_kept(c, icb, ct->filter);

	if (kept < 0)
		ct->out.failed = true; /* answered 500 */
	if (kept <= 0)
		return kept < 0 ? 1 : 0;
	if (ct->out.len > 0)
		jtext_raw(&ct->out, ",");
	discharges_case_dump(&ct->out, c, icb);
	return ct->out.failed ? 1 : 0;
}

/*
 * A reading: the discharges area or one of its tables, or the flow area or
 * one of its tables for an as-of that folds every spell, read from a
 * snapshot of the store a slice at a time (live_reading), so that ingest
 * and other requests run between the slices however much the store holds.
 * At most HTTP_READINGS_AT_ONCE are under way, served a slice each in turn
 * on a timer of 0 (the loop's I/O runs first); more wait, in the order
 * they came, and begin, each with its own snapshot, when one ends. One
 * fold at a time: the next waits for it, and is answered from it if it is
 * for the same as-of (the area and its tables, asked together), else is
 * admitted by [http] fold_wait_factor (http_fold_admitted). The request is
 * answered when its reading ends; a request whose client went meanwhile is
 * let go before its next slice (http_reading_orphaned).
 */
#define HTTP_READINGS_AT_ONCE 2

struct http_reading {
	TAILQ_ENTRY(http_reading) link;
	struct evhttp_request *req;
	char route[64];
	const char *area;	    /* "discharges" or "flow" */
	const struct http_table *t; /* NULL: the area */
	struct http_params p;
	struct case_text ct; /* the discharges area's cases, as text */
	struct case_page cp; /* the discharges cases table's page */
	json_t *fresh;	     /* the freshness as the reading began */
	struct live_reading *live; /* NULL while waiting for its turn */
	bool fold;	     /* a flow fold, begun */
	double began;	     /* monotonic */
	double busy;	     /* seconds in its slices */
	uint64_t slices;
};

static void http_table_answer(struct http *h, struct evhttp_request *req,
    const struct http_table *t, const char *route, const struct http_params *p, json_t *figures,
    json_t *page, size_t total, const json_t *fresh);
static void http_discharges_answer(struct http *h, struct evhttp_request *req, const char *route,
    const struct http_params *p, json_t *figures, struct case_text *ct, const json_t *fresh);
static void http_area_answer(struct http *h, struct evhttp_request *req, const char *route,
    const char *area, const struct http_params *p, json_t *figures, const json_t *fresh);

/* The discharges cases table: its cases are handed one at a time. */
static bool
http_reading_of_cases(const struct http_reading *rd)
{
	return rd->t != NULL && rd->t->shape == TABLE_LIST;
}

/* Does the request need a reading, or can it be answered now? */
static bool
http_reading_needed(struct http *h, const struct http_reading *rd)
{
	return live_figures_in_steps(h->live, rd->area, rd->p.as_of_ms);
}

/* Answer rd's request now, from the figures as they stand (a flow fold
 * kept, the running totals). */
static void
http_reading_answer_now(struct http *h, struct http_reading *rd)
{
	json_t *figures = http_area_figures(h, rd->req, rd->route, rd->area, &rd->p);

	if (figures == NULL)
		return;
	if (rd->t != NULL)
		http_table_answer(h, rd->req, rd->t, rd->route, &rd->p, figures, NULL, 0, NULL);
	else
		http_area_answer(h, rd->req, rd->route, rd->area, &rd->p, figures, NULL);
}

/* Let the reading go, however it ended: a fold's time sets when the next
 * may begin. */
static void
http_reading_free(struct http *h, struct http_reading *rd)
{
	if (rd == NULL)
		return;
	if (rd->fold)
		http_fold_done(h, rd->busy);
	live_reading_end(&rd->live);
	evhttp_clear_headers(&rd->p.q);
	free(rd->ct.out.text);
	json_decref(rd->cp.page);
	json_decref(rd->fresh);
	free(rd);
}

/* Take the reading's snapshot and start reading; false after answering. */
static bool
http_reading_begin(struct http *h, struct http_reading *rd)
{
	bool discharges = strcmp(rd->area, "discharges") == 0;
	state_case_fn take = NULL; /* flow has no cases */
	void *arg = rd->t == NULL ? (void *)&rd->ct : (void *)&rd->cp;

	if (discharges && rd->t == NULL)
		take = case_text_take;
	else if (discharges)
		take = http_reading_of_cases(rd) ? case_page_take : case_skip;

	if ((http_reading_of_cases(rd) && (rd->cp.page = json_array()) == NULL) ||
	    (rd->fresh = json_object()) == NULL) {
		http_error(h, rd->req, rd->route, 500, NULL, "out of memory");
		return false;
	}
	/* The loop commits nothing between this and the snapshot: the store
	 * now is the snapshot. Read first, while this reading has no read
	 * batch open (a store read may have to move the map: store_on_remap). */
	if (!http_freshness(h, rd->fresh, rd->p.as_of_ms)) {
		http_store_unreadable(h, rd->req, rd->route);
		return false;
	}
	rd->began = clock_monotonic_seconds();
	if (live_reading_begin(h->live, rd->area, rd->p.as_of_ms, take, arg, &rd->live) !=
	    STORE_OK) {
		http_error(h, rd->req, rd->route, 500, NULL, "the figures could not be worked out");
		return false;
	}
	rd->fold = live_reading_fold(rd->live);
	return true;
}

/* The reading is read (ok) or failed: answer. */
static void
http_reading_answer(struct http *h, struct http_reading *rd, bool ok)
{
	json_t *figures = ok ? live_reading_figures(rd->live) : NULL;
	uint64_t as_of_event = live_reading_last_sequence(rd->live);
	struct store_counts now = { 0 };

	live_reading_end(&rd->live); /* before the store is read again */
	if (ok && store_read_counts(h->store, &now) == STORE_OK)
		log_debug("http: %s read in %" PRIu64 " slices over %.3f s, as of event %" PRIu64
			  "; %" PRIu64 " events committed meanwhile",
		    rd->route, rd->slices, clock_monotonic_seconds() - rd->began, as_of_event,
		    now.last_event_sequence - as_of_event);

	if (figures == NULL || rd->ct.out.failed || rd->cp.failed) {
		json_decref(figures);
		http_error(h, rd->req, rd->route, 500, NULL, "the figures could not be worked out");
	} else if (http_reading_of_cases(rd)) {
		json_decref(figures);
		http_table_answer(h, rd->req, rd->t, rd->route, &rd->p, NULL, rd->cp.page,
		    rd->cp.total, rd->fresh);
		rd->cp.page = NULL; /* answered with it */
	} else if (rd->t != NULL) {
		http_table_answer(h, rd->req, rd->t, rd->route, &rd->p, figures, NULL, 0,
		    rd->fresh);
	} else if (strcmp(rd->area, "flow") == 0) {
		http_area_answer(h, rd->req, rd->route, rd->area, &rd->p, figures, rd->fresh);
	} else {
		http_discharges_answer(h, rd->req, rd->route, &rd->p, figures, &rd->ct, rd->fresh);
	}
}

static void
http_reading_next_turn(struct http *h)
{
	static const struct timeval now = { 0, 0 };

	if (h->n_reading + h->n_waiting > 0 && evtimer_add(h->reading_turn, &now) < 0)
		log_error("http: the readings cannot be scheduled");
}

/* Read route (table t of area, or the area with t NULL) for req, its
 * parameters those allowed: the reading waits for its turn, or req is
 * answered now (no reading needed, a bad parameter, out of memory). */
static void
http_reading_start(struct http *h, struct evhttp_request *req, const char *route,
    const char *area, const struct http_table *t, unsigned allowed)
{
	struct http_reading *rd = calloc(1, sizeof(*rd));

	if (rd == NULL) {
		http_error(h, req, route, 500, NULL, "out of memory");
		return;
	}
	rd->req = req;
	snprintf(rd->route, sizeof(rd->route), "%s", route);
	rd->area = area;
	rd->t = t;
	rd->ct.filter = &rd->p.filter;
	rd->cp.p = &rd->p;
	rd->cp.t = t;
	TAILQ_INIT(&rd->p.q);
	if (http_params_parse(h, req, route, allowed, &rd->p) < 0) {
		http_reading_free(h, rd);
		return;
	}
	if (!http_reading_needed(h, rd)) {
		http_reading_answer_now(h, rd);
		http_reading_free(h, rd);
		return;
	}
	TAILQ_INSERT_TAIL(&h->waiting, rd, link);
	h->n_waiting++;
	http_reading_next_turn(h);
}

/*
 * Has the client of req gone? libevent does not read a connection while
 * its request is with us, so it notices a client that closed only when
 * the answer is written: peek at the socket instead (as nginx does for a
 * request it holds). End of file, or an error, is a client that went; a
 * client that only shut down its side for writing looks the same, and is
 * let go too.
 */
static bool
http_client_gone(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	evutil_socket_t fd;
	ssize_t n;
	char c;

	if (conn == NULL)
		return true; /* libevent let go of it */
	if ((bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (fd = bufferevent_getfd(bev)) < 0)
		return false;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * Has the request's client gone? Then let the request, its connection and
 * the reading go, with no answer: a client that closed reads none, and
 * one that only shut down its side for writing, which looks the same, is
 * taken at its word as gone (docs/HTTP.md). Closing is the whole answer,
 * the same on every route read in slices: the client reads end of file
 * (libevent shuts the socket down for writing as it lets the connection
 * go). Counted as HTTP_STATUS_CLIENT_WENT, since no status was sent.
 */
static bool
http_reading_orphaned(struct http *h, struct http_reading *rd)
{
	struct evhttp_connection *conn;

	if (!http_client_gone(rd->req))
		return false;
	if (rd->live != NULL)
		log_debug("http: %s: the client went after %" PRIu64 " slices over %.3f s; "
			  "its reading stopped",
		    rd->route, rd->slices, clock_monotonic_seconds() - rd->began);
	else
		log_debug("http: %s: the client went before its reading began", rd->route);
	metrics_count_http(h->metrics, rd->route, HTTP_STATUS_CLIENT_WENT);
	if ((conn = evhttp_request_get_connection(rd->req)) != NULL)
		evhttp_connection_free(conn); /* and the request, queued on it */
	else
		evhttp_request_free(rd->req); /* libevent let go of it: ours to free */
	rd->req = NULL;
	http_reading_free(h, rd);
	return true;
}

static bool
http_folding(const struct http *h)
{
	const struct http_reading *rd;

	TAILQ_FOREACH(rd, &h->reading, link)
		if (rd->fold)
			return true;
	return false;
}

/* Begin the readings waiting, in order, while there is room. */
static void
http_reading_begin_waiting(struct http *h)
{
	struct http_reading *rd;
	bool needed, fold;

	while (h->n_reading < HTTP_READINGS_AT_ONCE && (rd = TAILQ_FIRST(&h->waiting)) != NULL) {
		/* Asked as of now: as of when it begins, which the running
		 * totals may have passed while it waited. */
		if (!rd->p.as_of_asked)
			rd->p.as_of_ms = clock_now_ms();
		needed = http_reading_needed(h, rd); /* the live read afresh first, if need be */
		fold = needed && live_figures_fold(h->live, rd->area, rd->p.as_of_ms);
		if (fold && http_folding(h))
			return; /* after that fold: it may be this one's */
		TAILQ_REMOVE(&h->waiting, rd, link);
		h->n_waiting--;
		if (http_reading_orphaned(h, rd))
			continue;
		if (!needed) { /* a fold kept meanwhile, or few timers due */
			http_reading_answer_now(h, rd);
			http_reading_free(h, rd);
			continue;
		}
		if ((fold && !http_fold_admitted(h, rd->req, rd->route, rd->p.as_of_ms)) ||
		    !http_reading_begin(h, rd)) {
			http_reading_free(h, rd);
			continue;
		}
		TAILQ_INSERT_TAIL(&h->reading, rd, link);
		h->n_reading++;
	}
}

/* One turn: readings begin while there is room, and the first under way
 * reads one slice ([http] reading_slice_us) and goes to the back. */
static void
http_reading_on_turn(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct http_reading *rd;
	double started;
	int more;

	(void)fd;
	(void)what;
	http_reading_begin_waiting(h);
	if ((rd = TAILQ_FIRST(&h->reading)) != NULL) {
		TAILQ_REMOVE(&h->reading, rd, link);
		h->n_reading--;
		if (http_reading_orphaned(h, rd)) {
			http_reading_next_turn(h);
			return;
		}
		started = clock_monotonic_seconds();
		more = live_reading_step(rd->live,
		    started + (double)h->cfg->http_reading_slice_us / 1e6);
		h->reading_slices++;
		rd->slices++;
		rd->busy += clock_monotonic_seconds() - started;
		if (more > 0) {
			TAILQ_INSERT_TAIL(&h->reading, rd, link);
			h->n_reading++;
		} else {
			http_reading_answer(h, rd, more == 0);
			http_reading_free(h, rd);
		}
		/* The pages a slice maps the store lets go of as it reads
		 * (store_bound_mapped, every 64 records read). */
	}
	http_reading_next_turn(h);
}

/* Answer every reading under way (and, with waiting, every one waiting)
 * 503 with message, and end it. */
static void
http_reading_stop_all(struct http *h, bool waiting, const char *message)
{
	struct http_reading *rd;

	while ((rd = TAILQ_FIRST(&h->reading)) != NULL ||
	    (waiting && (rd = TAILQ_FIRST(&h->waiting)) != NULL)) {
		if (rd->live != NULL) {
			TAILQ_REMOVE(&h->reading, rd, link);
			h->n_reading--;
		} else {
			TAILQ_REMOVE(&h->waiting, rd, link);
			h->n_waiting--;
		}
		if (http_reading_orphaned(h, rd))
			continue;
		live_reading_end(&rd->live);
		http_error(h, rd->req, rd->route, 503, NULL, "%s", message);
		http_reading_free(h, rd);
	}
}

/* store_on_remap's: the map cannot move under a reading's snapshot. */
static void
http_reading_on_remap(void *arg)
{
	http_reading_stop_all(arg, false,
	    "the store's map grew while the figures were read: ask again");
}


/* A table's answer: its rows cut from figures (filtered as p asks, then
 * released), or the page given (a discharges case list, its total given),
 * with the freshness of fresh (NULL: now). */
static void
http_table_answer(struct http *h, struct evhttp_request *req, const struct http_table *t,
    const char *route, const struct http_params *p, json_t *figures, json_t *page, size_t total,
    const json_t *fresh)
{
	json_t *rows, *answer;

	if (figures != NULL) {
		figures_filter(figures, &p->filter);
		rows = table_rows(t, figures);
		json_decref(figures);
		total = json_array_size(rows);
		page = json_array();
		for (size_t i = p->offset; i < total && i < p->offset + p->limit; i++)
			json_array_append(page, json_array_get(rows, i));
		json_decref(rows);
	}
	if (p->offset > total) {
		json_decref(page);
		http_error(h, req, route, 400, "cursor", "cursor: past the end of the table");
		return;
	}
	answer = json_pack("{s:s, s:I}", "table", t->name, "total", (json_int_t)total);
	if (answer == NULL || !http_freshness_of(h, answer, p->as_of_ms, fresh)) {
		json_decref(page);
		if (answer == NULL)
			http_error(h, req, route, 500, NULL, "out of memory");
		else
			http_store_unreadable(h, req, route);
		json_decref(answer);
		return;
	}
	if (p->offset + p->limit < total) {
		char next[32];
		snprintf(next, sizeof(next), "%" PRIu64, p->offset + p->limit);
		json_object_set_new(answer, "next_cursor", json_string(next));
	} else {
		json_object_set_new(answer, "next_cursor", json_null());
	}
	if (p->csv) {
		struct evbuffer *body = evbuffer_new();
		struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
		char v[32];
		json_t *t_last = json_object_get(answer, "last_event_time");
		if (body == NULL || csv_write(body, t, page) < 0) {
			if (body != NULL)
				evbuffer_free(body);
			json_decref(page);
			json_decref(answer);
			http_error(h, req, route, 500, NULL, "out of memory");
			return;
		}
		snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(answer, "last_sequence")));
		evhttp_add_header(hdr, "X-Last-Sequence", v);
		snprintf(v, sizeof(v), "%" JSON_INTEGER_FORMAT, json_integer_value(t_last));
		evhttp_add_header(hdr, "X-Last-Event-Time", json_is_null(t_last) ? "" : v);
		snprintf(v, sizeof(v), "%" PRId64, p->as_of_ms);
		evhttp_add_header(hdr, "X-As-Of", v);
		if (json_is_string(json_object_get(answer, "next_cursor")))
			evhttp_add_header(hdr, "X-Next-Cursor",
			    json_string_value(json_object_get(answer, "next_cursor")));
		http_reply(h, req, route, 200, "text/csv; charset=utf-8", body);
		evbuffer_free(body);
		json_decref(page);
	} else {
		json_object_set_new(answer, "items", page);
		http_reply_json(h, req, route, 200, answer);
	}
	json_decref(answer);
}

/* Are the area's figures read from the store, in slices when large? */
static bool
http_area_read(const char *area)
{
	return strcmp(area, "discharges") == 0 || strcmp(area, "flow") == 0;
}

static void
http_table(struct http *h, struct evhttp_request *req, const struct http_table *t,
    const char *route)
{
	struct http_params p;
	json_t *figures;

	if (http_area_read(t->area)) {
		/* In slices when it must, answered when read (http_reading). */
		http_reading_start(h, req, route, t->area, t, P_AS_OF | P_FILTER | P_PAGE);
		return;
	}
	if (http_params_parse(h, req, route, P_AS_OF | P_FILTER | P_PAGE, &p) < 0)
		goto out;
	if ((figures = http_area_figures(h, req, route, t->area, &p)) != NULL)
		http_table_answer(h, req, t, route, &p, figures, NULL, 0, NULL);
out:
	evhttp_clear_headers(&p.q);
}

static void
http_free_text(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* /api/v1/discharges: the answer as http_area makes it, from figures (then
 * released), with the cases (ct) spliced in as text where the list stands
 * empty, so that the tens of thousands of cases are never a tree in memory;
 * their text is handed to the answer, not copied (tens of megabytes on a
 * large store). */
static void
http_discharges_answer(struct http *h, struct evhttp_request *req, const char *route,
    const struct http_params *p, json_t *figures, struct case_text *ct, const json_t *fresh)
{
	static const char list[] = "\"cases\":[";
	struct evbuffer *body = evbuffer_new();
	json_t *answer;
	char *text = NULL, *at;

	if (body == NULL) {
		http_error(h, req, route, 500, NULL, "out of memory");
		goto out;
	}
	figures_filter(figures, &p->filter);
	answer = json_pack("{s:s}", "area", "discharges");
	if (answer != NULL && !http_freshness_of(h, answer, p->as_of_ms, fresh)) {
		json_decref(answer);
		http_store_unreadable(h, req, route);
		goto out;
	}
	json_object_set(answer, "figures", figures);
	text = json_dumps(answer, JSON_COMPACT);
	json_decref(answer);
	/* The first "cases":[ is the list: before it stand only the freshness
	 * and the unmapped codes, which hold no quote. */
	if (text == NULL || (at = strstr(text, list)) == NULL) {
		http_error(h, req, route, 500, NULL, "out of memory");
		goto out;
	}
	at += strlen(list);
	evbuffer_add(body, text, (size_t)(at - text));
	if (ct->out.len > 0) {
		if (evbuffer_add_reference(body, ct->out.text, ct->out.len, http_free_text,
			NULL) < 0) {
			http_error(h, req, route, 500, NULL, "out of memory");
			goto out;
		}
		ct->out.text = NULL; /* the answer's, freed once written */
		ct->out.len = ct->out.size = 0;
	}
	evbuffer_add(body, at, strlen(at));
	evbuffer_add(body, "\n", 1);
	http_reply(h, req, route, 200, "application/json", body);
out:
	free(text);
	json_decref(figures);
	if (body != NULL)
		evbuffer_free(body);
}

/* An area's answer: figures (filtered as p asks, then released) with the
 * freshness of fresh (NULL: now). */
static void
http_area_answer(struct http *h, struct evhttp_request *req, const char *route,
    const char *area, const struct http_params *p, json_t *figures, const json_t *fresh)
{
	json_t *answer = json_pack("{s:s}", "area", area);

	figures_filter(figures, &p->filter);
	if (answer == NULL) {
		json_decref(figures);
		http_error(h, req, route, 500, NULL, "out of memory");
		return;
	}
	if (!http_freshness_of(h, answer, p->as_of_ms, fresh)) {
		json_decref(figures);
		json_decref(answer);
		http_store_unreadable(h, req, route);
		return;
	}
	json_object_set_new(answer, "figures", figures);
	http_reply_json(h, req, route, 200, answer);
	json_decref(answer);
}

static void
http_area(struct http *h, struct evhttp_request *req, const char *area)
{
	char route[64];
	struct http_params p;
	json_t *figures;

	snprintf(route, sizeof(route), "/api/v1/%s", area);
	if (http_area_read(area)) {
		/* In slices when it must, answered when read (http_reading). */
		http_reading_start(h, req, route, area, NULL, P_AS_OF | P_FILTER);
		return;
	}
	if (http_params_parse(h, req, route, P_AS_OF | P_FILTER, &p) < 0)
		goto out;
	if ((figures = http_area_figures(h, req, route, area, &p)) != NULL)
		http_area_answer(h, req, route, area, &p, figures, NULL);
out:
	evhttp_clear_headers(&p.q);
}

static void
http_organisation(struct http *h, struct evhttp_request *req, const char *code)
{
	const char *route = "/api/v1/organisations/{code}";
	struct http_params p;
	json_t *figures, *org, *answer;

	if (http_params_parse(h, req, route, P_AS_OF, &p) < 0)
		goto out;
	if ((figures = live_figures(h->live, "organisations", p.as_of_ms)) == NULL) {
		http_error(h, req, route, 500, NULL, "the figures could not be worked out");
		goto out;
	}
	org = json_object_get(json_object_get(figures, "organisations"), code);
	if (org == NULL) {
		json_decref(figures);
		http_error(h, req, route, 404, NULL, "no organisation %s is registered", code);
		goto out;
	}
	answer = json_pack("{s:O}", "organisation", org);
	json_decref(figures);
	if (answer == NULL)
		http_error(h, req, route, 500, NULL, "out of memory");
	else if (!http_freshness(h, answer, p.as_of_ms))
		http_store_unreadable(h, req, route);
	else
		http_reply_json(h, req, route, 200, answer);
	json_decref(answer);
out:
	evhttp_clear_headers(&p.q);
}

/* Does the request ask for a table: paged (limit, cursor) or CSV? */
static bool
http_wants_table(struct evhttp_request *req)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	bool table = http_accept_prefers_csv(evhttp_request_get_input_headers(req));
	const char *name;

	TAILQ_INIT(&q);
	/* A query at fault is the area's to refuse, naming what is wrong. */
	if (query != NULL && http_query_parse(query, &q, &name) == QUERY_OK) {
		const char *format = evhttp_find_header(&q, "format");
		table = table || evhttp_find_header(&q, "limit") != NULL ||
		    evhttp_find_header(&q, "cursor") != NULL ||
		    (format != NULL && strcmp(format, "csv") == 0);
	}
	evhttp_clear_headers(&q);
	return table;
}

/* /api/v1/...: an area, a table, or an organisation. */
static void
http_api(struct http *h, struct evhttp_request *req, const char *rest)
{
	for (size_t i = 0; i < N_TABLES; i++) {
		if (strcmp(rest, http_tables[i].name) != 0)
			continue;
		/* A name that is an area too (organisations, services) is the
		 * area unless the request is paged or asks for CSV. */
		if ((strcmp(rest, "organisations") == 0 || strcmp(rest, "services") == 0) &&
		    !http_wants_table(req))
			break;
		char route[64];
		snprintf(route, sizeof(route), "/api/v1/%s", http_tables[i].name);
		http_table(h, req, &http_tables[i], route);
		return;
	}
	for (int i = 0; http_areas[i] != NULL; i++) {
		if (strcmp(rest, http_areas[i]) == 0) {
			http_area(h, req, http_areas[i]);
			return;
		}
	}
	if (strncmp(rest, "organisations/", 14) == 0 && rest[14] != '\0' &&
	    strchr(rest + 14, '/') == NULL) {
		http_organisation(h, req, rest + 14);
		return;
	}
	http_error(h, req, "other", 404, NULL, "no such route: /api/v1/%s", rest);
}

static void
http_stream(struct http *h, struct evhttp_request *req, const char *rest)
{
	const char *route = "/api/v1/stream";
	struct http_params p;

	(void)rest;
	if (http_params_parse(h, req, route, P_STREAM, &p) < 0)
		goto out;
	if (stream_add(h->stream, req, p.last_event_id, p.topic) < 0) {
		http_error(h, req, route, 503, NULL,
		    "too many stream clients ([http] sse_max_clients); try again later");
		goto out;
	}
	metrics_count_http(h->metrics, route, 200);
out:
	evhttp_clear_headers(&p.q);
}

static void
http_static(struct http *h, struct evhttp_request *req, const char *path)
{
	struct http_params p;

	if (http_params_parse(h, req, "/", P_DASHBOARD, &p) < 0)
		goto out;
	for (size_t i = 0; i < n_embedded_files; i++) {
		const struct embedded_file *f = &embedded_files[i];
		if (strcmp(f->path, path) == 0) {
			struct evbuffer *body = evbuffer_new();
			evbuffer_add_reference(body, f->data, f->len, NULL, NULL);
			http_reply(h, req, "/", 200, f->content_type, body);
			evbuffer_free(body);
			goto out;
		}
	}
	http_error(h, req, "other", 404, NULL, "no such route: %s", path);
out:
	evhttp_clear_headers(&p.q);
}

/* ---------------------------------------------------------------- dispatch */

typedef void (*http_handler)(struct http *h, struct evhttp_request *req, const char *rest);

static const struct {
	const char *prefix;
	bool exact;
	bool open; /* no token needed */
	http_handler fn;
} http_routes[] = {
	{ "/healthz", true, true, http_healthz },
	{ "/readyz", true, false, http_readyz },
	{ "/metrics", true, false, http_metrics },
	{ "/api/v1/stream", true, false, http_stream },
	{ "/api/v1/", false, false, http_api },
};

/* Authorization: Bearer <token>, the token compared in constant time.
 * The scheme's case does not matter, and spaces may be more than one
 * (RFC 9110 11.4: credentials = auth-scheme [ 1*SP token68 ]); the
 * token's case does. Given twice, it is not authorised whatever either
 * says: which one a proxy between meant is not known. */
static bool
http_authorised(struct http *h, struct evhttp_request *req)
{
	const struct evkeyval *kv;
	const char *auth = NULL;
	size_t n = strlen(h->cfg->http_token);
	const char *token;

	if (n == 0)
		return true;
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
		if (evutil_ascii_strcasecmp(kv->key, "Authorization") != 0)
			continue;
		if (auth != NULL)
			return false;
		auth = kv->value;
	}
	if (auth == NULL || evutil_ascii_strncasecmp(auth, "Bearer", 6) != 0 || auth[6] != ' ')
		return false;
	for (token = auth + 6; *token == ' '; token++)
		;
	if (strlen(token) != n)
		return false;
	return sodium_memcmp(token, h->cfg->http_token, n) == 0;
}

/*
 * Does the request's Host header name this daemon? A web page can make its
 * own name resolve to 127.0.0.1 (DNS rebinding) and then read what is
 * served there as its own; its requests still carry its name in Host. So
 * Host must be a loopback name, or one of [http] hosts; or anything, when
 * that is "*" or empty and the daemon listens beyond loopback (no rebinding
 * then: it is reached by its own name). A request with no Host (HTTP/1.0)
 * is let through: browsers always send one. name: the header's name, for
 * the refusal.
 */
static bool
http_host_allowed(struct http *h, struct evhttp_request *req, char *name, size_t size)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	/* A target in absolute form (http://name/path) names the host
	 * itself, and Host is then ignored (RFC 9112 3.2.2). */
	const char *host = uri != NULL && evhttp_uri_get_scheme(uri) != NULL &&
		evhttp_uri_get_host(uri) != NULL
	    ? evhttp_uri_get_host(uri)
	    : evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	const char *hosts = h->cfg->http_hosts;
	char listen[CONFIG_TEXT_MAX];
	uint16_t port;
	size_t n;
	bool fits;

	if (host == NULL || strcmp(hosts, "*") == 0)
		return true;
	/* The name without its port: "[::1]:7680", "localhost:7680". */
	n = host[0] == '[' ? strcspn(host, "]") + (strchr(host, ']') != NULL)
			   : strcspn(host, ":");
	if (n > 0 && host[n - 1] == '.' && host[0] != '[')
		n--; /* "localhost." is localhost */
	/* A name cut short could be one of ours: one too long to hold (more
	 * than a DNS name's 253 characters) is none. */
	fits = snprintf(name, size, "%.*s", (int)n, host) < (int)size;
	if (fits && (config_host_is_loopback(name) || config_list_includes(hosts, name)))
		return true;
	return hosts[0] == '\0' &&
	    config_listen_split(h->cfg->http_listen, listen, sizeof(listen), &port) == 0 &&
	    !config_host_is_loopback(listen);
}

static void
http_forget_connection(void *arg, struct evhttp_connection *conn)
{
	struct http *h = arg;

	for (size_t i = 0; i < h->n_conns; i++) {
		if (h->conns[i] == conn) {
			h->conns[i] = h->conns[--h->n_conns];
			return;
		}
	}
}

static void
http_on_connection_close(struct evhttp_connection *conn, void *arg)
{
	http_forget_connection(arg, conn);
}

/* Count a request's connection the first time it is seen: false when it
 * is one more than max_connections. */
static bool
http_admit_connection(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);

	if (conn == NULL)
		return true;
	for (size_t i = 0; i < h->n_conns; i++)
		if (h->conns[i] == conn)
			return true;
	if (h->n_conns >= h->cfg->http_max_connections)
		return false;
	h->conns[h->n_conns++] = conn;
	evhttp_connection_set_closecb(conn, http_on_connection_close, h);
	return true;
}

/*
 * Do two Content-Length headers of the request differ? Then where it ends
 * is not known (RFC 9112 6.3: a 400, and the connection closed): libevent
 * 2.1 reads as much body as the first says, and the rest would be taken
 * for the next request. libevent refuses a first one that is not a number
 * itself, and Transfer-Encoding with Content-Length; the same value given
 * twice is taken (RFC 9112 6.3 lets a recipient). *first and *other are
 * the two that differ.
 */
static bool
http_lengths_differ(const struct evkeyvalq *headers, const char **first, const char **other)
{
	const struct evkeyval *kv;
	uint64_t first_n = 0, n;

	*first = NULL;
	TAILQ_FOREACH(kv, headers, next) {
		if (evutil_ascii_strcasecmp(kv->key, "Content-Length") != 0)
			continue;
		if (*first == NULL) {
			*first = kv->value;
			if (param_u64(kv->value, &first_n) < 0)
				first_n = UINT64_MAX; /* libevent has refused it */
			continue;
		}
		if (param_u64(kv->value, &n) < 0 || n != first_n) {
			*other = kv->value;
			return true;
		}
	}
	return false;
}

/* How many lines of the header name there are (case aside). */
static size_t
http_header_lines(const struct evkeyvalq *headers, const char *name)
{
	const struct evkeyval *kv;
	size_t n = 0;

	TAILQ_FOREACH(kv, headers, next)
		n += evutil_ascii_strcasecmp(kv->key, name) == 0;
	return n;
}

/* The size of the request line and headers as sent (near enough). */
static uint64_t
http_request_bytes(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyval *kv;
	uint64_t n = (uri ? strlen(uri) : 0) + 16;

	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

/* ---------------------------------------------------------------- connections */

static void
http_arrival_sweep_arm(struct http *h)
{
	struct timeval every = { 0, HTTP_ARRIVAL_SWEEP_MS * 1000 };

	if (!TAILQ_EMPTY(&h->arrivals) && !evtimer_pending(h->arrival_sweep, NULL) &&
	    evtimer_add(h->arrival_sweep, &every) < 0)
		log_error("http: the requests' time-outs cannot be scheduled");
}

static void
http_arrival_free(struct http *h, struct http_arrival *a)
{
	TAILQ_REMOVE(&h->arrivals, a, link);
	bufferevent_decref(a->bev);
	free(a);
}

/* The instant [http] timeout_ms after now. The configuration bounds it to
 * a day (lib/config.c), so the sum never wraps to an instant already past,
 * which would close every connection at once. */
static int64_t
http_deadline_ms(const struct http *h, int64_t now)
{
	return now + (int64_t)h->cfg->http_timeout_ms;
}

/* evhttp_set_bevcb's: a connection was accepted. NULL lets libevent make
 * the bufferevent itself (no deadline then but its idle time-out). */
static struct bufferevent *
http_on_connection(struct event_base *base, void *arg)
{
	struct http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct http_arrival *a;

	if (bev == NULL)
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return bev;
	bufferevent_incref(bev);
	a->bev = bev;
	a->deadline_ms = http_deadline_ms(h, clock_monotonic_ms());
	TAILQ_INSERT_TAIL(&h->arrivals, a, link);
	http_arrival_sweep_arm(h);
	return bev;
}

/* The connection of req, as held here; NULL if it is not. */
static struct http_arrival *
http_arrival_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct http_arrival *a;

	TAILQ_FOREACH(a, &h->arrivals, link)
		if (a->bev == bev)
			return a;
	return NULL;
}

/* An answer is sent: the next request on its connection must arrive
 * within timeout_ms. libevent 2.1 keeps a CONNECT's connection open once
 * answered (its answer without a length), whatever Connection says: that
 * one is shut down at the next sweep, its answer written. */
static void
http_on_request_complete(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct http_arrival *a = http_arrival_of(h, req);
	int64_t now = clock_monotonic_ms();

	if (a != NULL)
		a->deadline_ms = evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT
		    ? now
		    : http_deadline_ms(h, now);
}

/* Let go of the connections libevent has let go of, and shut down those
 * whose request has not arrived by its deadline. */
static void
http_arrival_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int64_t now = clock_monotonic_ms();
	struct http_arrival *a, *next;
	bufferevent_event_cb eventcb;

	(void)fd;
	(void)what;
	for (a = TAILQ_FIRST(&h->arrivals); a != NULL; a = next) {
		next = TAILQ_NEXT(a, link);
		/* bufferevent_free clears the callbacks; evhttp never clears
		 * the event callback of a connection it holds. */
		bufferevent_getcb(a->bev, NULL, NULL, &eventcb, NULL);
		if (eventcb == NULL) {
			http_arrival_free(h, a);
			continue;
		}
		if (a->deadline_ms != 0 && now >= a->deadline_ms) {
			evutil_socket_t sock = bufferevent_getfd(a->bev);
			a->deadline_ms = 0;
			if (sock >= 0 && shutdown(sock, SHUT_RDWR) == 0)
				log_debug("http: a connection closed: no request on it within %" PRIu64
					  " ms ([http] timeout_ms), or a CONNECT answered",
				    h->cfg->http_timeout_ms);
		}
	}
	http_arrival_sweep_arm(h);
}

/* accept() failed other than for a moment (out of descriptors: EMFILE,
 * ENFILE, ENOBUFS): libevent would retry at once, at full speed. Stop
 * accepting for a while; the connections wait in the listen backlog. */
/* The error callback is handed the listener's own argument, which is
 * libevent's (the evhttp): the daemon's one server is found here. */
static struct http *http_accepting;

static void
http_on_accept_error(struct evconnlistener *listener, void *arg)
{
	struct http *h = http_accepting;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { 0, HTTP_ACCEPT_PAUSE_MS * 1000 };

	(void)arg;
	evconnlistener_disable(listener);
	if (evtimer_add(h->accept_resume, &pause) < 0) {
		evconnlistener_enable(listener);
		return;
	}
	log_warning("http: cannot accept a connection: %s; accepting again in %d ms",
	    evutil_socket_error_to_string(err), HTTP_ACCEPT_PAUSE_MS);
}

static void
http_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(h->listener);
}

static void
http_on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	size_t decoded_len;
	struct http_arrival *arrival = http_arrival_of(h, req);
	const char *length, *other_length;
	char *decoded, host_name[HTTP_HOST_NAME_MAX + 1];

	/* The request has come: no deadline while it is answered. */
	if (arrival != NULL)
		arrival->deadline_ms = 0;
	evhttp_request_set_on_complete_cb(req, http_on_request_complete, h);
	if (!http_admit_connection(h, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_error(h, req, "other", 503, NULL,
		    "too many connections ([http] max_connections is %" PRIu64 "); try again later",
		    h->cfg->http_max_connections);
		return;
	}
	if (http_lengths_differ(evhttp_request_get_input_headers(req), &length, &other_length)) {
		/* Whatever follows cannot be read as a request. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_error(h, req, "other", 400, NULL,
		    "Content-Length is given as %.40s and as %.40s: where the request ends is "
		    "not known",
		    length, other_length);
		return;
	}
	if (http_request_bytes(req) > h->cfg->http_max_request_bytes) {
		http_error(h, req, "other", 413, NULL,
		    "the request line and headers are over %" PRIu64 " bytes ([http] max_request_bytes)",
		    h->cfg->http_max_request_bytes);
		return;
	}
	/* Two Host lines: a proxy in front may have judged the one this would
	 * not (RFC 9112 3.2 says 400). */
	if (http_header_lines(evhttp_request_get_input_headers(req), "Host") > 1) {
		http_error(h, req, "other", 400, NULL, "Host is given more than once");
		return;
	}
	if (!http_host_allowed(h, req, host_name, sizeof(host_name))) {
		http_error(h, req, "other", 403, NULL,
		    "Host \"%s\" is not a name of this daemon: it answers to localhost, its "
		    "loopback addresses and the names in [http] hosts (docs/SECURITY.md, "
		    "\"DNS rebinding\")",
		    host_name);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		enum evhttp_cmd_type method = evhttp_request_get_command(req);
		struct evkeyvalq *out = evhttp_request_get_output_headers(req);
		evhttp_add_header(out, "Allow", "GET");
		/* After CONNECT, or a method nobody knows, the client may send
		 * what is not HTTP: let the connection go. */
		if (method == EVHTTP_REQ_CONNECT ||
		    (method & (EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				  EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
				  EVHTTP_REQ_PATCH)) == 0)
			evhttp_add_header(out, "Connection", "close");
		http_error(h, req, "other", 405, NULL, "only GET is served here");
		return;
	}
	/* "//x" is a path whose first segment is empty (RFC 9112 3.2.1),
	 * which libevent reads as a host x: no route begins so. */
	if (uri != NULL && evhttp_uri_get_scheme(uri) == NULL && evhttp_uri_get_host(uri) != NULL) {
		const char *target = evhttp_request_get_uri(req);
		http_error(h, req, "other", 404, NULL, "no such route: %.*s",
		    (int)strcspn(target, "?"), target);
		return;
	}
	if (path == NULL || path[0] == '\0')
		path = "/";
	decoded = evhttp_uridecode(path, 0, &decoded_len);
	if (decoded == NULL) {
		http_error(h, req, "other", 400, NULL, "the path is not well formed");
		return;
	}
	/* Every route is ASCII: a path that decodes to a NUL (which would cut
	 * it short) or to text that is not UTF-8 names none. */
	if (strlen(decoded) != decoded_len) {
		http_error(h, req, "other", 400, NULL, "the path holds %%00, a NUL character");
		free(decoded);
		return;
	}
	if (!http_text_is_utf8(decoded, decoded_len)) {
		http_error(h, req, "other", 404, NULL, "no such route: %s", path);
		free(decoded);
		return;
	}
	for (size_t i = 0; i < sizeof(http_routes) / sizeof(http_routes[0]); i++) {
		size_t n = strlen(http_routes[i].prefix);
		if (http_routes[i].exact ? strcmp(decoded, http_routes[i].prefix) != 0
					 : strncmp(decoded, http_routes[i].prefix, n) != 0)
			continue;
		if (!http_routes[i].open && !http_authorised(h, req)) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
			    "Bearer");
			http_error(h, req, "other", 401, NULL,
			    "a bearer token is needed (Authorization: Bearer ...)");
			free(decoded);
			return;
		}
		http_routes[i].fn(h, req, decoded + n);
		free(decoded);
		/* An answer may have read much of the store: let its pages
		 * go. */
		if (store_bound_mapped(h->store) != STORE_OK)
			log_warning("http: %s", store_error(h->store));
		return;
	}
	/* The dashboard's own files; the page sends the token on its calls. */
	http_static(h, req, strcmp(decoded, "/") == 0 ? "/index.html" : decoded);
	free(decoded);
}

int
http_reconfigure(struct http *h)
{
	const struct config *cfg = h->cfg;
	struct timeval timeout = { (time_t)(cfg->http_timeout_ms / 1000),
		(suseconds_t)(cfg->http_timeout_ms % 1000 * 1000) };

	/* The table of counted connections only grows: a lower limit admits
	 * no new one until enough have closed. */
	if (cfg->http_max_connections > h->conns_size) {
		struct evhttp_connection **conns = realloc(h->conns,
		    cfg->http_max_connections * sizeof(*conns));
		if (conns == NULL)
			return -1;
		h->conns = conns;
		h->conns_size = cfg->http_max_connections;
	}
	if (h->server == NULL)
		return 0;
	/* libevent 2.1 answers its own limit with a bare 400: its limit is
	 * set well above ours, which http_on_request answers 413 in JSON. */
	evhttp_set_max_headers_size(h->server, (ev_ssize_t)cfg->http_max_request_bytes * 4 + 65536);
	evhttp_set_max_body_size(h->server, (ev_ssize_t)cfg->http_max_request_bytes);
	evhttp_set_timeout_tv(h->server, &timeout);
	return 0;
}

struct http *
http_new(struct event_base *base, const struct config *cfg, struct store *store,
    struct live *live, struct ingest *ingest, struct metrics *metrics, struct stream *stream,
    char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	char host[CONFIG_TEXT_MAX];
	struct evhttp_bound_socket *bound;
	uint16_t port;

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->cfg = cfg;
	h->store = store;
	h->live = live;
	h->ingest = ingest;
	h->metrics = metrics;
	h->stream = stream;
	TAILQ_INIT(&h->reading);
	TAILQ_INIT(&h->waiting);
	TAILQ_INIT(&h->arrivals);
	if (http_reconfigure(h) < 0 ||
	    (h->reading_turn = evtimer_new(base, http_reading_on_turn, h)) == NULL ||
	    (h->accept_resume = evtimer_new(base, http_on_accept_resume, h)) == NULL ||
	    (h->arrival_sweep = evtimer_new(base, http_arrival_on_sweep, h)) == NULL) {
		snprintf(err, errlen, "out of memory");
		http_destroy(&h);
		return NULL;
	}
	stream_on_connection_close(stream, http_forget_connection, h);
	if (config_listen_split(cfg->http_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "[http] listen: \"%s\" is not ADDRESS:PORT", cfg->http_listen);
		http_destroy(&h);
		return NULL;
	}
	h->server = evhttp_new(base);
	if (h->server == NULL ||
	    (bound = evhttp_bind_socket_with_handle(h->server, host, port)) == NULL) {
		snprintf(err, errlen, "[http] listen: cannot listen on %s: %s", cfg->http_listen,
		    strerror(errno));
		http_destroy(&h);
		return NULL;
	}
	h->listener = evhttp_bound_socket_get_listener(bound);
	http_accepting = h;
	evconnlistener_set_error_cb(h->listener, http_on_accept_error);
	evhttp_set_bevcb(h->server, http_on_connection, h);
	store_on_remap(store, http_reading_on_remap, h);
	/* Every method reaches http_on_request, which answers all but GET
	 * 405 in JSON: one libevent does not know (PROPFIND) has a bit of
	 * its own (EVHTTP_REQ_UNKNOWN_, 1 << 15, in libevent 2.1), so all
	 * 16 bits; a method left out would get libevent's 501 in HTML. */
	evhttp_set_allowed_methods(h->server, 0xffff);
	http_reconfigure(h);
	evhttp_set_gencb(h->server, http_on_request, h);
	if (!config_host_is_loopback(host) && cfg->http_token[0] == '\0')
		log_warning("http: listening on %s, beyond loopback, with no [http] token",
		    cfg->http_listen);
	log_info("http: listening on %s", cfg->http_listen);
	return h;
}

void
http_destroy(struct http **hp)
{
	struct http *h = *hp;

	struct http_arrival *a;

	if (h == NULL)
		return;
	if (http_accepting == h)
		http_accepting = NULL;
	http_reading_stop_all(h, true, "commissiond is stopping");
	store_on_remap(h->store, NULL, NULL);
	if (h->reading_turn != NULL)
		event_free(h->reading_turn);
	if (h->server != NULL)
		evhttp_free(h->server); /* lets go of every connection */
	while ((a = TAILQ_FIRST(&h->arrivals)) != NULL)
		http_arrival_free(h, a);
	if (h->arrival_sweep != NULL)
		event_free(h->arrival_sweep);
	if (h->accept_resume != NULL)
		event_free(h->accept_resume);
	free(h->conns);
	free(h);
	*hp = NULL;
}
