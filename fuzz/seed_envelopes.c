/*
 * seed_envelopes: writes fuzz_envelope's seed corpus from JSON lines of
 * Envelopes (tests/data/scenario-day.jsonl): one frame of each event kind,
 * the day in batches of consecutive frames, a repeat and a reused id.
 * `make fuzz-seeds` runs it; its output is kept in fuzz/corpus/.
 *
 *   seed_envelopes OUTDIR < scenario-day.jsonl
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commissioning.pb-c.h"
#include "event_check.h"
#include "pbjson.h"

#define SEED_FRAME_SEPARATOR "#FRAME#" /* as fuzz_envelope.c splits */
#define SEED_BATCH_FRAMES 16
#define SEED_LINES_MAX 4096

struct frame {
	uint8_t *bytes;
	size_t len;
	Commissioning__Envelope *env;
};

static int
write_frames(const char *dir, const char *name, struct frame *const *frames, size_t n)
{
	char path[4096];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(SEED_FRAME_SEPARATOR, f);
		fwrite(frames[i]->bytes, 1, frames[i]->len, f);
	}
	if (fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static int
read_frame(const char *line, size_t lineno, struct frame *out)
{
	json_error_t jerr;
	json_t *json = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	char err[512];
	ProtobufCMessage *msg;

	if (json == NULL) {
		fprintf(stderr, "seed_envelopes: line %zu: not JSON: %s\n", lineno, jerr.text);
		return -1;
	}
	msg = pbjson_to_message(json, &commissioning__envelope__descriptor, err, sizeof(err));
	json_decref(json);
	if (msg == NULL) {
		fprintf(stderr, "seed_envelopes: line %zu: not an Envelope: %s\n", lineno, err);
		return -1;
	}
	out->env = (Commissioning__Envelope *)msg;
	out->len = protobuf_c_message_get_packed_size(msg);
	out->bytes = malloc(out->len ? out->len : 1);
	if (out->bytes == NULL)
		return -1;
	protobuf_c_message_pack(msg, out->bytes);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct frame frames[SEED_LINES_MAX];
	char *line = NULL, name[128];
	size_t cap = 0, n = 0, batches = 0;
	const char *kinds[SEED_LINES_MAX];
	size_t n_kinds = 0;
	struct frame *batch[SEED_BATCH_FRAMES];
	struct frame reused;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: seed_envelopes OUTDIR < FILE.jsonl\n");
		return 2;
	}
	while (getline(&line, &cap, stdin) > 0 && n < SEED_LINES_MAX) {
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (read_frame(line, n + 1, &frames[n]) < 0)
			return 1;
		n++;
	}
	free(line);
	/* One frame of each kind. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *kind = event_kind_name(frames[i].env);
		bool seen = false;
		for (size_t k = 0; k < n_kinds; k++)
			seen = seen || strcmp(kinds[k], kind) == 0;
		if (seen)
			continue;
		kinds[n_kinds++] = kind;
		snprintf(name, sizeof(name), "single-%s.pb", kind);
		batch[0] = &frames[i];
		rc = write_frames(argv[1], name, batch, 1);
	}
	/* The day in batches. */
	for (size_t i = 0; i < n && rc == 0; i += SEED_BATCH_FRAMES) {
		size_t m = 0;
		for (; m < SEED_BATCH_FRAMES && i + m < n; m++)
			batch[m] = &frames[i + m];
		snprintf(name, sizeof(name), "batch-%03zu.pb", ++batches);
		rc = write_frames(argv[1], name, batch, m);
	}
	/* A repeat, and the same id with other content. */
	if (rc == 0 && n > 0) {
		batch[0] = batch[1] = &frames[0];
		rc = write_frames(argv[1], "repeat.pb", batch, 2);
	}
	if (rc == 0 && n > 0) {
		frames[0].env->occurred_at += 1;
		reused.len = protobuf_c_message_get_packed_size(&frames[0].env->base);
		reused.bytes = malloc(reused.len);
		if (reused.bytes == NULL)
			return 1;
		protobuf_c_message_pack(&frames[0].env->base, reused.bytes);
		batch[0] = &frames[0];
		batch[1] = &reused;
		rc = write_frames(argv[1], "reused-id.pb", batch, 2);
		free(reused.bytes);
	}
	for (size_t i = 0; i < n; i++) {
		free(frames[i].bytes);
		commissioning__envelope__free_unpacked(frames[i].env, NULL);
	}
	printf("seed_envelopes: %zu frames, %zu kinds, %zu batches\n", n, n_kinds, batches);
	return rc == 0 ? 0 : 1;
}
