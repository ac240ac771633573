/*
 * envelope_json: one Envelope from its proto3 JSON text (a line of the
 * scenario day, an example), for unit tests. Include after <cmocka.h>: a
 * text that is not JSON or not an Envelope fails the test, naming it and
 * why. Free the result with protobuf_c_message_free_unpacked.
 */
#ifndef ENVELOPE_JSON_H
#define ENVELOPE_JSON_H

#include <jansson.h>

#include "commissioning.pb-c.h"
#include "pbjson.h"

static inline Commissioning__Envelope *
envelope_of_json(const char *text)
{
	json_error_t jerr;
	json_t *json = json_loads(text, 0, &jerr);
	char err[256];
	ProtobufCMessage *msg;

	if (json == NULL)
		fail_msg("%s: not JSON: %s", text, jerr.text);
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	if (msg == NULL)
		fail_msg("%s: %s", text, err);
	return (Commissioning__Envelope *)msg;
}

#endif
