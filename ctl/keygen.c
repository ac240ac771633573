/*
 * keygen: commissionctl's maker of CURVE key pairs, for commissiond itself
 * and for each adapter or subscriber (docs/SECURITY.md).
 */
#include <stdio.h>

#include "ctl.h"

int
ctl_keygen(const struct config *cfg, int argc, char **argv)
{
	char public_z85[CURVE_Z85_CHARS + 1], err[768];

	(void)cfg;
	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		fprintf(stderr, "usage: commissionctl keygen [DIR/]NAME\n");
		return CTL_USAGE;
	}
	if (curve_keygen(argv[1], public_z85, err, sizeof(err)) < 0) {
		fprintf(stderr, "commissionctl: keygen: %s\n", err);
		return CTL_REFUSED;
	}
	fprintf(stderr,
	    "commissionctl: wrote %s.key (the key pair: secret, mode 0600) and %s.pub (the "
	    "public key, for the other side)\n",
	    argv[1], argv[1]);
	printf("public-key = %s\n", public_z85);
	return CTL_OK;
}
