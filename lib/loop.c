/*
 * loop: event_base_dispatch's three endings, the two failures logged.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "loop.h"

int
loop_run(struct event_base *base)
{
	int rc;

	errno = 0;
	rc = event_base_dispatch(base);
	if (rc < 0) {
		log_error("the event loop failed (%s); exiting so that the service manager "
			  "starts the program again",
		    errno != 0 ? strerror(errno) : "libevent's backend failed");
		return -1;
	}
	if (rc > 0 && !event_base_got_break(base)) {
		log_error("the event loop ended with nothing left to wait for; exiting so that "
			  "the service manager starts the program again");
		return -1;
	}
	return 0;
}
