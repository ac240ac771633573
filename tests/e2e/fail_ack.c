/*
 * fail_ack.so: LD_PRELOADed into commissiond-hl7 by test_hl7_adapter.py.
 * The FAIL_ACK'th MLLP-framed ACK the adapter adds to a buffer
 * (evbuffer_add of data beginning "\x0bMSH") fails as if out of memory;
 * every other call goes to libevent. The adapter adds its ACKs from its
 * loop's thread only, so a plain counter does.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

struct evbuffer;

int evbuffer_add(struct evbuffer *buf, const void *data, size_t len);

int
evbuffer_add(struct evbuffer *buf, const void *data, size_t len)
{
	static int (*real)(struct evbuffer *, const void *, size_t);
	static long acks;
	const char *fail = getenv("FAIL_ACK");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "evbuffer_add");
	if (fail != NULL && len > 4 && memcmp(data, "\x0bMSH", 4) == 0 && ++acks == atol(fail))
		return -1;
	return real(buf, data, len);
}
