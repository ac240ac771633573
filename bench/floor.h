/*
 * floor.h: what the two floor programs share: their message, of a size
 * given, or the size of the mix's median envelope.
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* *size bytes, or when corpus_path is not NULL, as many as the corpus's
 * median envelope (set in *size). The caller frees it. */
static inline uint8_t *
floor_payload(const char *prog, const char *corpus_path, uint64_t *size)
{
	uint8_t *payload;

	if (corpus_path != NULL) {
		struct corpus c;
		char err[512];
		if (corpus_load(&c, corpus_path, 0, err, sizeof(err)) < 0)
			bench_fail(prog, "%s", err);
		*size = corpus_median_bytes(&c);
		corpus_free(&c);
	}
	payload = malloc(*size ? *size : 1);
	if (payload == NULL)
		bench_fail(prog, "out of memory");
	memset(payload, 0xa5, *size);
	return payload;
}

#endif
