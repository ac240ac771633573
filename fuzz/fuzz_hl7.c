/*
 * fuzz_hl7: what commissiond-hl7 does with the bytes a sender writes. The
 * input is read as an MLLP stream as hl7_on_read reads it (mllp_find, with
 * the shipped [hl7] max_message_bytes, and again with a small limit), and
 * every frame found, and the whole input as one message, is decided as
 * hl7_decide does (hl7_parse, adt_to_envelope) and answered as hl7_answer
 * does (ack_build, mllp_wrap).
 *
 * Invariants checked (each a promise of the code, not of this file):
 * - mllp_find never consumes more than it has, and a frame lies inside
 *   what it consumes; one cut short ends where the next start byte is;
 * - a message adt_to_envelope maps is one the daemon takes;
 * - the ACK of any message, even one hl7_parse refused, fits ACK_BUFSIZE,
 *   never holds 0x0B or 0x1C, is itself a message hl7_parse reads, its
 *   MSA-1 is the code given and its ERR-8 (MSA-3 before v2.5) reads as
 *   the error's text.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ack.h"
#include "adt.h"
#include "fuzz.h"
#include "hl7.h"
#include "mllp.h"

/* 2026-03-29 00:30 UTC: an hour before the clocks go forward. */
#define FUZZ_NOW_MS 1774744200000LL
#define FUZZ_SMALL_MESSAGE_MAX 64

static const struct adt_facility facilities[] = {
    {"ESHT", "RXC"},
    {"SYSTMONE-CHS", "NMJ"},
};

/* The ACK of msg with code, checked: it fits, parses and says code. */
static void
answer(const struct hl7_message *msg, enum ack_code code, const struct hl7_error *err)
{
	static const char *const code_text[] = {"AA", "AE", "AR"};
	static struct hl7_message ack_msg; /* large: not on the stack */
	char ack[ACK_BUFSIZE], msa1[8];
	uint8_t framed[ACK_BUFSIZE + 3];
	struct hl7_error ack_err;
	int len;

	len = ack_build(msg, code, err, "CD19d3a1b2c000001", FUZZ_NOW_MS, ack, sizeof(ack));
	FUZZ_ASSERT(len > 0, "an ACK always fits ACK_BUFSIZE");
	FUZZ_ASSERT(mllp_wrap(ack, (size_t)len, framed, sizeof(framed)) == (size_t)len + 3,
	    "an ACK framed fits ACK_BUFSIZE + 3");
	FUZZ_ASSERT(memchr(ack, MLLP_START, (size_t)len) == NULL &&
	                memchr(ack, MLLP_END, (size_t)len) == NULL,
	    "an ACK never holds MLLP's 0x0B or 0x1C, which would break its frame");
	if (hl7_parse(&ack_msg, ack, (size_t)len, &ack_err) != 0)
		fprintf(stderr, "fuzz: the ACK does not parse: %s\n", ack_err.text);
	FUZZ_ASSERT(hl7_parse(&ack_msg, ack, (size_t)len, &ack_err) == 0,
	    "an ACK is an HL7 message hl7_parse reads");
	FUZZ_ASSERT(hl7_get(&ack_msg, "MSA", 1, 1, 1, 1, 1, msa1, sizeof(msa1)) == 2 &&
	                strcmp(msa1, code_text[code]) == 0,
	    "an ACK's MSA-1 is the code it was built with");
	if (err != NULL && err->text[0] != '\0') {
		/* ERR-8 from v2.5 on, MSA-3 before: one of them says the text,
		 * with a delimiter as a space when there is no escape character. */
		char text[sizeof(err->text)], err8[sizeof(err->text)], msa3[sizeof(err->text)];
		const struct hl7_encoding *enc = &ack_msg.encoding;
		bool said;

		memcpy(text, err->text, sizeof(text));
		for (char *p = text; enc->escape == '\0' && *p != '\0'; p++)
			if (*p == enc->field || *p == enc->component || *p == enc->repetition ||
			    (unsigned char)*p < 0x20)
				*p = ' ';
		said = (hl7_get(&ack_msg, "ERR", 1, 8, 1, 1, 1, err8, sizeof(err8)) > 0 &&
		           strcmp(err8, text) == 0) ||
		       (hl7_get(&ack_msg, "MSA", 1, 3, 1, 1, 1, msa3, sizeof(msa3)) > 0 &&
		           strcmp(msa3, text) == 0);
		FUZZ_ASSERT(said, "an ACK's ERR-8 or MSA-3 reads as the error's text");
	}
}

/* What hl7_decide and hl7_answer do with one message. */
static void
decide(const char *text, size_t len)
{
	static struct hl7_message msg; /* large: not on the stack */
	const struct config *cfg = fuzz_config();
	struct adt_options opts = {facilities, sizeof(facilities) / sizeof(facilities[0]),
	    cfg->hl7_provider_from_facility, cfg->hl7_processing_ids};
	struct hl7_error err, reject;
	struct adt_event event;
	bool parsed;

	memset(&err, 0, sizeof(err));
	parsed = hl7_parse(&msg, text, len, &err) == 0;
	if (!parsed || adt_to_envelope(&msg, &opts, fuzz_pseudonymiser(), &event, &err) < 0) {
		FUZZ_ASSERT(err.text[0] != '\0', "a refused message says why");
		answer(&msg, ACK_CODE_ERROR, &err);
		return;
	}
	fuzz_daemon_takes(&event.envelope);
	answer(&msg, ACK_CODE_ACCEPT, NULL);
	/* The outbox full: the same message answered AR. */
	memset(&reject, 0, sizeof(reject));
	snprintf(reject.field, sizeof(reject.field), "MSH-10");
	snprintf(reject.text, sizeof(reject.text),
	    "the message cannot be stored now (outbox full or disk full); send it again later");
	reject.code = HL7_ERROR_APPLICATION_INTERNAL;
	answer(&msg, ACK_CODE_REJECT, &reject);
}

/* Read data as hl7_on_read does; decide each frame when asked to. */
static void
read_stream(const uint8_t *data, size_t size, size_t max_message, bool decide_frames)
{
	size_t done = 0;

	while (done <= size) {
		size_t at = 0, msg_len = 0, consumed = 0, skipped = 0;
		enum mllp_status st = mllp_find(
		    data + done, size - done, max_message, &at, &msg_len, &consumed, &skipped);

		FUZZ_ASSERT(consumed <= size - done && skipped <= consumed,
		    "mllp_find consumes only what it has");
		if (st == MLLP_TOO_LARGE)
			return;
		if (st == MLLP_MORE)
			return;
		FUZZ_ASSERT(st == MLLP_FRAME || st == MLLP_UNENDED,
		    "mllp_find returns one of its statuses");
		FUZZ_ASSERT(at + msg_len <= consumed && msg_len <= max_message && consumed > 0,
		    "a frame lies inside what mllp_find consumes");
		FUZZ_ASSERT(st != MLLP_UNENDED || data[done + consumed] == MLLP_START,
		    "a frame is cut short only by the next start byte, which is left");
		if (decide_frames)
			decide((const char *)data + done + at, msg_len);
		done += consumed;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_stream(data, size, fuzz_config()->hl7_max_message_bytes, true);
	read_stream(data, size, FUZZ_SMALL_MESSAGE_MAX, false);
	if (size <= fuzz_config()->hl7_max_message_bytes)
		decide((const char *)data, size);
	return 0;
}
