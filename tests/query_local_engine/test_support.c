/* Test helpers for the query_local engine: record building, row collection and rendering,
 * sample payload flattening (like source_http), and /ksql calls rendered as text. */
#include "test_support.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ql_format_double(double d, char *buf, size_t len);

void ts_record_init(ts_record *r, int64_t timestamp_ns) {
  memset(&r->view, 0, sizeof r->view);
  r->view.timestamp_ns = timestamp_ns;
  r->view.fields = r->fields;
  r->used = 0;
}

static const char *keep(ts_record *r, const char *s) {
  size_t n = strlen(s) + 1;
  if (r->used + n > sizeof r->strings) abort();
  char *p = r->strings + r->used;
  memcpy(p, s, n);
  r->used += n;
  return p;
}

static sd_field *add(ts_record *r, const char *name, uint32_t type) {
  if (r->view.field_count >= TS_MAX_FIELDS) abort();
  sd_field *f = &r->fields[r->view.field_count++];
  memset(f, 0, sizeof *f);
  f->name = keep(r, name);
  f->name_len = strlen(name);
  f->value.type = type;
  return f;
}

void ts_field_str(ts_record *r, const char *name, const char *v) {
  sd_field *f = add(r, name, SD_STRING);
  f->value.as.s.ptr = keep(r, v);
  f->value.as.s.len = strlen(v);
}
void ts_field_int(ts_record *r, const char *name, int64_t v) {
  add(r, name, SD_INT)->value.as.i = v;
}
void ts_field_double(ts_record *r, const char *name, double v) {
  add(r, name, SD_DOUBLE)->value.as.d = v;
}
void ts_field_bool(ts_record *r, const char *name, int v) {
  add(r, name, SD_BOOL)->value.as.i = !!v;
}
void ts_field_null(ts_record *r, const char *name) {
  add(r, name, SD_NULL);
}

char *ts_render(const sd_value *values, size_t n) {
  size_t cap = 64, len = 0;
  char *out = malloc(cap);
  out[len++] = '[';
  for (size_t k = 0; k < n; k++) {
    char buf[96];
    const char *piece = buf;
    size_t plen;
    char *tmp = NULL;
    switch (values[k].type) {
    case SD_NULL:
      snprintf(buf, sizeof buf, "null");
      break;
    case SD_BOOL:
      snprintf(buf, sizeof buf, "%s", values[k].as.i ? "true" : "false");
      break;
    case SD_INT:
      snprintf(buf, sizeof buf, "%lld", (long long)values[k].as.i);
      break;
    case SD_DOUBLE:
      ql_format_double(values[k].as.d, buf, sizeof buf);
      break;
    default:
      tmp = malloc(values[k].as.s.len + 3);
      tmp[0] = '"';
      memcpy(tmp + 1, values[k].as.s.ptr, values[k].as.s.len);
      tmp[values[k].as.s.len + 1] = '"';
      tmp[values[k].as.s.len + 2] = 0;
      piece = tmp;
    }
    plen = strlen(piece);
    while (len + plen + 3 > cap) out = realloc(out, cap *= 2);
    if (k) out[len++] = ',';
    memcpy(out + len, piece, plen);
    len += plen;
    free(tmp);
  }
  out[len++] = ']';
  out[len] = 0;
  return out;
}

void ts_on_row(void *ctx, const sd_value *values, size_t n, int64_t rowtime_ns) {
  ts_rows *r = ctx;
  if (r->count == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->lines = realloc(r->lines, r->cap * sizeof *r->lines);
    r->rowtime_ns = realloc(r->rowtime_ns, r->cap * sizeof *r->rowtime_ns);
  }
  r->rowtime_ns[r->count] = rowtime_ns;
  r->lines[r->count++] = ts_render(values, n);
}

void ts_on_end(void *ctx, const char *reason) {
  ts_rows *r = ctx;
  r->ended++;
  snprintf(r->reason, sizeof r->reason, "%s", reason);
}

void ts_rows_free(ts_rows *r) {
  for (size_t k = 0; k < r->count; k++) free(r->lines[k]);
  free(r->lines);
  free(r->rowtime_ns);
  memset(r, 0, sizeof *r);
}

static void add_json(ts_record *r, const char *name, json_t *v) {
  if (json_is_integer(v))
    ts_field_int(r, name, json_integer_value(v));
  else if (json_is_real(v))
    ts_field_double(r, name, json_real_value(v));
  else if (json_is_string(v))
    ts_field_str(r, name, json_string_value(v));
  else if (json_is_boolean(v))
    ts_field_bool(r, name, json_is_true(v));
  else
    ts_field_null(r, name);
}

size_t ts_load_samples(const char *path, ts_record **out) {
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc) {
    fprintf(stderr, "%s: %s\n", path, jerr.text);
    *out = NULL;
    return 0;
  }
  json_t *payload = json_object_get(doc, "payload");
  size_t n = json_array_size(payload);
  ts_record *recs = calloc(n ? n : 1, sizeof *recs);
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_array_get(payload, i);
    int64_t t = json_integer_value(json_object_get(item, "time"));
    ts_record *r = &recs[i];
    ts_record_init(r, t);
    ts_field_str(r, "name", json_string_value(json_object_get(item, "name")));
    ts_field_int(r, "time", t);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(item, "values"), k, v) {
      char name[128];
      snprintf(name, sizeof name, "values_%s", k);
      add_json(r, name, v);
    }
    add_json(r, "messageId", json_object_get(doc, "messageId"));
    add_json(r, "sessionId", json_object_get(doc, "sessionId"));
    add_json(r, "deviceId", json_object_get(doc, "deviceId"));
  }
  /* views point into each record: fix them up after the array stopped moving */
  for (size_t i = 0; i < n; i++) recs[i].view.fields = recs[i].fields;
  json_decref(doc);
  *out = recs;
  return n;
}

char *ts_execute(ql_engine *e, const char *sql) {
  ql_error err = {0};
  json_t *r = ql_execute(e, sql, &err);
  if (!r) {
    char *s = malloc(strlen(err.message) + 32);
    sprintf(s, "ERR %d: %s", err.code, err.message);
    return s;
  }
  char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(r);
  return s;
}
