/*
 * clock: the one place a program reads the time of day (pure modules take
 * it as a parameter).
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

/* UTC milliseconds since the epoch. */
int64_t clock_now_ms(void);

/* Seconds on a clock that never jumps, for durations. */
double clock_monotonic_seconds(void);

/* Milliseconds on that clock, for time-outs and intervals: a wall clock
 * set back or forward must not stretch or cut them. */
int64_t clock_monotonic_ms(void);

#endif
