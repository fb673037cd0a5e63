/* sd_host_api: thin adapters from the public ABI to batch.c, flow.c, stage.c, metrics.c,
 * config.h and log.h. Every entry is filled; the table is immutable after start. */
#include "host.h"

#include "batch.h"
#include "metrics.h"
#include "stage.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void h_vlog(sd_stage *st, sd_log_level level, const char *fmt, va_list ap) {
  log_vmsg(st ? &st->origin : NULL, level, fmt, ap);
}

static void h_log(sd_stage *st, sd_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  h_vlog(st, level, fmt, ap);
  va_end(ap);
}

static int h_log_enabled(sd_stage *st, sd_log_level level) {
  return log_enabled(st ? &st->origin : NULL, level);
}

static const char *h_stage_name(sd_stage *st) {
  return st ? st->name : "";
}
static const char *h_config_string(sd_stage *st, const char *key) {
  return cfg_get_string(st->values, key);
}
static int64_t h_config_int(sd_stage *st, const char *key) {
  return cfg_get_int(st->values, key);
}
static int h_config_bool(sd_stage *st, const char *key) {
  return cfg_get_bool(st->values, key);
}
static double h_config_double(sd_stage *st, const char *key) {
  return cfg_get_double(st->values, key);
}
static int64_t h_config_size(sd_stage *st, const char *key) {
  return cfg_get_size(st->values, key);
}
static int64_t h_config_duration(sd_stage *st, const char *key) {
  return cfg_get_duration(st->values, key);
}
static int h_config_enum(sd_stage *st, const char *key) {
  return cfg_get_enum(st->values, key);
}
static size_t h_config_list_count(sd_stage *st, const char *key) {
  return cfg_get_list_count(st->values, key);
}
static const char *h_config_list_item(sd_stage *st, const char *key, size_t index) {
  return cfg_get_list_item(st->values, key, index);
}
static void h_config_each(sd_stage *st, const char *prefix, sd_config_each_fn fn, void *ctx) {
  cfg_each(st->values, prefix, fn, ctx);
}

static sd_result h_config_error(sd_stage *st, const char *key, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *plugin = st->plugin ? st->plugin->name : "?";
  int line = key ? cfg_line(st->values, key) : st->line;
  const char *path = cfg_path(st->values);
  if (st->validate_errs) {
    if (key)
      sd_errors_add(st->validate_errs, "%s:%d: stage \"%s\" (%s): key \"%s\": %s", path, line,
                    st->name, plugin, key, msg);
    else
      sd_errors_add(st->validate_errs, "%s:%d: stage \"%s\" (%s): %s", path, line, st->name,
                    plugin, msg);
  } else {
    log_msg(&st->origin, SD_LOG_ERROR, "%s:%d: key \"%s\": %s", path, line, key ? key : "",
            msg);
  }
  return SD_ERR;
}

static const char *h_asset_dir(sd_stage *st) {
  return st->asset_dir;
}

static sd_batch *h_batch_new(sd_stage *st, size_t hint) {
  return batch_new(st, hint);
}

static void h_batch_free(sd_batch *b) {
  if (!b) return;
  if (atomic_load(&b->emitted)) {
    sd_stage *st = b->stage;
    log_msg(st ? &st->origin : NULL, SD_LOG_ERROR,
            "plugin bug: batch_free() of an emitted batch (the core owns it); ignored");
    return;
  }
  batch_destroy(b);
}

static sd_result h_record_begin(sd_batch *b, int64_t ts, const char *key, size_t key_len) {
  return batch_record_begin(b, ts, key, key_len);
}

static sd_result h_field_null(sd_batch *b, const char *name, size_t name_len) {
  sd_value v = {.type = SD_NULL};
  return batch_field(b, name, name_len, &v);
}
static sd_result h_field_bool(sd_batch *b, const char *name, size_t name_len, int x) {
  sd_value v = {.type = SD_BOOL, .as.i = x != 0};
  return batch_field(b, name, name_len, &v);
}
static sd_result h_field_int(sd_batch *b, const char *name, size_t name_len, int64_t x) {
  sd_value v = {.type = SD_INT, .as.i = x};
  return batch_field(b, name, name_len, &v);
}
static sd_result h_field_double(sd_batch *b, const char *name, size_t name_len, double x) {
  sd_value v = {.type = SD_DOUBLE, .as.d = x};
  return batch_field(b, name, name_len, &v);
}
static sd_result h_field_string(sd_batch *b, const char *name, size_t name_len, const char *s,
                                size_t len) {
  sd_value v = {.type = SD_STRING, .as.s = {s, len}};
  return batch_field(b, name, name_len, &v);
}
static sd_result h_field_value(sd_batch *b, const char *name, size_t name_len,
                               const sd_value *v) {
  return batch_field(b, name, name_len, v);
}

static size_t h_batch_count(const sd_batch *b) {
  return batch_count(b);
}
static size_t h_batch_bytes(const sd_batch *b) {
  return batch_bytes(b);
}
static sd_result h_batch_record(const sd_batch *b, size_t i, sd_record_view *out) {
  return batch_view(b, i, out);
}
static const sd_schema *h_batch_schema(const sd_batch *b) {
  return b ? b->schema : NULL;
}

static sd_schema *h_schema_new(sd_stage *st, const char *name, size_t n,
                               const char *const *cols, const char *const *types) {
  (void)st;
  return schema_new(name, n, cols, types);
}
static void h_schema_release(sd_schema *s) {
  schema_release(s);
}
static void h_batch_set_schema(sd_batch *b, sd_schema *s) {
  batch_set_schema(b, s);
}
static void h_schema_view(const sd_schema *s, sd_schema_view *out) {
  schema_view(s, out);
}

static sd_result h_emit(sd_stage *st, sd_batch *b, sd_ack_fn ack, void *ctx) {
  return flow_emit(st, b, ack, ctx);
}
static void h_complete(sd_delivery *d, sd_status status) {
  flow_complete(d, status);
}
static const sd_batch *h_delivery_batch(const sd_delivery *d) {
  return d ? d->batch : NULL;
}

static sd_metric *plugin_metric(sd_stage *st, metric_type type, const char *name,
                                const char *help, const char *labels, const double *buckets,
                                size_t bucket_count) {
  char *all = labels && *labels ? xasprintf("%s,%s", st->labels, labels) : xstrdup(st->labels);
  sd_metric *m = metrics_register(type, name, help, all, buckets, bucket_count);
  free(all);
  return m;
}
static sd_metric *h_counter(sd_stage *st, const char *name, const char *help,
                            const char *labels) {
  return plugin_metric(st, METRIC_COUNTER, name, help, labels, NULL, 0);
}
static sd_metric *h_gauge(sd_stage *st, const char *name, const char *help,
                          const char *labels) {
  return plugin_metric(st, METRIC_GAUGE, name, help, labels, NULL, 0);
}
static sd_metric *h_histogram(sd_stage *st, const char *name, const char *help,
                              const char *labels, const double *buckets, size_t count) {
  return plugin_metric(st, METRIC_HISTOGRAM, name, help, labels, buckets, count);
}
static void h_metric_add(sd_metric *m, double d) {
  metrics_add(m, d);
}
static void h_metric_set(sd_metric *m, double v) {
  metrics_set(m, v);
}
static void h_metric_observe(sd_metric *m, double v) {
  metrics_observe(m, v);
}

static sd_timer *h_timer_start(sd_stage *st, int64_t interval, int repeat, sd_timer_fn fn) {
  return stage_timer_start(st, interval, repeat, fn);
}
static void h_timer_stop(sd_timer *t) {
  stage_timer_stop(t);
}
static void h_wakeup(sd_stage *st) {
  if (st) stage_wakeup(st);
}
static int h_stopping(sd_stage *st) {
  return st && atomic_load(&st->pl->stopping);
}

static const sd_host_api table = {
    .struct_size = sizeof(sd_host_api),
    .abi_minor = SD_ABI_MINOR,
    .log = h_log,
    .vlog = h_vlog,
    .log_enabled = h_log_enabled,
    .stage_name = h_stage_name,
    .config_string = h_config_string,
    .config_int = h_config_int,
    .config_bool = h_config_bool,
    .config_double = h_config_double,
    .config_size = h_config_size,
    .config_duration = h_config_duration,
    .config_enum = h_config_enum,
    .config_list_count = h_config_list_count,
    .config_list_item = h_config_list_item,
    .config_each = h_config_each,
    .config_error = h_config_error,
    .asset_dir = h_asset_dir,
    .batch_new = h_batch_new,
    .batch_free = h_batch_free,
    .record_begin = h_record_begin,
    .field_null = h_field_null,
    .field_bool = h_field_bool,
    .field_int = h_field_int,
    .field_double = h_field_double,
    .field_string = h_field_string,
    .field_value = h_field_value,
    .batch_count = h_batch_count,
    .batch_bytes = h_batch_bytes,
    .batch_record = h_batch_record,
    .batch_schema = h_batch_schema,
    .schema_new = h_schema_new,
    .schema_release = h_schema_release,
    .batch_set_schema = h_batch_set_schema,
    .schema_view = h_schema_view,
    .emit = h_emit,
    .complete = h_complete,
    .delivery_batch = h_delivery_batch,
    .counter = h_counter,
    .gauge = h_gauge,
    .histogram = h_histogram,
    .metric_add = h_metric_add,
    .metric_set = h_metric_set,
    .metric_observe = h_metric_observe,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .wakeup = h_wakeup,
    .now_mono_ns = util_now_mono_ns,
    .now_wall_ns = util_now_wall_ns,
    .stopping = h_stopping,
};

const sd_host_api *host_api(void) {
  return &table;
}
