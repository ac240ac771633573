/*
 * inspect: commissionctl's commands that read the store directly (LMDB lets
 * readers in other processes work while the daemon writes): status,
 * deadletters, events, backup.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commissioning.pb-c.h"
#include "ctl.h"
#include "store.h"

/* --from N and --limit N, the options of the listing commands; a bad
 * value or an extra argument is named, then the usage line printed. */
static int
inspect_range_options(int argc, char **argv, const char *command, const char *usage,
    uint64_t *from, uint64_t *limit)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "f:l:", longopts, NULL)) != -1) {
		if ((ch != 'f' && ch != 'l') ||
		    ctl_option_u64(command, ch == 'f' ? "from" : "limit", optarg, 0, UINT64_MAX,
			ch == 'f' ? from : limit) < 0) {
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "commissionctl: %s: unexpected argument: %s\nusage: %s\n", command,
		    argv[optind], usage);
		return -1;
	}
	return 0;
}

int
ctl_status(const struct config *cfg, int argc, char **argv)
{
	struct store *store;
	struct store_counts c;
	json_t *json;
	int status;

	if (argc != 1)
		return ctl_usage_arguments("status", "commissionctl status", argc, argv, 1, NULL);
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	if (store_read_counts(store, &c) != STORE_OK) {
		fprintf(stderr, "commissionctl: %s\n", store_error(store));
		store_close(&store);
		return CTL_STORE;
	}
	/* events: every event ever accepted (sequences are gap-free);
	 * eventsInLog: those not archived and pruned, verify's "events". */
	json = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "store", ctl_json_text(cfg->store_path),
	    "formatVersion", (json_int_t)c.format_version,
	    "firstSequence", (json_int_t)c.first_event_sequence,
	    "firstDeadLetter", (json_int_t)c.first_dead_letter,
	    "lastSequence", (json_int_t)c.last_event_sequence,
	    "events", (json_int_t)c.last_event_sequence,
	    "eventsInLog", (json_int_t)(c.first_event_sequence <= c.last_event_sequence
		    ? c.last_event_sequence + 1 - c.first_event_sequence
		    : 0),
	    "duplicates", (json_int_t)c.duplicates,
	    "rejected", (json_int_t)c.rejected,
	    "deadLetters", (json_int_t)c.dead_letters,
	    "lastUpdateSequence", (json_int_t)c.last_update_sequence,
	    "firstUpdateSequence", (json_int_t)c.first_update_sequence,
	    "storeBytes", (json_int_t)c.used_bytes,
	    "mapBytes", (json_int_t)c.map_size_bytes);
	status = ctl_output_failed("status", ctl_print_json(json)) < 0 ? CTL_REFUSED : CTL_OK;
	json_decref(json);
	store_close(&store);
	return status;
}

struct inspect_print {
	const ProtobufCMessageDescriptor *desc;
	uint64_t bad;
	int write_errno; /* the output could not be written: why */
};

static int
inspect_print_record(void *arg, uint64_t key, const uint8_t *bytes, size_t len)
{
	struct inspect_print *p = arg;
	ProtobufCMessage *msg = protobuf_c_message_unpack(p->desc, NULL, len, bytes);

	if (msg == NULL) {
		fprintf(stderr, "commissionctl: record %llu is not a %s\n",
		    (unsigned long long)key, p->desc->name);
		p->bad++;
		return 0;
	}
	p->write_errno = ctl_print_message(msg);
	protobuf_c_message_free_unpacked(msg, NULL);
	return p->write_errno != 0; /* not written: no use reading on */
}

typedef enum store_result (*inspect_scan_fn)(struct store *, uint64_t, uint64_t,
    store_record_fn, void *, uint64_t *);

static int
inspect_list(const struct config *cfg, int argc, char **argv, const char *command,
    const char *usage, inspect_scan_fn scan, const ProtobufCMessageDescriptor *desc,
    uint64_t default_limit)
{
	uint64_t from = 1, limit = default_limit;
	struct inspect_print p = { .desc = desc };
	struct store *store;
	enum store_result r;

	if (inspect_range_options(argc, argv, command, usage, &from, &limit) < 0)
		return CTL_USAGE;
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	r = scan(store, from, limit, inspect_print_record, &p, NULL);
	if (r != STORE_OK)
		fprintf(stderr, "commissionctl: %s\n", store_error(store));
	store_close(&store);
	if (r == STORE_OK && ctl_output_failed(command, p.write_errno) < 0)
		return CTL_REFUSED;
	return r != STORE_OK ? CTL_STORE : p.bad > 0 ? CTL_REFUSED : CTL_OK;
}

int
ctl_deadletters(const struct config *cfg, int argc, char **argv)
{
	return inspect_list(cfg, argc, argv, "deadletters",
	    "commissionctl deadletters [--from ID] [--limit N]",
	    store_scan_dead_letters, &commissioning__dead_letter__descriptor, 100);
}

int
ctl_events(const struct config *cfg, int argc, char **argv)
{
	return inspect_list(cfg, argc, argv, "events",
	    "commissionctl events [--from SEQ] [--limit N]",
	    store_scan_events, &commissioning__envelope__descriptor, UINT64_MAX);
}

int
ctl_backup(const struct config *cfg, int argc, char **argv)
{
	struct store *store;
	enum store_result r;

	if (argc != 2)
		return ctl_usage_arguments("backup", "commissionctl backup DIR", argc, argv, 2, "DIR");
	if ((store = ctl_open_store(cfg, cfg->store_path, true, STORE_SYNC_FULL)) == NULL)
		return CTL_STORE;
	r = store_backup(store, argv[1]);
	if (r != STORE_OK)
		fprintf(stderr, "commissionctl: backup: %s\n", store_error(store));
	else
		fprintf(stderr, "commissionctl: backup of %s written to %s\n", cfg->store_path,
		    argv[1]);
	store_close(&store);
	return r == STORE_OK ? CTL_OK : CTL_STORE;
}
