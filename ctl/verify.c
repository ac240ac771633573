/*
 * verify: commissionctl verify reads the whole store (read-only, beside a
 * running daemon) and checks it: every table as the store promises it
 * (store_verify), then the projections' state against a replay of the log
 * and any archives given (rebuild_check). Exit 0 only when all is well.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "ctl.h"
#include "store.h"

#define VERIFY_ARCHIVES_MAX 64
#define VERIFY_PROBLEMS_SHOWN 100

static void
verify_print_problem(void *arg, const char *problem)
{
	uint64_t *shown = arg;

	if ((*shown)++ < VERIFY_PROBLEMS_SHOWN)
		fprintf(stderr, "commissionctl: verify: %s\n", problem);
}

int
ctl_verify(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "archive", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_verify_report v;
	struct store_counts c;
	struct store *store;
	char *archives[VERIFY_ARCHIVES_MAX];
	uint64_t shown = 0;
	int n = 0, ch, replay_status, written;
	json_t *replay = NULL, *report;
	enum store_result r;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "a:", longopts, NULL)) != -1) {
		if (ch == 'a' && n == VERIFY_ARCHIVES_MAX) {
			fprintf(stderr, "commissionctl: verify: --archive %s: at most %d archives\n"
					"usage: commissionctl verify [--archive FILE]...\n",
			    optarg, VERIFY_ARCHIVES_MAX);
			return CTL_USAGE;
		}
		if (ch != 'a') {
			fprintf(stderr, "usage: commissionctl verify [--archive FILE]...\n");
			return CTL_USAGE;
		}
		archives[n++] = optarg;
	}
	if (optind != argc)
		return ctl_usage_arguments("verify", "commissionctl verify [--archive FILE]...", argc,
		    argv, optind, NULL);
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	r = store_verify(store, verify_print_problem, &shown, &v);
	if (r == STORE_OK)
		r = store_read_counts(store, &c);
	if (r != STORE_OK) {
		fprintf(stderr, "commissionctl: verify: %s\n", store_error(store));
		store_close(&store);
		return CTL_STORE;
	}
	store_close(&store);
	if (v.problems > VERIFY_PROBLEMS_SHOWN)
		fprintf(stderr, "commissionctl: verify: and %" PRIu64 " more problems\n",
		    v.problems - VERIFY_PROBLEMS_SHOWN);
	/* The replay: archived events are part of the state; without their
	 * archives it cannot be made, which is said, not counted as damage. */
	if (c.first_event_sequence > 1 && n == 0) {
		char why[256];
		snprintf(why, sizeof(why), "skipped: the log begins at sequence %" PRIu64
					   " (events before it are archived; give --archive FILE "
					   "to include them)",
		    c.first_event_sequence);
		replay = json_pack("{s:s}", "skipped", why);
		replay_status = CTL_OK;
	} else {
		const char *reason;
		replay_status = rebuild_check(cfg, archives, n, &replay);
		reason = json_string_value(json_object_get(replay, "reason"));
		/* A replay that could not be made (no room for its scratch copy)
		 * is no verdict on the state. */
		if (replay_status != CTL_OK)
			fprintf(stderr, "commissionctl: verify: %s%s%s\n",
			    replay_status == CTL_STORE ? "the replay could not be made"
						       : "the state does not match a replay of the log",
			    reason != NULL ? ": " : "", reason != NULL ? reason : " (see \"replay\")");
	}
	report = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o?}", "clean",
	    v.problems == 0 && replay_status == CTL_OK, "problems", (json_int_t)v.problems,
	    "formatVersion", (json_int_t)c.format_version, "firstSequence",
	    (json_int_t)c.first_event_sequence, "events", (json_int_t)v.events, "dedupeKeys",
	    (json_int_t)v.dedupe_keys, "updates", (json_int_t)v.updates, "deadLetters",
	    (json_int_t)v.dead_letters, "histories", (json_int_t)v.histories, "replay", replay);
	written = ctl_print_json(report);
	json_decref(report);
	/* Damage found outweighs a replay that could not be made. */
	if (v.problems > 0 || ctl_output_failed("verify", written) < 0)
		return CTL_REFUSED;
	return replay_status;
}
