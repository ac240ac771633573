/*
 * adapter: what commissiond-hl7 and commissiond-spool share: options and
 * config, the keygen command, the pseudonymiser, the outbox and its
 * delivery to commissiond, signals and systemd notification. Each adapter
 * adds only its source side (struct adapter_spec).
 */
#ifndef ADAPTER_H
#define ADAPTER_H

#include <event2/event.h>

#include "client.h"
#include "config.h"
#include "outbox.h"
#include "pseudonym.h"

struct adapter {
	const struct config *cfg;
	struct event_base *base;
	void *zmq_ctx;
	struct pseudonymiser *pseudonymiser;
	struct outbox *outbox;
	struct client *client;
	void *source; /* the adapter's own state */
	/* The puts in flight on the outbox's threads (adapter_put_start),
	 * oldest first from put_head: whom to tell when each is done. */
	struct event *put_done;
	struct adapter_put_waiter {
		void (*fn)(void *arg, enum outbox_result r);
		void *arg;
	} put_waiters[OUTBOX_PIPELINE];
	size_t put_head, n_puts;
};

struct adapter_spec {
	const char *name;	   /* "commissiond-hl7" */
	const char *summary;	   /* one line for --help */
	const char *(*outbox_path)(const struct config *cfg);
	/* Start the source side (bind, watch); -1 with err. */
	int (*start)(struct adapter *a, char *err, size_t errlen);
	/* Stop taking input (signal); what was taken is in the outbox. */
	void (*stop)(struct adapter *a);
	/* Free the source side. */
	void (*destroy)(struct adapter *a);
};

/* The whole program: parse argv, run until SIGTERM/SIGINT, return the exit
 * status. Also answers "keygen FILE" and "--print-config". */
int adapter_main(int argc, char **argv, const struct adapter_spec *spec);

/* Make items durable in the outbox and start delivering them. */
enum outbox_result adapter_put(struct adapter *a, const struct outbox_item *items, size_t n);

/*
 * The same without waiting for the fsync: the commit runs on the outbox's
 * threads while the loop goes on, and done(arg, result) is called from the
 * loop once it is over (OUTBOX_OK: durable, the source may be answered).
 * Up to OUTBOX_PIPELINE at once, done in the order started; OUTBOX_BUSY
 * (nothing started, nothing logged) when this one must wait for those in
 * flight: start it again from a done. items must stay untouched until
 * their done.
 */
enum outbox_result adapter_put_start(struct adapter *a, const struct outbox_item *items,
    size_t n, void (*done)(void *arg, enum outbox_result r), void *arg);
/* Whether another put may start now (outbox_put_room). */
bool adapter_put_room(const struct adapter *a);
/* Wait for every put in flight and call their dones (at shutdown). */
void adapter_put_wait(struct adapter *a);

#endif
