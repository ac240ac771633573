/*
 * fail_json.so: LD_PRELOADed into commissiond or commissionctl by the tests.
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

/* When the file FAIL_JSON_SET_FILE names appears, it is removed and the
 * next json_object_set_new() of a whole area's figures (an object with
 * "unmapped", as figures_begin makes) fails as jansson's does for want of
 * memory: the value is released, -1 returned. */
int
json_object_set_new(json_t *object, const char *key, json_t *value)
{
	static int (*real)(json_t *, const char *, json_t *);
	const char *trigger = getenv("FAIL_JSON_SET_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_object_set_new");
	if (trigger != NULL && json_is_object(value) &&
	    json_object_get(value, "unmapped") != NULL && unlink(trigger) == 0) {
		json_decref(value);
		return -1;
	}
	return real(object, key, value);
}

/* When the file FAIL_JSON_APPEND_FILE names appears, it is removed and the
 * next json_array_append_new() of a conflict alert (an object with
 * "decision_maker") held elsewhere too (a list cut from another, as the
 * alerts a batch raised are) fails as jansson's does for want of memory:
 * the reference given is released, -1 returned. */
int
json_array_append_new(json_t *array, json_t *value)
{
	static int (*real)(json_t *, json_t *);
	const char *trigger = getenv("FAIL_JSON_APPEND_FILE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "json_array_append_new");
	if (trigger != NULL && json_is_object(value) && value->refcount > 1 &&
	    json_object_get(value, "decision_maker") != NULL && unlink(trigger) == 0) {
		json_decref(value);
		return -1;
	}
	return real(array, value);
}
