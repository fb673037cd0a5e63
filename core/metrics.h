/* Metrics registry: counters, gauges and histograms with atomic updates, grouped in
 * families by name and rendered in the Prometheus text exposition format. */
#ifndef SD_CORE_METRICS_H
#define SD_CORE_METRICS_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdio.h>

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

/* name without the "sensord_" prefix; labels rendered inside {…} as given (e.g.
 * `stage="a",plugin="b"`), may be NULL. Registering the same name and labels twice returns
 * the same metric. An invalid name or a type clash returns a detached metric that is
 * updated but never rendered (and logs why), so callers never get NULL. */
sd_metric *metrics_register(metric_type type, const char *name, const char *help,
                            const char *labels, const double *buckets, size_t bucket_count);
void metrics_add(sd_metric *m, double delta);
void metrics_set(sd_metric *m, double value);
void metrics_observe(sd_metric *m, double value);
double metrics_value(const sd_metric *m); /* counter/gauge value, histogram count */

/* Renders every family, sorted by registration order, into a fresh string. */
char *metrics_render(size_t *len);
/* Frees everything (at exit, after every user is gone). */
void metrics_reset(void);

/* Escapes a label value for the text format ("\\", "\"", "\n"). Fresh string. */
char *metrics_escape_label(const char *value);

#endif
