/*
 * log: stderr logging with sd-daemon priority prefixes, filtered by level.
 * Owns the program name and the current level.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "ratelimit.h"

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

/* libevent's own lines (accept() failing, a bad request it refuses) go
 * through the same rate limit as ours: written straight to stderr, a
 * failure libevent retries at once floods the journal. */
static void
log_on_libevent(int severity, const char *message)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", message);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", message);
		break;
	case EVENT_LOG_WARN:
		log_warning("libevent: %s", message);
		break;
	default:
		log_error("libevent: %s", message);
		break;
	}
}

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_current = level;
	event_set_log_callback(log_on_libevent);
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

/* Lines of one kind (one format string) beyond LOG_BURST in
 * LOG_WINDOW_SECONDS are counted, not written: a sender flooding garbage
 * must not flood the journal. */
#define LOG_BURST 20
#define LOG_WINDOW_SECONDS 10.0

static struct ratelimit log_limit = { .burst = LOG_BURST, .window_seconds = LOG_WINDOW_SECONDS };

/* One fact is one line, one write, never interleaved. A control character
 * is written as '?': a value quoted from input (a file name, an id) that
 * holds "\n<0>" would otherwise start a line of its own, which journald
 * takes at the priority it gives. Tabs stay. */
static void
log_write(enum log_level level, const char *line)
{
	char safe[1024];
	size_t n = 0;

	for (; line[n] != '\0' && n < sizeof(safe) - 1; n++)
		safe[n] = ((unsigned char)line[n] < 0x20 && line[n] != '\t') || line[n] == 0x7f
		    ? '?'
		    : line[n];
	safe[n] = '\0';
	fprintf(stderr, "<%d>%s: %s\n", (int)level, log_progname, safe);
}

#define LOG_CUT_MARK " [line cut]"

/* The message into line; one longer than the line says so at its end,
 * cut before a character of UTF-8, not inside one: a line cut silently
 * reads as whole, with the identifiers at its end simply missing. */
static void
log_format(char *line, size_t size, const char *fmt, va_list ap)
{
	int n = vsnprintf(line, size, fmt, ap);
	size_t at;

	if (n < 0)
		snprintf(line, size, "log: cannot format \"%.200s\"", fmt);
	if (n < 0 || (size_t)n < size)
		return;
	at = size - sizeof(LOG_CUT_MARK);
	while (at > 0 && ((unsigned char)line[at] & 0xc0) == 0x80)
		at--;
	memcpy(line + at, LOG_CUT_MARK, sizeof(LOG_CUT_MARK));
}

static void
log_report_suppressed(void *arg, const void *kind, uint64_t suppressed)
{
	char line[1024];
	const char *fmt = kind;

	(void)arg;
	/* The format, not the values: no identifier of anyone in it. */
	snprintf(line, sizeof(line), "log: suppressed %llu similar messages like \"%.200s\"",
	    (unsigned long long)suppressed, fmt);
	log_write(LOG_LEVEL_WARNING, line);
}

static void
log_emit(enum log_level level, bool limited, const char *fmt, va_list ap)
{
	char line[1024];
	struct ratelimit_verdict v;

	if (level > log_current)
		return;
	if (limited) {
		v = ratelimit_check(&log_limit, fmt, clock_monotonic_seconds());
		if (v.report_suppressed > 0)
			log_report_suppressed(NULL, v.report_kind, v.report_suppressed);
		if (!v.allow)
			return;
	}
	log_format(line, sizeof(line), fmt, ap);
	log_write(level, line);
}

void
log_flush_suppressed(bool all)
{
	/* all: as if every window were over (at exit). */
	ratelimit_flush(&log_limit, all ? HUGE_VAL : clock_monotonic_seconds(),
	    log_report_suppressed, NULL);
}

#define LOG_DEFINE(fn, level, limited)             \
	void fn(const char *fmt, ...)              \
	{                                          \
		va_list ap;                        \
		va_start(ap, fmt);                 \
		log_emit(level, limited, fmt, ap); \
		va_end(ap);                        \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR, true)
LOG_DEFINE(log_warning, LOG_LEVEL_WARNING, true)
LOG_DEFINE(log_info, LOG_LEVEL_INFO, true)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG, true)
LOG_DEFINE(log_record, LOG_LEVEL_INFO, false)
LOG_DEFINE(log_record_warning, LOG_LEVEL_WARNING, false)

/* Never suppressed: the last words of the process. */
static void
log_vfatal(const char *fmt, va_list ap)
{
	char line[1024];

	log_format(line, sizeof(line), fmt, ap);
	log_write(LOG_LEVEL_ERROR, line);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vfatal(fmt, ap);
	va_end(ap);
	exit(1);
}
