/*
 * filter: cut an area's figures down to one ICB, one organisation or one
 * council, for commissionctl show and the HTTP API alike.
 */
#include <string.h>

#include "ids.h"
#include "projections.h"

/* Objects keyed by organisation code, where --org keeps one key. */
static const char *const org_keyed[] = { "providers", "councils", "commissioners", "register",
	"organisations", NULL };

static bool
in_list(const char *key, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

static bool
field_is_not(json_t *item, const char *field, const char *value)
{
	json_t *v = json_object_get(item, field);

	return json_is_string(v) && strcmp(json_string_value(v), value) != 0;
}

/* Is the item's field the organisation, or one of its sites? */
static bool
field_is_org(json_t *item, const char *field, const char *org)
{
	json_t *v = json_object_get(item, field);

	return json_is_string(v) &&
	    (strcmp(json_string_value(v), org) == 0 || ids_is_site_of(json_string_value(v), org));
}

/* Does a list item belong to another ICB, organisation or council? */
static bool
item_excluded(json_t *item, const struct figures_filter_spec *f)
{
	if (f->icb && field_is_not(item, "icb", f->icb))
		return true;
	/* An item about organisations (a line, a case, an alert) stays when
	 * one of them is the one asked for; others are not about one. */
	if (f->org && (json_object_get(item, "organisation") || json_object_get(item, "provider")) &&
	    !field_is_org(item, "organisation", f->org) && !field_is_org(item, "provider", f->org))
		return true;
	if (f->council) {
		json_t *c = json_object_get(item, "council");
		json_t *rc = json_object_get(item, "rollup_council");
		const char *which = json_is_string(rc) ? json_string_value(rc)
		    : json_is_string(c)		    ? json_string_value(c)
						    : NULL;
		if (which == NULL || strcmp(which, f->council) != 0)
			return true;
	}
	return false;
}

static void
filter_node(json_t *node, const struct figures_filter_spec *f, const char *parent_key)
{
	const char *key;
	json_t *child, *tmp;

	if (json_is_object(node)) {
		bool by_icb = f->icb && parent_key && strcmp(parent_key, "icbs") == 0;
		bool by_council = f->council && parent_key && strcmp(parent_key, "councils") == 0;
		bool by_org = f->org && parent_key && in_list(parent_key, org_keyed);
		json_object_foreach_safe(node, tmp, key, child) {
			json_t *icb = json_object_get(child, "icb");
			/* Under icbs, the key is the ICB; elsewhere an entry that says
			 * its ICB (a provider, a service, an organisation) is kept
			 * only for the one asked for. */
			if ((by_icb && strcmp(key, f->icb) != 0) ||
			    (by_council && strcmp(key, f->council) != 0) ||
			    (by_org && strcmp(key, f->org) != 0) ||
			    (f->icb && !by_icb && json_is_object(child) && json_is_string(icb) &&
				strcmp(json_string_value(icb), f->icb) != 0)) {
				json_object_del(node, key);
				continue;
			}
			filter_node(child, f, key);
		}
	} else if (json_is_array(node)) {
		for (size_t i = json_array_size(node); i-- > 0;)
			if (json_is_object(json_array_get(node, i)) &&
			    item_excluded(json_array_get(node, i), f))
				json_array_remove(node, i);
	}
}

void
figures_filter(json_t *figures, const struct figures_filter_spec *f)
{
	if (f->icb == NULL && f->org == NULL && f->council == NULL)
		return;
	filter_node(figures, f, NULL);
}
