/*
 * sighup: SIGHUP held back while a process starts (sighup.h).
 */
#include <pthread.h>
#include <signal.h>

#include "log.h"
#include "sighup.h"

void
sighup_hold(bool hold)
{
	sigset_t hup;

	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	if (pthread_sigmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &hup, NULL) != 0)
		fatal("cannot %s SIGHUP", hold ? "hold back" : "let through");
}
