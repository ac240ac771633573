/*
 * show: commissionctl's view of the integrated-care picture. Loads every
 * history from the store (while the daemon runs) and prints an area's
 * figures as of an instant, as one JSON object.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl.h"
#include "projections.h"
#include "store.h"

struct show_filter {
	const char *icb;
	const char *org;
};

static int
show_load(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct picture *picture = arg;

	if (picture_add_history(picture, key, keylen, bytes, len) < 0)
		fprintf(stderr, "commissionctl: a stored history does not decode; skipped\n");
	return 0;
}

/* Keep, under every "icbs" object, only the ICB asked for; under every
 * object keyed by organisation code, only the organisation asked for; in
 * every list, only items whose "icb" (or "organisation") matches. */
static void
show_apply_filter(json_t *node, const struct show_filter *f, const char *parent_key)
{
	const char *key;
	json_t *child, *tmp;
	size_t i;

	if (json_is_object(node)) {
		bool by_icb = f->icb && parent_key && strcmp(parent_key, "icbs") == 0;
		bool by_org = f->org && parent_key &&
		    (strcmp(parent_key, "providers") == 0 || strcmp(parent_key, "councils") == 0 ||
			strcmp(parent_key, "commissioners") == 0 || strcmp(parent_key, "register") == 0 ||
			strcmp(parent_key, "organisations") == 0 || strcmp(parent_key, "sites") == 0);
		json_object_foreach_safe(node, tmp, key, child) {
			json_t *icb = json_object_get(child, "icb");
			if ((by_icb && strcmp(key, f->icb) != 0) || (by_org && strcmp(key, f->org) != 0) ||
			    (f->icb && parent_key && strcmp(parent_key, "providers") == 0 &&
				json_is_string(icb) && strcmp(json_string_value(icb), f->icb) != 0)) {
				json_object_del(node, key);
				continue;
			}
			show_apply_filter(child, f, key);
		}
	} else if (json_is_array(node)) {
		for (i = json_array_size(node); i-- > 0;) {
			json_t *item = json_array_get(node, i);
			json_t *icb = json_object_get(item, "icb");
			json_t *org = json_object_get(item, "organisation");
			if ((f->icb && json_is_string(icb) && strcmp(json_string_value(icb), f->icb) != 0) ||
			    (f->org && json_is_string(org) && strcmp(json_string_value(org), f->org) != 0))
				json_array_remove(node, i);
		}
	}
}

static int
show_usage(void)
{
	fprintf(stderr, "usage: commissionctl show AREA [--as-of MS] [--icb CODE] [--org CODE]\n"
			"areas:");
	for (int i = 0; picture_areas[i] != NULL; i++)
		fprintf(stderr, " %s", picture_areas[i]);
	fprintf(stderr, "\n");
	return CTL_USAGE;
}

int
ctl_show(const struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "as-of", required_argument, NULL, 'a' },
		{ "icb", required_argument, NULL, 'i' },
		{ "org", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_options opt = {
		.path = cfg->store_path,
		.map_size_bytes = cfg->store_map_size_bytes,
		.map_max_bytes = cfg->store_map_max_bytes,
		.read_only = true,
	};
	struct show_filter filter = { 0 };
	uint64_t as_of;
	struct picture *picture;
	struct store *store;
	json_t *figures;
	char err[768];
	int ch;

	as_of = (uint64_t)clock_now_ms();
	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "a:i:o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (ctl_parse_u64(optarg, &as_of) < 0) {
				fprintf(stderr, "commissionctl: --as-of: \"%s\" is not UTC milliseconds\n",
				    optarg);
				return CTL_USAGE;
			}
			break;
		case 'i':
			filter.icb = optarg;
			break;
		case 'o':
			filter.org = optarg;
			break;
		default:
			return show_usage();
		}
	}
	if (optind + 1 != argc)
		return show_usage();
	if ((store = store_open(&opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "commissionctl: %s\n", err);
		return CTL_STORE;
	}
	picture = picture_new();
	if (picture == NULL || store_scan_histories(store, show_load, picture) != STORE_OK) {
		fprintf(stderr, "commissionctl: %s\n", picture ? store_error(store) : "out of memory");
		picture_destroy(&picture);
		store_close(&store);
		return CTL_STORE;
	}
	store_close(&store);
	picture_seal(picture);
	figures = picture_figures(picture, argv[optind], (int64_t)as_of);
	picture_destroy(&picture);
	if (figures == NULL) {
		fprintf(stderr, "commissionctl: show: no such area: %s\n", argv[optind]);
		return show_usage();
	}
	json_object_set_new(figures, "as_of", json_integer((json_int_t)as_of));
	if (filter.icb || filter.org)
		show_apply_filter(figures, &filter, NULL);
	ctl_print_json(figures);
	json_decref(figures);
	return CTL_OK;
}
