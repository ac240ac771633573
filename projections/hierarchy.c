/*
 * hierarchy: where a code rolls up (DOMAIN.md, Places in the hierarchy),
 * over any source of registered parents: the picture when reading, the
 * store's transaction when writing. One set of rules for both.
 */
#include <stdio.h>

#include "ids.h"
#include "projections.h"

#define HIERARCHY_DEPTH 8 /* site -> trust -> ICB is 2; care home -> council -> ICB is 2 */

/* Follow registered parents to a code in ICB format. */
static const char *
hierarchy_by_parents(parent_of_fn parent_of, void *arg, const char *code, int depth)
{
	const char *parent;

	if (ids_is_icb(code))
		return code; /* a code in ICB format is its own ICB, registered or not */
	if (depth >= HIERARCHY_DEPTH)
		return NULL;
	parent = parent_of(arg, code);
	if (parent == NULL || parent[0] == '\0')
		return NULL;
	return hierarchy_by_parents(parent_of, arg, parent, depth + 1);
}

const char *
hierarchy_icb_of(parent_of_fn parent_of, void *arg, const char *code)
{
	const char *icb = hierarchy_by_parents(parent_of, arg, code, 0);
	const char *parent;
	char provider[4];

	if (icb != NULL)
		return icb;
	/* A site's ICB is next that of the provider its code extends
	 * (RXC01 -> RXC, NV701 -> NV7); an older-frame provider is its own
	 * site. The provider code (R, T or N and two) is never in ICB format:
	 * go straight to its registered parent. */
	if (!ids_is_site(code) || ids_is_older_frame_provider(code))
		return NULL;
	snprintf(provider, sizeof(provider), "%.3s", code);
	parent = parent_of(arg, provider);
	if (parent == NULL || parent[0] == '\0')
		return NULL;
	return hierarchy_by_parents(parent_of, arg, parent, 2);
}

const char *
hierarchy_commissioner_icb(parent_of_fn parent_of, void *arg, const char *code)
{
	/* In a commissioner field a five-character code is a sub-ICB
	 * location: registered parents only, never the code's prefix. */
	return hierarchy_by_parents(parent_of, arg, code, 0);
}
