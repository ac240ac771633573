/*
 * housekeeping: the daemon's upkeep of its store, on a libevent timer that
 * runs between batches: retention (updates and dead letters past their
 * count or age) a transaction of at most [store] prune_batch_limit records
 * at a time, and clearing reader slots of dead processes (mdb_reader_check).
 * While there is more to remove the timer fires again at once, so pruning
 * catches up while ingest goes on: a batch waits for one small transaction
 * at most.
 *
 * On a timer of its own, at each pass and whenever ingest asks: moving the
 * running totals on with the clock (live_catch_up), so that a quiet weekend
 * does not leave them all for the next batch to move in one callback, and,
 * after a long stop, a committed step a loop turn until they have caught
 * up, ingest waiting meanwhile.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "commissiond.h"
#include "log.h"

#define MS_PER_DAY (24LL * 3600 * 1000)

struct housekeeping {
	const struct config *cfg;
	struct store *store;
	struct live *live;
	struct metrics *metrics;
	struct event *timer;
	bool failing; /* the last pass failed: say so once, and when it mends */
	struct event *catch_up;
	void (*caught_up)(void *arg); /* once caught up, or a step failed */
	void *caught_up_arg;
};

static const struct timeval housekeeping_at_once = { 0, 0 };

static void
housekeeping_arm(struct housekeeping *hk, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) };

	evtimer_add(hk->timer, &tv);
}

static void
housekeeping_check_readers(struct housekeeping *hk)
{
	int cleared = 0;

	if (store_check_readers(hk->store, &cleared) != STORE_OK) {
		log_warning("store: %s", store_error(hk->store));
		return;
	}
	if (cleared > 0) {
		metrics_count_stale_readers(hk->metrics, (uint64_t)cleared);
		log_warning("store: cleared %d stale reader slot(s) left by processes that died in "
			    "a read transaction",
		    cleared);
	}
}

/* One retention transaction; true when there is more to remove. */
static bool
housekeeping_prune(struct housekeeping *hk)
{
	const struct config *cfg = hk->cfg;
	struct store_retention retention = {
		.update_max_count = cfg->store_update_retention,
		.update_max_age_ms = (int64_t)cfg->store_update_max_age_days * MS_PER_DAY,
		.dead_letter_max_count = cfg->store_dead_letter_max_count,
		.dead_letter_max_age_ms = (int64_t)cfg->store_dead_letter_max_age_days * MS_PER_DAY,
	};
	struct store_pruned pruned;
	enum store_result r;

	r = store_prune(hk->store, &retention, clock_now_ms(), cfg->store_prune_batch_limit,
	    &pruned);
	if (r != STORE_OK) {
		if (!hk->failing)
			log_error("store: retention failed: %s; trying again in %" PRIu64 " ms",
			    store_error(hk->store), cfg->store_housekeeping_ms);
		hk->failing = true;
		return false;
	}
	if (hk->failing)
		log_info("store: retention works again");
	hk->failing = false;
	if (pruned.updates + pruned.dead_letters > 0) {
		metrics_count_pruned(hk->metrics, pruned.updates, pruned.dead_letters);
		log_debug("store: retention removed %" PRIu64 " update(s) and %" PRIu64
			  " dead letter(s)%s",
		    pruned.updates, pruned.dead_letters, pruned.more ? "; more to do" : "");
	}
	return pruned.more;
}

static void
housekeeping_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct housekeeping *hk = arg;
	bool more;

	(void)fd;
	(void)what;
	housekeeping_check_readers(hk);
	more = housekeeping_prune(hk);
	/* More to remove: again at once, after whatever input is waiting. */
	housekeeping_arm(hk, more ? 0 : hk->cfg->store_housekeeping_ms);
	evtimer_add(hk->catch_up, &housekeeping_at_once);
}

/* One step; behind still, the next at the next loop turn. */
static void
housekeeping_on_catch_up(evutil_socket_t fd, short what, void *arg)
{
	struct housekeeping *hk = arg;
	void (*fn)(void *) = hk->caught_up;

	(void)fd;
	(void)what;
	if (live_catch_up(hk->live, clock_now_ms()) == STORE_OK &&
	    live_behind(hk->live, clock_now_ms())) {
		evtimer_add(hk->catch_up, &housekeeping_at_once);
		return;
	}
	hk->caught_up = NULL;
	if (fn != NULL)
		fn(hk->caught_up_arg);
}

void
housekeeping_catch_up(struct housekeeping *hk, void (*fn)(void *arg), void *arg)
{
	hk->caught_up = fn;
	hk->caught_up_arg = arg;
	evtimer_add(hk->catch_up, &housekeeping_at_once);
}

struct housekeeping *
housekeeping_new(struct event_base *base, const struct config *cfg, struct store *store,
    struct live *live, struct metrics *metrics)
{
	struct housekeeping *hk = calloc(1, sizeof(*hk));

	if (hk == NULL)
		return NULL;
	hk->cfg = cfg;
	hk->store = store;
	hk->live = live;
	hk->metrics = metrics;
	hk->timer = evtimer_new(base, housekeeping_on_timer, hk);
	hk->catch_up = evtimer_new(base, housekeeping_on_catch_up, hk);
	if (hk->timer == NULL || hk->catch_up == NULL) {
		housekeeping_destroy(&hk);
		return NULL;
	}
	/* A crash before this start may have left reader slots behind. */
	housekeeping_check_readers(hk);
	housekeeping_arm(hk, cfg->store_housekeeping_ms);
	/* After a long stop the running totals catch up at once. */
	if (live_behind(live, clock_now_ms()))
		evtimer_add(hk->catch_up, &housekeeping_at_once);
	return hk;
}

void
housekeeping_reconfigure(struct housekeeping *hk)
{
	/* New limits: look at once. */
	housekeeping_arm(hk, 0);
}

void
housekeeping_destroy(struct housekeeping **hkp)
{
	struct housekeeping *hk = *hkp;

	if (hk == NULL)
		return;
	if (hk->timer != NULL)
		event_free(hk->timer);
	if (hk->catch_up != NULL)
		event_free(hk->catch_up);
	free(hk);
	*hkp = NULL;
}
