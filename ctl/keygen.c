/*
 * keygen: commissionctl's maker of CURVE key pairs, for commissiond itself
 * and for each adapter or subscriber (docs/SECURITY.md).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

#define KEYGEN_USAGE "usage: commissionctl keygen [DIR/]NAME\n"

/* Does path name a directory rather than a key (keys/, keys/., an
 * existing directory)? Its files would be hidden ones, keys/.key. */
static bool
keygen_names_directory(const char *path)
{
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	struct stat st;

	return name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

int
ctl_keygen(const struct config *cfg, int argc, char **argv)
{
	char public_z85[CURVE_Z85_CHARS + 1], err[768];

	(void)cfg;
	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		fprintf(stderr, KEYGEN_USAGE);
		return CTL_USAGE;
	}
	if (keygen_names_directory(argv[1])) {
		fprintf(stderr, "commissionctl: keygen: %s names a directory, not a key: give "
				"DIR/NAME (it writes DIR/NAME.key and DIR/NAME.pub)\n" KEYGEN_USAGE,
		    argv[1]);
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
