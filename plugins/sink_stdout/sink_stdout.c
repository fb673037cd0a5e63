/* sink_stdout: one NDJSON line per record,
 *   {"timestamp_ns":N,"key":"k"|null,"schema":"name"|null,"fields":{...}}
 * fields in record order, int64 exact, doubles with 17 significant digits (round-trip),
 * flushed after every batch so readers see whole batches. */
#include <sensord/plugin.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
  const sd_host_api *host;
  sd_stage *stage;
  FILE *file;
  int owned; /* opened by us (not stdout) */
  int64_t records;
  sd_metric *records_metric, *errors_metric;
} out;

static const sd_config_key keys[] = {
    {.name = "path",
     .type = SD_CFG_STRING,
     .default_value = "-",
     .description = "file to write (created or truncated at start); - = standard output"},
    {.name = NULL}};

/* Strings that are not valid UTF-8 get U+FFFD for each bad byte, so the line stays JSON. */
static json_t *string_value(const char *s, size_t len) {
  json_t *v = json_stringn(s, len);
  if (v) return v;
  char *fixed = malloc(len * 3 + 1);
  if (!fixed) return json_null();
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int ok = n > 0 && i + n <= len;
    for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
    if (ok && c) {
      memcpy(fixed + o, s + i, n);
      o += n;
      i += n;
    } else {
      memcpy(fixed + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  v = json_stringn(fixed, o);
  free(fixed);
  return v ? v : json_null();
}

static json_t *field_value(const sd_value *v) {
  switch (v->type) {
  case SD_BOOL:
    return json_boolean(v->as.i);
  case SD_INT:
    return json_integer((json_int_t)v->as.i);
  case SD_DOUBLE:
    return json_real(v->as.d); /* NaN and infinities become null */
  case SD_STRING:
    return string_value(v->as.s.ptr, (size_t)v->as.s.len);
  default:
    return json_null();
  }
}

static json_t *record_json(const sd_record_view *r, const char *schema) {
  json_t *fields = json_object();
  for (uint64_t i = 0; i < r->field_count; i++) {
    const sd_field *f = &r->fields[i];
    json_t *v = field_value(&f->value);
    json_object_setn_new(fields, f->name, (size_t)f->name_len, v ? v : json_null());
  }
  json_t *o = json_object();
  json_object_set_new(o, "timestamp_ns", json_integer((json_int_t)r->timestamp_ns));
  json_object_set_new(o, "key",
                      r->key ? string_value(r->key, (size_t)r->key_len) : json_null());
  json_object_set_new(o, "schema", schema ? json_string(schema) : json_null());
  json_object_set_new(o, "fields", fields);
  return o;
}

static sd_result stdout_init(const sd_host_api *host, sd_stage *stage, void **state) {
  out *o = calloc(1, sizeof *o);
  if (!o) return SD_ERR;
  o->host = host;
  o->stage = stage;
  const char *path = host->config_string(stage, "path");
  if (!path || strcmp(path, "-") == 0) {
    o->file = stdout;
  } else {
    o->file = fopen(path, "w");
    if (!o->file) {
      host->log(stage, SD_LOG_ERROR, "cannot open %s for writing: %s", path, strerror(errno));
      free(o);
      return SD_ERR;
    }
    o->owned = 1;
  }
  o->records_metric =
      host->counter(stage, "stdout_records_total", "Records sink_stdout wrote", NULL);
  o->errors_metric = host->counter(stage, "stdout_write_errors_total",
                                   "Batches sink_stdout failed to write", NULL);
  *state = o;
  return SD_OK;
}

static sd_result stdout_process(void *state, sd_delivery *d) {
  out *o = state;
  const sd_host_api *h = o->host;
  const sd_batch *b = h->delivery_batch(d);
  const sd_schema *schema = h->batch_schema(b);
  sd_schema_view sv = {0};
  if (schema) h->schema_view(schema, &sv);
  size_t n = h->batch_count(b);
  int failed = 0;
  for (size_t i = 0; i < n && !failed; i++) {
    sd_record_view r;
    if (h->batch_record(b, i, &r) != SD_OK) continue;
    json_t *j = record_json(&r, schema ? sv.name : NULL);
    if (json_dumpf(j, o->file, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0 ||
        fputc('\n', o->file) == EOF)
      failed = 1;
    json_decref(j);
  }
  if (fflush(o->file) != 0) failed = 1;
  if (failed) {
    h->metric_add(o->errors_metric, 1);
    h->log(o->stage, SD_LOG_ERROR, "writing a batch of %zu records failed: %s", n,
           strerror(errno));
    h->complete(d, SD_STATUS_RETRY);
    return SD_OK;
  }
  o->records += (int64_t)n;
  h->metric_add(o->records_metric, (double)n);
  h->complete(d, SD_STATUS_OK);
  return SD_OK;
}

static int64_t stdout_drain(void *state, int64_t deadline) {
  out *o = state;
  fflush(o->file);
  o->host->log(o->stage, SD_LOG_INFO, "drain: wrote %lld records", (long long)o->records);
  return 0;
}

static void stdout_destroy(void *state) {
  out *o = state;
  if (o->owned)
    fclose(o->file);
  else
    fflush(o->file);
  free(o);
}

static const sd_plugin_descriptor descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "sink_stdout",
    .version = "0.1.0",
    .description = "writes every record as one NDJSON line to standard output or a file",
    .kind = SD_KIND_SINK,
    .config_keys = keys,
    .init = stdout_init,
    .process = stdout_process,
    .drain = stdout_drain,
    .destroy = stdout_destroy,
};

SD_PLUGIN_DEFINE(descriptor)
