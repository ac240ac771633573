/*
 * envelope_json: one Envelope from its proto3 JSON text (a line of the
 * scenario day, an example), for unit tests. Include after <cmocka.h>: a
 * text that is not JSON or not an Envelope fails the test, naming it and
 * why. Free the result with protobuf_c_message_free_unpacked.
 * envelope_json_each_line hands each line of a file of them (the scenario
 * day) to a function.
 */
#ifndef ENVELOPE_JSON_H
#define ENVELOPE_JSON_H

#include <stdio.h>
#include <stdlib.h>

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

/* The generated day (tools/sample-day) the unit tests read, one envelope
 * a line: cancels, transfers, updates, variations, a termination. */
#define ENVELOPE_JSON_SCENARIO "tests/data/scenario-day.jsonl"

/* Each line of the file at path to fn; the number of lines. A file that
 * does not open fails the test. */
static inline size_t
envelope_json_each_line(const char *path, void (*fn)(void *arg, const char *line), void *arg)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		fail_msg("%s: cannot open it", path);
	while (getline(&line, &cap, f) > 0) {
		fn(arg, line);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

#endif
