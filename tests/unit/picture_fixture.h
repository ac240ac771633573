/* picture_fixture: the store and picture in memory for the projections' unit
 * tests: events packed, histories kept per thing as ingest does, figures read. */
#ifndef PICTURE_FIXTURE_H
#define PICTURE_FIXTURE_H

/*
 * Header only, every function static inline, so each test binary takes
 * what it uses and the Makefile knows nothing of it. Include it after
 * <cmocka.h>: the fixture fails the test through cmocka's asserts.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "envelope_json.h"
#include "pbjson.h"
#include "projections.h"

/* ------------------------------------------------------------ events */

struct packed {
	uint8_t *bytes;
	size_t len;
};

/* The events of a case, packed, so they can be put in any order. */
struct events {
	struct packed *item;
	size_t n, cap;
	int next_id; /* the last fresh event id handed out */
};

static inline void
events_push(struct events *ev, const ProtobufCMessage *msg)
{
	struct packed *p;

	if (ev->n == ev->cap) {
		ev->cap = ev->cap ? ev->cap * 2 : 64;
		ev->item = realloc(ev->item, ev->cap * sizeof(*ev->item));
		assert_non_null(ev->item);
	}
	p = &ev->item[ev->n++];
	p->len = protobuf_c_message_get_packed_size(msg);
	p->bytes = malloc(p->len ? p->len : 1);
	assert_non_null(p->bytes);
	p->len = protobuf_c_message_pack(msg, p->bytes);
}

/* env sent by source as event_id at at_ms. A NULL event_id takes a fresh
 * one, T0001 on, so a case written twice in two orders numbers each
 * arrival anew and only occurred_at orders them. */
static inline void
events_add(struct events *ev, Commissioning__Envelope *env, const char *source,
    const char *event_id, int64_t at_ms)
{
	char fresh[16];

	if (event_id == NULL) {
		snprintf(fresh, sizeof(fresh), "T%04d", ++ev->next_id);
		event_id = fresh;
	}
	env->source = (char *)source;
	env->event_id = (char *)event_id;
	env->occurred_at = at_ms;
	events_push(ev, &env->base);
}

/* An envelope written as proto3 JSON, as the examples and sample days are. */
static inline void
events_add_json(struct events *ev, const char *text)
{
	Commissioning__Envelope *env = envelope_of_json(text);

	events_push(ev, &env->base);
	protobuf_c_message_free_unpacked(&env->base, NULL);
}

static inline void
events_free(struct events *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		free(ev->item[i].bytes);
	free(ev->item);
	memset(ev, 0, sizeof(*ev));
}

/* ------------------------------------------------------------ arrival orders */

/* order[] as the n events were sent, or backwards. */
static inline void
order_fill(size_t *order, size_t n, bool reversed)
{
	for (size_t i = 0; i < n; i++)
		order[i] = reversed ? n - 1 - i : i;
}

/* A new order of n events, filled as order_fill does; the caller frees it. */
static inline size_t *
order_new(size_t n, bool reversed)
{
	size_t *order = malloc((n ? n : 1) * sizeof(*order));

	assert_non_null(order);
	order_fill(order, n, reversed);
	return order;
}

/* A reproducible shuffle (Fisher-Yates over a fixed LCG); *seed moves on,
 * so shuffling again gives the next order. */
static inline void
order_shuffle(size_t *order, size_t n, uint64_t *seed)
{
	for (size_t i = n; i > 1; i--) {
		*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t j = (size_t)((*seed >> 33) % i);
		size_t tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
}

/* ------------------------------------------------------------ a store in memory */

/* One packed History per thing, as the store's state table keeps them. */
struct stored {
	struct thing_key key;
	uint8_t *bytes;
	size_t len;
};

struct histories {
	struct stored *item;
	size_t n, cap;
};

/* The history of key; a thing not seen yet gets an empty one, as it
 * does in the store. */
static inline struct stored *
histories_find(struct histories *h, const struct thing_key *key)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->item[i].key.len == key->len &&
		    memcmp(h->item[i].key.bytes, key->bytes, key->len) == 0)
			return &h->item[i];
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->item = realloc(h->item, h->cap * sizeof(*h->item));
		assert_non_null(h->item);
	}
	h->item[h->n] = (struct stored){.key = *key};
	return &h->item[h->n++];
}

/* What the ingest transaction does with one accepted event. */
static inline void
histories_put(struct histories *h, const uint8_t *bytes, size_t len)
{
	Commissioning__Envelope *env = commissioning__envelope__unpack(NULL, len, bytes);
	uint8_t stack[512];
	ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(stack);
	struct thing_key key;
	struct stored *s;

	assert_non_null(env);
	assert_int_equal(thing_key_of(env, &key), 0);
	s = histories_find(h, &key);
	assert_int_equal(history_insert(&key, s->bytes, s->len, env, bytes, len, &out.base), 0);
	free(s->bytes);
	s->bytes = malloc(out.len ? out.len : 1);
	assert_non_null(s->bytes);
	memcpy(s->bytes, out.data, out.len);
	s->len = out.len;
	PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
	commissioning__envelope__free_unpacked(env, NULL);
}

/* Every event of ev, arriving in order[] (their own order when NULL). */
static inline void
histories_load(struct histories *h, const struct events *ev, const size_t *order)
{
	for (size_t i = 0; i < ev->n; i++) {
		const struct packed *p = &ev->item[order != NULL ? order[i] : i];

		histories_put(h, p->bytes, p->len);
	}
}

static inline void
histories_free(struct histories *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->item[i].bytes);
	free(h->item);
	memset(h, 0, sizeof(*h));
}

/* ------------------------------------------------------------ the picture */

/* A sealed picture of h. The store hands histories over in key order;
 * reversed hands them over backwards, to show the picture does not care. */
static inline struct picture *
picture_of(const struct histories *h, bool reversed)
{
	struct picture *p = picture_new();

	assert_non_null(p);
	for (size_t i = 0; i < h->n; i++) {
		const struct stored *s = &h->item[reversed ? h->n - 1 - i : i];

		assert_int_equal(picture_add_history(p, s->key.bytes, s->key.len, s->bytes, s->len),
		    0);
	}
	picture_seal(p);
	return p;
}

/* The figures of area as of as_of_ms, the events arriving in order[] (their
 * own order when NULL) and their histories handed over as picture_of does. */
static inline json_t *
figures_of(const struct events *ev, const size_t *order, bool reversed, const char *area,
    int64_t as_of_ms)
{
	struct histories h = {.n = 0};
	struct picture *p;
	json_t *figures;

	histories_load(&h, ev, order);
	p = picture_of(&h, reversed);
	figures = picture_figures(p, area, as_of_ms);
	assert_non_null(figures);
	picture_destroy(&p);
	histories_free(&h);
	return figures;
}

/* DOMAIN.md, Order and repetition: the figures of ev in five shuffled
 * arrival orders are those of expected, to the byte. */
static inline void
figures_check_shuffled(const struct events *ev, json_t *expected, const char *area,
    int64_t as_of_ms)
{
	size_t *order = order_new(ev->n, false);
	char *first = json_dumps(expected, JSON_COMPACT), *again;
	json_t *f;

	assert_non_null(first);
	for (uint64_t seed = 1; seed <= 5; seed++) {
		uint64_t state = seed; /* a fixed shuffle per seed */

		order_fill(order, ev->n, false);
		order_shuffle(order, ev->n, &state);
		f = figures_of(ev, order, true, area, as_of_ms);
		again = json_dumps(f, JSON_COMPACT);
		assert_string_equal(first, again);
		free(again);
		json_decref(f);
	}
	free(first);
	free(order);
}

/* ------------------------------------------------------------ building events */

/* The ms of hour:00 UTC on a date. */
static inline int64_t
ms_of(int year, int month, int day, int hour)
{
	return (int64_t)dates_day_from_civil(year, month, day) * 86400000LL +
	       (int64_t)hour * 3600000LL;
}

/* A pseudonym of 32 fill bytes, kept in storage. */
static inline ProtobufCBinaryData
pseudonym(uint8_t storage[32], uint8_t fill)
{
	memset(storage, fill, 32);
	return (ProtobufCBinaryData){32, storage};
}

/* The hex of a pseudonym made by pseudonym(fill). */
static inline void
hex_of(uint8_t fill, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", fill);
}

/* The patient class of an HL7 letter (I, E, O, P, R, B, U). */
static inline Commissioning__PatientClass
class_of(char letter)
{
	static const struct {
		char letter;
		Commissioning__PatientClass value;
	} classes[] = {
	    {'I', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_INPATIENT},
	    {'E', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_EMERGENCY},
	    {'O', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OUTPATIENT},
	    {'P', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_PREADMIT},
	    {'R', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_RECURRING},
	    {'B', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_OBSTETRICS},
	    {'U', COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_UNKNOWN},
	};

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].letter == letter)
			return classes[i].value;
	return COMMISSIONING__PATIENT_CLASS__PATIENT_CLASS_UNSPECIFIED;
}

/* An organisation registered under parent (NULL: none). The source is the
 * caller's: it orders events of one time, and tests keep their own. */
static inline void
org(struct events *ev, const char *source, const char *event_id, int64_t at_ms, const char *code,
    Commissioning__OrgRole role, const char *parent)
{
	Commissioning__Envelope env = COMMISSIONING__ENVELOPE__INIT;
	Commissioning__Organisation o = COMMISSIONING__ORGANISATION__INIT;

	o.code = (char *)code;
	o.role = role;
	o.parent_code = (char *)(parent != NULL ? parent : "");
	env.event_case = COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED;
	env.organisation_registered = &o;
	events_add(ev, &env, source, event_id, at_ms);
}

/* ------------------------------------------------------------ reading figures */

/* root at a dotted path ("flow.providers.RAA.in_hospital"), or NULL. */
static inline json_t *
at_path(json_t *root, const char *path)
{
	char buf[256];
	char *save = NULL;

	assert_true(strlen(path) < sizeof(buf));
	strcpy(buf, path);
	for (char *key = strtok_r(buf, ".", &save); key != NULL && root != NULL;
	     key = strtok_r(NULL, ".", &save))
		root = json_object_get(root, key);
	return root;
}

/* The count at path; a count left out is 0. */
static inline json_int_t
count_at(json_t *root, const char *path)
{
	json_t *v = at_path(root, path);

	if (v == NULL)
		return 0;
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static inline bool
list_has_string(json_t *list, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* Whether code is among the figures' unmapped codes. */
static inline bool
unmapped_has(json_t *root, const char *code)
{
	return list_has_string(json_object_get(root, "unmapped"), code);
}

#endif /* PICTURE_FIXTURE_H */
