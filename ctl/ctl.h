/*
 * ctl.h: commissionctl's commands. Each takes the effective configuration
 * (so it finds the same store and endpoints as the daemon) and its own
 * arguments, and returns the process exit status.
 */
#ifndef CTL_H
#define CTL_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "curve.h"
#include "store.h"

/* Exit statuses shared by every command. */
enum ctl_exit {
	CTL_OK = 0,
	CTL_REFUSED = 1,     /* something was rejected or could not be sent */
	CTL_USAGE = 2,
	CTL_UNREACHABLE = 3, /* the daemon did not answer in time */
	CTL_STORE = 4,       /* the store could not be read or written */
};

/* send --timeout: the wait for each Ack, its default and its bound. */
#define CTL_SEND_TIMEOUT_MS 30000
#define CTL_SEND_TIMEOUT_MAX_MS 3600000
/* A number macro as a string literal, for help texts. */
#define CTL_TEXT(n) CTL_TEXT_(n)
#define CTL_TEXT_(n) #n

int ctl_send(const struct config *cfg, int argc, char **argv);
int ctl_tail(const struct config *cfg, int argc, char **argv);
int ctl_status(const struct config *cfg, int argc, char **argv);
int ctl_deadletters(const struct config *cfg, int argc, char **argv);
int ctl_events(const struct config *cfg, int argc, char **argv);
int ctl_backup(const struct config *cfg, int argc, char **argv);
int ctl_show(const struct config *cfg, int argc, char **argv);
int ctl_rebuild(const struct config *cfg, int argc, char **argv);
int ctl_digest(const struct config *cfg, int argc, char **argv);
int ctl_keygen(const struct config *cfg, int argc, char **argv);

/* The [curve] client keys of cfg; prints why and returns -1 when wrong. */
int ctl_curve_client(const struct config *cfg, struct curve_client *client);
/* Connect socket to endpoint, as a CURVE client when client is enabled;
 * prints why and returns -1 on failure. */
int ctl_connect(void *socket, const struct curve_client *client, const char *endpoint);
int ctl_archive(const struct config *cfg, int argc, char **argv);
int ctl_load(const struct config *cfg, int argc, char **argv);
int ctl_restore(const struct config *cfg, int argc, char **argv);
int ctl_verify(const struct config *cfg, int argc, char **argv);

/* ---- archive.c: the archive file (docs/ARCHIVE.md). */
struct archive_info {
	uint64_t count, first, last;
	char checksum[2 * 32 + 1]; /* BLAKE2b-256, hex */
};
typedef int (*archive_record_fn)(void *arg, uint64_t seq, int64_t received_ms,
    const uint8_t *bytes, size_t len);
/* Read path whole and check it: the header, records in gap-free sequence
 * order, the trailer's count, range and checksum. fn (may be NULL) sees
 * each record as it is read (before the checksum is known: check a file
 * with fn NULL first), and stops the read by returning non-zero. -1 with
 * err naming what is wrong. */
int archive_read(const char *path, archive_record_fn fn, void *arg, struct archive_info *info,
    char *err, size_t errlen);

/* ---- rebuild.c: replaying the log (and its archives) into a scratch
 * copy and comparing digests. Fills *report; returns CTL_OK when clean,
 * CTL_REFUSED when the state differs or the archives do not fit the log. */
int rebuild_check(const struct config *cfg, char *const *archives, int n_archives,
    json_t **report);

/* text (a path, a message naming one) as a JSON string: as it is when it
 * is UTF-8, which JSON must be; else with each byte past ASCII written
 * \xNN, so that a file name in another encoding is still reported. NULL
 * only when out of memory. */
json_t *ctl_json_text(const char *text);
/* Print a JSON value as one line on stdout, then flush. Returns 0 when it
 * was written, else why not (an errno: a full disk, ENOMEM). */
int ctl_print_json(json_t *json);
/* Print msg as one line of canonical proto3 JSON on stdout; returns as
 * ctl_print_json does. */
int ctl_print_message(const ProtobufCMessage *msg);
/* err is what ctl_print_json returned: when not 0, says on stderr that
 * command's output could not be written, and why, and returns -1 (the
 * command is to exit CTL_REFUSED: output cut short must not exit 0). */
int ctl_output_failed(const char *command, int err);
/* Open the store at path with cfg's sizes (a writer with sync_mode, which
 * makes no store where there is none); NULL after saying why on stderr. */
struct store *ctl_open_store(const struct config *cfg, const char *path, bool read_only,
    int sync_mode);
/* Take the lock of the commands that change the configured store into
 * *lock (store_lock_changes): rebuild and archive --prune (whole false),
 * or restore and load (true, under commissiond.lock). CTL_OK; else, after
 * saying why on stderr, CTL_STORE (no store there: whole false only) or
 * CTL_REFUSED (another holds it). */
int ctl_lock_changes(const struct config *cfg, const char *command, bool whole,
    struct store_lock **lock);
/* A usage error in command's arguments, said on stderr: argv[at] is the
 * first one too many, or, when at is argc, the one named missing is not
 * there; then usage (one line, without "usage: "). Returns CTL_USAGE. */
int ctl_usage_arguments(const char *command, const char *usage, int argc, char **argv, int at,
    const char *missing);
/* Parse a whole decimal number; -1 if it is not one. */
int ctl_parse_u64(const char *text, uint64_t *out);
/* The value text of command's numeric option --option: a whole decimal
 * number from min to max into *out; otherwise -1, after saying on stderr
 * which option, which value and what it must be. */
int ctl_option_u64(const char *command, const char *option, const char *text, uint64_t min,
    uint64_t max, uint64_t *out);

#endif
