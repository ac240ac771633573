/*
 * fail_json.so: LD_PRELOADed into commissiond by test_live_memory.py.
 * When the file FAIL_JSON_FILE names appears, it is removed and the next
 * json_object() (jansson's, as every area's figures begin with one) finds
 * no memory and returns NULL. Every other call goes to jansson as it is.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

json_t *
json_object(void)
{
	static json_t *(*real)(void);
	const char *trigger = getenv("FAIL_JSON_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_object");
	if (trigger != NULL && unlink(trigger) == 0)
		return NULL;
	return real();
}
