/*
 * fail_loop.so: LD_PRELOADed into commissiond or an adapter by
 * test_faults.py. When the file FAIL_LOOP_FILE names appears, it is
 * removed and the main thread's next epoll_wait fails with EBADF, as an
 * event loop whose epoll descriptor was lost would: libevent's loop then
 * returns -1. ZeroMQ's own threads, and every other call, are let be.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	static int (*real)(int, struct epoll_event *, int, int);
	const char *trigger = getenv("FAIL_LOOP_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "epoll_wait");
	if (trigger != NULL && syscall(SYS_gettid) == getpid() && unlink(trigger) == 0) {
		errno = EBADF;
		return -1;
	}
	return real(epfd, events, maxevents, timeout);
}
