/*
 * ack: the original-mode acknowledgement (ACK) of an HL7 v2 message, built
 * into a caller buffer with the message's own encoding characters. Pure.
 */
#ifndef ACK_H
#define ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hl7.h"

enum ack_code {
	ACK_CODE_ACCEPT, /* AA: accepted, durable */
	ACK_CODE_ERROR,	 /* AE: the message is wrong; ERR names the field */
	ACK_CODE_REJECT, /* AR: cannot be stored now; send it again later */
};

/*
 * A field of the message longer than this is left out of the ACK rather
 * than mirrored, so that an ACK always fits in ACK_BUFSIZE. So is one
 * holding a control byte, so that an ACK never holds 0x0B or 0x1C.
 */
#define ACK_MIRRORED_FIELD_MAX_BYTES 1024
/* Room for any acknowledgement this module writes. */
#define ACK_BUFSIZE 8192

/*
 * Write the ACK of msg into out (outlen bytes; NUL-terminated; segments end
 * in CR; no MLLP framing). MSH mirrors the sender and receiver (MSH-3/4 go
 * to MSH-5/6 and back), MSH-9 is ACK^<trigger> (^ACK from v2.3.1 on),
 * MSH-10 is control_id (a new id, 1 to 20 characters, the caller's),
 * MSH-7 is now_ms in Europe/London time with its offset, MSH-11 and MSH-12
 * are the message's; MSA-2 is the message's MSH-10.
 *
 * err, when given for AE or AR, adds an ERR segment: for v2.5 and later
 * ERR-2 the location (PID^1^3), ERR-3 the table 0357 code, ERR-4 severity
 * E and ERR-8 the text; for v2.2 to v2.4, ERR-1 the location and code
 * (PID^1^3^101&Required field missing&HL70357) and the text in MSA-3.
 *
 * msg may be one hl7_parse refused: whatever of its header was read is
 * mirrored, and without a header the ACK uses |^~\& and version 2.5.
 * Return the length written, or -1 when it does not fit or an argument is
 * wrong.
 */
int ack_build(const struct hl7_message *msg, enum ack_code code, const struct hl7_error *err,
    const char *control_id, int64_t now_ms, char *out, size_t outlen);

/*
 * Whether the ACK of msg takes its trigger from EVN-1: its MSH-9 gives
 * none (v2.2 may send the trigger in EVN-1 alone). A caller that parsed
 * only the header (hl7_header_length) must then parse the message whole,
 * or the ACK would say ACK where the message's AE says ACK^A01.
 */
bool ack_needs_evn(const struct hl7_message *msg);

#endif
