/*
 * service: what systemd is told through sd_notify (a no-op without
 * NOTIFY_SOCKET): STATUS= lines through start-up, READY=1 once the store is
 * open and every socket bound, a periodic STATUS with the ingest rate, the
 * watchdog ping from the loop itself, STOPPING=1. Owns the two timers.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "commissiond.h"
#include "log.h"

#define SERVICE_STATUS_SECONDS 5

struct service {
	struct store *store;
	struct stream *stream;
	struct event *watchdog, *status;
	uint64_t last_events;
	double last_at;
};

void
service_status(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", text);
}

static void
service_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* Sent from the loop itself: a stuck loop stops the pings and systemd
	 * restarts the service. */
	sd_notify(0, "WATCHDOG=1");
}

static void
service_on_status(evutil_socket_t fd, short what, void *arg)
{
	struct service *s = arg;
	struct store_counts c;
	double now = clock_monotonic_seconds();

	(void)fd;
	(void)what;
	/* The rate-limited log's counts of what it held back, now and then. */
	log_flush_suppressed(false);
	if (store_read_counts(s->store, &c) != STORE_OK)
		return;
	service_status("ingesting: %.1f events/s, %" PRIu64 " events stored, %zu stream "
		       "client(s)",
	    now > s->last_at ? (double)(c.last_event_sequence - s->last_events) / (now - s->last_at)
			     : 0.0,
	    c.last_event_sequence, s->stream != NULL ? stream_clients(s->stream) : 0);
	s->last_events = c.last_event_sequence;
	s->last_at = now;
}

struct service *
service_new(struct event_base *base, struct store *store)
{
	struct service *s = calloc(1, sizeof(*s));
	struct timeval every = { SERVICE_STATUS_SECONDS, 0 };
	uint64_t watchdog_usec = 0;

	if (s == NULL)
		return NULL;
	s->store = store;
	s->status = event_new(base, -1, EV_PERSIST, service_on_status, s);
	if (s->status == NULL || event_add(s->status, &every) < 0)
		goto fail;
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
		struct timeval half = { (time_t)(watchdog_usec / 2000000),
			(suseconds_t)(watchdog_usec / 2 % 1000000) };
		s->watchdog = event_new(base, -1, EV_PERSIST, service_on_watchdog, NULL);
		if (s->watchdog == NULL || event_add(s->watchdog, &half) < 0)
			goto fail;
	}
	return s;
fail:
	service_destroy(&s);
	return NULL;
}

void
service_watch_stream(struct service *s, struct stream *stream)
{
	s->stream = stream;
}

void
service_ready(struct service *s)
{
	struct store_counts c = { 0 };

	store_read_counts(s->store, &c);
	s->last_events = c.last_event_sequence;
	s->last_at = clock_monotonic_seconds();
	sd_notifyf(0, "READY=1\nSTATUS=ready: %" PRIu64 " events, serving",
	    c.last_event_sequence);
}

void
service_stopping(struct service *s)
{
	(void)s;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the batch in hand");
}

void
service_destroy(struct service **sp)
{
	struct service *s = *sp;

	if (s == NULL)
		return;
	if (s->watchdog != NULL)
		event_free(s->watchdog);
	if (s->status != NULL)
		event_free(s->status);
	free(s);
	*sp = NULL;
}
