/* libFuzzer target over source_http's body handling: the input is parsed as a Sensor
 * Logger push and as flat records, and fed (in uneven chunks) through the gzip body buffer
 * whose inflated output is parsed again. Any crash, leak or sanitizer report fails. */
#include "../../plugins/source_http/body.h"
#include "../../plugins/source_http/ingest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A builder that reads every byte it is given, so sanitizers see bad pointers/lengths. */
typedef struct fz_sink {
  uint64_t hash;
  size_t records;
} fz_sink;

static void fz_touch(fz_sink *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) s->hash = s->hash * 31 + (unsigned char)p[i];
}
static int fz_begin(void *ctx, int64_t ts, const char *key, size_t key_len) {
  fz_sink *s = ctx;
  s->records++;
  s->hash += (uint64_t)ts;
  if (key) fz_touch(s, key, key_len);
  return 0;
}
static int fz_null(void *ctx, const char *name, size_t name_len) {
  fz_touch(ctx, name, name_len + 1); /* names are NUL-terminated too */
  return 0;
}
static int fz_bool(void *ctx, const char *name, size_t name_len, int v) {
  fz_touch(ctx, name, name_len + 1);
  ((fz_sink *)ctx)->hash += (unsigned)v;
  return 0;
}
static int fz_int(void *ctx, const char *name, size_t name_len, int64_t v) {
  fz_touch(ctx, name, name_len + 1);
  ((fz_sink *)ctx)->hash += (uint64_t)v;
  return 0;
}
static int fz_double(void *ctx, const char *name, size_t name_len, double v) {
  fz_touch(ctx, name, name_len + 1);
  ((fz_sink *)ctx)->hash += (uint64_t)(v == v);
  return 0;
}
static int fz_string(void *ctx, const char *name, size_t name_len, const char *v, size_t len) {
  fz_touch(ctx, name, name_len + 1);
  fz_touch(ctx, v, len);
  return 0;
}

static void fz_parse_all(const char *data, size_t len) {
  fz_sink sink = {0};
  rb_builder b = {.ctx = &sink,
                  .record_begin = fz_begin,
                  .field_null = fz_null,
                  .field_bool = fz_bool,
                  .field_int = fz_int,
                  .field_double = fz_double,
                  .field_string = fz_string};
  ing_summary sum;
  ing_error err;
  if (ing_parse_sensorlogger(data, len, 1, &b, &sum, &err) == 0) {
    if (!sum.reply || strlen(sum.reply) != sum.reply_len || sum.records != sink.records)
      abort();
    ing_summary_free(&sum);
  } else if (err.status != 400 && err.status != 422) {
    abort(); /* the builder never fails here, so neither may the parser */
  }
  sink.records = 0;
  ing_records_opts opts = {.time_field = "time", .key_field = "deviceId"};
  if (ing_parse_records(data, len, &opts, 1, &b, &sum, &err) == 0) {
    if (sum.records != sink.records) abort();
    ing_summary_free(&sum);
  } else if (err.status != 400 && err.status != 422) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* jansson wants no particular termination; a copy makes reads past size visible. */
  char *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  memcpy(copy, data, size);
  fz_parse_all(copy, size);

  body_buf body;
  body_init(&body, 1u << 20, BODY_GZIP, size);
  body_status st = BODY_OK;
  size_t off = 0, step = 1 + size % 977;
  while (off < size && st == BODY_OK) {
    size_t n = size - off < step ? size - off : step;
    st = body_append(&body, copy + off, n);
    off += n;
    step = step * 3 % 4093 + 1;
  }
  if (st == BODY_OK && body_finish(&body) == BODY_OK) {
    if (body.len > (1u << 20)) abort();
    fz_parse_all(body.data, body.len);
  }
  body_free(&body);
  free(copy);
  return 0;
}
