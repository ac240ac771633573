/*
 * tail: commissionctl's subscriber. Prints updates from the PUB socket in
 * sequence order; a gap (a dropped or missed message) or a quiet second is
 * filled from the replay socket (the Clone pattern of the ZeroMQ guide).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "clock.h"
#include "commissioning.pb-c.h"
#include "ctl.h"

#define TAIL_IDLE_MS 1000
#define TAIL_REPLY_TIMEOUT_MS 5000
/* Replies of a replay stream granted and not yet printed. */
#define TAIL_CREDIT 4
/* Sequence "after everything": asking from here returns only last_sequence. */
#define TAIL_FROM_END (UINT64_MAX / 2)
#define TAIL_USAGE "usage: commissionctl tail [--from SEQ] [--count N] [TOPIC-PREFIX]\n"
/* The longest TOPIC-PREFIX: its request must fit the daemon's 4 KiB
 * (docs/PROTOCOL.md, Replay), and tail's buffer. */
#define TAIL_PREFIX_MAX_BYTES 1024
#define TAIL_REQUEST_MAX_BYTES (TAIL_PREFIX_MAX_BYTES + 64)

struct tail {
	const struct config *cfg;
	void *ctx;
	void *sub;
	void *replay;
	struct curve_client curve;
	const char *prefix;
	uint64_t expected; /* the next sequence to print */
	uint64_t printed;
	uint64_t count; /* stop after this many (0: never) */
	bool one_at_a_time; /* the daemon does not stream */
	int write_errno; /* the output could not be written: why; tail stops */
	uint64_t newest; /* the newest update known stored: printed or a reply's last */
	/* The last update printed, to know it again in a replay. */
	uint64_t last_sequence, last_event_sequence;
	int64_t last_commit_time;
	/* The store was restored or replaced under tail (why): the sequences
	 * from there on name other updates than those printed; tail stops. */
	bool went_back;
	char went_back_why[160];
	int64_t asked_ms; /* when the replay socket was last asked (monotonic) */
};

static int
tail_replay_connect(struct tail *t)
{
	int linger = 0;

	if (t->replay != NULL)
		zmq_close(t->replay);
	t->replay = zmq_socket(t->ctx, ZMQ_DEALER);
	if (t->replay == NULL ||
	    zmq_setsockopt(t->replay, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    ctl_connect(t->replay, &t->curve, t->cfg->replay_endpoint) < 0)
		return -1;
	return 0;
}

static bool
tail_done(const struct tail *t)
{
	return (t->count != 0 && t->printed >= t->count) || t->write_errno != 0 || t->went_back;
}

static void
tail_print(struct tail *t, const Commissioning__Update *update)
{
	if (update->sequence < t->expected || tail_done(t))
		return;
	/* A full disk: following on would print nothing, for ever. */
	if ((t->write_errno = ctl_print_message(&update->base)) != 0)
		return;
	t->expected = update->sequence + 1;
	t->printed++;
	if (update->sequence > t->newest)
		t->newest = update->sequence;
	t->last_sequence = update->sequence;
	t->last_event_sequence = update->event_sequence;
	t->last_commit_time = update->commit_time;
}

/* Has the store gone back under tail (a restore, a store deleted and
 * made afresh)? The sequences from there on name other updates than those
 * printed: following on would print nothing until the numbers caught up,
 * then updates whose predecessors were never shown. Two signs, from a
 * reply: its newest update is behind one known stored, or the update it
 * holds under the number of the last printed is another one. */
static void
tail_check_went_back(struct tail *t, const Commissioning__ReplayReply *reply)
{
	if (reply->last_sequence < t->newest) {
		t->went_back = true;
		snprintf(t->went_back_why, sizeof(t->went_back_why),
		    "its newest update is now %" PRIu64 ", but update %" PRIu64 " was stored "
		    "before", reply->last_sequence, t->newest);
		return;
	}
	t->newest = reply->last_sequence;
	for (size_t i = 0; t->printed > 0 && i < reply->n_updates; i++) {
		const Commissioning__Update *u = reply->updates[i];
		if (u->sequence == t->last_sequence &&
		    (u->event_sequence != t->last_event_sequence ||
			u->commit_time != t->last_commit_time)) {
			t->went_back = true;
			snprintf(t->went_back_why, sizeof(t->went_back_why),
			    "its update %" PRIu64 " is not the one printed under that number",
			    u->sequence);
		}
	}
}

static int
tail_replay_send(struct tail *t, uint64_t from, uint32_t credit, uint32_t more_credit)
{
	Commissioning__ReplayRequest req = COMMISSIONING__REPLAY_REQUEST__INIT;
	uint8_t buf[TAIL_REQUEST_MAX_BYTES];
	size_t len;

	req.from_sequence = from;
	req.topic_prefix = (char *)t->prefix;
	req.credit = credit;
	req.more_credit = more_credit;
	/* ctl_tail bounds the prefix; this bounds the write. */
	if (commissioning__replay_request__get_packed_size(&req) > sizeof(buf))
		return -1;
	len = commissioning__replay_request__pack(&req, buf);
	t->asked_ms = clock_monotonic_ms();
	return zmq_send(t->replay, buf, len, 0) < 0 ? -1 : 0;
}

/* The next reply. NULL when the daemon did not answer: the socket is then
 * made afresh, so a late reply cannot be taken for the answer to the next
 * request (the Lazy Pirate pattern). */
static Commissioning__ReplayReply *
tail_replay_receive(struct tail *t)
{
	zmq_pollitem_t item = { t->replay, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t msg;
	Commissioning__ReplayReply *reply;

	if (zmq_poll(&item, 1, TAIL_REPLY_TIMEOUT_MS) <= 0) {
		fprintf(stderr, "commissionctl: no answer from %s; trying again\n",
		    t->cfg->replay_endpoint);
		tail_replay_connect(t);
		return NULL;
	}
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, t->replay, 0) < 0) {
		zmq_msg_close(&msg);
		return NULL;
	}
	reply = commissioning__replay_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
	zmq_msg_close(&msg);
	if (reply == NULL)
		fprintf(stderr, "commissionctl: the replay socket sent something unreadable\n");
	else if (reply->error[0] != '\0')
		fprintf(stderr, "commissionctl: replay: %s\n", reply->error);
	return reply;
}

/* Print every stored update from t->expected to the newest, through a
 * stream (docs/PROTOCOL.md, Replay): the daemon builds the next replies
 * while these are printed. A daemon that does not stream answers the
 * opening with one reply: tail then asks one reply at a time. -1 when the
 * daemon stopped answering or answered with an error: the updates from
 * t->expected on are then still to be fetched. */
static int
tail_catch_up(struct tail *t)
{
	/* From the last printed, when it is the one before expected: the
	 * reply then shows whether it is still the same update. */
	uint64_t from = t->printed > 0 && t->last_sequence + 1 == t->expected ? t->last_sequence
									       : t->expected;

	if (tail_replay_send(t, from, t->one_at_a_time ? 0 : TAIL_CREDIT, 0) < 0)
		return -1;
	for (;;) {
		Commissioning__ReplayReply *reply = tail_replay_receive(t);
		int sent = 0;
		bool end;

		if (reply == NULL)
			return -1;
		/* An error ends the stream: nothing from expected on was
		 * replayed (said by tail_replay_receive). */
		if (reply->error[0] != '\0') {
			commissioning__replay_reply__free_unpacked(reply, NULL);
			return -1;
		}
		tail_check_went_back(t, reply);
		end = reply->end || tail_done(t);
		t->one_at_a_time |= !reply->streamed;
		/* Ask for more before printing these. */
		if (!end)
			sent = t->one_at_a_time ? tail_replay_send(t, reply->next_sequence, 0, 0)
			                        : tail_replay_send(t, 0, 0, 1);
		if (reply->first_sequence > t->expected && reply->n_updates > 0 &&
		    reply->updates[0]->sequence > t->expected)
			fprintf(stderr,
			    "commissionctl: updates %" PRIu64 " to %" PRIu64 " are past retention "
			    "and cannot be replayed\n",
			    t->expected, reply->updates[0]->sequence - 1);
		for (size_t i = 0; i < reply->n_updates; i++)
			tail_print(t, reply->updates[i]);
		/* With a topic filter the replay skips what does not match:
		 * everything below next_sequence has been seen (unless one
		 * could not be written). */
		if (reply->next_sequence > t->expected && t->write_errno == 0)
			t->expected = reply->next_sequence;
		commissioning__replay_reply__free_unpacked(reply, NULL);
		if (end || tail_done(t))
			return 0;
		if (sent < 0) {
			tail_replay_connect(t);
			return -1;
		}
	}
}

/* Where to start when no --from is given: after the newest update. */
static int
tail_find_end(struct tail *t)
{
	Commissioning__ReplayReply *reply;

	if (tail_replay_send(t, TAIL_FROM_END, 0, 0) < 0 ||
	    (reply = tail_replay_receive(t)) == NULL)
		return -1;
	/* An error's last_sequence may be 0: following from there would
	 * print every stored update at the first one published. */
	if (reply->error[0] != '\0') {
		commissioning__replay_reply__free_unpacked(reply, NULL);
		return -1;
	}
	t->expected = reply->last_sequence + 1;
	t->newest = reply->last_sequence;
	commissioning__replay_reply__free_unpacked(reply, NULL);
	return 0;
}

static void
tail_on_message(struct tail *t)
{
	zmq_msg_t topic, body;
	Commissioning__Update *update;

	zmq_msg_init(&topic);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&topic, t->sub, 0) < 0 || !zmq_msg_more(&topic) ||
	    zmq_msg_recv(&body, t->sub, 0) < 0) {
		zmq_msg_close(&topic);
		zmq_msg_close(&body);
		return;
	}
	update = commissioning__update__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
	zmq_msg_close(&topic);
	zmq_msg_close(&body);
	if (update == NULL) {
		fprintf(stderr, "commissionctl: an unreadable update was published; skipped\n");
		return;
	}
	/* The gap, and this one with it. Not filled (no answer, or an
	 * error): this one waits too, so that nothing is skipped; the next
	 * message or quiet second asks again. */
	if (update->sequence > t->expected)
		tail_catch_up(t);
	if (update->sequence <= t->expected)
		tail_print(t, update);
	commissioning__update__free_unpacked(update, NULL);
}

int
ctl_tail(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct tail t = { .cfg = cfg, .prefix = "" };
	bool from_given = false;
	int ch, linger = 0, status = CTL_OK;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "f:n:", longopts, NULL)) != -1) {
		/* --count 0 would read as "stop after none", but never stop:
		 * leaving --count out is how to follow for ever. */
		if ((ch != 'f' && ch != 'n') ||
		    (ch == 'f' && ctl_option_u64("tail", "from", optarg, 0, UINT64_MAX,
				      &t.expected) < 0) ||
		    (ch == 'n' && ctl_option_u64("tail", "count", optarg, 1, UINT64_MAX,
				      &t.count) < 0)) {
			fputs(TAIL_USAGE, stderr);
			return CTL_USAGE;
		}
		from_given |= ch == 'f';
	}
	if (argc - optind > 1) {
		fprintf(stderr, "commissionctl: tail: one TOPIC-PREFIX at most; unexpected "
				"argument: %s\n" TAIL_USAGE,
		    argv[optind + 1]);
		return CTL_USAGE;
	}
	if (optind < argc)
		t.prefix = argv[optind];
	if (strlen(t.prefix) > TAIL_PREFIX_MAX_BYTES) {
		fprintf(stderr, "commissionctl: tail: TOPIC-PREFIX of %zu bytes: must be at most "
				"%d\n" TAIL_USAGE,
		    strlen(t.prefix), TAIL_PREFIX_MAX_BYTES);
		return CTL_USAGE;
	}
	if (t.expected == 0)
		t.expected = 1;
	if (ctl_curve_client(cfg, &t.curve) < 0)
		return CTL_USAGE;

	t.ctx = zmq_ctx_new();
	t.sub = zmq_socket(t.ctx, ZMQ_SUB);
	if (t.sub == NULL || zmq_setsockopt(t.sub, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(t.sub, ZMQ_SUBSCRIBE, t.prefix, strlen(t.prefix)) < 0 ||
	    ctl_connect(t.sub, &t.curve, cfg->publish_endpoint) < 0 || tail_replay_connect(&t) < 0) {
		status = CTL_UNREACHABLE;
		goto out;
	}
	/* Subscribe first, then find where to start: whatever is published
	 * in between arrives live or is fetched when its gap shows. */
	while ((from_given ? tail_catch_up(&t) : tail_find_end(&t)) < 0)
		zmq_poll(NULL, 0, TAIL_IDLE_MS); /* an error comes back at once */
	while (!tail_done(&t)) {
		zmq_pollitem_t item = { t.sub, 0, ZMQ_POLLIN, 0 };
		int rc = zmq_poll(&item, 1, TAIL_IDLE_MS);
		if (rc < 0)
			break;
		/* A quiet second: the last messages may have been lost. A busy
		 * one: a restored store publishes sequences already printed,
		 * which only a reply's last_sequence tells from duplicates. */
		if (rc > 0)
			tail_on_message(&t);
		if (!tail_done(&t) &&
		    (rc == 0 || clock_monotonic_ms() - t.asked_ms >= TAIL_IDLE_MS))
			tail_catch_up(&t);
	}
	if (t.write_errno != 0) {
		fprintf(stderr, "commissionctl: tail: cannot write update %" PRIu64 ": %s (resume "
				"with --from %" PRIu64 ")\n",
		    t.expected, strerror(t.write_errno), t.expected);
		status = CTL_REFUSED;
	} else if (t.went_back) {
		fprintf(stderr, "commissionctl: tail: the daemon's store was restored or replaced "
				"(%s): its sequence numbers now name other updates than those printed; "
				"stopped after update %" PRIu64 " (run tail again to follow the store "
				"as it is)\n",
		    t.went_back_why, t.expected - 1);
		status = CTL_REFUSED;
	}
out:
	if (t.sub != NULL)
		zmq_close(t.sub);
	if (t.replay != NULL)
		zmq_close(t.replay);
	zmq_ctx_term(t.ctx);
	curve_pair_wipe(&t.curve.own);
	return status;
}
