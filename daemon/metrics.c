/*
 * metrics: the daemon's counters and histograms, and their Prometheus text
 * exposition (format 0.0.4). Owns the label sets it has seen, bounded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "commissiond.h"

#define METRICS_LABEL_SETS_MAX 512 /* beyond this, label "other" */
#define METRICS_LABEL_MAX 96

struct histogram {
	const double *bounds;
	size_t n_bounds;
	uint64_t counts[16]; /* per bound, then +Inf */
	double sum;
	uint64_t count;
};

struct labelled {
	char a[METRICS_LABEL_MAX], b[METRICS_LABEL_MAX], c[METRICS_LABEL_MAX];
	uint64_t value;
};

struct counter_family {
	struct labelled *sets;
	size_t n;
};

static const double batch_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000 };
static const double seconds_bounds[] = { 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
	0.1, 0.5, 1, 5 };

struct metrics {
	struct counter_family events; /* source, kind, status */
	struct counter_family http;   /* route, status */
	struct counter_family zap;    /* domain, result */
	struct histogram batch_size;
	struct histogram commit_seconds;
	struct histogram sync_seconds;
	struct histogram ack_latency_seconds;
	uint64_t replay_requests;
	uint64_t updates_published;
	uint64_t map_grown;
	uint64_t stream_dropped;
	uint64_t pruned_updates, pruned_dead_letters, prune_transactions;
	uint64_t stale_readers_cleared;
};

static void family_add(struct counter_family *f, const char *a, const char *b, const char *c,
    uint64_t n);

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->events.sets = calloc(METRICS_LABEL_SETS_MAX, sizeof(struct labelled));
	m->http.sets = calloc(METRICS_LABEL_SETS_MAX, sizeof(struct labelled));
	m->zap.sets = calloc(METRICS_LABEL_SETS_MAX, sizeof(struct labelled));
	if (m->events.sets == NULL || m->http.sets == NULL || m->zap.sets == NULL) {
		metrics_destroy(&m);
		return NULL;
	}
	/* The known label sets start at zero, so that a rate over them is
	 * defined before the first handshake (and with CURVE off). */
	for (size_t d = 0; d < 2; d++)
		for (size_t r = 0; r < 2; r++)
			family_add(&m->zap, (const char *[]){ "ingest", "subscribe" }[d],
			    (const char *[]){ "admitted", "refused" }[r], "", 0);
	m->batch_size.bounds = batch_bounds;
	m->batch_size.n_bounds = sizeof(batch_bounds) / sizeof(batch_bounds[0]);
	m->commit_seconds.bounds = seconds_bounds;
	m->commit_seconds.n_bounds = sizeof(seconds_bounds) / sizeof(seconds_bounds[0]);
	m->ack_latency_seconds = m->commit_seconds;
	m->sync_seconds = m->commit_seconds;
	return m;
}

void
metrics_destroy(struct metrics **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->events.sets);
	free((*mp)->http.sets);
	free((*mp)->zap.sets);
	free(*mp);
	*mp = NULL;
}

static void
family_add(struct counter_family *f, const char *a, const char *b, const char *c, uint64_t n)
{
	struct labelled *l;

	for (size_t i = 0; i < f->n; i++) {
		l = &f->sets[i];
		if (strcmp(l->a, a) == 0 && strcmp(l->b, b) == 0 && strcmp(l->c, c) == 0) {
			l->value += n;
			return;
		}
	}
	/* A sender inventing sources must not grow memory: past the bound
	 * everything new is counted together. */
	if (f->n == METRICS_LABEL_SETS_MAX - 1)
		a = b = c = "other";
	if (f->n == METRICS_LABEL_SETS_MAX) {
		f->sets[f->n - 1].value += n;
		return;
	}
	l = &f->sets[f->n++];
	snprintf(l->a, sizeof(l->a), "%s", a);
	snprintf(l->b, sizeof(l->b), "%s", b);
	snprintf(l->c, sizeof(l->c), "%s", c);
	l->value = n;
}

static void
histogram_observe(struct histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void
metrics_count_event(struct metrics *m, const char *source, const char *kind, const char *status)
{
	family_add(&m->events, source[0] ? source : "unknown", kind, status, 1);
}

void
metrics_observe_batch(struct metrics *m, size_t size, double commit_seconds)
{
	histogram_observe(&m->batch_size, (double)size);
	histogram_observe(&m->commit_seconds, commit_seconds);
}

void
metrics_observe_sync(struct metrics *m, double seconds)
{
	histogram_observe(&m->sync_seconds, seconds);
}

void
metrics_observe_ack_latency(struct metrics *m, double seconds)
{
	histogram_observe(&m->ack_latency_seconds, seconds);
}

void
metrics_count_http(struct metrics *m, const char *route, int status)
{
	char s[8];

	snprintf(s, sizeof(s), "%d", status);
	family_add(&m->http, route, s, "", 1);
}

void
metrics_count_zap(struct metrics *m, const char *domain, bool admitted)
{
	family_add(&m->zap, domain, admitted ? "admitted" : "refused", "", 1);
}

void
metrics_count_replay(struct metrics *m)
{
	m->replay_requests++;
}

void
metrics_count_published(struct metrics *m, uint64_t n)
{
	m->updates_published += n;
}

void
metrics_count_map_grown(struct metrics *m)
{
	m->map_grown++;
}

void
metrics_count_stream_dropped(struct metrics *m)
{
	m->stream_dropped++;
}

void
metrics_count_pruned(struct metrics *m, uint64_t updates, uint64_t dead_letters)
{
	m->pruned_updates += updates;
	m->pruned_dead_letters += dead_letters;
	m->prune_transactions++;
}

void
metrics_count_stale_readers(struct metrics *m, uint64_t cleared)
{
	m->stale_readers_cleared += cleared;
}

/* A label value with \, " and newline escaped, as the format wants. */
static void
label_value(struct evbuffer *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(out, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, v, 1);
	}
}

static void
render_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_histogram(struct evbuffer *out, const char *name, const char *help,
    const struct histogram *h)
{
	uint64_t cumulative = 0;

	render_header(out, name, "histogram", help);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cumulative += h->counts[i];
		evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[i],
		    cumulative);
	}
	cumulative += h->counts[h->n_bounds];
	evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
	evbuffer_add_printf(out, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

static void
render_gauge(struct evbuffer *out, const char *name, const char *type, const char *help,
    uint64_t v)
{
	render_header(out, name, type, help);
	evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

/* A counter family, one line per label set: the first n of a, b and c
 * under the names given. */
static void
render_family(struct evbuffer *out, const char *name, const char *help,
    const struct counter_family *f, const char *const *label_names, int n)
{
	render_header(out, name, "counter", help);
	for (size_t i = 0; i < f->n; i++) {
		const char *values[] = { f->sets[i].a, f->sets[i].b, f->sets[i].c };

		evbuffer_add_printf(out, "%s{", name);
		for (int k = 0; k < n; k++) {
			evbuffer_add_printf(out, "%s%s=\"", k > 0 ? "," : "", label_names[k]);
			label_value(out, values[k]);
			evbuffer_add(out, "\"", 1);
		}
		evbuffer_add_printf(out, "} %" PRIu64 "\n", f->sets[i].value);
	}
}

void
metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct evbuffer *out)
{
	render_family(out, "commissiond_events_total",
	    "Envelopes answered, by source, event kind and ack status.", &m->events,
	    (const char *[]){ "source", "kind", "status" }, 3);
	render_histogram(out, "commissiond_batch_size", "Envelopes written per LMDB transaction.",
	    &m->batch_size);
	render_histogram(out, "commissiond_commit_duration_seconds",
	    "Time to write one batch into the store and commit it: the events' work and the disk's.",
	    &m->commit_seconds);
	render_histogram(out, "commissiond_store_sync_seconds",
	    "The disk's part of a batch: LMDB writing its pages and fsyncing them.",
	    &m->sync_seconds);
	render_histogram(out, "commissiond_ack_latency_seconds",
	    "From an envelope read to its ack sent.", &m->ack_latency_seconds);
	render_gauge(out, "commissiond_last_sequence", "gauge",
	    "Sequence number of the last event stored.", g->last_sequence);
	render_gauge(out, "commissiond_last_update_sequence", "gauge",
	    "Sequence number of the last update stored.", g->last_update_sequence);
	render_gauge(out, "commissiond_store_used_bytes", "gauge",
	    "Bytes of the LMDB map in use.", g->store_used_bytes);
	render_gauge(out, "commissiond_store_map_size_bytes", "gauge",
	    "Size of the LMDB map.", g->store_map_bytes);
	render_gauge(out, "commissiond_dead_letters", "gauge",
	    "Rejected envelopes kept in the dead-letter table.", g->dead_letters);
	render_gauge(out, "commissiond_duplicates_total", "counter",
	    "Repeats of stored events answered DUPLICATE since the store was made.", g->duplicates);
	render_gauge(out, "commissiond_refusing_input", "gauge",
	    "1 while the store refuses input (RETRY_LATER), else 0.", g->refusing_input);
	render_gauge(out, "commissiond_map_grown_total", "counter",
	    "Times the LMDB map was grown.", m->map_grown);
	render_gauge(out, "commissiond_updates_published_total", "counter",
	    "Updates sent on the PUB socket.", m->updates_published);
	render_gauge(out, "commissiond_replay_requests_total", "counter",
	    "Requests answered on the replay socket.", m->replay_requests);
	render_gauge(out, "commissiond_stream_clients", "gauge",
	    "Clients of /api/v1/stream connected now.", g->stream_clients);
	render_gauge(out, "commissiond_store_histories_read_total", "counter",
	    "History records read from the store since start (ingest, start-up and the figures).",
	    g->histories_read);
	render_gauge(out, "commissiond_figures_folds_total", "counter",
	    "Flow figures worked out by folding every spell (an as_of before the running "
	    "totals').",
	    g->figures_folds);
	render_gauge(out, "commissiond_figures_readings", "gauge",
	    "Delayed-discharge and flow figures being read in slices for HTTP requests, or "
	    "waiting to be.",
	    g->figures_readings);
	render_gauge(out, "commissiond_figures_reading_slices_total", "counter",
	    "Slices of the loop's time the readings of delayed-discharge and flow figures "
	    "have taken ([http] reading_slice_us each at most).",
	    g->figures_reading_slices);
	render_gauge(out, "commissiond_running_totals_as_of_seconds", "gauge",
	    "The as-of of the running totals of flow and delayed discharges (Unix time): "
	    "the last batch's commit, or the clock's when no event comes.",
	    g->totals_as_of_seconds);
	render_gauge(out, "commissiond_running_totals_steps_total", "counter",
	    "Committed steps that moved the running totals on with the clock between batches.",
	    g->totals_steps);
	render_gauge(out, "commissiond_running_totals_catching_up", "gauge",
	    "1 while the running totals catch up with the clock after a long stop, ingest "
	    "waiting, else 0.",
	    g->totals_catching_up);
	render_gauge(out, "commissiond_stream_dropped_total", "counter",
	    "Stream clients dropped for falling too far behind.", m->stream_dropped);
	render_header(out, "commissiond_pruned_total", "counter",
	    "Records removed by retention, by table (updates: by the housekeeping timer and as "
	    "each batch commits).");
	evbuffer_add_printf(out, "commissiond_pruned_total{table=\"updates\"} %" PRIu64 "\n"
				 "commissiond_pruned_total{table=\"dead_letters\"} %" PRIu64 "\n",
	    m->pruned_updates + g->batches_pruned, m->pruned_dead_letters);
	render_gauge(out, "commissiond_prune_transactions_total", "counter",
	    "Retention transactions committed (each removes at most [store] prune_batch_limit).",
	    m->prune_transactions);
	render_gauge(out, "commissiond_stale_readers_cleared_total", "counter",
	    "LMDB reader slots of dead processes cleared.", m->stale_readers_cleared);
	render_family(out, "commissiond_zap_decisions_total",
	    "CURVE handshakes admitted or refused by the ZAP handler, by domain.", &m->zap,
	    (const char *[]){ "domain", "result" }, 2);
	render_family(out, "commissiond_http_requests_total",
	    "HTTP requests answered, by route and status (499: the client "
	    "went before its answer).", &m->http,
	    (const char *[]){ "route", "status" }, 2);
}
