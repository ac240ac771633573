/*
 * organisations: the registered reference data and where each code rolls
 * up (DOMAIN.md, Places in the hierarchy). Registered and updated carry the
 * whole record; the last one stands.
 */
#include "projections.h"

void
organisations_figures(struct figures *fig)
{
	const struct picture *p = fig->picture;
	json_t *all = figures_object(fig->root, "organisations", NULL);

	for (size_t i = 0; i < picture_count(p, THING_ORGANISATION); i++) {
		const struct thing *t = picture_thing(p, THING_ORGANISATION, i);
		const Commissioning__Organisation *org = picture_organisation(p, t->part[0]);
		const char *icb = picture_icb_of(p, t->part[0]);
		char role[32];
		json_t *o;

		if (org == NULL)
			continue;
		o = json_pack("{s:s, s:s}", "code", org->code, "role",
		    figures_enum_label(&commissioning__org_role__descriptor, (int)org->role,
			"ORG_ROLE_", role, sizeof(role)));
		if (org->name[0] != '\0')
			json_object_set_new(o, "name", json_string(org->name));
		if (org->parent_code[0] != '\0')
			json_object_set_new(o, "parent", json_string(org->parent_code));
		if (org->active_from[0] != '\0')
			json_object_set_new(o, "active_from", json_string(org->active_from));
		if (org->active_to[0] != '\0')
			json_object_set_new(o, "active_to", json_string(org->active_to));
		json_object_set_new(o, "icb", icb ? json_string(icb) : json_null());
		json_object_set_new(all, org->code, o);
	}
}
