/*
 * log: stderr logging with sd-daemon priority prefixes, filtered by level.
 * Owns the program name and the current level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_progname = "commissiond";
static enum log_level log_current = LOG_LEVEL_INFO;

static const struct {
	const char *name;
	enum log_level level;
} log_levels[] = {
	{ "error", LOG_LEVEL_ERROR },
	{ "warning", LOG_LEVEL_WARNING },
	{ "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_current = level;
}

void
log_set_level(enum log_level level)
{
	log_current = level;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcmp(name, log_levels[i].name) == 0) {
			*level = log_levels[i].level;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "info";
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (level > log_current)
		return;
	/* Format first so that one fact is one write, never interleaved. */
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "<%d>%s: %s\n", (int)level, log_progname, line);
}

#define LOG_DEFINE(fn, level)                  \
	void fn(const char *fmt, ...)          \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		log_emit(level, fmt, ap);      \
		va_end(ap);                    \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warning, LOG_LEVEL_WARNING)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
