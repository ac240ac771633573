/*
 * fuzz: what every fuzz target shares. Each target is one file with
 * LLVMFuzzerTestOneInput; libFuzzer drives it (make fuzz), or driver.c
 * replays files through it without libFuzzer (make test).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "commissioning.pb-c.h"
#include "config.h"
#include "pseudonym.h"

/* Once before the first input (fuzz_common.c): starts libsodium. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The entry point of a target: one input, 0 always (a fault aborts). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test promises: abort naming it when false,
 * so that libFuzzer keeps the input as a crash. */
#define FUZZ_ASSERT(cond, what)                                                                    \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond, (what));                              \
	} while (0)

void fuzz_fail(const char *file, int line, const char *cond, const char *what)
    __attribute__((noreturn));

/* The daemon's and adapters' settings as shipped (config_defaults): the
 * same limits the programs apply. Made once; never freed. */
const struct config *fuzz_config(void);

/* A pseudonymiser over a fixed key, made once; never freed. */
const struct pseudonymiser *fuzz_pseudonymiser(void);

/*
 * What an adapter sends, the daemon must take: pack env and pass it
 * through the daemon's decode and check (envelope_decode_frame). Aborts
 * when the daemon would refuse it.
 */
void fuzz_daemon_takes(const Commissioning__Envelope *env);

#endif
