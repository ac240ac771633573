/*
 * driver: replays inputs through a fuzz target without libFuzzer, for the
 * regression tests: each file named, and every file under each directory
 * named, goes once through LLVMFuzzerTestOneInput. A fault aborts (with the
 * sanitizers' report); otherwise it prints how many inputs ran and exits 0.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read the whole file at path into a new buffer; NULL with errno set. */
static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			uint8_t *grown = realloc(buf, cap ? cap * 2 : 4096);
			if (grown == NULL) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = grown;
			cap = cap ? cap * 2 : 4096;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	/* Exactly n bytes, as libFuzzer gives them, so that AddressSanitizer
	 * sees a read past the end of the input. */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact != NULL)
		memcpy(exact, buf, n);
	free(buf);
	if (exact == NULL)
		errno = ENOMEM;
	*len = n;
	return exact;
}

/* Run path (a file, or every file under a directory); -1 on a read error. */
static int
replay(const char *path, size_t *count)
{
	struct stat st;
	uint8_t *data;
	size_t len;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *dir = opendir(path);
		struct dirent *de;
		int rc = 0;

		if (dir == NULL) {
			fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
			return -1;
		}
		while ((de = readdir(dir)) != NULL) {
			char sub[4096];
			if (de->d_name[0] == '.')
				continue;
			if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >=
			    (int)sizeof(sub)) {
				fprintf(stderr, "fuzz-replay: %s/%s: path too long\n", path,
				    de->d_name);
				rc = -1;
				continue;
			}
			if (replay(sub, count) < 0)
				rc = -1;
		}
		closedir(dir);
		return rc;
	}
	data = read_file(path, &len);
	if (data == NULL) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	(*count)++;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (replay(argv[i], &count) < 0)
			rc = 2;
	printf("fuzz-replay: %zu inputs\n", count);
	return rc;
}
