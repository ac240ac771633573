/*
 * organisations: the registered reference data and where each code rolls
 * up (DOMAIN.md, Places in the hierarchy). Registered and updated carry the
 * whole record; the last one stands.
 */
#include "ids.h"
#include "projections.h"

static const char *
role_name(Commissioning__OrgRole role)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&commissioning__org_role__descriptor, (int)role);

	/* "ORG_ROLE_TRUST_SITE" is shown as "trust_site". */
	return v != NULL ? v->name + sizeof("ORG_ROLE_") - 1 : "unknown";
}

void
organisations_figures(struct figures *fig)
{
	const struct picture *p = fig->picture;
	json_t *all = figures_object(fig->root, "organisations", NULL);

	for (size_t i = 0; i < picture_count(p, THING_ORGANISATION); i++) {
		const struct thing *t = picture_thing(p, THING_ORGANISATION, i);
		const Commissioning__Organisation *org = picture_organisation(p, t->part[0]);
		const char *icb = picture_icb_of(p, t->part[0]);
		json_t *o;

		if (org == NULL)
			continue;
		o = json_pack("{s:s, s:s}", "code", org->code, "role", role_name(org->role));
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
