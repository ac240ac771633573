/*
 * sighup: SIGHUP held back while a process starts. Its default action is
 * to terminate, and a daemon installs its reload handler only once it has
 * started: a `systemctl reload` during a slow start (a store migration, an
 * outbox recovering its log) would kill it. Held from the first line of
 * main until the handler is in place, it is handled then, and the file is
 * read as it then stands. Threads started meanwhile keep it held, so that
 * it comes to the thread that runs the loop.
 */
#ifndef SIGHUP_H
#define SIGHUP_H

#include <stdbool.h>

/* Hold SIGHUP back (hold true) or let it through, in the calling thread;
 * exits through fatal() if the mask cannot be changed. */
void sighup_hold(bool hold);

#endif
