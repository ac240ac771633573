/*
 * projections.h: the integrated-care picture of DOMAIN.md ("How every figure
 * is worked out"). Pure: no I/O, no clock; the as-of is a parameter.
 *
 * Write side (history.c): each accepted event concerns one thing (a spell,
 * a contract, a capacity line...). The thing's state is the set of its
 * events sorted by (occurred_at, source, event_id), kept as a History in
 * the store in the same transaction as the event. The same set of events
 * gives the same bytes in any arrival order.
 *
 * Read side (picture.c and one file per area): every history is loaded into
 * a picture, and each area folds its things, for an as-of, into the figures
 * DOMAIN.md defines, as JSON under the names of shared/examples/README.md.
 */
#ifndef PROJECTIONS_H
#define PROJECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "commissioning.pb-c.h"

/* The first byte of a thing's key says what it is. */
enum thing_kind {
	THING_ORGANISATION = 'O', /* code */
	THING_SERVICE = 'S',	  /* service id */
	THING_CONTRACT = 'K',	  /* contract id: award, variations, termination */
	THING_SPEND = 'X',	  /* contract id, period: the last spend stands */
	THING_BUDGET = 'B',	  /* commissioner, year, pool: the last stands */
	THING_SPELL = 'A',	  /* provider, spell pseudonym: ADT events */
	THING_READY = 'R',	  /* patient pseudonym, provider: ready reports */
	THING_PACKAGE = 'P',	  /* council, package id */
	THING_CAPACITY = 'C',	  /* organisation, sector: the latest as-of stands */
	THING_DECLARATION = 'D',  /* declaration id: declared, withdrawn */
};

#define THING_KEY_MAX 511 /* LMDB's key limit */

/* "spell", "contract"...: the name of a kind, or NULL for an unknown byte. */
const char *thing_kind_name(int kind);

/* Kind byte, then the key's parts, each followed by a NUL. */
struct thing_key {
	uint8_t bytes[THING_KEY_MAX];
	size_t len;
};

/* Append one part and its NUL; -1 when the key would pass LMDB's limit. */
int thing_key_add_part(struct thing_key *key, const char *part);

/* The thing env concerns. 0, or -1 when env has no event set. */
int thing_key_of(const Commissioning__Envelope *env, struct thing_key *key);

/*
 * Put the accepted event env (packed as env_bytes) into the packed history
 * old (NULL or empty: none) and write the new packed history into out.
 * Entries stay sorted by (occurred_at, source, event_id); an entry with the
 * same (source, event_id) is replaced. For the things where the last one
 * stands (organisations, budgets, spend, capacity lines) only the one that
 * stands is kept. Returns 0, or -1 when old does not decode or out of
 * memory (for a ProtobufCBufferSimple out, also when it could not grow:
 * what it holds is then not the history).
 */
int history_insert(const struct thing_key *key, const uint8_t *old, size_t old_len,
    const Commissioning__Envelope *env, const uint8_t *env_bytes, size_t env_len,
    ProtobufCBuffer *out);
/* The same over the old history already unpacked (NULL: none). -1 when out
 * of memory (out could not grow, as above). */
int history_insert_into(const struct thing_key *key, const Commissioning__History *old,
    const Commissioning__Envelope *env, const uint8_t *env_bytes, size_t env_len,
    ProtobufCBuffer *out);

/* The registered parent code of the organisation whose packed history is
 * bytes, into out: false when it has none, or the history does not decode. */
bool history_organisation_parent(const uint8_t *bytes, size_t len, char *out, size_t outlen);

/* Where an event's change shows: an area of the picture and the code of
 * the place it is about (the place's ICB is looked up by the caller). The
 * most is a service's: its three (thing_places) and the two where it stood
 * (thing_places_before). */
#define PLACES_MAX 5

struct place {
	const char *area;
	const char *code;      /* points into the event, or into its history */
	bool commissioner;     /* code is in a commissioner field */
};

/*
 * The places env changes (1; 2 for a service: its services and its capacity
 * at risk, and 3 when its move is a closure without consultation: the
 * governance alert it raises; 2 for an award or a variation: its finance
 * and its governance). history is the thing's history after env
 * went in (for a variation, termination or withdrawal, whose place is on
 * the award or declaration that stands). Returns how many places were
 * filled.
 */
int thing_places(const Commissioning__Envelope *env, const Commissioning__History *history,
    struct place places[PLACES_MAX], Commissioning__Envelope **scratch);
/*
 * The places where env's thing stood before it (before: the thing's
 * history before env went in; NULL: none), which a correction may move it
 * from: the commissioner of the award that stood (finance, governance),
 * of the spend that stood (finance), the organisation of the declaration
 * that stood (governance); for a service, the last commissioner it had
 * other than env's (services, capacity). Their figures change too when env
 * moves the thing elsewhere. Returns how many places were filled (0 for
 * other kinds).
 */
int thing_places_before(const Commissioning__Envelope *env, const Commissioning__History *before,
    struct place places[PLACES_MAX], Commissioning__Envelope **scratch);
/* Does thing_places need the history for env (its place is on another
 * event of the thing)? Without it, history may be NULL. */
bool thing_places_need_history(const Commissioning__Envelope *env);

struct picture;

/* What an update's figures are cut by besides its place: the picture the
 * figures were worked out from (for the council a capacity update rolls up
 * to), and the persons whose delayed-discharge cases a discharges update
 * carries (pseudonyms as 64 hex). */
struct place_cut {
	const struct picture *picture;
	const char (*persons)[65];
	int n_persons;
};

/*
 * The figures an update about a place carries (DOMAIN.md, What the daemon
 * publishes), cut from figures (picture_figures of the area, as of the
 * commit): flow: the provider's and the ICB's patients in hospital and the
 * counts of the day the event fell on; discharges: the cut's persons' cases
 * (at the provider, but for a care package's), the ICB and council
 * roll-ups; capacity: the organisation's lines, the ICB's roll-up and that
 * of the council the line or service counts in, with capacity at risk;
 * services: the service; finance: the commissioner's years; governance:
 * the organisation's register; organisations: the organisation. A new
 * JSON object.
 */
json_t *place_figures(json_t *figures, const char *area, const char *icb, const char *code,
    const Commissioning__Envelope *env, const struct place_cut *cut, int32_t event_day);

/* The person a ready report or a care package is about, as 64 hex; false
 * for any other event. */
bool place_event_person(const Commissioning__Envelope *env, char hex[65]);

/* Does a discharges update of env carry its persons' cases at every
 * provider (a care package's: a package ends any case's wait) rather than
 * at the provider its place is? */
bool place_cases_anywhere(const Commissioning__Envelope *env);

/* The thing's key as text: "spell RXC/6f1e...". */
void thing_key_text(const struct thing_key *key, char *out, size_t outlen);

/* Order of two events: (occurred_at, source, event_id). */
int event_order(const Commissioning__Envelope *a, const Commissioning__Envelope *b);

/* ------------------------------------------------------------ hierarchy */

/* The registered parent code of code, or NULL when code is not registered
 * or has none. The string must stay valid until the lookup that asked ends. */
typedef const char *(*parent_of_fn)(void *arg, const char *code);

/* Where code rolls up, or NULL when unknown: its registered parent chain,
 * else (a site) the provider its code extends. A code in ICB format is its
 * own ICB. Returns code itself or one of parent_of's strings. */
const char *hierarchy_icb_of(parent_of_fn parent_of, void *arg, const char *code);
/* The same for a code in a commissioner field: registered parents only. */
const char *hierarchy_commissioner_icb(parent_of_fn parent_of, void *arg, const char *code);

/* ------------------------------------------------------------ read side */

struct thing {
	enum thing_kind kind;
	const char *part[3]; /* the key's parts (binary pseudonyms as hex) */
	size_t n_events;
	Commissioning__Envelope **events; /* sorted by event_order */
};

/* One thing decoded from its stored history: owns its parts and envelopes. */
struct thing_view {
	struct thing thing;
	char *parts; /* the key's parts, NUL-separated */
	Commissioning__History *history;
	/* The arena the history and the envelopes were unpacked in, whose
	 * reset frees them (NULL: malloc, freed with the view). */
	ProtobufCAllocator *arena;
};

/* What loading a history can fail for, beside -1 (it does not decode: a
 * record to skip and remake from the log): memory ran out, which says
 * nothing of the record (fail what it was for, and try again). */
#define THING_VIEW_NO_MEMORY (-2)

/* Unpack a stored history into *history, in alloc (NULL: malloc): 0, -1
 * when it does not decode, or THING_VIEW_NO_MEMORY. */
int thing_history_unpack(const uint8_t *bytes, size_t len, ProtobufCAllocator *alloc,
    Commissioning__History **history);

/* Decode the history of key. 0, -1 when it does not decode, or
 * THING_VIEW_NO_MEMORY (nothing to release then). */
int thing_view_load(struct thing_view *view, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len);
/* The same from a history already unpacked: the view takes it (it is freed
 * with the view, or at once on failure; NULL is taken for one that did not
 * decode). */
int thing_view_adopt(struct thing_view *view, const uint8_t *key, size_t keylen,
    Commissioning__History *history);
/* The same with the history unpacked in an arena (arena_allocator), where
 * the envelopes go too: releasing the view leaves them to the arena. */
int thing_view_adopt_with(struct thing_view *view, const uint8_t *key, size_t keylen,
    Commissioning__History *history, ProtobufCAllocator *arena);
/* The events of t with env put in its place (a borrowed list: free
 * events->events only): what t becomes when env goes into its history,
 * for the kinds that keep every event. -1 when out of memory. */
int thing_with_event(const struct thing *t, const Commissioning__Envelope *env,
    struct thing *with);
void thing_view_release(struct thing_view *view);

struct picture;

struct picture *picture_new(void);
void picture_destroy(struct picture **picture);

/* Add one stored history (in any order). -1 when it does not decode,
 * THING_VIEW_NO_MEMORY when memory ran out. */
int picture_add_history(struct picture *picture, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len);

/* Replace the history of key, or add it in its place: a picture kept up to
 * date as events are applied, sealed still. -1 when it does not decode,
 * THING_VIEW_NO_MEMORY when memory ran out (the picture is as it was). */
int picture_set_history(struct picture *picture, const uint8_t *key, size_t keylen,
    const uint8_t *bytes, size_t len);

/* Call once every history is added or set: sorts and indexes. */
void picture_seal(struct picture *picture);

/* The things of one kind, sorted by key:
 * for (i = 0; i < picture_count(p, kind); i++) t = picture_thing(p, kind, i); */
size_t picture_count(const struct picture *picture, enum thing_kind kind);
const struct thing *picture_thing(const struct picture *picture, enum thing_kind kind, size_t i);
/* One thing by its first one or two parts (NULL for an unused part). */
const struct thing *picture_find(const struct picture *picture, enum thing_kind kind,
    const char *part0, const char *part1);

/* The registered record of code (the last one stands), or NULL. */
const Commissioning__Organisation *picture_organisation(const struct picture *picture,
    const char *code);
/* Where code rolls up (DOMAIN.md, Places in the hierarchy), or NULL when
 * unknown. A code in ICB format is its own ICB. */
const char *picture_icb_of(const struct picture *picture, const char *code);
/* The ICB of a code named in a commissioner field: an ICB is its own; a
 * sub-ICB location or council from its registered parents only. */
const char *picture_commissioner_icb(const struct picture *picture, const char *code);
/* The council a care home is in (its registered parent), or NULL. */
const char *picture_council_of(const struct picture *picture, const char *code);

/* Lowercase hex of a 32-byte pseudonym into out (65 bytes). */
void pseudonym_hex(const ProtobufCBinaryData *pseudonym, char out[65]);
/* The 32 bytes of a pseudonym from its 64 hex digits (either case), as
 * pseudonym_hex writes them; -1 when hex is not that. */
int pseudonym_from_hex(const char *hex, uint8_t out[32]);

/* ------------------------------------------------------------ figures */

/*
 * Every area adds its sections to root: "flow", "discharges", "capacity",
 * "services", "finance", "governance", "organisations", and its codes to
 * root["unmapped"] and its items to root["pending"][...] (helpers below).
 */
struct figures {
	const struct picture *picture;
	int64_t as_of_ms;
	int32_t as_of_day; /* the Europe/London date of as_of_ms */
	json_t *root;
	/* An area could not fold a thing for want of memory: the figures
	 * leave it out, so they must not be given as the figures. */
	bool failed;
};

typedef void (*area_figures_fn)(struct figures *fig);

/* Start fig for picture and as_of_ms: a root with its empty "unmapped" and
 * "pending", to which areas add. -1 when out of memory. */
int figures_begin(struct figures *fig, const struct picture *picture, int64_t as_of_ms);

void organisations_figures(struct figures *fig);
void flow_figures(struct figures *fig);
void discharges_figures(struct figures *fig);
void capacity_figures(struct figures *fig);
/* A capacity roll-up with nothing in it: every count 0, no sector. A new
 * JSON object. */
json_t *capacity_rollup_empty(void);
/* The council whose roll-up a capacity line of organisation counts in: a
 * care home's registered council, else "unmapped"; NULL for an
 * organisation that is not a care home. */
const char *capacity_line_council(const struct picture *picture, const char *organisation);
void services_figures(struct figures *fig);
void finance_figures(struct figures *fig);
void governance_figures(struct figures *fig);

/* The figures of one area ("flow", ... or "all") as of as_of_ms: a new JSON
 * object, or NULL for an unknown area or when out of memory (an area that
 * could not fold every thing: figures that leave things out are not
 * given). */
json_t *picture_figures(const struct picture *picture, const char *area, int64_t as_of_ms);
/* The names picture_figures accepts, NULL-terminated. */
extern const char *const picture_areas[];

/* Keep only the figures of one ICB, organisation or council (NULL: any). */
struct figures_filter_spec {
	const char *icb;
	const char *org;
	const char *council;
};
void figures_filter(json_t *figures, const struct figures_filter_spec *f);

/* Record code as used where its ICB is not known (once). */
void figures_add_unmapped(struct figures *fig, const char *code);
/* Append item (a string) to root["pending"][list] (once). */
void figures_add_pending(struct figures *fig, const char *list, const char *item);
/* root[a][b]... created as objects on the way: figures_object(root, "flow", "providers", NULL). */
json_t *figures_object(json_t *parent, ...);
/* Add n to the integer at obj[key] (created at 0). */
void figures_add_count(json_t *obj, const char *key, json_int_t n);
/* An enum value as the notation writes it: the name without prefix, in
 * lower case (ORG_ROLE_TRUST_SITE -> "trust_site"), into out. */
const char *figures_enum_label(const ProtobufCEnumDescriptor *desc, int value,
    const char *prefix, char *out, size_t outlen);
/* "YYYY-MM-DD" of a day number into out (11 bytes). */
void figures_date(int32_t day, char out[11]);

#endif
