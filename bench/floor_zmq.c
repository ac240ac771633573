/*
 * floor_zmq: the transport floor. Raw ZeroMQ PUSH -> PULL over ipc:// in
 * two threads of one process, messages the size of a typical envelope:
 * the most messages a second any design on this machine's ZeroMQ can move.
 *
 *   bench-floor_zmq --endpoint ipc://DIR/floor --size BYTES --count N
 *   bench-floor_zmq --endpoint ipc://DIR/floor --corpus FILE.jsonl --count N
 *
 * Prints {"messages", "bytes", "seconds", "messages_per_second"}.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "floor.h"

#define PROG "bench-floor_zmq"

struct puller {
	void *socket;
	uint64_t count;
	uint64_t received;
	uint64_t last_ns;
};

static void *
pull_all(void *arg)
{
	struct puller *p = arg;
	zmq_msg_t msg;

	zmq_msg_init(&msg);
	while (p->received < p->count) {
		if (zmq_msg_recv(&msg, p->socket, 0) < 0)
			break;
		p->received++;
	}
	zmq_msg_close(&msg);
	p->last_ns = bench_now_ns();
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --endpoint ipc://PATH (--size BYTES | --corpus FILE) "
	                "[--count N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"endpoint", required_argument, NULL, 'e'},
	    {"size", required_argument, NULL, 's'},
	    {"corpus", required_argument, NULL, 'c'},
	    {"count", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = NULL, *corpus_path = NULL;
	uint64_t size = 0, count = 1000000, start;
	struct puller p = {0};
	pthread_t thread;
	uint8_t *payload;
	void *ctx, *push;
	int ch, hwm = 10000;
	json_t *out;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			endpoint = optarg;
			break;
		case 's':
			size = bench_parse_u64(PROG, "--size", optarg);
			break;
		case 'c':
			corpus_path = optarg;
			break;
		case 'n':
			count = bench_parse_u64(PROG, "--count", optarg);
			break;
		default:
			usage();
		}
	}
	if (endpoint == NULL || (size == 0) == (corpus_path == NULL) || count == 0)
		usage();
	payload = floor_payload(PROG, corpus_path, &size);

	ctx = zmq_ctx_new();
	push = zmq_socket(ctx, ZMQ_PUSH);
	p.socket = zmq_socket(ctx, ZMQ_PULL);
	p.count = count;
	if (push == NULL || p.socket == NULL ||
	    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_setsockopt(p.socket, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
	    zmq_bind(p.socket, endpoint) < 0 || zmq_connect(push, endpoint) < 0)
		bench_fail(PROG, "%s: %s", endpoint, zmq_strerror(zmq_errno()));
	if (pthread_create(&thread, NULL, pull_all, &p) != 0)
		bench_fail(PROG, "cannot start the receiving thread");

	start = bench_now_ns();
	for (uint64_t i = 0; i < count; i++)
		if (zmq_send(push, payload, size, 0) < 0)
			bench_fail(PROG, "send: %s", zmq_strerror(zmq_errno()));
	pthread_join(thread, NULL);
	if (p.received != count)
		bench_fail(PROG, "received %llu of %llu messages", (unsigned long long)p.received,
		    (unsigned long long)count);

	double seconds = (double)(p.last_ns - start) / 1e9;
	out = json_pack("{s:I, s:I, s:f, s:f}", "messages", (json_int_t)count, "bytes",
	    (json_int_t)size, "seconds", seconds, "messages_per_second", (double)count / seconds);
	zmq_close(push);
	zmq_close(p.socket);
	zmq_ctx_term(ctx);
	free(payload);
	bench_print(out);
	return 0;
}
