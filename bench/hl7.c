/*
 * hl7: providers' PAS feeds into commissiond-hl7. N MLLP connections, each
 * sending ADT messages (per spell: A01 admit, A02 transfer, A08 update,
 * A03 discharge, with valid NHS numbers) and reading the ACK of each.
 * With --window 1 a connection waits for each ACK before the next message,
 * as an original-mode HL7 sender does; with a larger window it keeps that
 * many in flight (the adapter answers each connection in order, and every
 * ACK's MSA-2 is checked against the message it answers). Each message is
 * made as it is sent (a snprintf: about a microsecond), so that a run of
 * any length needs no memory for them.
 *
 *   bench-hl7 --address HOST:PORT [--connections N] [--window W]
 *             [--count M] [--seconds T] [--rate R]
 *
 * With --rate R the messages are sent at R a second in all, open loop:
 * message j is due j / R seconds after the start, on connection j mod N,
 * whatever the ACKs before it. Each message's latency, from its send to its
 * ACK, is recorded. A connection that has W messages unanswered when the
 * next is due stops the sending, and the run is reported as saturated.
 *
 * Prints {"connections", "window", "sent", "aa", "ae", "ar", "seconds",
 * "aa_per_second", "out_of_order", "start_monotonic_ns"} (CLOCK_MONOTONIC,
 * for the driver to time delivery to commissiond), and with --rate also
 * {"offered_per_second", "saturated", "ack_p50_ms", "ack_p99_ms",
 * "ack_p999_ms"}; exits 1 when the adapter goes silent.
 */
#define _GNU_SOURCE /* ppoll: sleeping to the next send, to the nanosecond */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PROG "bench-hl7"
#define ACK_TIMEOUT_MS 60000
#define MESSAGE_MAX 1024
#define READ_BUFFER 65536
#define CONTROL_ID_MAX 24

struct provider {
	const char *code, *site;
};

/* Trusts and an independent provider of the sample day: each is its own
 * MSH-4 sending facility ([hl7] provider_from_facility). */
static const struct provider providers[] = {
    {"RXC", "RXC01"},
    {"RYR", "RYR16"},
    {"RPC", "RPC01"},
    {"NMJ", "NMJ01"},
};
#define N_PROVIDERS (sizeof(providers) / sizeof(providers[0]))

static const char *const triggers[] = {"A01", "A02", "A08", "A03"};
#define N_TRIGGERS (sizeof(triggers) / sizeof(triggers[0]))

/* The latencies of the ACKs, in ms (--rate only). */
struct latencies {
	double *ms;
	size_t n, cap;
};

struct message {
	char framed[MESSAGE_MAX];
	size_t len;
	char control_id[CONTROL_ID_MAX];
};

struct connection {
	unsigned id;
	int fd;
	/* the control ids of the messages in flight, message k at k % window,
	 * and when each was sent */
	char (*in_flight)[CONTROL_ID_MAX];
	uint64_t *sent_ns;
	uint64_t window, limit, next, acked;
	char buf[READ_BUFFER];
	size_t buf_len;
	uint64_t aa, ae, ar, out_of_order;
};

/* A valid NHS number (modulus 11) from n. */
static void
nhs_number(uint64_t n, char out[11])
{
	for (uint64_t base = 900000000 + n * 3;; base++) {
		int total = 0, check;
		snprintf(out, 11, "%09llu", (unsigned long long)(base % 1000000000));
		for (int i = 0; i < 9; i++)
			total += (out[i] - '0') * (10 - i);
		check = 11 - total % 11;
		if (check == 11)
			check = 0;
		if (check != 10) {
			out[9] = (char)('0' + check);
			out[10] = '\0';
			return;
		}
	}
}

/* Message k of connection c: spell k / 4, its k % 4-th trigger. */
static void
message_make(struct message *m, unsigned c, uint64_t k)
{
	uint64_t spell = k / N_TRIGGERS;
	const char *trigger = triggers[k % N_TRIGGERS];
	const struct provider *p = &providers[(c + spell) % N_PROVIDERS];
	char nhs[11], when[16];
	unsigned minute = (unsigned)(spell % 1200);
	int len;

	nhs_number((uint64_t)c * 100000000 + spell, nhs);
	snprintf(when, sizeof(when), "20260511%02u%02u%02u", minute / 60, minute % 60,
	    (unsigned)(k % N_TRIGGERS) * 10);
	snprintf(m->control_id, sizeof(m->control_id), "B%u-%llu", c, (unsigned long long)k);
	/* PV1: 2 class, 3 ward^^^site, 10 treatment function, 19 visit,
	 * 37 discharge destination (A03), 44 admit time (A01), 45 discharge
	 * time (A03). */
	len = snprintf(m->framed, sizeof(m->framed),
	    "\x0bMSH|^~\\&|PAS|%s|COMMISSIOND|QNX|%s||ADT^%s^ADT_%s|%s|P|2.4\r"
	    "EVN|%s|%s\r"
	    "PID|1||V%u-%llu^^^%s^MR~%s^^^NHS^NH\r"
	    "PV1|1|I|WARD-%u^^^%s|||||||300|||||||||V%u-%llu||||||||||||||||||%s|||||||%s|%s\r"
	    "\x1c\r",
	    p->code, when, trigger, trigger, m->control_id, trigger, when, c,
	    (unsigned long long)spell, p->code, nhs, (unsigned)(k % 7) + 1, p->site, c,
	    (unsigned long long)spell, strcmp(trigger, "A03") == 0 ? "19" : "",
	    strcmp(trigger, "A01") == 0 ? when : "", strcmp(trigger, "A03") == 0 ? when : "");
	if (len < 0 || (size_t)len >= sizeof(m->framed))
		bench_fail(PROG, "a message longer than %d bytes", MESSAGE_MAX);
	m->len = (size_t)len;
}

static int
connect_to(const char *address)
{
	char host[64];
	const char *colon = strrchr(address, ':');
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - address) >= sizeof(host))
		bench_fail(PROG, "--address: \"%s\" is not HOST:PORT", address);
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	sin.sin_port = htons((uint16_t)bench_parse_u64(PROG, "--address port", colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		bench_fail(PROG, "--address: \"%s\" is not an IPv4 address", host);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		bench_fail(PROG, "%s: %s", address, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
send_message(struct connection *c)
{
	struct message m = { .len = 0 };

	message_make(&m, c->id, c->next);
	memcpy(c->in_flight[c->next % c->window], m.control_id, CONTROL_ID_MAX);
	c->sent_ns[c->next % c->window] = bench_now_ns();
	for (size_t done = 0; done < m.len;) {
		ssize_t n = write(c->fd, m.framed + done, m.len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_fail(PROG, "write: %s", strerror(errno));
		done += (size_t)n;
	}
	c->next++;
}

static void
latency_add(struct latencies *l, double ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 65536;
		double *ms_new = realloc(l->ms, cap * sizeof(*ms_new));
		if (ms_new == NULL)
			bench_fail(PROG, "out of memory");
		l->ms = ms_new;
		l->cap = cap;
	}
	l->ms[l->n++] = ms;
}

/* One ACK frame, read at now: MSA-1 counted, MSA-2 checked against the
 * oldest message in flight, the latency added to l (if any). */
static void
take_ack(struct connection *c, const char *frame, size_t len, uint64_t now,
    struct latencies *l)
{
	const char *msa = NULL;
	char code[3] = "", control_id[CONTROL_ID_MAX] = "";

	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(frame + i, "MSA|", 4) == 0 && (i == 0 || frame[i - 1] == '\r')) {
			msa = frame + i + 4;
			break;
		}
	if (msa != NULL) {
		const char *end = frame + len, *p = msa;
		size_t n = 0;
		while (p < end && *p != '|' && *p != '\r' && n < sizeof(code) - 1)
			code[n++] = *p++;
		code[n] = '\0';
		if (p < end && *p == '|')
			p++;
		n = 0;
		while (p < end && *p != '|' && *p != '\r' && n < sizeof(control_id) - 1)
			control_id[n++] = *p++;
		control_id[n] = '\0';
	}
	if (strcmp(code, "AA") == 0)
		c->aa++;
	else if (strcmp(code, "AR") == 0 || strcmp(code, "CR") == 0)
		c->ar++;
	else
		c->ae++;
	if (c->acked >= c->next || strcmp(control_id, c->in_flight[c->acked % c->window]) != 0)
		c->out_of_order++;
	else if (l != NULL)
		latency_add(l, (double)(now - c->sent_ns[c->acked % c->window]) / 1e6);
	c->acked++;
}

/* Read what the adapter sent and take every whole frame in it. */
static void
read_acks(struct connection *c, struct latencies *l)
{
	ssize_t n = read(c->fd, c->buf + c->buf_len, sizeof(c->buf) - c->buf_len);
	uint64_t now = bench_now_ns();
	size_t start = 0;

	if (n == 0)
		bench_fail(PROG, "the adapter closed a connection");
	if (n < 0) {
		if (errno == EINTR)
			return;
		bench_fail(PROG, "read: %s", strerror(errno));
	}
	c->buf_len += (size_t)n;
	for (size_t i = 0; i + 1 < c->buf_len; i++) {
		if (c->buf[i] == 0x1c && c->buf[i + 1] == '\r') {
			size_t from = start;
			while (from < i && c->buf[from] != 0x0b)
				from++;
			take_ack(c, c->buf + from + 1, from < i ? i - from - 1 : 0, now, l);
			start = i + 2;
			i++;
		}
	}
	memmove(c->buf, c->buf + start, c->buf_len - start);
	c->buf_len -= start;
	if (c->buf_len == sizeof(c->buf))
		bench_fail(PROG, "an ACK longer than %d bytes", READ_BUFFER);
}

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --address HOST:PORT [--connections N] [--window W] "
	                "[--count M] [--seconds T] [--rate R]\n");
	exit(2);
}

/* A quantile of the latencies as JSON: null when there are none. */
static json_t *
latency_json(struct latencies *l, double p)
{
	return l->n == 0 ? json_null() : json_real(bench_quantile(l->ms, l->n, p));
}

/* When message j is due at rate (messages a second from start). */
static uint64_t
due_ns(uint64_t start, uint64_t rate, uint64_t j)
{
	return start + (uint64_t)((double)j * 1e9 / (double)rate);
}

/* Send what is due by now, of count messages at rate, dealt over the
 * connections in turn (so that connection i has its limit of them);
 * *scheduled counts those sent. false when the connection of the next one
 * already has its window unanswered: the adapter is not keeping up. */
static bool
send_due(struct connection *conns, uint64_t n_conns, uint64_t rate, uint64_t count,
    uint64_t start, uint64_t *scheduled)
{
	uint64_t now = bench_now_ns();

	while (*scheduled < count && due_ns(start, rate, *scheduled) <= now) {
		struct connection *c = &conns[*scheduled % n_conns];
		if (c->next - c->acked >= c->window)
			return false;
		send_message(c);
		(*scheduled)++;
	}
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"address", required_argument, NULL, 'a'},
	    {"connections", required_argument, NULL, 'c'},
	    {"window", required_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 't'},
	    {"rate", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *address = NULL;
	uint64_t n_conns = 1, window = 1, count = 100000, sent = 0, acked = 0, start, last = 0;
	uint64_t aa = 0, ae = 0, ar = 0, out_of_order = 0, deadline, rate = 0, scheduled = 0;
	double seconds_limit = 10;
	bool saturated = false;
	struct latencies latencies = {0};
	struct connection *conns;
	struct pollfd *fds;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'c':
			n_conns = bench_parse_u64(PROG, "--connections", optarg);
			break;
		case 'w':
			window = bench_parse_u64(PROG, "--window", optarg);
			break;
		case 'n':
			count = bench_parse_u64(PROG, "--count", optarg);
			break;
		case 't':
			seconds_limit = bench_parse_seconds(PROG, "--seconds", optarg);
			break;
		case 'r':
			rate = bench_parse_u64(PROG, "--rate", optarg);
			break;
		default:
			usage();
		}
	}
	if (address == NULL || n_conns == 0 || n_conns > 1024 || window == 0 || count == 0 ||
	    optind != argc)
		usage();
	conns = calloc(n_conns, sizeof(*conns));
	fds = calloc(n_conns, sizeof(*fds));
	if (conns == NULL || fds == NULL)
		bench_fail(PROG, "out of memory");
	for (unsigned i = 0; i < n_conns; i++) {
		struct connection *c = &conns[i];
		c->id = i;
		c->window = window;
		c->limit = count / n_conns + (i < count % n_conns);
		c->in_flight = calloc(window, sizeof(*c->in_flight));
		c->sent_ns = calloc(window, sizeof(*c->sent_ns));
		if (c->in_flight == NULL || c->sent_ns == NULL)
			bench_fail(PROG, "out of memory");
		c->fd = connect_to(address);
		fds[i] = (struct pollfd){c->fd, POLLIN, 0};
	}

	start = bench_now_ns();
	deadline = start + (uint64_t)(seconds_limit * 1e9);
	for (;;) {
		bool sending = !saturated && bench_now_ns() < deadline, waiting = false;
		struct timespec wait = {ACK_TIMEOUT_MS / 1000, 0};
		if (sending && rate > 0 && !send_due(conns, n_conns, rate, count, start, &scheduled))
			saturated = true, sending = false;
		bool pacing = sending && rate > 0 && scheduled < count;
		for (unsigned i = 0; i < n_conns; i++) {
			struct connection *c = &conns[i];
			if (!sending)
				c->limit = c->next; /* time is up: send no more */
			while (rate == 0 && c->next < c->limit && c->next - c->acked < window)
				send_message(c);
			waiting |= c->acked < c->next || c->next < c->limit;
		}
		if (!waiting)
			break;
		if (pacing) {
			/* Wake for the next message due, if no ACK comes first. */
			uint64_t due = due_ns(start, rate, scheduled), now = bench_now_ns();
			uint64_t ns = due > now ? due - now : 0;
			wait = (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
		}
		int ready = ppoll(fds, (nfds_t)n_conns, &wait, NULL);
		if (ready < 0 && errno != EINTR)
			bench_fail(PROG, "ppoll: %s", strerror(errno));
		if (ready == 0 && !pacing)
			bench_fail(PROG, "no ACK within %d ms", ACK_TIMEOUT_MS);
		for (unsigned i = 0; ready > 0 && i < n_conns; i++)
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				read_acks(&conns[i], rate > 0 ? &latencies : NULL);
				last = bench_now_ns();
			}
	}
	for (unsigned i = 0; i < n_conns; i++) {
		struct connection *c = &conns[i];
		sent += c->next;
		acked += c->acked;
		aa += c->aa;
		ae += c->ae;
		ar += c->ar;
		out_of_order += c->out_of_order;
		close(c->fd);
		free(c->in_flight);
		free(c->sent_ns);
	}
	free(conns);
	free(fds);

	double seconds = last > start ? (double)(last - start) / 1e9 : 0;
	json_t *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I}",
	    "connections", (json_int_t)n_conns, "window", (json_int_t)window, "sent",
	    (json_int_t)sent, "aa", (json_int_t)aa, "ae", (json_int_t)ae, "ar", (json_int_t)ar,
	    "seconds", seconds, "aa_per_second", seconds > 0 ? (double)aa / seconds : 0.0,
	    "out_of_order", (json_int_t)out_of_order, "start_monotonic_ns", (json_int_t)start);
	if (rate > 0) {
		json_object_set_new(out, "offered_per_second", json_integer((json_int_t)rate));
		json_object_set_new(out, "saturated", json_boolean(saturated));
		json_object_set_new(out, "ack_p50_ms", latency_json(&latencies, 0.5));
		json_object_set_new(out, "ack_p99_ms", latency_json(&latencies, 0.99));
		json_object_set_new(out, "ack_p999_ms", latency_json(&latencies, 0.999));
	}
	free(latencies.ms);
	bench_print(out);
	return 0;
}
