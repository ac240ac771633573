/*
 * history: the write side of the projections. Which thing an event
 * concerns, and the sorted set of a thing's events (DOMAIN.md, Order and
 * repetition).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projections.h"
#include "text.h"

static const struct {
	enum thing_kind kind;
	const char *name;
} thing_kinds[] = {
	{ THING_ORGANISATION, "organisation" }, { THING_SERVICE, "service" },
	{ THING_CONTRACT, "contract" }, { THING_SPEND, "spend" }, { THING_BUDGET, "budget" },
	{ THING_SPELL, "spell" }, { THING_READY, "ready_for_discharge" },
	{ THING_PACKAGE, "care_package" }, { THING_CAPACITY, "capacity_line" },
	{ THING_DECLARATION, "declaration" },
};

const char *
thing_kind_name(int kind)
{
	for (size_t i = 0; i < sizeof(thing_kinds) / sizeof(thing_kinds[0]); i++)
		if ((int)thing_kinds[i].kind == kind)
			return thing_kinds[i].name;
	return NULL;
}

static void
key_begin(struct thing_key *key, enum thing_kind kind)
{
	key->bytes[0] = (uint8_t)kind;
	key->len = 1;
}

int
thing_key_add_part(struct thing_key *key, const char *part)
{
	size_t n = strlen(part);

	if (key->len + n + 1 > sizeof(key->bytes))
		return -1;
	memcpy(key->bytes + key->len, part, n + 1);
	key->len += n + 1;
	return 0;
}

void
pseudonym_hex(const ProtobufCBinaryData *pseudonym, char out[65])
{
	/* Each byte's two digits: a copy a byte, on every event with a patient. */
	static const char pairs[513] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
	/* In locals: out is a char *, which may alias pseudonym, so the
	 * compiler would read pseudonym->data again for every byte. */
	const uint8_t *data = pseudonym->data;
	size_t n = pseudonym->len < 32 ? pseudonym->len : 32;

	for (size_t i = 0; i < n; i++)
		memcpy(out + 2 * i, pairs + 2 * data[i], 2);
	out[2 * n] = '\0';
}

int
pseudonym_from_hex(const char *hex, uint8_t out[32])
{
	/* Not libsodium's sodium_hex2bin: constant time, it costs some 2,400
	 * instructions a pseudonym, and these are pseudonyms already known. */
	for (size_t i = 0; i < 32; i++) {
		int hi = text_hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : text_hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[64] == '\0' ? 0 : -1;
}

static const char *
enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v != NULL ? v->name : "?";
}

int
thing_key_of(const Commissioning__Envelope *env, struct thing_key *key)
{
	char hex[65];
	int rc;

	switch (env->event_case) {
	case COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED:
	case COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_UPDATED: {
		const Commissioning__Organisation *o = env->event_case ==
			COMMISSIONING__ENVELOPE__EVENT_ORGANISATION_REGISTERED
		    ? env->organisation_registered
		    : env->organisation_updated;
		key_begin(key, THING_ORGANISATION);
		return thing_key_add_part(key, o->code);
	}
	case COMMISSIONING__ENVELOPE__EVENT_SERVICE_STATUS_CHANGED:
		key_begin(key, THING_SERVICE);
		return thing_key_add_part(key, env->service_status_changed->service_id);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_AWARDED:
		key_begin(key, THING_CONTRACT);
		return thing_key_add_part(key, env->contract_awarded->contract_id);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_VARIED:
		key_begin(key, THING_CONTRACT);
		return thing_key_add_part(key, env->contract_varied->contract_id);
	case COMMISSIONING__ENVELOPE__EVENT_CONTRACT_TERMINATED:
		key_begin(key, THING_CONTRACT);
		return thing_key_add_part(key, env->contract_terminated->contract_id);
	case COMMISSIONING__ENVELOPE__EVENT_SPEND_RECORDED:
		key_begin(key, THING_SPEND);
		rc = thing_key_add_part(key, env->spend_recorded->contract_id);
		return rc < 0 ? rc : thing_key_add_part(key, env->spend_recorded->period);
	case COMMISSIONING__ENVELOPE__EVENT_BUDGET_ALLOCATED: {
		const Commissioning__BudgetAllocated *b = env->budget_allocated;
		key_begin(key, THING_BUDGET);
		if (thing_key_add_part(key, b->commissioner) < 0 || thing_key_add_part(key, b->financial_year) < 0)
			return -1;
		return thing_key_add_part(key, enum_name(&commissioning__budget_pool__descriptor, (int)b->pool));
	}
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_ADMITTED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_TRANSFERRED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_DISCHARGED:
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_UPDATED: {
		/* The four movements share one message, in the same union slot. */
		const Commissioning__PatientMovement *m = env->patient_admitted;
		key_begin(key, THING_SPELL);
		pseudonym_hex(&m->spell_pseudonym, hex);
		return thing_key_add_part(key, m->provider) < 0 ? -1 : thing_key_add_part(key, hex);
	}
	case COMMISSIONING__ENVELOPE__EVENT_PATIENT_CANCELLED:
		key_begin(key, THING_SPELL);
		pseudonym_hex(&env->patient_cancelled->spell_pseudonym, hex);
		return thing_key_add_part(key, env->patient_cancelled->provider) < 0 ? -1 : thing_key_add_part(key, hex);
	case COMMISSIONING__ENVELOPE__EVENT_READY_FOR_DISCHARGE:
		key_begin(key, THING_READY);
		pseudonym_hex(&env->ready_for_discharge->patient_pseudonym, hex);
		return thing_key_add_part(key, hex) < 0 ? -1 : thing_key_add_part(key, env->ready_for_discharge->provider);
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_STARTED:
	case COMMISSIONING__ENVELOPE__EVENT_CARE_PACKAGE_ENDED: {
		const Commissioning__CarePackage *p = env->care_package_started;
		key_begin(key, THING_PACKAGE);
		return thing_key_add_part(key, p->council) < 0 ? -1 : thing_key_add_part(key, p->package_id);
	}
	case COMMISSIONING__ENVELOPE__EVENT_CAPACITY_REPORTED: {
		const Commissioning__CapacityReported *c = env->capacity_reported;
		key_begin(key, THING_CAPACITY);
		if (thing_key_add_part(key, c->organisation) < 0)
			return -1;
		return thing_key_add_part(key, enum_name(&commissioning__sector__descriptor, (int)c->sector));
	}
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_DECLARED:
		key_begin(key, THING_DECLARATION);
		return thing_key_add_part(key, env->interest_declared->declaration_id);
	case COMMISSIONING__ENVELOPE__EVENT_INTEREST_WITHDRAWN:
		key_begin(key, THING_DECLARATION);
		return thing_key_add_part(key, env->interest_withdrawn->declaration_id);
	default:
		return -1;
	}
}

static int
order_fields(int64_t at_a, const char *source_a, const char *id_a, int64_t at_b,
    const char *source_b, const char *id_b)
{
	int c;

	if (at_a != at_b)
		return at_a < at_b ? -1 : 1;
	if ((c = strcmp(source_a, source_b)) != 0)
		return c;
	return strcmp(id_a, id_b);
}

int
event_order(const Commissioning__Envelope *a, const Commissioning__Envelope *b)
{
	return order_fields(a->occurred_at, a->source, a->event_id, b->occurred_at, b->source,
	    b->event_id);
}

static int
entry_order(const Commissioning__HistoryEntry *a, const Commissioning__HistoryEntry *b)
{
	return order_fields(a->occurred_at, a->source, a->event_id, b->occurred_at, b->source,
	    b->event_id);
}

/* The capacity report's own time decides which stands; fold order breaks ties. */
static int
capacity_order(const Commissioning__HistoryEntry *a, const Commissioning__HistoryEntry *b)
{
	Commissioning__Envelope *ea, *eb;
	int c = 0;

	ea = commissioning__envelope__unpack(NULL, a->envelope.len, a->envelope.data);
	eb = commissioning__envelope__unpack(NULL, b->envelope.len, b->envelope.data);
	if (ea != NULL && eb != NULL && ea->capacity_reported != NULL && eb->capacity_reported != NULL &&
	    ea->capacity_reported->as_of != eb->capacity_reported->as_of)
		c = ea->capacity_reported->as_of < eb->capacity_reported->as_of ? -1 : 1;
	if (ea != NULL)
		commissioning__envelope__free_unpacked(ea, NULL);
	if (eb != NULL)
		commissioning__envelope__free_unpacked(eb, NULL);
	return c != 0 ? c : entry_order(a, b);
}

/* Where entry goes among the n sorted entries: before the first that does
 * not sort before it. */
static size_t
history_position(Commissioning__HistoryEntry *const *entries, size_t n,
    const Commissioning__HistoryEntry *entry)
{
	for (size_t at = 0; at < n; at++)
		if (entry_order(entries[at], entry) >= 0)
			return at;
	return n;
}

/* Things where one event stands: their history keeps just that one. */
static int (*last_stands_order(enum thing_kind kind))(const Commissioning__HistoryEntry *,
    const Commissioning__HistoryEntry *)
{
	switch (kind) {
	case THING_ORGANISATION:
	case THING_BUDGET:
	case THING_SPEND:
		return entry_order;
	case THING_CAPACITY:
		return capacity_order;
	default:
		return NULL;
	}
}

/*
 * Pack history into out whole, or say it could not: protobuf-c's simple
 * buffer drops an append it cannot grow for and says nothing (a later,
 * smaller piece may then land where the lost one belonged), and a history
 * cut short would be stored as the thing's. -1 when out of memory.
 */
static int
history_pack(const Commissioning__History *history, ProtobufCBuffer *out)
{
	size_t size = protobuf_c_message_get_packed_size(&history->base), before = 0;
	ProtobufCBufferSimple *simple = NULL;

	if (out->append == protobuf_c_buffer_simple_append) {
		simple = (ProtobufCBufferSimple *)out;
		before = simple->len;
	}
	if (protobuf_c_message_pack_to_buffer(&history->base, out) != size)
		return -1;
	return simple != NULL && simple->len != before + size ? -1 : 0;
}

int
history_insert_into(const struct thing_key *key, const Commissioning__History *old,
    const Commissioning__Envelope *env, const uint8_t *env_bytes, size_t env_len,
    ProtobufCBuffer *out)
{
	Commissioning__History empty = COMMISSIONING__HISTORY__INIT, fresh;
	Commissioning__HistoryEntry entry = COMMISSIONING__HISTORY_ENTRY__INIT;
	Commissioning__HistoryEntry *stack[64], **entries = stack;
	const Commissioning__History *history = old != NULL ? old : &empty;
	int (*stands)(const Commissioning__HistoryEntry *, const Commissioning__HistoryEntry *);
	size_t n = 0, at;
	int rc;

	entry.occurred_at = env->occurred_at;
	entry.source = env->source;
	entry.event_id = env->event_id;
	entry.envelope.data = (uint8_t *)env_bytes;
	entry.envelope.len = env_len;
	if (history->n_entries + 1 > sizeof(stack) / sizeof(stack[0])) {
		entries = malloc((history->n_entries + 1) * sizeof(*entries));
		if (entries == NULL)
			return -1;
	}
	stands = last_stands_order((enum thing_kind)key->bytes[0]);
	if (stands != NULL) {
		/* Keep whichever stands of the stored one and the new one. */
		entries[n++] = history->n_entries > 0 && stands(history->entries[0], &entry) > 0
		    ? history->entries[0]
		    : &entry;
	} else {
		at = history_position(history->entries, history->n_entries, &entry);
		for (size_t i = 0; i < history->n_entries; i++) {
			Commissioning__HistoryEntry *e = history->entries[i];
			if (i == at)
				entries[n++] = &entry;
			/* The same (source, event_id) is the same event. */
			if (strcmp(e->source, entry.source) == 0 &&
			    strcmp(e->event_id, entry.event_id) == 0)
				continue;
			entries[n++] = e;
		}
		if (at == history->n_entries)
			entries[n++] = &entry;
	}
	commissioning__history__init(&fresh);
	fresh.n_entries = n;
	fresh.entries = entries;
	rc = history_pack(&fresh, out);
	if (entries != stack)
		free(entries);
	return rc;
}

int
history_insert(const struct thing_key *key, const uint8_t *old, size_t old_len,
    const Commissioning__Envelope *env, const uint8_t *env_bytes, size_t env_len,
    ProtobufCBuffer *out)
{
	Commissioning__History *history = NULL;
	int rc;

	if (old != NULL && old_len > 0) {
		history = commissioning__history__unpack(NULL, old_len, old);
		if (history == NULL)
			return -1;
	}
	rc = history_insert_into(key, history, env, env_bytes, env_len, out);
	if (history != NULL)
		commissioning__history__free_unpacked(history, NULL);
	return rc;
}

bool
history_organisation_parent(const uint8_t *bytes, size_t len, char *out, size_t outlen)
{
	Commissioning__History *history = commissioning__history__unpack(NULL, len, bytes);
	Commissioning__Envelope *env = NULL;
	bool found = false;

	if (history == NULL)
		return false;
	/* An organisation's history keeps only the record that stands. */
	if (history->n_entries > 0)
		env = commissioning__envelope__unpack(NULL, history->entries[0]->envelope.len,
		    history->entries[0]->envelope.data);
	if (env != NULL && env->organisation_registered != NULL &&
	    env->organisation_registered->parent_code[0] != '\0') {
		snprintf(out, outlen, "%s", env->organisation_registered->parent_code);
		found = true;
	}
	if (env != NULL)
		commissioning__envelope__free_unpacked(env, NULL);
	commissioning__history__free_unpacked(history, NULL);
	return found;
}
