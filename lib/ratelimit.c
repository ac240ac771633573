/*
 * ratelimit: a fixed table of kinds, each a window of at most `burst`
 * events. A kind is placed by the hash of its key; a new kind that lands
 * on a taken slot takes it over, reporting what the old one suppressed.
 */
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"

void
ratelimit_init(struct ratelimit *rl, unsigned burst, double window_seconds)
{
	*rl = (struct ratelimit){ .burst = burst, .window_seconds = window_seconds };
}

static struct ratelimit_slot *
slot_of(struct ratelimit *rl, const void *kind)
{
	uintptr_t h = (uintptr_t)kind;

	h ^= h >> 17;
	h *= 0x9E3779B1u;
	return &rl->slots[(h >> 7) % RATELIMIT_SLOTS];
}

struct ratelimit_verdict
ratelimit_check(struct ratelimit *rl, const void *kind, double now)
{
	struct ratelimit_slot *s = slot_of(rl, kind);
	struct ratelimit_verdict v = { .allow = true };

	if (s->kind != kind || now - s->window_start >= rl->window_seconds) {
		v.report_suppressed = s->suppressed;
		v.report_kind = s->kind;
		*s = (struct ratelimit_slot){ .kind = kind, .window_start = now };
	}
	if (s->count < rl->burst) {
		s->count++;
		return v;
	}
	s->suppressed++;
	v.allow = false;
	return v;
}

void
ratelimit_flush(struct ratelimit *rl, double now,
    void (*fn)(void *arg, const void *kind, uint64_t suppressed), void *arg)
{
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
		struct ratelimit_slot *s = &rl->slots[i];
		if (s->kind == NULL || s->suppressed == 0 || now - s->window_start < rl->window_seconds)
			continue;
		fn(arg, s->kind, s->suppressed);
		/* A new window: the next one of the kind is shown again. */
		*s = (struct ratelimit_slot){ .kind = s->kind, .window_start = now };
	}
}
