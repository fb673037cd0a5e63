/* sink_stdout: one NDJSON line per record,
 *   {"timestamp_ns":N,"key":"k"|null,"schema":"name"|null,"fields":{...}}
 * fields in record order, int64 exact, each double as the shortest text that reads back as
 * the same double; flushed after every batch so readers see whole batches. */
#include <sensord/plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
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

/* Writes s as a JSON string (jansson does the escaping). 0, or -1 on a write error. */
static int write_string(FILE *f, const char *s, size_t len) {
  json_t *v = string_value(s, len);
  int rc = json_dumpf(v, f, JSON_ENCODE_ANY);
  json_decref(v);
  return rc;
}

/* The shortest "%.*g" text of a finite d that strtod reads back as d, styled like
 * jansson's reals: plain notation for exponents -4..15 (100.0, 0.0001, not 1e2), else an
 * exponent without '+' or leading zeros (1e20, 1.5e-7); always a '.' or an 'e', so that
 * the value reads back as a double, not an integer. */
static void format_double(double d, char *buf, size_t size) {
  int digits = 17;
  for (int p = 1; p < 17; p++) {
    snprintf(buf, size, "%.*g", p, d);
    if (strtod(buf, NULL) == d) {
      digits = p;
      break;
    }
  }
  snprintf(buf, size, "%.*e", digits - 1, d); /* %g picks its notation by this exponent */
  int exp10 = atoi(strchr(buf, 'e') + 1);
  if (exp10 >= -4 && exp10 < 16 && digits <= exp10) digits = exp10 + 1; /* 100, not 1e+02 */
  snprintf(buf, size, "%.*g", digits, d);
  char *e = strchr(buf, 'e');
  if (!e) {
    if (!strchr(buf, '.')) strcat(buf, ".0");
    return;
  }
  char *from = e + 1, *to = e + 1;
  if (*from == '+')
    from++;
  else if (*from == '-')
    *to++ = *from++;
  while (*from == '0' && from[1]) from++;
  memmove(to, from, strlen(from) + 1);
}

static int write_value(FILE *f, const sd_value *v) {
  char buf[40];
  switch (v->type) {
  case SD_BOOL:
    return fputs(v->as.i ? "true" : "false", f) < 0 ? -1 : 0;
  case SD_INT:
    return fprintf(f, "%" PRId64, v->as.i) < 0 ? -1 : 0;
  case SD_DOUBLE:
    if (!isfinite(v->as.d)) return fputs("null", f) < 0 ? -1 : 0; /* JSON has no NaN */
    format_double(v->as.d, buf, sizeof buf);
    return fputs(buf, f) < 0 ? -1 : 0;
  case SD_STRING:
    return write_string(f, v->as.s.ptr, (size_t)v->as.s.len);
  default:
    return fputs("null", f) < 0 ? -1 : 0;
  }
}

/* One record as one line. 0, or -1 on a write error. */
static int write_record(FILE *f, const sd_record_view *r, const char *schema) {
  int rc = fprintf(f, "{\"timestamp_ns\":%" PRId64 ",\"key\":", r->timestamp_ns) < 0;
  rc |= r->key ? write_string(f, r->key, (size_t)r->key_len) : fputs("null", f) < 0;
  rc |= fputs(",\"schema\":", f) < 0;
  rc |= schema ? write_string(f, schema, strlen(schema)) : fputs("null", f) < 0;
  rc |= fputs(",\"fields\":{", f) < 0;
  for (uint64_t i = 0; i < r->field_count; i++) {
    const sd_field *fd = &r->fields[i];
    if (i) rc |= fputc(',', f) == EOF;
    rc |= write_string(f, fd->name, (size_t)fd->name_len) != 0;
    rc |= fputc(':', f) == EOF;
    rc |= write_value(f, &fd->value) != 0;
  }
  rc |= fputs("}}\n", f) < 0;
  return rc ? -1 : 0;
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
    if (write_record(o->file, &r, schema ? sv.name : NULL)) failed = 1;
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
