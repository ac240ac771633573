/*
 * replay: a subscriber catching up. Pulls stored updates from the replay
 * ROUTER (docs/PROTOCOL.md, Replay) from a sequence on, one request in
 * flight as the protocol has it: ask, decode the whole reply as a client
 * would, ask again from next_sequence, until --count updates or the end.
 *
 *   bench-replay --endpoint REPLAY-ENDPOINT [--from SEQ] [--count N] [--max M]
 *
 * Prints {"updates", "bytes", "requests", "seconds", "updates_per_second",
 * "gaps"}; exits 1 when the daemon does not answer or answers an error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "bench.h"
#include "commissioning.pb-c.h"

#define PROG "bench-replay"
#define REPLY_TIMEOUT_MS 60000

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --endpoint E [--from SEQ] [--count N] [--max M]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"endpoint", required_argument, NULL, 'e'},
	    {"from", required_argument, NULL, 'f'},
	    {"count", required_argument, NULL, 'n'},
	    {"max", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = NULL;
	uint64_t from = 1, count = 0, max = 1000, updates = 0, bytes = 0, requests = 0, gaps = 0;
	uint64_t expect, start, end;
	void *ctx, *dealer;
	int ch, linger = 0;
	bool done = false;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			endpoint = optarg;
			break;
		case 'f':
			from = bench_parse_u64(PROG, "--from", optarg);
			break;
		case 'n':
			count = bench_parse_u64(PROG, "--count", optarg);
			break;
		case 'm':
			max = bench_parse_u64(PROG, "--max", optarg);
			break;
		default:
			usage();
		}
	}
	if (endpoint == NULL || max == 0 || max > UINT32_MAX || optind != argc)
		usage();
	ctx = zmq_ctx_new();
	dealer = zmq_socket(ctx, ZMQ_DEALER);
	if (dealer == NULL || zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(dealer, endpoint) < 0)
		bench_fail(PROG, "%s: %s", endpoint, zmq_strerror(zmq_errno()));

	expect = from;
	start = bench_now_ns();
	while (!done) {
		Commissioning__ReplayRequest req = COMMISSIONING__REPLAY_REQUEST__INIT;
		Commissioning__ReplayReply *reply;
		uint8_t buf[64];
		size_t len;
		zmq_msg_t msg;
		zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};

		req.from_sequence = from;
		req.max_updates =
		    (uint32_t)(count && count - updates < max ? count - updates : max);
		len = commissioning__replay_request__pack(&req, buf);
		if (zmq_send(dealer, buf, len, 0) < 0)
			bench_fail(PROG, "send: %s", zmq_strerror(zmq_errno()));
		requests++;
		if (zmq_poll(&item, 1, REPLY_TIMEOUT_MS) <= 0)
			bench_fail(
			    PROG, "no reply within %d ms from %s", REPLY_TIMEOUT_MS, endpoint);
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, dealer, 0) < 0)
			bench_fail(PROG, "receive: %s", zmq_strerror(zmq_errno()));
		bytes += zmq_msg_size(&msg);
		reply = commissioning__replay_reply__unpack(
		    NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
		zmq_msg_close(&msg);
		if (reply == NULL)
			bench_fail(PROG, "a reply that is not a ReplayReply");
		if (reply->error[0] != '\0')
			bench_fail(PROG, "the daemon answered: %s", reply->error);
		for (size_t i = 0; i < reply->n_updates; i++) {
			/* Every update, in order, each once. */
			if (reply->updates[i]->sequence != expect)
				gaps++;
			expect = reply->updates[i]->sequence + 1;
		}
		updates += reply->n_updates;
		from = reply->next_sequence;
		done = reply->end || (count != 0 && updates >= count);
		commissioning__replay_reply__free_unpacked(reply, NULL);
	}
	end = bench_now_ns();
	zmq_close(dealer);
	zmq_ctx_term(ctx);

	double seconds = (double)(end - start) / 1e9;
	bench_print(json_pack("{s:I, s:I, s:I, s:f, s:f, s:I}", "updates", (json_int_t)updates,
	    "bytes", (json_int_t)bytes, "requests", (json_int_t)requests, "seconds", seconds,
	    "updates_per_second", seconds > 0 ? (double)updates / seconds : 0.0, "gaps",
	    (json_int_t)gaps));
	return gaps != 0 || (count != 0 && updates < count) ? 1 : 0;
}
