/* Daemon logging: one logfmt line per event on stderr
 * (ts= level= stage= plugin= msg= ...), a level per daemon and per stage, and rate limiting
 * of repeated messages so a flood of one error cannot drown the rest. */
#ifndef SD_CORE_LOG_H
#define SD_CORE_LOG_H

#include <sensord/plugin.h>
#include <stdarg.h>

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
#define LOG_WARN(...) log_msg(NULL, SD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_msg(NULL, SD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) log_msg(NULL, SD_LOG_DEBUG, __VA_ARGS__)

/* How many lines were suppressed by rate limiting since start (for /metrics). */
unsigned long log_suppressed_total(void);

#endif
