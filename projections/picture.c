/*
 * picture: the read side of the projections. Owns every history loaded from
 * the store, indexed by thing, and the hierarchy lookups every area shares;
 * dispatches to the areas through a table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dates.h"
#include "ids.h"
#include "pbbudget.h"
#include "projections.h"


struct picture {
	struct thing_view *items;
	size_t n_items, cap_items;
	bool sealed; /* items are in key order and the kind index is set */
	size_t kind_first[128], kind_count[128]; /* by kind byte, set by seal */
};

void
thing_view_release(struct thing_view *it)
{
	/* In an arena, the decoded messages go with its reset. */
	for (size_t k = 0; it->arena == NULL && k < it->thing.n_events; k++)
		commissioning__envelope__free_unpacked(it->thing.events[k], NULL);
	free(it->thing.events);
	free(it->parts);
	if (it->history != NULL && it->arena == NULL)
		commissioning__history__free_unpacked(it->history, NULL);
	memset(it, 0, sizeof(*it));
}

struct picture *
picture_new(void)
{
	return calloc(1, sizeof(struct picture));
}

void
picture_destroy(struct picture **picturep)
{
	struct picture *p = *picturep;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_items; i++)
		thing_view_release(&p->items[i]);
	free(p->items);
	free(p);
	*picturep = NULL;
}

int
thing_view_adopt(struct thing_view *it, const uint8_t *key, size_t keylen,
    Commissioning__History *history)
{
	return thing_view_adopt_with(it, key, keylen, history, NULL);
}

int
thing_view_adopt_with(struct thing_view *it, const uint8_t *key, size_t keylen,
    Commissioning__History *history, ProtobufCAllocator *arena)
{
	/* No ceiling: the budget only tells a failed allocation from an
	 * envelope that does not decode. */
	struct pb_budget memory;
	ProtobufCAllocator *alloc = pb_budget_init_on(&memory, SIZE_MAX, arena);
	size_t at = 0;
	int r = -1;

	memset(it, 0, sizeof(*it));
	it->history = history;
	it->arena = arena;
	if (history == NULL || keylen < 2 || key[keylen - 1] != '\0')
		goto fail;
	r = THING_VIEW_NO_MEMORY;
	it->thing.kind = (enum thing_kind)key[0];
	it->parts = malloc(keylen - 1);
	if (it->parts == NULL)
		goto fail;
	memcpy(it->parts, key + 1, keylen - 1);
	for (int i = 0; i < 3 && at < keylen - 1; i++) {
		it->thing.part[i] = it->parts + at;
		at += strlen(it->parts + at) + 1;
	}
	it->thing.events = calloc(history->n_entries ? history->n_entries : 1,
	    sizeof(*it->thing.events));
	if (it->thing.events == NULL)
		goto fail;
	for (size_t k = 0; k < history->n_entries; k++) {
		const ProtobufCBinaryData *b = &history->entries[k]->envelope;
		Commissioning__Envelope *env =
		    commissioning__envelope__unpack(alloc, b->len, b->data);

		if (env == NULL) {
			r = memory.out_of_memory ? THING_VIEW_NO_MEMORY : -1;
			goto fail;
		}
		it->thing.events[it->thing.n_events++] = env;
	}
	return 0;
fail:
	thing_view_release(it);
	return r;
}

int
thing_history_unpack(const uint8_t *bytes, size_t len, ProtobufCAllocator *alloc,
    Commissioning__History **history)
{
	/* No ceiling: the budget only tells a failed allocation from bytes
	 * that are not a history. */
	struct pb_budget memory;

	*history = commissioning__history__unpack(pb_budget_init_on(&memory, SIZE_MAX, alloc), len,
	    bytes);
	if (*history != NULL)
		return 0;
	return memory.out_of_memory ? THING_VIEW_NO_MEMORY : -1;
}

int
thing_view_load(struct thing_view *it, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	Commissioning__History *history;
	int r = thing_history_unpack(bytes, len, NULL, &history);

	if (r < 0) {
		memset(it, 0, sizeof(*it));
		return r;
	}
	return thing_view_adopt(it, key, keylen, history);
}

int
thing_with_event(const struct thing *t, const Commissioning__Envelope *env, struct thing *with)
{
	size_t n = 0;
	bool placed = false;

	*with = *t;
	with->events = malloc((t->n_events + 1) * sizeof(*with->events));
	if (with->events == NULL)
		return -1;
	/* As history_insert orders them; the same (source, event_id) is the
	 * same event. */
	for (size_t i = 0; i < t->n_events; i++) {
		Commissioning__Envelope *e = t->events[i];
		if (!placed && event_order(e, env) >= 0) {
			with->events[n++] = (Commissioning__Envelope *)env;
			placed = true;
		}
		if (strcmp(e->source, env->source) == 0 && strcmp(e->event_id, env->event_id) == 0)
			continue;
		with->events[n++] = e;
	}
	if (!placed)
		with->events[n++] = (Commissioning__Envelope *)env;
	with->n_events = n;
	return 0;
}

static int
picture_reserve(struct picture *p)
{
	if (p->n_items == p->cap_items) {
		size_t cap = p->cap_items ? p->cap_items * 2 : 256;
		struct thing_view *grown = realloc(p->items, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		p->items = grown;
		p->cap_items = cap;
	}
	return 0;
}

int
picture_add_history(struct picture *p, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct thing_view it;
	int r = thing_view_load(&it, key, keylen, bytes, len);

	if (r < 0)
		return r;
	if (picture_reserve(p) < 0) {
		thing_view_release(&it);
		return THING_VIEW_NO_MEMORY;
	}
	p->items[p->n_items++] = it;
	p->sealed = false;
	return 0;
}

static int item_cmp(const void *pa, const void *pb);

int
picture_set_history(struct picture *p, const uint8_t *key, size_t keylen, const uint8_t *bytes,
    size_t len)
{
	struct thing_view it;
	size_t lo = 0, hi, k;
	int c = 1, r = thing_view_load(&it, key, keylen, bytes, len);

	if (r < 0)
		return r;
	picture_seal(p);
	/* Replace the thing where it is, or insert it in its place, so the
	 * picture stays sealed. */
	for (hi = p->n_items; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		c = item_cmp(&p->items[mid], &it);
		if (c == 0) {
			thing_view_release(&p->items[mid]);
			p->items[mid] = it;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (picture_reserve(p) < 0) {
		thing_view_release(&it);
		return THING_VIEW_NO_MEMORY;
	}
	memmove(&p->items[lo + 1], &p->items[lo], (p->n_items - lo) * sizeof(*p->items));
	p->items[lo] = it;
	p->n_items++;
	k = (uint8_t)it.thing.kind & 127;
	for (size_t j = 0; j < 128; j++)
		if (j != k && p->kind_count[j] > 0 && p->kind_first[j] >= lo)
			p->kind_first[j]++;
	if (p->kind_count[k]++ == 0)
		p->kind_first[k] = lo;
	return 0;
}

static int
part_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int
item_cmp(const void *pa, const void *pb)
{
	const struct thing *a = &((const struct thing_view *)pa)->thing;
	const struct thing *b = &((const struct thing_view *)pb)->thing;
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	for (int i = 0; i < 3; i++)
		if ((c = part_cmp(a->part[i], b->part[i])) != 0)
			return c;
	return 0;
}

void
picture_seal(struct picture *p)
{
	if (p->sealed)
		return;
	if (p->n_items > 1) /* qsort's base may not be NULL, even for nothing */
		qsort(p->items, p->n_items, sizeof(*p->items), item_cmp);
	memset(p->kind_count, 0, sizeof(p->kind_count));
	for (size_t i = p->n_items; i-- > 0;) {
		uint8_t k = (uint8_t)p->items[i].thing.kind & 127;
		p->kind_first[k] = i;
		p->kind_count[k]++;
	}
	p->sealed = true;
}

/* The first item of kind, by binary search; n_items when none. */
static size_t
picture_lower_bound(const struct picture *p, enum thing_kind kind, const char *part0,
    const char *part1)
{
	size_t lo = 0, hi = p->n_items;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct thing *t = &p->items[mid].thing;
		int c = t->kind != kind ? (t->kind < kind ? -1 : 1) : 0;
		if (c == 0 && part0 != NULL)
			c = part_cmp(t->part[0], part0);
		if (c == 0 && part1 != NULL)
			c = part_cmp(t->part[1], part1);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t
picture_count(const struct picture *p, enum thing_kind kind)
{
	return p->kind_count[(uint8_t)kind & 127];
}

const struct thing *
picture_thing(const struct picture *p, enum thing_kind kind, size_t i)
{
	return &p->items[p->kind_first[(uint8_t)kind & 127] + i].thing;
}

const struct thing *
picture_find(const struct picture *p, enum thing_kind kind, const char *part0, const char *part1)
{
	size_t at = picture_lower_bound(p, kind, part0, part1);
	const struct thing *t;

	if (at >= p->n_items)
		return NULL;
	t = &p->items[at].thing;
	if (t->kind != kind || part_cmp(t->part[0], part0) != 0 ||
	    (part1 != NULL && part_cmp(t->part[1], part1) != 0))
		return NULL;
	return t;
}

const Commissioning__Organisation *
picture_organisation(const struct picture *p, const char *code)
{
	const struct thing *t = picture_find(p, THING_ORGANISATION, code, NULL);
	const Commissioning__Envelope *env;

	if (t == NULL || t->n_events == 0)
		return NULL;
	env = t->events[t->n_events - 1]; /* the last one stands */
	return env->organisation_registered; /* registered and updated share the slot */
}

static const char *
picture_parent_of(void *arg, const char *code)
{
	const Commissioning__Organisation *org = picture_organisation(arg, code);

	return org != NULL ? org->parent_code : NULL;
}

const char *
picture_icb_of(const struct picture *p, const char *code)
{
	return hierarchy_icb_of(picture_parent_of, (void *)p, code);
}

const char *
picture_commissioner_icb(const struct picture *p, const char *code)
{
	return hierarchy_commissioner_icb(picture_parent_of, (void *)p, code);
}

const char *
picture_council_of(const struct picture *p, const char *code)
{
	const Commissioning__Organisation *org = picture_organisation(p, code);

	if (org == NULL || !ids_is_local_authority(org->parent_code))
		return NULL;
	return org->parent_code;
}

/* ------------------------------------------------------------ figures */

/* Each area, and the area whose fold it needs first: governance lists the
 * closures without consultation that the services' fold finds. */
static const struct {
	const char *name;
	area_figures_fn fn;
	area_figures_fn needs;
	const char *needs_section;
} picture_area_table[] = {
	{ "organisations", organisations_figures, NULL, NULL },
	{ "flow", flow_figures, NULL, NULL },
	{ "discharges", discharges_figures, NULL, NULL },
	{ "capacity", capacity_figures, NULL, NULL },
	{ "services", services_figures, NULL, NULL },
	{ "finance", finance_figures, NULL, NULL },
	{ "governance", governance_figures, services_figures, "services" },
};
#define N_AREAS (sizeof(picture_area_table) / sizeof(picture_area_table[0]))

const char *const picture_areas[] = { "all", "organisations", "flow", "discharges", "capacity",
	"services", "finance", "governance", NULL };

int
figures_begin(struct figures *fig, const struct picture *p, int64_t as_of_ms)
{
	fig->picture = p;
	fig->as_of_ms = as_of_ms;
	fig->as_of_day = dates_london_day_of_ms(as_of_ms);
	fig->failed = false;
	fig->root = json_object();
	if (fig->root == NULL)
		return -1;
	json_object_set_new(fig->root, "unmapped", json_array());
	json_object_set_new(fig->root, "pending", json_object());
	return 0;
}

json_t *
picture_figures(const struct picture *p, const char *area, int64_t as_of_ms)
{
	struct figures fig;
	bool all = strcmp(area, "all") == 0, known = all;

	if (figures_begin(&fig, p, as_of_ms) < 0)
		return NULL;
	for (size_t i = 0; i < N_AREAS; i++) {
		if (all || strcmp(area, picture_area_table[i].name) == 0) {
			if (!all && picture_area_table[i].needs != NULL) {
				/* Run what it needs, keep only what it adds here. */
				picture_area_table[i].needs(&fig);
				json_object_del(fig.root, picture_area_table[i].needs_section);
			}
			picture_area_table[i].fn(&fig);
			known = true;
		}
	}
	if (!known || fig.failed) {
		json_decref(fig.root);
		return NULL;
	}
	return fig.root;
}

/* Insert s keeping the array sorted (once), so the output does not depend
 * on the order the areas met the codes. The arrays are only made here, so
 * they are sorted: the place is found by halving, after a look at the end,
 * where readers in key order put nearly every item. A scan from the start
 * made a list of n items cost n squared: 10,000 spells discharged but never
 * admitted took seconds to list, 40,000 a minute and a half, with the
 * event loop held by a flow request. */
static void
array_add_sorted(json_t *array, const char *s)
{
	size_t lo = 0, hi = json_array_size(array);

	if (hi > 0 && strcmp(json_string_value(json_array_get(array, hi - 1)), s) < 0)
		lo = hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(json_string_value(json_array_get(array, mid)), s);
		if (c == 0)
			return;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	json_array_insert_new(array, lo, json_string(s));
}

void
figures_add_unmapped(struct figures *fig, const char *code)
{
	array_add_sorted(json_object_get(fig->root, "unmapped"), code);
}

void
figures_add_pending(struct figures *fig, const char *list, const char *item)
{
	json_t *pending = json_object_get(fig->root, "pending");
	json_t *array = json_object_get(pending, list);

	if (array == NULL) {
		array = json_array();
		json_object_set_new(pending, list, array);
	}
	array_add_sorted(array, item);
}

json_t *
figures_object(json_t *parent, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, parent);
	while ((key = va_arg(ap, const char *)) != NULL) {
		json_t *child = json_object_get(parent, key);
		if (child == NULL) {
			child = json_object();
			json_object_set_new(parent, key, child);
		}
		parent = child;
	}
	va_end(ap);
	return parent;
}

void
figures_add_count(json_t *obj, const char *key, json_int_t n)
{
	json_t *v = json_object_get(obj, key);

	json_object_set_new(obj, key, json_integer((v ? json_integer_value(v) : 0) + n));
}

const char *
figures_enum_label(const ProtobufCEnumDescriptor *desc, int value, const char *prefix, char *out,
    size_t outlen)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	const char *name = v != NULL ? v->name : "unknown";
	size_t n = strlen(prefix), i;

	if (strncmp(name, prefix, n) == 0)
		name += n;
	for (i = 0; name[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	out[i] = '\0';
	return out;
}

void
figures_date(int32_t day, char out[11])
{
	if (dates_format_date(day, out, 11) < 0)
		snprintf(out, 11, "?");
}
