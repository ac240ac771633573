/*
 * replay: a subscriber catching up. Pulls stored updates from the replay
 * ROUTER (docs/PROTOCOL.md, Replay) from a sequence on through a stream of
 * --credit replies granted ahead (4), granting one more for each taken; or,
 * with --credit 0, one request in flight: ask, decode, ask again from
 * next_sequence. Each reply is decoded whole as a client would, until
 * --count updates or the end.
 *
 *   bench-replay --endpoint REPLAY-ENDPOINT [--from SEQ] [--count N] [--max M]
 *                [--credit C]
 *
 * Prints {"updates", "bytes", "requests", "seconds", "updates_per_second",
 * "gaps", "credit"}; exits 1 when the daemon does not answer or answers an
 * error.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "arena.h"
#include "bench.h"
#include "commissioning.pb-c.h"

#define PROG "bench-replay"
#define REPLY_TIMEOUT_MS 60000
/* Replies granted at once: enough for the daemon to build the next while
 * this one is decoded. */
#define DEFAULT_CREDIT 4

static void
usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " --endpoint E [--from SEQ] [--count N] [--max M] [--credit C]\n");
	exit(2);
}

/* Send a ReplayRequest: a single request (credit 0), a stream's opening
 * (credit), or a grant to the open stream (more_credit). */
static void
replay_ask(void *dealer, uint64_t from, uint32_t max, uint32_t credit, uint32_t more_credit)
{
	Commissioning__ReplayRequest req = COMMISSIONING__REPLAY_REQUEST__INIT;
	uint8_t buf[64];
	size_t len;

	req.from_sequence = from;
	req.max_updates = max;
	req.credit = credit;
	req.more_credit = more_credit;
	len = commissioning__replay_request__pack(&req, buf);
	if (zmq_send(dealer, buf, len, 0) < 0)
		bench_fail(PROG, "send: %s", zmq_strerror(zmq_errno()));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"endpoint", required_argument, NULL, 'e'},
	    {"from", required_argument, NULL, 'f'},
	    {"count", required_argument, NULL, 'n'},
	    {"max", required_argument, NULL, 'm'},
	    {"credit", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *endpoint = NULL;
	uint64_t from = 1, count = 0, max = 1000, credit = DEFAULT_CREDIT, updates = 0, bytes = 0,
	         requests = 0, gaps = 0;
	uint64_t expect, start, end;
	void *ctx, *dealer;
	int ch, linger = 0;
	bool done = false;
	struct arena *arena;

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
		case 'c':
			credit = bench_parse_u64(PROG, "--credit", optarg);
			break;
		default:
			usage();
		}
	}
	if (endpoint == NULL || max == 0 || max > UINT32_MAX || credit > UINT32_MAX ||
	    optind != argc)
		usage();
	/* Every update of a reply is decoded into it (lib/arena.h), reset for
	 * the next: no malloc and free per field. It keeps all its chunks, so
	 * its memory stays that of the largest reply. */
	if ((arena = arena_new(SIZE_MAX)) == NULL)
		bench_fail(PROG, "out of memory");
	/* ZeroMQ takes each reply (about 1 MB) in a buffer of its own. Above
	 * glibc's mmap threshold, or freed at the top of a heap past the trim
	 * threshold, every reply would be fresh pages from the kernel, zeroed
	 * and faulted in: keep them in the heap, as a long-lived subscriber
	 * would tune it. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	ctx = zmq_ctx_new();
	dealer = zmq_socket(ctx, ZMQ_DEALER);
	if (dealer == NULL || zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_connect(dealer, endpoint) < 0)
		bench_fail(PROG, "%s: %s", endpoint, zmq_strerror(zmq_errno()));

	expect = from;
	start = bench_now_ns();
	if (credit > 0) {
		/* Open the stream: credit replies come back to back. */
		replay_ask(dealer, from, (uint32_t)max, (uint32_t)credit, 0);
		requests++;
	}
	while (!done) {
		Commissioning__ReplayReply *reply;
		zmq_msg_t msg;
		zmq_pollitem_t item = {dealer, 0, ZMQ_POLLIN, 0};

		if (credit == 0) {
			uint64_t want = count && count - updates < max ? count - updates : max;

			replay_ask(dealer, from, (uint32_t)want, 0, 0);
			requests++;
		}
		if (zmq_poll(&item, 1, REPLY_TIMEOUT_MS) <= 0)
			bench_fail(
			    PROG, "no reply within %d ms from %s", REPLY_TIMEOUT_MS, endpoint);
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, dealer, 0) < 0)
			bench_fail(PROG, "receive: %s", zmq_strerror(zmq_errno()));
		bytes += zmq_msg_size(&msg);
		arena_reset(arena);
		reply = commissioning__replay_reply__unpack(
		    arena_allocator(arena), zmq_msg_size(&msg), zmq_msg_data(&msg));
		zmq_msg_close(&msg);
		if (reply == NULL)
			bench_fail(PROG, "a reply that is not a ReplayReply");
		if (reply->error[0] != '\0')
			bench_fail(PROG, "the daemon answered: %s", reply->error);
		/* Grant the reply just taken back before decoding it, so the
		 * daemon builds the next while this one is read. */
		if (credit > 0 && !reply->end) {
			replay_ask(dealer, 0, 0, 0, 1);
			requests++;
		}
		for (size_t i = 0; i < reply->n_updates; i++) {
			/* Every update, in order, each once. */
			if (reply->updates[i]->sequence != expect)
				gaps++;
			expect = reply->updates[i]->sequence + 1;
		}
		updates += reply->n_updates;
		from = reply->next_sequence;
		done = reply->end || (count != 0 && updates >= count);
	}
	arena_destroy(&arena);
	end = bench_now_ns();
	zmq_close(dealer);
	zmq_ctx_term(ctx);

	double seconds = (double)(end - start) / 1e9;
	bench_print(json_pack("{s:I, s:I, s:I, s:f, s:f, s:I, s:I}", "updates", (json_int_t)updates,
	    "bytes", (json_int_t)bytes, "requests", (json_int_t)requests, "seconds", seconds,
	    "updates_per_second", seconds > 0 ? (double)updates / seconds : 0.0, "gaps",
	    (json_int_t)gaps, "credit", (json_int_t)credit));
	return gaps != 0 || (count != 0 && updates < count) ? 1 : 0;
}
