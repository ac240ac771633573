/*
 * pack: converts the sample-day mix once, from JSON lines (lib/pbjson) to
 * a packed corpus the other programs load without converting, and says
 * how large a typical envelope of it is.
 *
 *   bench-pack --out FILE IN.jsonl
 *
 * Prints {"envelopes", "median_bytes", "mean_bytes"}.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define PROG "bench-pack"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	struct corpus c;
	char err[512];
	double total = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'o') {
			fprintf(stderr, "usage: " PROG " --out FILE IN.jsonl\n");
			return 2;
		}
		out = optarg;
	}
	if (out == NULL || argc - optind != 1) {
		fprintf(stderr, "usage: " PROG " --out FILE IN.jsonl\n");
		return 2;
	}
	if (corpus_load(&c, argv[optind], 0, err, sizeof(err)) < 0 ||
	    corpus_save(&c, out, err, sizeof(err)) < 0)
		bench_fail(PROG, "%s", err);
	for (size_t i = 0; i < c.n; i++)
		total += (double)c.len[i];
	bench_print(json_pack("{s:I, s:I, s:f}", "envelopes", (json_int_t)c.n, "median_bytes",
	    (json_int_t)corpus_median_bytes(&c), "mean_bytes", total / (double)c.n));
	corpus_free(&c);
	return 0;
}
