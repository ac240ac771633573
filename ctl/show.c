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
#include "dates.h"
#include "projections.h"
#include "store.h"

struct show_loading {
	struct picture *picture;
	uint64_t undecodable; /* histories left out of the figures */
	bool no_memory;	      /* the loading stopped: figures short of memory */
};

/* A history that does not decode is left out, said by its kind (its key
 * is made of pseudonyms: verify says where), and counted: the figures are
 * then short of it, which the exit status says. One the picture could not
 * take for want of memory stops the loading: no figures are given. */
static int
show_load(void *arg, const uint8_t *key, size_t keylen, const uint8_t *bytes, size_t len)
{
	struct show_loading *loading = arg;
	const char *kind = keylen > 0 ? thing_kind_name(key[0]) : NULL;
	int r = picture_add_history(loading->picture, key, keylen, bytes, len);

	if (r == 0)
		return 0;
	if (r == THING_VIEW_NO_MEMORY) {
		loading->no_memory = true;
		return 1;
	}
	fprintf(stderr, "commissionctl: show: a stored %s history does not decode; left "
			"out of the figures\n",
	    kind != NULL ? kind : "unknown");
	loading->undecodable++;
	return 0;
}

static int
show_usage(void)
{
	fprintf(stderr, "usage: commissionctl show AREA [--as-of MS] [--icb CODE] [--org CODE] [--council CODE]\n"
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
		{ "council", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_options opt = {
		.path = cfg->store_path,
		.map_size_bytes = cfg->store_map_size_bytes,
		.map_max_bytes = cfg->store_map_max_bytes,
		.read_only = true,
	};
	struct figures_filter_spec filter = { 0 };
	uint64_t as_of;
	struct show_loading loading = { 0 };
	struct picture *picture;
	struct store *store;
	json_t *figures;
	char err[768];
	int written;
	int area;
	int ch;

	as_of = (uint64_t)clock_now_ms();
	optind = 0; /* 0: glibc starts afresh, forgetting the "+" of the global options */
	while ((ch = getopt_long(argc, argv, "a:i:o:u:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			/* The calendar of dates.h ends at 9999-12-31T23:59:59.999Z. */
			if (ctl_option_u64("show", "as-of", optarg, DATES_MS_MIN, DATES_MS_MAX,
				&as_of) < 0)
				return show_usage();
			break;
		case 'i':
			filter.icb = optarg;
			break;
		case 'o':
			filter.org = optarg;
			break;
		case 'u':
			filter.council = optarg;
			break;
		default:
			return show_usage();
		}
	}
	if (optind + 1 != argc) {
		if (optind == argc)
			fprintf(stderr, "commissionctl: show: missing AREA\n");
		else
			fprintf(stderr, "commissionctl: show: unexpected argument: %s\n",
			    argv[optind + 1]);
		return show_usage();
	}
	/* A usage error is said before the store is read: loading every
	 * history of a large store takes minutes, and a store that cannot
	 * be opened is no answer to a misspelt area. */
	for (area = 0; picture_areas[area] != NULL; area++)
		if (strcmp(picture_areas[area], argv[optind]) == 0)
			break;
	if (picture_areas[area] == NULL) {
		fprintf(stderr, "commissionctl: show: no such area: %s\n", argv[optind]);
		return show_usage();
	}
	if ((store = store_open(&opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "commissionctl: %s\n", err);
		return CTL_STORE;
	}
	picture = loading.picture = picture_new();
	if (picture != NULL && store_scan_histories(store, show_load, &loading) != STORE_OK) {
		fprintf(stderr, "commissionctl: %s\n", store_error(store));
		picture_destroy(&picture);
		store_close(&store);
		return CTL_STORE;
	}
	store_close(&store);
	if (picture == NULL || loading.no_memory) {
		fprintf(stderr,
		    "commissionctl: show: out of memory loading the stored histories\n");
		picture_destroy(&picture);
		return CTL_REFUSED;
	}
	picture_seal(picture);
	/* The area is known (checked above): NULL is for want of memory, an
	 * area that could not fold every thing (no figures short of one). */
	figures = picture_figures(picture, argv[optind], (int64_t)as_of);
	picture_destroy(&picture);
	if (figures == NULL ||
	    json_object_set_new(figures, "as_of", json_integer((json_int_t)as_of)) < 0) {
		fprintf(stderr, "commissionctl: show: out of memory working out the %s figures\n",
		    argv[optind]);
		json_decref(figures);
		return CTL_REFUSED;
	}
	figures_filter(figures, &filter);
	written = ctl_print_json(figures);
	json_decref(figures);
	if (ctl_output_failed("show", written) < 0)
		return CTL_REFUSED;
	if (loading.undecodable > 0) {
		fprintf(stderr, "commissionctl: show: %" PRIu64 " stored histories do not decode: "
				"the figures leave them out (commissionctl verify names the damage)\n",
		    loading.undecodable);
		return CTL_STORE;
	}
	return CTL_OK;
}
