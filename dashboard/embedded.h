/*
 * embedded: the dashboard's files, compiled into commissiond at build time
 * by tools/embed (build/gen/embedded_files.c), so that nothing is fetched
 * from elsewhere when it runs.
 */
#ifndef EMBEDDED_H
#define EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *path;	  /* the URL path: "/index.html" */
	const char *content_type; /* "text/html; charset=utf-8" */
	const unsigned char *data;
	size_t len;
};

extern const struct embedded_file embedded_files[];
extern const size_t n_embedded_files;

#endif
