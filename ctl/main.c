/*
 * main: commissionctl, the operator's tool. Global options, then one
 * command from the table below.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "ctl.h"
#include "pbjson.h"
#include "store.h"
#include "log.h"

static const struct ctl_command {
	const char *name;
	int (*run)(const struct config *cfg, int argc, char **argv);
	const char *args;
	const char *summary;
	const char *note; /* a second line of help, or NULL */
} ctl_commands[] = {
	{ "send", ctl_send, "[--timeout MS] [FILE|-]",
	    "send events (JSON lines, proto3 JSON of Envelope); print each Ack",
	    "one FILE, or stdin; --timeout: the wait for each Ack, 1 to "
	    CTL_TEXT(CTL_SEND_TIMEOUT_MAX_MS) " ms (default " CTL_TEXT(CTL_SEND_TIMEOUT_MS) ")" },
	{ "tail", ctl_tail, "[--from SEQ] [--count N] [TOPIC-PREFIX]",
	    "print updates as JSON lines, filling any gap from the replay socket",
	    "--count: stop after N updates, 1 or more; without it, follow for ever" },
	{ "status", ctl_status, "", "counts and store size, read from the store, as JSON", NULL },
	{ "deadletters", ctl_deadletters, "[--from ID] [--limit N]",
	    "list rejected input with reasons", NULL },
	{ "events", ctl_events, "[--from SEQ] [--limit N]", "list the event log", NULL },
	{ "show", ctl_show, "AREA [--as-of MS] [--icb|--org|--council CODE]",
	    "the integrated-care figures of an area (or all) as JSON", NULL },
	{ "rebuild", ctl_rebuild, "[--check] [--archive FILE]...",
	    "remake the projections' state from the event log (--check: compare only)", NULL },
	{ "digest", ctl_digest, "", "a digest of the projections' state, per kind of thing", NULL },
	{ "backup", ctl_backup, "DIR", "compacted consistent copy of the store into DIR", NULL },
	{ "keygen", ctl_keygen, "[DIR/]NAME",
	    "a CURVE key pair: NAME.key (secret, 0600) and NAME.pub (public)", NULL },
	{ "restore", ctl_restore, "DIR",
	    "put a backup in place of the store (commissiond stopped)", NULL },
	{ "verify", ctl_verify, "[--archive FILE]...",
	    "check every table of the store, then the state against a replay", NULL },
	{ "archive", ctl_archive, "--before DATE --out FILE [--prune]",
	    "write the events committed before DATE to FILE (--prune: then drop them from the log)", NULL },
	{ "load", ctl_load, "FILE", "put an archive's events back into the log (commissiond stopped)", NULL },
};
#define N_COMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void
usage(FILE *out)
{
	fprintf(out, "usage: commissionctl [--config FILE] [--set SECTION.KEY=VALUE]... COMMAND [ARGS]\n"
		     "       commissionctl --help\n"
		     "\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		fprintf(out, "  %-12s %-38s %s\n", ctl_commands[i].name, ctl_commands[i].args,
		    ctl_commands[i].summary);
		if (ctl_commands[i].note != NULL)
			fprintf(out, "%15s%s\n", "", ctl_commands[i].note);
	}
	fprintf(out, "\nThe config file and --set are those of commissiond, so that both\n"
		     "find the same store and endpoints.\n");
}

json_t *
ctl_json_text(const char *text)
{
	json_t *json = json_string(text);
	size_t len = strlen(text);
	char *escaped, *p;

	if (json != NULL || (escaped = malloc(4 * len + 1)) == NULL)
		return json;
	p = escaped;
	for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++) {
		if (*c < 0x80)
			*p++ = (char)*c;
		else
			p += sprintf(p, "\\x%02X", *c);
	}
	*p = '\0';
	json = json_string(escaped);
	free(escaped);
	return json;
}

int
ctl_print_json(json_t *json)
{
	char *text = json ? json_dumps(json, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	int err = 0;

	if (text == NULL) {
		fprintf(stderr, "commissionctl: out of memory printing JSON\n");
		return ENOMEM;
	}
	errno = 0;
	if (puts(text) == EOF || fflush(stdout) == EOF || ferror(stdout))
		err = errno != 0 ? errno : EIO;
	free(text);
	return err;
}

int
ctl_print_message(const ProtobufCMessage *msg)
{
	json_t *json = pbjson_from_message(msg);
	int err = ctl_print_json(json);

	json_decref(json);
	return err;
}

int
ctl_output_failed(const char *command, int err)
{
	if (err == 0)
		return 0;
	fprintf(stderr, "commissionctl: %s: cannot write the output: %s\n", command,
	    strerror(err));
	return -1;
}

struct store *
ctl_open_store(const struct config *cfg, const char *path, bool read_only, int sync_mode)
{
	struct store_options opt = {
		.path = path,
		.map_size_bytes = cfg->store_map_size_bytes,
		.map_max_bytes = cfg->store_map_max_bytes,
		.sync_mode = sync_mode,
		.read_only = read_only,
		/* commissionctl changes a store; it never makes one. */
		.must_exist = true,
		.update_retention = cfg->store_update_retention,
		.dead_letter_keep_bytes = cfg->store_dead_letter_keep_bytes,
	};
	char err[768];
	struct store *store = store_open(&opt, err, sizeof(err));

	if (store == NULL)
		fprintf(stderr, "commissionctl: %s\n", err);
	return store;
}

int
ctl_lock_changes(const struct config *cfg, const char *command, bool whole,
    struct store_lock **lock)
{
	char err[768], holder[64];

	snprintf(holder, sizeof(holder), "commissionctl %s", command);
	/* Restore and load hold commissiond.lock, taken first. */
	if (!whole && store_check_exists(cfg->store_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: %s: %s\n", command, err);
		return CTL_STORE;
	}
	if ((*lock = store_lock_changes(cfg->store_path, whole, holder, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "commissionctl: %s: %s\n", command, err);
		return CTL_REFUSED;
	}
	return CTL_OK;
}

int
ctl_curve_client(const struct config *cfg, struct curve_client *client)
{
	char err[768];

	if (curve_client_load(cfg, client, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: %s\n", err);
		return -1;
	}
	return 0;
}

int
ctl_connect(void *socket, const struct curve_client *client, const char *endpoint)
{
	char err[256];

	if (curve_client_socket(socket, client, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: %s\n", err);
		return -1;
	}
	if (zmq_connect(socket, endpoint) < 0) {
		fprintf(stderr, "commissionctl: cannot connect to %s: %s\n", endpoint,
		    zmq_strerror(zmq_errno()));
		return -1;
	}
	return 0;
}

int
ctl_usage_arguments(const char *command, const char *usage, int argc, char **argv, int at,
    const char *missing)
{
	if (at < argc)
		fprintf(stderr, "commissionctl: %s: unexpected argument: %s\n", command, argv[at]);
	else
		fprintf(stderr, "commissionctl: %s: missing %s\n", command, missing);
	fprintf(stderr, "usage: %s\n", usage);
	return CTL_USAGE;
}

int
ctl_parse_u64(const char *text, uint64_t *out)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*out = strtoull(text, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

int
ctl_option_u64(const char *command, const char *option, const char *text, uint64_t min,
    uint64_t max, uint64_t *out)
{
	if (ctl_parse_u64(text, out) == 0 && *out >= min && *out <= max)
		return 0;
	if (max == UINT64_MAX)
		fprintf(stderr, "commissionctl: %s: --%s %s: must be a whole number, %" PRIu64
				" or more\n",
		    command, option, text, min);
	else
		fprintf(stderr, "commissionctl: %s: --%s %s: must be a whole number from %" PRIu64
				" to %" PRIu64 "\n",
		    command, option, text, min, max);
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	const char *config_path = NULL;
	char *sets[64], err[768];
	int n_sets = 0, ch;

	log_init("commissionctl", LOG_LEVEL_WARNING);
	/* Backups and key files it writes are its user's alone. */
	umask(077);
	/* "+": stop at the command, whose options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			if (n_sets == (int)(sizeof(sets) / sizeof(sets[0]))) {
				fprintf(stderr, "commissionctl: too many --set options (at most %zu)\n",
				    sizeof(sets) / sizeof(sets[0]));
				return CTL_USAGE;
			}
			sets[n_sets++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_USAGE;
		}
	}
	/* The file, then the --set options over it, wherever each was given:
	 * as commissiond reads them, so that both find the same store. */
	if (config_read(&cfg, config_path, sets, n_sets, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: config: %s\n", err);
		return CTL_USAGE;
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "commissionctl: libsodium failed to initialise\n");
		return CTL_USAGE;
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[optind], ctl_commands[i].name) == 0) {
			optind++;
			/* Commands parse their own options from here. */
			return ctl_commands[i].run(&cfg, argc - optind + 1, argv + optind - 1);
		}
	}
	fprintf(stderr, "commissionctl: no such command: %s\n\n", argv[optind]);
	usage(stderr);
	return CTL_USAGE;
}
