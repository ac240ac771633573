/*
 * loop: a program's event loop run to its end, told apart from a failure.
 * A loop stopped by the program (SIGTERM: event_base_loopbreak) is a clean
 * stop; one that libevent ended itself (its backend failed, or nothing was
 * left to wait for) is not, and the program must exit non-zero so that
 * its service manager (Restart=on-failure) starts it again.
 */
#ifndef LOOP_H
#define LOOP_H

#include <event2/event.h>

/* Run base until it stops: 0 when the program broke it; -1, said, when
 * libevent ended it. */
int loop_run(struct event_base *base);

#endif
