/* libFuzzer target over query_local's SQL front end and engine: the input is lexed, parsed
 * and planned into one arena kept across inputs (reset each time, as a long-lived process
 * reuses it), then run statement by statement the way the REST API and the INI run it:
 * DDL through ql_execute, SELECTs through ql_check_statement and ql_query_start with a few
 * records ingested and the windows ticked closed. Any crash, leak or report fails. */
#include "../../plugins/query_local/ql_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stage's default stream (plugin.c) and one with every type and a KEY column, so the
 * planner has columns of each type to resolve against. */
static const char *const fz_streams =
    "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "
    "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "
    "WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON');"
    "CREATE STREAM t (k STRING KEY, b BOOLEAN, i INTEGER, n BIGINT, d DOUBLE, s STRING, "
    "ts TIMESTAMP, `Quoted` VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', "
    "VALUE_FORMAT='JSON', PARTITIONS=2)";

static ql_arena fz_arena; /* kept across inputs: every reset hands its chunks back */
static int fz_ready;

typedef struct fz_rows {
  uint64_t hash;
  size_t rows, ncols;
  int ended;
} fz_rows;

static void fz_touch(fz_rows *r, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) r->hash = r->hash * 31 + (unsigned char)p[i];
}

static void fz_on_row(void *ctx, const sd_value *v, size_t n, int64_t rowtime_ns) {
  fz_rows *r = ctx;
  if (r->ncols && n != r->ncols) abort(); /* every row has the planned column count */
  r->rows++;
  r->hash += (uint64_t)rowtime_ns;
  for (size_t k = 0; k < n; k++) {
    if (v[k].type > SD_STRING) abort();
    if (v[k].type == SD_STRING)
      fz_touch(r, v[k].as.s.ptr, (size_t)v[k].as.s.len);
    else
      r->hash += (uint64_t)v[k].as.i;
  }
}

static void fz_on_end(void *ctx, const char *reason) {
  fz_rows *r = ctx;
  if (!reason) abort();
  r->ended++;
  fz_touch(r, reason, strlen(reason));
}

static int64_t fz_wall(void) {
  return 1700000000000000000ll;
}

/* Records of both streams' shapes: ordinary values, wrong types, NULLs, extremes. */
static void fz_ingest(ql_engine *e, int round) {
  static const char *const names[] = {"accelerometer", "gyroscope", "", "gravity"};
  sd_field f[16];
  size_t n = 0;
  int64_t t0 = 1700000000000ll + round * 1500;
#define FZ_F(nm, ty) (f[n].name = nm, f[n].name_len = strlen(nm), f[n].value.type = ty, &f[n++])
  FZ_F("name", SD_STRING)->value.as.s.ptr = names[round & 3];
  f[n - 1].value.as.s.len = strlen(names[round & 3]);
  FZ_F("time", SD_INT)->value.as.i = round == 2 ? INT64_MIN : t0 * 1000000;
  FZ_F("values_x", SD_DOUBLE)->value.as.d = round == 1 ? -0.0 : 0.5 * round;
  FZ_F("values_y", round == 3 ? SD_STRING : SD_DOUBLE)->value.as.d = 1e308;
  if (round == 3) f[n - 1].value.as.s.ptr = "2.5", f[n - 1].value.as.s.len = 3;
  FZ_F("values_z", SD_NULL);
  FZ_F("deviceId", SD_STRING)->value.as.s.ptr = round & 1 ? "phone-a" : "phone-b";
  f[n - 1].value.as.s.len = 7;
  FZ_F("b", round & 1 ? SD_BOOL : SD_STRING)->value.as.i = 1;
  if (!(round & 1)) f[n - 1].value.as.s.ptr = "TRUE", f[n - 1].value.as.s.len = 4;
  FZ_F("i", SD_INT)->value.as.i = round == 1 ? INT32_MAX : -round;
  FZ_F("n", SD_INT)->value.as.i = round == 2 ? INT64_MAX : round;
  FZ_F("d", SD_DOUBLE)->value.as.d = round == 0 ? 1e-300 : -1.5;
  FZ_F("s", SD_STRING)->value.as.s.ptr = "a%b_c\xc3\xa9";
  f[n - 1].value.as.s.len = 7;
  FZ_F("ts", round & 1 ? SD_INT : SD_STRING)->value.as.i = t0;
  if (!(round & 1))
    f[n - 1].value.as.s.ptr = "2024-01-02T03:04:05.678Z", f[n - 1].value.as.s.len = 24;
#undef FZ_F
  sd_record_view r = {.timestamp_ns = t0 * 1000000,
                      .key = round & 1 ? "key" : NULL,
                      .key_len = round & 1 ? 3 : 0,
                      .field_count = n,
                      .fields = f};
  ql_engine_ingest(e, NULL, &r);
}

/* Lexer and parser invariants the rest of the engine relies on. */
static void fz_check_tokens(const char *sql, size_t len) {
  ql_token *toks;
  size_t n;
  ql_error err;
  if (ql_lex(&fz_arena, sql, &toks, &n, &err) != 0) {
    if (err.code != 40001 || !memchr(err.message, 0, sizeof err.message)) abort();
    return;
  }
  if (n == 0 || toks[n - 1].kind != QL_TK_EOF) abort();
  for (size_t k = 0; k + 1 < n; k++)
    if (toks[k].offset + toks[k].length > len || !toks[k].value ||
        toks[k].src != sql + toks[k].offset)
      abort();
}

/* Plans every SELECT of the text against each stream directly, in the shared arena. The
 * planner rewrites the statement it plans, so each stream gets a fresh parse of it. */
static void fz_plan_all(ql_engine *e, const char *sql) {
  ql_error err;
  ql_stmt *s = ql_parse(&fz_arena, sql, &err);
  if (!s && err.code != 0 && err.code != 40001 && err.code != 50000) abort();
  for (; s; s = s->next) {
    if (!s->text || s->text[strlen(s->text) - 1] != ';') abort();
    if (s->kind != QL_S_SELECT) continue;
    for (ql_stream *st = e->streams; st; st = st->next) {
      ql_stmt *fresh = ql_parse(&fz_arena, s->text, &err);
      if (!fresh || fresh->kind != QL_S_SELECT || fresh->next) abort(); /* parsed once */
      ql_plan plan;
      if (ql_plan_select(&fz_arena, fresh, st, &plan, &err) == 0) {
        for (size_t k = 0; k < plan.ncols; k++)
          if (!plan.names[k] || !plan.proj[k]) abort();
      } else if (err.code != 40001 && err.code != 50000) {
        abort();
      }
    }
  }
}

/* Each statement on its own, as separate API requests would send it. */
static void fz_run_statements(ql_engine *e, const char *sql) {
  ql_arena a;
  ql_arena_init(&a);
  ql_error err;
  ql_stmt *first = ql_parse(&a, sql, &err);
  ql_query *running[8];
  fz_rows rows[8];
  size_t nrun = 0;
  for (ql_stmt *s = first; s; s = s->next) {
    if (s->kind != QL_S_SELECT) {
      json_t *out = ql_execute(e, s->text, &err);
      if (!out && !err.code) abort();
      json_decref(out);
      continue;
    }
    memset(&err, 0, sizeof err);
    ql_check_statement(e, s->text, &err); /* what `sensord -t` does with an INI query */
    if (nrun == sizeof running / sizeof *running) continue;
    fz_rows *r = &rows[nrun];
    memset(r, 0, sizeof *r);
    ql_query_opts o = {.earliest = (s->line & 1), .ad_hoc = 1};
    ql_query *q = ql_query_start(e, s->text, &o, fz_on_row, fz_on_end, r, &err);
    if (!q) {
      if (!err.code) abort();
      continue;
    }
    r->ncols = ql_query_column_count(q);
    for (size_t k = 0; k < r->ncols; k++)
      if (!ql_query_column_name(q, k) || !ql_query_column_type(q, k)) abort();
    running[nrun++] = q;
  }
  if (nrun) {
    for (int round = 0; round < 4; round++) {
      fz_ingest(e, round);
      ql_engine_tick(e, fz_wall() + round * 100000000ll);
    }
    ql_engine_tick(e, INT64_MAX / 2); /* closes every window */
    ql_stats st;
    ql_engine_stats(e, &st);
  }
  for (size_t k = 0; k < nrun; k++) ql_query_stop(running[k]);
  ql_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!fz_ready) {
    ql_arena_init(&fz_arena);
    fz_ready = 1;
  }
  char *sql = malloc(size + 1);
  if (!sql) return 0;
  memcpy(sql, data, size);
  sql[size] = 0; /* the API hands the engine a C string: text ends at the first NUL */
  size_t len = strlen(sql);

  ql_limits lim = {.max_push_queries = 4,
                   .retain_records = 8,
                   .retain_bytes = 1 << 16,
                   .retain_age_ns = 60000000000ll,
                   .emit_interval_ns = (size & 1) ? 0 : 1000000000ll,
                   .grace_ns = 1000000000ll,
                   .default_topic = "smartphone-sensor-data",
                   .now_wall_ns = fz_wall};
  ql_engine *e = ql_engine_new(&lim);
  if (!e) abort();
  ql_error err;
  json_t *made = ql_execute(e, fz_streams, &err);
  if (!made) abort();
  json_decref(made);

  ql_arena_reset(&fz_arena);
  fz_check_tokens(sql, len);
  fz_plan_all(e, sql);
  fz_run_statements(e, sql);

  ql_engine_free(e);
  free(sql);
  return 0;
}
