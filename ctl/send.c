/*
 * send: commissionctl's sender. Reads Envelopes as JSON lines, keeps a
 * window of them in flight on a DEALER, and prints every Ack as a JSON line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "commissioning.pb-c.h"
#include "ctl.h"
#include "pbjson.h"

#define SEND_WINDOW 1000
#define SEND_LINE_MAX (16 * 1024 * 1024)
#define SEND_USAGE "usage: commissionctl send [--timeout MS] [FILE|-]\n"

struct sender {
	void *ctx;
	void *socket;
	uint64_t in_flight;
	uint64_t sent, accepted, duplicate, rejected, retry_later, unreadable;
	int timeout_ms;
	int write_errno; /* an Ack could not be printed: why */
};

/* Wait for and print one Ack. -1 when none came within the timeout. */
static int
sender_take_ack(struct sender *s)
{
	zmq_pollitem_t item = { s->socket, 0, ZMQ_POLLIN, 0 };
	zmq_msg_t msg;
	Commissioning__Ack *ack;

	if (zmq_poll(&item, 1, s->timeout_ms) <= 0)
		return -1;
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, s->socket, 0) < 0) {
		zmq_msg_close(&msg);
		return -1;
	}
	s->in_flight--;
	ack = commissioning__ack__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
	zmq_msg_close(&msg);
	if (ack == NULL) {
		fprintf(stderr, "commissionctl: the daemon answered with something that is not an Ack\n");
		s->unreadable++;
		return 0;
	}
	switch (ack->status) {
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_ACCEPTED:
		s->accepted++;
		break;
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_DUPLICATE:
		s->duplicate++;
		break;
	case COMMISSIONING__ACK_STATUS__ACK_STATUS_REJECTED:
		s->rejected++;
		break;
	default:
		s->retry_later++;
		break;
	}
	/* Past a failed write the acks are only counted. */
	if (s->write_errno == 0)
		s->write_errno = ctl_print_message(&ack->base);
	commissioning__ack__free_unpacked(ack, NULL);
	return 0;
}

/* Turn one JSON line (len bytes) into a packed Envelope and send it. */
static int
sender_send_line(struct sender *s, const char *line, size_t len_line, size_t lineno)
{
	json_error_t jerr;
	json_t *json;
	ProtobufCMessage *msg;
	char err[512];
	uint8_t *buf;
	size_t len;
	int rc;

	/* By its length, not as a C string: a NUL in the line (a file
	 * damaged, or two lines run together) would otherwise end it there,
	 * and what follows would be dropped without a word. */
	json = json_loadb(line, len_line, JSON_REJECT_DUPLICATES, &jerr);
	if (json == NULL) {
		fprintf(stderr, "commissionctl: line %zu: not JSON: %s (column %d)\n", lineno,
		    jerr.text, jerr.column);
		return -1;
	}
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	if (msg == NULL) {
		fprintf(stderr, "commissionctl: line %zu: not an Envelope: %s\n", lineno, err);
		return -1;
	}
	len = protobuf_c_message_get_packed_size(msg);
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		protobuf_c_message_free_unpacked(msg, NULL);
		fprintf(stderr, "commissionctl: line %zu: out of memory\n", lineno);
		return -1;
	}
	protobuf_c_message_pack(msg, buf);
	protobuf_c_message_free_unpacked(msg, NULL);
	/* A DEALER with no peer blocks; ZMQ_SNDTIMEO bounds that wait. */
	rc = zmq_send(s->socket, buf, len, 0);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "commissionctl: line %zu: cannot send: %s\n", lineno,
		    zmq_strerror(zmq_errno()));
		return zmq_errno() == EAGAIN ? -2 : -1;
	}
	s->sent++;
	s->in_flight++;
	return 0;
}

/*
 * One line of in, its newline included, into *line (grown as needed): its
 * length; -1 at the end or on a read error, -2 with no memory for it. Of a line longer than
 * SEND_LINE_MAX only the first SEND_LINE_MAX + 1 bytes are kept, and the
 * rest is read past, so that input with no newlines (a binary file,
 * /dev/zero) cannot take memory without bound as getline would.
 */
static ssize_t
send_read_line(FILE *in, char **line, size_t *cap)
{
	size_t n = 0;
	int ch;

	while ((ch = getc_unlocked(in)) != EOF) {
		if (n <= SEND_LINE_MAX) {
			if (n + 2 > *cap) {
				size_t grown = *cap < 4096 ? 4096 : *cap * 2;
				char *p;
				if (grown > SEND_LINE_MAX + 2)
					grown = SEND_LINE_MAX + 2;
				if ((p = realloc(*line, grown)) == NULL)
					return -2;
				*line = p;
				*cap = grown;
			}
			(*line)[n] = (char)ch;
		}
		n++;
		if (ch == '\n')
			break;
	}
	if (n == 0)
		return -1;
	(*line)[n <= SEND_LINE_MAX ? n : SEND_LINE_MAX + 1] = '\0';
	return (ssize_t)n;
}

static bool
line_is_blank(const char *line)
{
	return line[strspn(line, " \t\r\n")] == '\0';
}

int
ctl_send(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct sender s = { .timeout_ms = CTL_SEND_TIMEOUT_MS };
	struct curve_client curve;
	uint64_t timeout;
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0, lineno = 0, bad_lines = 0;
	ssize_t n;
	int ch, rc, linger = 0, status = CTL_OK;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "t:", longopts, NULL)) != -1) {
		if (ch != 't' ||
		    ctl_option_u64("send", "timeout", optarg, 1, CTL_SEND_TIMEOUT_MAX_MS, &timeout) < 0) {
			fputs(SEND_USAGE, stderr);
			return CTL_USAGE;
		}
		s.timeout_ms = (int)timeout;
	}
	/* One input: a second file would otherwise go unsent, unnoticed. */
	if (argc - optind > 1) {
		fprintf(stderr, "commissionctl: send: one FILE at a time; unexpected argument: %s "
				"(cat the files into commissionctl send -, or send each)\n" SEND_USAGE,
		    argv[optind + 1]);
		return CTL_USAGE;
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		in = fopen(argv[optind], "r");
		if (in == NULL) {
			fprintf(stderr, "commissionctl: %s: %s\n", argv[optind], strerror(errno));
			return CTL_USAGE;
		}
	}
	if (ctl_curve_client(cfg, &curve) < 0) {
		if (in != stdin)
			fclose(in);
		return CTL_USAGE;
	}
	s.ctx = zmq_ctx_new();
	s.socket = zmq_socket(s.ctx, ZMQ_DEALER);
	if (s.socket == NULL ||
	    zmq_setsockopt(s.socket, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(s.socket, ZMQ_SNDTIMEO, &s.timeout_ms, sizeof(s.timeout_ms)) < 0 ||
	    ctl_connect(s.socket, &curve, cfg->ingest_endpoint) < 0) {
		status = CTL_UNREACHABLE;
		goto out;
	}
	while ((n = send_read_line(in, &line, &cap)) >= 0) {
		lineno++;
		if (n > SEND_LINE_MAX) {
			fprintf(stderr, "commissionctl: line %zu: longer than %d bytes\n", lineno,
			    SEND_LINE_MAX);
			bad_lines++;
			continue;
		}
		if (line_is_blank(line))
			continue;
		rc = sender_send_line(&s, line, (size_t)n, lineno);
		if (rc == -2)
			goto silent;
		if (rc < 0) {
			bad_lines++;
			continue;
		}
		while (s.in_flight >= SEND_WINDOW) {
			if (sender_take_ack(&s) < 0)
				goto silent;
		}
		/* Print acks as they come, without waiting for the window. */
		while (s.in_flight > 0) {
			zmq_pollitem_t item = { s.socket, 0, ZMQ_POLLIN, 0 };
			if (zmq_poll(&item, 1, 0) <= 0)
				break;
			sender_take_ack(&s);
		}
	}
	/* -1 is the end and a read error alike: a file that cannot be read
	 * (a directory, an I/O error), or a line with no memory for it, is
	 * not all sent. */
	if (n == -2 || ferror(in)) {
		fprintf(stderr, "commissionctl: send: %s: cannot read past line %zu: %s; what "
				"follows was not sent\n",
		    in == stdin ? "standard input" : argv[optind], lineno,
		    n == -2 ? strerror(ENOMEM) : strerror(errno));
		bad_lines++;
	}
	while (s.in_flight > 0) {
		if (sender_take_ack(&s) < 0)
			goto silent;
	}
	goto summary;
silent:
	fprintf(stderr,
	    "commissionctl: no ack within %d ms for %" PRIu64 " envelope(s): is commissiond "
	    "running at %s%s? Send them again; the daemon drops repeats.\n",
	    s.timeout_ms, s.in_flight, cfg->ingest_endpoint,
	    curve.enabled ? ", and is this client's public key in its [curve] ingest_allow"
			  : " without CURVE");
	status = CTL_UNREACHABLE;
summary:
	fprintf(stderr,
	    "commissionctl: sent %" PRIu64 ": %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
	    " rejected, %" PRIu64 " retry later; %zu line(s) unreadable\n",
	    s.sent, s.accepted, s.duplicate, s.rejected, s.retry_later, bad_lines);
	/* The events went; their acks, the record of it, did not. */
	if (s.write_errno != 0)
		fprintf(stderr, "commissionctl: send: cannot write the acks: %s\n",
		    strerror(s.write_errno));
	if (status == CTL_OK && (s.rejected > 0 || s.retry_later > 0 || s.unreadable > 0 ||
				    bad_lines > 0 || s.write_errno != 0))
		status = CTL_REFUSED;
out:
	free(line);
	if (in != stdin)
		fclose(in);
	if (s.socket != NULL)
		zmq_close(s.socket);
	zmq_ctx_term(s.ctx);
	curve_pair_wipe(&curve.own);
	return status;
}
