/*
 * log: one line a fact on stderr, with the sd-daemon priority prefix
 * ("<3>") journald reads. No patient data ever goes through here.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

/* Also routes libevent's own log lines through these functions (so
 * through the rate limit below), prefixed "libevent: ". */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
/* Parse "error", "warning", "info" or "debug"; -1 if none of those. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* At info, and never suppressed: the record of one unit of work that the
 * work itself bounds (a spool file taken or failed), which an operator
 * looks for line by line after a backlog. */
void log_record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_record_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lines of one kind beyond 20 in 10 s are counted, not written; this
 * writes "log: suppressed N similar messages" for the kinds whose window
 * is over (all: every kind, at exit). Call it now and then. */
void log_flush_suppressed(bool all);
/* Start-up failures only: log and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
