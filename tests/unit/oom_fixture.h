/*
 * oom_fixture.h: memory that runs out on purpose, for the unit tests.
 *
 * The countdown: a test that compiles a module's sources in defines
 * malloc, calloc, realloc (and strdup) as oom_malloc... before including
 * them, then sets oom_countdown to n so that the n-th allocation from
 * there fails (0: none does); oom_failed says whether one did.
 *
 * no_memory: a ProtobufCAllocator that never has memory to give.
 */
#ifndef OOM_FIXTURE_H
#define OOM_FIXTURE_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

static long oom_countdown;
static bool oom_failed;

static inline bool
oom_now(void)
{
	if (oom_countdown > 0 && --oom_countdown == 0) {
		oom_failed = true;
		return true;
	}
	return false;
}

static inline void *
oom_malloc(size_t n)
{
	return oom_now() ? NULL : malloc(n);
}

static inline void *
oom_calloc(size_t n, size_t size)
{
	return oom_now() ? NULL : calloc(n, size);
}

static inline void *
oom_realloc(void *p, size_t n)
{
	return oom_now() ? NULL : realloc(p, n);
}

static inline char *
oom_strdup(const char *s)
{
	return oom_now() ? NULL : strdup(s);
}

static inline void *
no_memory_alloc(void *data, size_t size)
{
	(void)data;
	(void)size;
	return NULL;
}

static inline void
no_memory_free(void *data, void *pointer)
{
	(void)data;
	free(pointer); /* NULL: nothing was ever given */
}

#define NO_MEMORY_ALLOCATOR { no_memory_alloc, no_memory_free, NULL }

#endif
