/* Daemon logging: one logfmt line per event on stderr
 * (ts= level= stage= plugin= msg= ...), a level per daemon and per stage, and rate limiting
 * of repeated messages so a flood of one error cannot drown the rest. */
#ifndef SD_CORE_LOG_H
#define SD_CORE_LOG_H

#include <sensord/plugin.h>
#include <stdarg.h>
#include <stdint.h>

/* Where a line comes from; NULL fields are left out of the line. */
typedef struct log_origin {
  const char *stage;
  const char *plugin;
  int level; /* this origin's threshold (sd_log_level); -1 = use the daemon's */
} log_origin;

void log_set_level(sd_log_level level);
sd_log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int log_parse_level(const char *text);
const char *log_level_name(sd_log_level level);
int log_enabled(const log_origin *origin, sd_log_level level);

void log_msg(const log_origin *origin, sd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(const log_origin *origin, sd_log_level level, const char *fmt, va_list ap);

/* Core messages without a stage. */
#define LOG_ERROR(...) log_msg(NULL, SD_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  log_msg(NULL, SD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...)  log_msg(NULL, SD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) log_msg(NULL, SD_LOG_DEBUG, __VA_ARGS__)

/* How many lines were suppressed by rate limiting since start (for /metrics). */
unsigned long log_suppressed_total(void);

/* ---- Output, rate limit and clock control (tests, shutdown, a periodic tick) ----------
 * Defaults: stderr, at most 10 lines per (origin, format) in any 10 s window, real clocks. */
void log_set_output(int fd);
/* max_lines == 0 turns rate limiting off. */
void log_set_rate_limit(unsigned max_lines, int64_t window_ns);
/* NULL restores the real CLOCK_MONOTONIC / CLOCK_REALTIME. */
void log_set_clock(int64_t (*mono_ns)(void), int64_t (*wall_ns)(void));
/* Writes the "suppressed N repeats of: ..." line of every window that has ended. Logging
 * does this by itself on the next line; a periodic call makes it timely on a quiet daemon. */
void log_tick(void);
/* Writes every pending "suppressed" line (window ended or not) and frees the rate-limit
 * table. Logging keeps working afterwards. */
void log_shutdown(void);

#endif
