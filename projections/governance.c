/*
 * governance: placeholder so the tree builds while the area is written; it adds
 * no figures, and the example tests of this area fail until it does.
 */
#include "projections.h"

void
governance_figures(struct figures *fig)
{
	(void)fig;
}
