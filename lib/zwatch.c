/*
 * zwatch: joins a ZeroMQ socket to libevent through ZMQ_FD. Owns the event;
 * the socket stays its caller's.
 */
#include <stdlib.h>

#include <zmq.h>

#include "log.h"
#include "zwatch.h"

struct zwatch {
	void *socket;
	struct event *ev;    /* ZMQ_FD readable */
	struct event *again; /* input still waits: a turn of the loop from now */
	zwatch_fn on_readable;
	void *arg;
	bool held;
};

static bool
zwatch_readable(struct zwatch *watch)
{
	int events = 0;
	size_t len = sizeof(events);

	if (zmq_getsockopt(watch->socket, ZMQ_EVENTS, &events, &len) < 0) {
		log_warning("zmq_getsockopt(ZMQ_EVENTS): %s", zmq_strerror(zmq_errno()));
		return false;
	}
	return (events & ZMQ_POLLIN) != 0;
}

void
zwatch_kick(struct zwatch *watch)
{
	static const struct timeval now = { 0, 0 };

	/* A timer, not event_active: an event made active from a callback
	 * runs in the same pass over the active events, before the loop
	 * polls again, so a socket that always has input (an adapter's
	 * backlog) would starve every other socket, HTTP, the signals and the
	 * watchdog's timer. Timers fall due only after the loop has polled. */
	if (!watch->held && !evtimer_pending(watch->again, NULL) && zwatch_readable(watch))
		evtimer_add(watch->again, &now);
}

void
zwatch_hold(struct zwatch *watch, bool hold)
{
	watch->held = hold;
	zwatch_kick(watch);
}

/* ZMQ_FD readable, or the timer of zwatch_kick. */
static void
zwatch_on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct zwatch *watch = arg;

	(void)fd;
	(void)what;
	if (watch->held)
		return;
	if (zwatch_readable(watch))
		watch->on_readable(watch->arg);
	zwatch_kick(watch);
}

struct zwatch *
zwatch_new(struct event_base *base, void *socket, zwatch_fn on_readable, void *arg)
{
	struct zwatch *watch;
	int fd;
	size_t len = sizeof(fd);

	if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0)
		return NULL;
	watch = calloc(1, sizeof(*watch));
	if (watch == NULL)
		return NULL;
	watch->socket = socket;
	watch->on_readable = on_readable;
	watch->arg = arg;
	watch->ev = event_new(base, fd, EV_READ | EV_PERSIST, zwatch_on_fd, watch);
	watch->again = evtimer_new(base, zwatch_on_fd, watch);
	if (watch->ev == NULL || watch->again == NULL || event_add(watch->ev, NULL) < 0) {
		if (watch->ev != NULL)
			event_free(watch->ev);
		if (watch->again != NULL)
			event_free(watch->again);
		free(watch);
		return NULL;
	}
	zwatch_kick(watch);
	return watch;
}

void
zwatch_destroy(struct zwatch **watchp)
{
	struct zwatch *watch = *watchp;

	if (watch == NULL)
		return;
	event_free(watch->ev);
	event_free(watch->again);
	free(watch);
	*watchp = NULL;
}
