/*
 * ratelimit: at most `burst` events of one kind a window, the rest counted
 * and reported once. log.c uses it so that a sender flooding garbage
 * cannot flood the journal. Pure: the time is a parameter.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 64

struct ratelimit_slot {
	const void *kind; /* NULL: free */
	double window_start;
	unsigned count;
	uint64_t suppressed;
};

struct ratelimit {
	unsigned burst;
	double window_seconds;
	struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

/* What to do with one event of kind at now (seconds on a steady clock). */
struct ratelimit_verdict {
	bool allow;
	/* events of a kind suppressed in a window now over: report them
	 * (report_kind names which) before this one */
	uint64_t report_suppressed;
	const void *report_kind;
};

void ratelimit_init(struct ratelimit *rl, unsigned burst, double window_seconds);
struct ratelimit_verdict ratelimit_check(struct ratelimit *rl, const void *kind, double now);
/* Kinds whose window is over with events suppressed: fn is called for
 * each (kind, count) and the count cleared. */
void ratelimit_flush(struct ratelimit *rl, double now,
    void (*fn)(void *arg, const void *kind, uint64_t suppressed), void *arg);

#endif
