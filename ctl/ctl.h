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

/* Exit statuses shared by every command. */
enum ctl_exit {
	CTL_OK = 0,
	CTL_REFUSED = 1,     /* something was rejected or could not be sent */
	CTL_USAGE = 2,
	CTL_UNREACHABLE = 3, /* the daemon did not answer in time */
	CTL_STORE = 4,       /* the store could not be read or written */
};

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

/* Print msg as one line of canonical proto3 JSON on stdout. */
void ctl_print_message(const ProtobufCMessage *msg);
/* Print a JSON value as one line on stdout, then flush. */
void ctl_print_json(json_t *json);
/* Parse a whole decimal number; -1 if it is not one. */
int ctl_parse_u64(const char *text, uint64_t *out);

#endif
