/* Text rendering of records built through rb_builder, for source_http unit tests. */
#include "recorder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rec_fail(recorder *r) {
  r->calls++;
  return r->fail_at && r->calls >= r->fail_at;
}

static int rec_append(recorder *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rec_append(recorder *r, const char *fmt, ...) {
  char *more = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&more, fmt, ap);
  va_end(ap);
  if (n < 0 || r->count == 0) {
    free(more);
    return -1;
  }
  char **line = &r->lines[r->count - 1];
  size_t old = strlen(*line);
  char *p = realloc(*line, old + (size_t)n + 1);
  if (!p) {
    free(more);
    return -1;
  }
  memcpy(p + old, more, (size_t)n + 1);
  *line = p;
  free(more);
  return 0;
}

static int rec_begin(void *ctx, int64_t ts, const char *key, size_t key_len) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    char **p = realloc(r->lines, cap * sizeof *p);
    if (!p) return -1;
    r->lines = p;
    r->cap = cap;
  }
  r->lines[r->count++] = strdup("");
  if (key) return rec_append(r, "@%lld key=%.*s |", (long long)ts, (int)key_len, key);
  return rec_append(r, "@%lld nokey |", (long long)ts);
}

static int rec_null(void *ctx, const char *name, size_t name_len) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  return rec_append(r, " %.*s:n", (int)name_len, name);
}

static int rec_bool(void *ctx, const char *name, size_t name_len, int v) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  return rec_append(r, " %.*s:b=%s", (int)name_len, name, v ? "true" : "false");
}

static int rec_int(void *ctx, const char *name, size_t name_len, int64_t v) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  return rec_append(r, " %.*s:i=%lld", (int)name_len, name, (long long)v);
}

static int rec_double(void *ctx, const char *name, size_t name_len, double v) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  return rec_append(r, " %.*s:d=%.17g", (int)name_len, name, v);
}

static int rec_string(void *ctx, const char *name, size_t name_len, const char *v, size_t len) {
  recorder *r = ctx;
  if (rec_fail(r)) return -1;
  return rec_append(r, " %.*s:s=%.*s", (int)name_len, name, (int)len, v);
}

void recorder_init(recorder *r) {
  memset(r, 0, sizeof *r);
  r->builder = (rb_builder){.ctx = r,
                            .record_begin = rec_begin,
                            .field_null = rec_null,
                            .field_bool = rec_bool,
                            .field_int = rec_int,
                            .field_double = rec_double,
                            .field_string = rec_string};
}

void recorder_free(recorder *r) {
  for (size_t i = 0; i < r->count; i++) free(r->lines[i]);
  free(r->lines);
  r->lines = NULL;
  r->count = r->cap = 0;
}

const char *recorder_line(const recorder *r, size_t i) {
  return i < r->count ? r->lines[i] : "";
}
