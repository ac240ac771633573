/*
 * ingest: drives commissiond's ingest ROUTER with the sample-day mix,
 * packed once before any timing (bench.h's corpus).
 *
 * Throughput (the default): N sender threads, each a DEALER keeping a
 * window of envelopes in flight (events dealt round-robin), until the
 * corpus or --seconds runs out; counts ACCEPTED acks a second.
 *
 *   bench-ingest --endpoint E --corpus F [--senders N] [--window W]
 *                [--count N] [--seconds T] [--ack-timeout-seconds S]
 *
 * Fixed rate (--rate R): one DEALER sends at R envelopes a second, open
 * loop (never waiting for acks), and records each envelope's latency from
 * its send to its ACCEPTED ack; with --subscribe PUB it also records the
 * latency from the send to the event's own update (topic event.<kind>.<source>)
 * arriving on a SUB: end to end. A sender that falls more than two seconds'
 * worth of envelopes behind stops and reports the run as saturated.
 *
 *   bench-ingest --endpoint E --corpus F --rate R [--seconds T]
 *                [--subscribe PUB-ENDPOINT] [--drain-seconds D]
 *
 * With --daemon-pid PID (either mode), the daemon's usage over the timed
 * part, read from /proc/PID/io and /proc/PID/stat as it starts and ends
 * (bench.h, bench_usage_read), is in "daemon": the bytes it wrote
 * (write_bytes: its store's pages, as it dirties them), its user and
 * system CPU seconds, and the wall seconds between the readings.
 *
 * Prints one JSON line of figures; exits 1 when the daemon did not answer.
 */
#define _GNU_SOURCE /* ppoll: sleeping to the next send, to the nanosecond */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "bench.h"
#include "commissioning.pb-c.h"

#define PROG "bench-ingest"
#define STATUSES 5

struct options {
	const char *endpoint, *corpus, *subscribe;
	uint64_t senders, window, count, rate, drain_seconds, ack_timeout_seconds;
	double seconds;
	pid_t daemon_pid; /* 0: not watched */
};

/* ---- the daemon's usage over the timed part */

static void
daemon_usage_read(const struct options *opt, struct bench_usage *usage)
{
	if (opt->daemon_pid != 0)
		bench_usage_read(PROG, opt->daemon_pid, usage);
}

static void
daemon_usage_add(const struct options *opt, json_t *out, const struct bench_usage *start,
    const struct bench_usage *end)
{
	if (opt->daemon_pid != 0)
		json_object_set_new(out, "daemon", bench_usage_json(start, end));
}

/* ---- acks */

/* Read one Ack frame: its status (0 when unreadable), and the corpus
 * index it answers (-1 when unknown). */
static int
ack_read(struct corpus *c, void *socket, int flags, int64_t *index)
{
	zmq_msg_t msg;
	Commissioning__Ack *ack;
	int status;

	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, socket, flags) < 0) {
		zmq_msg_close(&msg);
		return -1;
	}
	ack = commissioning__ack__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
	zmq_msg_close(&msg);
	if (ack == NULL) {
		*index = -1;
		return 0;
	}
	status = ack->status < STATUSES ? (int)ack->status : 0;
	*index = corpus_find(c, ack->source, ack->event_id);
	commissioning__ack__free_unpacked(ack, NULL);
	return status;
}

static json_t *
status_counts(const uint64_t counts[STATUSES])
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "accepted",
	    (json_int_t)counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED], "duplicate",
	    (json_int_t)counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE], "rejected",
	    (json_int_t)counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED], "retry_later",
	    (json_int_t)counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_RETRY_LATER], "unreadable",
	    (json_int_t)counts[0]);
}

static void *
dealer_new(void *ctx, const char *endpoint)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int hwm = 1000000, linger = 0;

	if (s == NULL || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(s, endpoint) < 0)
		bench_fail(PROG, "%s: %s", endpoint, zmq_strerror(zmq_errno()));
	return s;
}

/* ---- throughput: N senders, each with a window in flight */

struct sender {
	pthread_t thread;
	int id;
	struct corpus *corpus;
	const struct options *opt;
	void *socket;
	pthread_barrier_t *start_line;
	uint64_t start_ns;
	/* results */
	uint64_t sent, counts[STATUSES], out_of_order, last_ack_ns;
	bool silent;
};

static void *
sender_run(void *arg)
{
	struct sender *s = arg;
	const struct options *opt = s->opt;
	uint64_t next = (uint64_t)s->id, in_flight = 0, deadline;
	uint64_t *ring = calloc(opt->window, sizeof(*ring)), head = 0;

	if (ring == NULL)
		bench_fail(PROG, "out of memory");
	pthread_barrier_wait(s->start_line);
	deadline = s->start_ns + (uint64_t)(opt->seconds * 1e9);
	for (;;) {
		bool more = next < opt->count && bench_now_ns() < deadline;
		while (more && in_flight < opt->window) {
			if (zmq_send(s->socket, s->corpus->bytes[next], s->corpus->len[next], 0) <
			    0)
				bench_fail(PROG, "send: %s", zmq_strerror(zmq_errno()));
			ring[(head + in_flight) % opt->window] = next;
			in_flight++;
			s->sent++;
			next += opt->senders;
			more = next < opt->count;
		}
		if (in_flight == 0)
			break;
		zmq_pollitem_t item = {s->socket, 0, ZMQ_POLLIN, 0};
		if (zmq_poll(&item, 1, (long)opt->ack_timeout_seconds * 1000) <= 0) {
			s->silent = true;
			break;
		}
		/* Take every ack waiting; each answers the oldest in flight. */
		for (;;) {
			int64_t index;
			int status = ack_read(s->corpus, s->socket, ZMQ_DONTWAIT, &index);
			if (status < 0)
				break;
			s->counts[status]++;
			if (index != (int64_t)ring[head % opt->window])
				s->out_of_order++;
			head++;
			in_flight--;
			s->last_ack_ns = bench_now_ns();
		}
	}
	free(ring);
	return NULL;
}

static int
run_throughput(struct corpus *c, const struct options *opt, void *ctx)
{
	struct sender *senders = calloc(opt->senders, sizeof(*senders));
	pthread_barrier_t start_line;
	struct bench_usage usage_start = {0}, usage_end = {0};
	uint64_t start, last = 0, sent = 0, counts[STATUSES] = {0}, out_of_order = 0;
	bool silent = false;

	if (senders == NULL)
		bench_fail(PROG, "out of memory");
	/* The senders look acks up in the corpus's index: made here, once,
	 * before they start (corpus_find makes it on its first call). */
	corpus_find(c, "", "");
	pthread_barrier_init(&start_line, NULL, (unsigned)opt->senders + 1);
	for (uint64_t i = 0; i < opt->senders; i++) {
		senders[i] = (struct sender){
		    .id = (int)i, .corpus = c, .opt = opt, .start_line = &start_line};
		senders[i].socket = dealer_new(ctx, opt->endpoint);
		if (pthread_create(&senders[i].thread, NULL, sender_run, &senders[i]) != 0)
			bench_fail(PROG, "cannot start sender %llu", (unsigned long long)i);
	}
	daemon_usage_read(opt, &usage_start);
	start = bench_now_ns();
	for (uint64_t i = 0; i < opt->senders; i++)
		senders[i].start_ns = start;
	pthread_barrier_wait(&start_line);
	for (uint64_t i = 0; i < opt->senders; i++) {
		pthread_join(senders[i].thread, NULL);
		sent += senders[i].sent;
		for (int k = 0; k < STATUSES; k++)
			counts[k] += senders[i].counts[k];
		out_of_order += senders[i].out_of_order;
		silent |= senders[i].silent;
		if (senders[i].last_ack_ns > last)
			last = senders[i].last_ack_ns;
	}
	/* Every ack is in: the timed part is over. */
	daemon_usage_read(opt, &usage_end);
	for (uint64_t i = 0; i < opt->senders; i++)
		zmq_close(senders[i].socket);
	pthread_barrier_destroy(&start_line);
	free(senders);

	double seconds = last > start ? (double)(last - start) / 1e9 : 0;
	uint64_t accepted = counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED];
	json_t *out = json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:b}", "mode",
	    "throughput", "senders", (json_int_t)opt->senders, "window", (json_int_t)opt->window,
	    "sent", (json_int_t)sent, "acked",
	    (json_int_t)(counts[0] + counts[1] + counts[2] + counts[3] + counts[4]), "seconds",
	    seconds, "accepted_per_second", seconds > 0 ? (double)accepted / seconds : 0.0, "acks",
	    status_counts(counts), "out_of_order", (json_int_t)out_of_order, "silent", silent);
	daemon_usage_add(opt, out, &usage_start, &usage_end);
	bench_print(out);
	return silent ? 1 : 0;
}

/* ---- fixed rate: latency from send to ack, and to the event's update */

/* Is input waiting on a ZeroMQ socket? Also re-arms its ZMQ_FD. */
static bool
zsock_readable(void *socket)
{
	int events = 0;
	size_t len = sizeof(events);

	zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len);
	return (events & ZMQ_POLLIN) != 0;
}

static int
zsock_fd(void *socket)
{
	int fd;
	size_t len = sizeof(fd);

	if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0)
		bench_fail(PROG, "ZMQ_FD: %s", zmq_strerror(zmq_errno()));
	return fd;
}

/* One update off the SUB: the corpus index of its event, or -1. */
static int64_t
update_read(struct corpus *c, void *sub)
{
	zmq_msg_t topic, body;
	Commissioning__Update *update;
	int64_t index = -1;
	int more = 0;
	size_t len = sizeof(more);

	zmq_msg_init(&topic);
	if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&topic);
		return -2;
	}
	zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &len);
	zmq_msg_close(&topic);
	if (!more)
		return -1;
	zmq_msg_init(&body);
	zmq_msg_recv(&body, sub, 0);
	update = commissioning__update__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
	zmq_msg_close(&body);
	if (update == NULL)
		return -1;
	if (update->body_case == COMMISSIONING__UPDATE__BODY_EVENT_ACCEPTED &&
	    update->event_accepted->envelope != NULL)
		index = corpus_find(c, update->event_accepted->envelope->source,
		    update->event_accepted->envelope->event_id);
	commissioning__update__free_unpacked(update, NULL);
	return index;
}

/* Latencies in ms of the events sent, a missing answer counting as
 * infinitely late; the quantile is null when it falls on one. */
static json_t *
latency_quantile(const uint64_t *sent_ns, const uint64_t *got_ns, size_t n, double p)
{
	double *v = malloc((n ? n : 1) * sizeof(*v)), q;

	if (v == NULL)
		bench_fail(PROG, "out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = got_ns[i] ? (double)(got_ns[i] - sent_ns[i]) / 1e6 : INFINITY;
	q = bench_quantile(v, n, p);
	free(v);
	return n == 0 || isinf(q) ? json_null() : json_real(q);
}

static int
run_rate(struct corpus *c, const struct options *opt, void *ctx)
{
	uint64_t n = (uint64_t)((double)opt->rate * opt->seconds), sent = 0, acked = 0, updates = 0;
	uint64_t max_in_flight = opt->rate * 2 > 1000 ? opt->rate * 2 : 1000;
	uint64_t counts[STATUSES] = {0}, stray = 0, start, send_end = 0, last_ack = 0;
	uint64_t *sent_ns, *ack_ns, *update_ns;
	struct bench_usage usage_start = {0}, usage_end = {0};
	void *dealer, *sub = NULL;
	bool saturated = false;
	struct pollfd fds[2];
	int n_fds = 1;

	if (n > c->n)
		n = c->n;
	sent_ns = calloc(n ? n : 1, sizeof(*sent_ns));
	ack_ns = calloc(n ? n : 1, sizeof(*ack_ns));
	update_ns = calloc(n ? n : 1, sizeof(*update_ns));
	if (sent_ns == NULL || ack_ns == NULL || update_ns == NULL)
		bench_fail(PROG, "out of memory");
	dealer = dealer_new(ctx, opt->endpoint);
	fds[0] = (struct pollfd){zsock_fd(dealer), POLLIN, 0};
	if (opt->subscribe != NULL) {
		int hwm = 1000000;
		sub = zmq_socket(ctx, ZMQ_SUB);
		if (sub == NULL || zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
		    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "event.", 6) < 0 ||
		    zmq_connect(sub, opt->subscribe) < 0)
			bench_fail(PROG, "%s: %s", opt->subscribe, zmq_strerror(zmq_errno()));
		fds[1] = (struct pollfd){zsock_fd(sub), POLLIN, 0};
		n_fds = 2;
		/* A SUB's subscription reaches the PUB a moment after connect;
		 * updates missed all the same are counted as missing. */
		bench_sleep_ns(500000000ULL);
	}
	/* The connection is made before the clock starts. */
	bench_sleep_ns(100000000ULL);
	corpus_find(c, "", ""); /* build the index before timing */

	daemon_usage_read(opt, &usage_start);
	start = bench_now_ns();
	for (;;) {
		uint64_t now = bench_now_ns();
		/* Send everything due by now. */
		while (
		    sent < n && start + (uint64_t)((double)sent * 1e9 / (double)opt->rate) <= now) {
			if (sent - acked >= max_in_flight) {
				saturated = true;
				n = sent; /* stop sending: the daemon is not keeping up */
				break;
			}
			sent_ns[sent] = bench_now_ns();
			if (zmq_send(dealer, c->bytes[sent], c->len[sent], ZMQ_DONTWAIT) < 0)
				bench_fail(PROG, "send: %s", zmq_strerror(zmq_errno()));
			sent++;
		}
		if (sent == n && send_end == 0)
			send_end = bench_now_ns();
		/* Take every ack and update waiting. */
		for (;;) {
			int64_t index;
			int status = ack_read(c, dealer, ZMQ_DONTWAIT, &index);
			uint64_t at = bench_now_ns();
			if (status < 0)
				break;
			counts[status]++;
			acked++;
			last_ack = at;
			if (index >= 0 && (uint64_t)index < sent && ack_ns[index] == 0) {
				if (status == COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED)
					ack_ns[index] = at;
			} else {
				stray++;
			}
		}
		while (sub != NULL) {
			int64_t index = update_read(c, sub);
			if (index == -2)
				break;
			if (index >= 0 && (uint64_t)index < sent && update_ns[index] == 0) {
				update_ns[index] = bench_now_ns();
				updates++;
			}
		}
		bool done = sent == n && acked >= sent &&
		            (sub == NULL ||
		                updates >= counts[COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED]);
		if (done || (send_end != 0 &&
		                bench_now_ns() - send_end > opt->drain_seconds * 1000000000ULL))
			break;
		/* Sleep until the next send is due or input arrives. */
		if (zsock_readable(dealer) || (sub != NULL && zsock_readable(sub)))
			continue;
		uint64_t wait_ns = 100000000ULL;
		if (sent < n) {
			uint64_t due = start + (uint64_t)((double)sent * 1e9 / (double)opt->rate);
			now = bench_now_ns();
			wait_ns = due > now ? due - now : 0;
		}
		struct timespec ts = {
		    (time_t)(wait_ns / 1000000000ULL), (long)(wait_ns % 1000000000ULL)};
		if (wait_ns > 0 && ppoll(fds, (nfds_t)n_fds, &ts, NULL) < 0 && errno != EINTR)
			bench_fail(PROG, "ppoll: %s", strerror(errno));
	}

	/* Every answer is in, or the drain gave up: the timed part is over. */
	daemon_usage_read(opt, &usage_end);
	double seconds = (double)((send_end ? send_end : bench_now_ns()) - start) / 1e9;
	double answered = last_ack > start ? (double)(last_ack - start) / 1e9 : 0;
	json_t *out = json_pack("{s:s, s:I, s:f, s:I, s:I, s:o, s:I, s:b, s:f}", "mode", "rate",
	    "offered_per_second", (json_int_t)opt->rate, "seconds", seconds, "sent",
	    (json_int_t)sent, "acked", (json_int_t)acked, "acks", status_counts(counts),
	    "stray_acks", (json_int_t)stray, "saturated", saturated, "acked_per_second",
	    answered > 0 ? (double)acked / answered : 0.0);
	json_object_set_new(out, "ack_p50_ms", latency_quantile(sent_ns, ack_ns, sent, 0.50));
	json_object_set_new(out, "ack_p99_ms", latency_quantile(sent_ns, ack_ns, sent, 0.99));
	json_object_set_new(out, "ack_p999_ms", latency_quantile(sent_ns, ack_ns, sent, 0.999));
	if (sub != NULL) {
		json_object_set_new(out, "updates", json_integer((json_int_t)updates));
		json_object_set_new(
		    out, "e2e_p50_ms", latency_quantile(sent_ns, update_ns, sent, 0.50));
		json_object_set_new(
		    out, "e2e_p99_ms", latency_quantile(sent_ns, update_ns, sent, 0.99));
		json_object_set_new(
		    out, "e2e_p999_ms", latency_quantile(sent_ns, update_ns, sent, 0.999));
		zmq_close(sub);
	}
	daemon_usage_add(opt, out, &usage_start, &usage_end);
	zmq_close(dealer);
	free(sent_ns);
	free(ack_ns);
	free(update_ns);
	bench_print(out);
	return acked == 0 && sent > 0 ? 1 : 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " --endpoint E --corpus F [--senders N] [--window W] [--count N] "
	    "[--seconds T] [--ack-timeout-seconds S] [--daemon-pid PID]\n"
	    "       " PROG " --endpoint E --corpus F --rate R [--seconds T] [--subscribe PUB] "
	    "[--drain-seconds D] [--daemon-pid PID]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"endpoint", required_argument, NULL, 'e'},
	    {"corpus", required_argument, NULL, 'c'},
	    {"senders", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 't'},
	    {"rate", required_argument, NULL, 'r'},
	    {"subscribe", required_argument, NULL, 'u'},
	    {"drain-seconds", required_argument, NULL, 'd'},
	    {"ack-timeout-seconds", required_argument, NULL, 'a'},
	    {"daemon-pid", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	struct options opt = {
	    .senders = 1, .window = 256, .seconds = 10, .drain_seconds = 30, .ack_timeout_seconds = 60};
	struct corpus c;
	char err[512];
	void *ctx;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			opt.endpoint = optarg;
			break;
		case 'c':
			opt.corpus = optarg;
			break;
		case 's':
			opt.senders = bench_parse_u64(PROG, "--senders", optarg);
			break;
		case 'w':
			opt.window = bench_parse_u64(PROG, "--window", optarg);
			break;
		case 'n':
			opt.count = bench_parse_u64(PROG, "--count", optarg);
			break;
		case 't':
			opt.seconds = bench_parse_seconds(PROG, "--seconds", optarg);
			break;
		case 'r':
			opt.rate = bench_parse_u64(PROG, "--rate", optarg);
			break;
		case 'u':
			opt.subscribe = optarg;
			break;
		case 'd':
			opt.drain_seconds = bench_parse_u64(PROG, "--drain-seconds", optarg);
			break;
		case 'a':
			opt.ack_timeout_seconds =
			    bench_parse_u64(PROG, "--ack-timeout-seconds", optarg);
			break;
		case 'p':
			opt.daemon_pid = (pid_t)bench_parse_u64(PROG, "--daemon-pid", optarg);
			break;
		default:
			usage();
		}
	}
	if (opt.endpoint == NULL || opt.corpus == NULL || opt.senders == 0 || opt.window == 0 ||
	    opt.seconds <= 0 || opt.ack_timeout_seconds == 0 || optind != argc)
		usage();
	if (corpus_load(&c, opt.corpus, opt.count, err, sizeof(err)) < 0)
		bench_fail(PROG, "%s", err);
	if (opt.count == 0 || opt.count > c.n)
		opt.count = c.n;
	signal(SIGPIPE, SIG_IGN);
	ctx = zmq_ctx_new();
	rc = opt.rate > 0 ? run_rate(&c, &opt, ctx) : run_throughput(&c, &opt, ctx);
	zmq_ctx_term(ctx);
	corpus_free(&c);
	return rc;
}
