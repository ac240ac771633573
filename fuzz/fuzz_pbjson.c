/*
 * fuzz_pbjson: the proto3 JSON mapping (pbjson.c) both ways. The input is
 * read as a JSON line, as `commissionctl send` reads one, into each message
 * type that is written or read as JSON; and as protobuf bytes of the types
 * printed as JSON (an Update on the HTTP stream, an Envelope, a dead letter
 * in `commissionctl deadletters`).
 *
 * Invariants checked (each a promise of pbjson.h, not of this file):
 * - a message read from JSON prints, as text, JSON that reads back into an
 *   equal message (the same packed bytes), and its packed bytes print the
 *   same JSON;
 * - any message decoded from the wire prints JSON that reads back, and
 *   prints the same again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "pbjson.h"

static const ProtobufCMessageDescriptor *const descriptors[] = {
    &commissioning__envelope__descriptor,
    &commissioning__update__descriptor,
    &commissioning__ack__descriptor,
    &commissioning__replay_request__descriptor,
    &commissioning__dead_letter__descriptor,
    &commissioning__history__descriptor,
};

/* msg packed into a new buffer; *len its length. */
static uint8_t *
pack(const ProtobufCMessage *msg, size_t *len)
{
	uint8_t *bytes;

	*len = protobuf_c_message_get_packed_size(msg);
	bytes = malloc(*len ? *len : 1);
	FUZZ_ASSERT(bytes != NULL, "memory for a packed message");
	protobuf_c_message_pack(msg, bytes);
	return bytes;
}

/* msg printed as JSON text and read back as `commissionctl send` reads a
 * line: the message, which must read. */
static ProtobufCMessage *
print_and_read(const ProtobufCMessage *msg, json_t **printed)
{
	json_error_t jerr;
	json_t *again;
	char *text, err[512];
	ProtobufCMessage *back;

	*printed = pbjson_from_message(msg);
	FUZZ_ASSERT(*printed != NULL, "a message prints as JSON");
	text = json_dumps(*printed, JSON_COMPACT);
	FUZZ_ASSERT(text != NULL, "printed JSON dumps as text");
	again = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	FUZZ_ASSERT(again != NULL, "printed JSON text is JSON");
	back = pbjson_to_message(again, msg->descriptor, err, sizeof(err));
	if (back == NULL)
		fprintf(stderr, "fuzz: printed JSON does not read back: %s\n", err);
	FUZZ_ASSERT(back != NULL, "printed JSON reads back into its message type");
	json_decref(again);
	free(text);
	return back;
}

/* A message read from JSON: through text and back, and through the wire. */
static void
check_from_json(const ProtobufCMessage *msg)
{
	json_t *printed, *from_wire;
	ProtobufCMessage *back, *unpacked;
	uint8_t *bytes, *back_bytes;
	size_t len, back_len;

	bytes = pack(msg, &len);
	back = print_and_read(msg, &printed);
	back_bytes = pack(back, &back_len);
	FUZZ_ASSERT(back_len == len && memcmp(bytes, back_bytes, len) == 0,
	    "JSON printed from a message reads back into an equal message");
	unpacked = protobuf_c_message_unpack(msg->descriptor, NULL, len, bytes);
	FUZZ_ASSERT(unpacked != NULL, "a packed message unpacks");
	from_wire = pbjson_from_message(unpacked);
	FUZZ_ASSERT(from_wire != NULL && json_equal(from_wire, printed),
	    "a message and its packed bytes print the same JSON");
	json_decref(from_wire);
	protobuf_c_message_free_unpacked(unpacked, NULL);
	protobuf_c_message_free_unpacked(back, NULL);
	json_decref(printed);
	free(back_bytes);
	free(bytes);
}

/* A message decoded from the wire: printing is stable after one round. */
static void
check_from_wire(const ProtobufCMessage *msg)
{
	json_t *printed, *printed_again;
	ProtobufCMessage *back = print_and_read(msg, &printed);

	printed_again = pbjson_from_message(back);
	FUZZ_ASSERT(printed_again != NULL && json_equal(printed, printed_again),
	    "JSON printed from a decoded message prints the same once read back");
	json_decref(printed_again);
	json_decref(printed);
	protobuf_c_message_free_unpacked(back, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *json = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	char err[512];

	for (size_t i = 0; i < sizeof(descriptors) / sizeof(descriptors[0]); i++) {
		ProtobufCMessage *msg;

		if (json != NULL) {
			msg = pbjson_to_message(json, descriptors[i], err, sizeof(err));
			if (msg != NULL) {
				check_from_json(msg);
				protobuf_c_message_free_unpacked(msg, NULL);
			} else {
				FUZZ_ASSERT(err[0] != '\0', "JSON refused says why");
			}
		}
		msg = protobuf_c_message_unpack(descriptors[i], NULL, size, data);
		if (msg != NULL) {
			check_from_wire(msg);
			protobuf_c_message_free_unpacked(msg, NULL);
		}
	}
	json_decref(json);
	return 0;
}
