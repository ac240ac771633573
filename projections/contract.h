/*
 * contract: the fold of one contract's events (DOMAIN.md, Finance): the award
 * that stands, the variation that stands for each number, the termination
 * that stands, and the segments of its value over time. Shared by finance
 * (commitments) and governance (the decisions and who took them).
 */
#ifndef CONTRACT_H
#define CONTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "projections.h"

/* One stretch of a contract at one annual value; both days inclusive. */
struct contract_segment {
	int32_t first_day;
	int32_t last_day;
	int64_t annual_value_pence;
};

/*
 * A contract's events folded in event order: the last of each fact stands.
 * Points into the thing's envelopes: valid while the picture lives.
 */
struct contract {
	const struct thing *thing;
	const Commissioning__ContractAwarded *award;	  /* NULL: not awarded yet */
	const Commissioning__ContractTerminated *termination; /* NULL: none */
	const Commissioning__ContractVaried **variations; /* one per number, by number */
	size_t n_variations;
	struct contract_segment *segments; /* by first day; none before the award */
	size_t n_segments;
};

/* Fold thing (a THING_CONTRACT) into contract. 0, or -1 when out of memory
 * (contract is then empty and safe to release). */
int contract_fold(const struct thing *thing, struct contract *contract);

/* Free what contract_fold allocated. */
void contract_release(struct contract *contract);

#endif
