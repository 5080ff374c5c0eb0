/* log: the agent's structured log lines on stderr, one per event:
 *   ts=2024-05-01T12:00:00.123Z level=info component=loader msg="map reused" name=xdp_ct id=42
 * kv is a printf format for the key=value tail (NULL for none); values
 * that may hold spaces are quoted by the caller ("err=\"%s\""), and those
 * that may hold quotes go through log_esc(). */
#ifndef XDPATH_AGENT_LOG_H
#define XDPATH_AGENT_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Lines below this level are not written. */
extern enum log_level log_min_level;

/* "debug", "info", "warn", "error"; 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);

void log_kv(enum log_level level, const char *component, const char *msg, const char *kv, ...)
	__attribute__((format(printf, 4, 5)));

#define log_debug(comp, msg, ...) log_kv(LOG_DEBUG, comp, msg, __VA_ARGS__)
#define log_info(comp, msg, ...)  log_kv(LOG_INFO, comp, msg, __VA_ARGS__)
#define log_warn(comp, msg, ...)  log_kv(LOG_WARN, comp, msg, __VA_ARGS__)
#define log_error(comp, msg, ...) log_kv(LOG_ERROR, comp, msg, __VA_ARGS__)

/* s with quotes and backslashes escaped, for a quoted value: buf, cut to len. */
const char *log_esc(const char *s, char *buf, size_t len);

/* Route libbpf's own messages into the log (warnings as warn, the rest as debug). */
void log_libbpf(void);

#endif
