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

#endif
