/*
 * zwatch: a ZeroMQ socket in a libevent loop. ZMQ_FD is edge-triggered:
 * after every callback and every send or receive the socket's ZMQ_EVENTS
 * must be read again, or the loop stalls. zwatch does that.
 */
#ifndef ZWATCH_H
#define ZWATCH_H

#include <stdbool.h>

#include <event2/event.h>

struct zwatch;
typedef void (*zwatch_fn)(void *arg);

/* Call on_readable(arg) whenever socket has input; NULL on failure. */
struct zwatch *zwatch_new(struct event_base *base, void *socket, zwatch_fn on_readable,
    void *arg);
void zwatch_destroy(struct zwatch **watch);
/* Schedule on_readable again if the socket has input waiting (after a
 * send or receive made outside the callback): at the next turn of the
 * loop, after it has polled every other source, so that a socket that
 * always has input never starves the rest. */
void zwatch_kick(struct zwatch *watch);
/* Held, on_readable is not called, whatever waits; let go, it is again
 * (at once if input waits). */
void zwatch_hold(struct zwatch *watch, bool hold);

#endif
