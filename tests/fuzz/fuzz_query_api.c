/* libFuzzer target over query_local's REST API request bodies: the input is POSTed, as the
 * transports hand it over, to /ksql, /query-stream, /query and /close-query (api_route: the
 * JSON body, its "ksql" / "sql" / "properties" / "streamsProperties" / "queryId" fields, the
 * statement count, the push-query start). Every push query that starts gets rows, is closed
 * by its queryId and read to its end, and each answer is checked: error bodies are ksqlDB
 * error objects matching the status, and a finished stream is valid JSON in its format. */
#include "../../plugins/query_local/api_server.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what api_server.c (the listener) would provide --------------------------------- */

static void fz_metric_add(sd_metric *m, double d) {
  (void)m, (void)d;
}
static void fz_metric_set(sd_metric *m, double v) {
  (void)m, (void)v;
}
static const sd_host_api fz_host = {.metric_add = fz_metric_add, .metric_set = fz_metric_set};

void api_count_request(api_server *srv, const char *endpoint, int status) {
  if (!endpoint || status < 100 || status > 599) abort();
}

/* ---- the engine as the stage sets it up ---------------------------------------------- */

static const char *const fz_streams =
    "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "
    "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "
    "WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON');";

static int64_t fz_wall(void) {
  return 1700000000000000000ll;
}

static void fz_ingest(ql_engine *e, int round) {
  static const char *const names[] = {"accelerometer", "gyroscope", "gravity"};
  int64_t t_ms = 1700000000000ll + round * 700;
  sd_field f[8];
  memset(f, 0, sizeof f);
  size_t n = 0;
#define FZ_S(nm, v)                                                                            \
  (f[n].name = nm, f[n].name_len = strlen(nm), f[n].value.type = SD_STRING,                    \
   f[n].value.as.s.ptr = v, f[n].value.as.s.len = strlen(v), n++)
#define FZ_D(nm, v)                                                                            \
  (f[n].name = nm, f[n].name_len = strlen(nm), f[n].value.type = SD_DOUBLE,                    \
   f[n].value.as.d = v, n++)
  FZ_S("name", names[round % 3]);
  f[n].name = "time", f[n].name_len = 4, f[n].value.type = SD_INT;
  f[n++].value.as.i = t_ms * 1000000;
  FZ_D("values_x", 0.25 * round);
  FZ_D("values_y", round == 1 ? 1e300 : -0.0);
  FZ_D("values_z", 1.0 / 3);
  FZ_S("deviceId", round & 1 ? "phone-\"a\"" : "phone-\xc3\xa9");
  FZ_S("sessionId", "s");
#undef FZ_S
#undef FZ_D
  sd_record_view r = {
      .timestamp_ns = t_ms * 1000000, .key = "k", .key_len = 1, .field_count = n, .fields = f};
  ql_engine_ingest(e, NULL, &r);
}

/* ---- checks --------------------------------------------------------------------------- */

static void fz_fail(const char *what, const char *a, size_t alen) {
  fprintf(stderr, "fuzz_query_api: %s: %.*s\n", what, (int)alen, a ? a : "");
  abort();
}

static json_t *fz_parse_answer(const char *s, size_t n, size_t flags) {
  json_error_t jerr;
  return json_loadb(s, n, flags, &jerr);
}

/* A non-streaming answer: 200 with a JSON body, 307 without, or a ksqlDB error object whose
 * error_code is the status times 100 plus a detail. */
static void fz_check_reply(const api_reply *r) {
  if (r->status == 307 || (r->status == 200 && !r->body)) return;
  if (!r->body || !r->content_type) fz_fail("reply without a body", NULL, 0);
  json_t *j = fz_parse_answer(r->body, r->body_len, 0);
  if (!j) fz_fail("reply body is not JSON", r->body, r->body_len);
  if (r->status != 200) {
    json_t *code = json_object_get(j, "error_code");
    if (!json_is_integer(code) || json_integer_value(code) / 100 != r->status ||
        !json_is_string(json_object_get(j, "message")))
      fz_fail("error body does not match the status", r->body, r->body_len);
  } else if (!json_is_array(j)) {
    fz_fail("/ksql answer is not an array", r->body, r->body_len);
  }
  json_decref(j);
}

typedef struct fz_push {
  api_push *push;
  api_format fmt;
  api_buf out;
} fz_push;

/* Reads what is queued; returns 1 when the body is complete. */
static int fz_drain(fz_push *p) {
  char buf[300];
  for (;;) {
    int last = 0;
    size_t left = 0;
    ssize_t n = api_push_read(p->push, buf, sizeof buf, 0, &last, &left, NULL, NULL);
    if (n == -1) return 1;
    if (n == 0) return 0;
    if (n < 0) fz_fail("read error", NULL, 0);
    api_buf_put(&p->out, buf, (size_t)n);
    if (last) return 1;
  }
}

static void fz_check_stream(fz_push *p) {
  /* The closer ("]" or nothing) is queued with the last line: the body is whole here. */
  const char *s = p->out.data ? p->out.data : "";
  size_t len = p->out.len;
  if (p->fmt == API_FMT_DELIMITED) {
    for (const char *line = s; line < s + len;) {
      const char *nl = memchr(line, '\n', (size_t)(s + len - line));
      size_t n = nl ? (size_t)(nl - line) : (size_t)(s + len - line);
      json_t *j = n ? fz_parse_answer(line, n, 0) : NULL;
      if (n && !j) fz_fail("delimited line is not JSON", line, n);
      json_decref(j);
      line += n + 1;
    }
  } else if (p->fmt == API_FMT_V1) {
    /* ksqlDB's framing, which its clients read line by line: "[", one object per line each
     * followed by ",\n" (an error line too), the final message, "]". After an error the
     * body ends "},\n]": not one JSON value, and test_api_json.c pins it so. */
    if (len < 2 || s[0] != '[' || s[len - 1] != ']') fz_fail("v1 body not in [ ]", s, len);
    for (const char *line = s + 1; line < s + len - 1;) {
      const char *nl = memchr(line, '\n', (size_t)(s + len - 1 - line));
      size_t n = nl ? (size_t)(nl - line) : (size_t)(s + len - 1 - line);
      size_t m = n && line[n - 1] == ',' ? n - 1 : n;
      if (m) {
        json_t *j = fz_parse_answer(line, m, 0);
        if (!json_is_object(j) || json_object_size(j) != 1 ||
            !(json_object_get(j, "header") || json_object_get(j, "row") ||
              json_object_get(j, "errorMessage") || json_object_get(j, "finalMessage")))
          fz_fail("v1 line is not one StreamedRow object", line, n);
        json_decref(j);
      }
      line += n + 1;
    }
  } else {
    json_t *j = fz_parse_answer(s, len, 0);
    if (!json_is_array(j)) fz_fail("stream body is not a JSON array", s, len);
    json_decref(j);
  }
}

/* queryId from the header, which every format starts with: {"queryId":…} (delimited),
 * [{"queryId":…}, (JSON) or [{"header":{"queryId":…}}, (v1). NULL when absent. */
static char *fz_query_id(const fz_push *p) {
  const char *s = p->out.data;
  if (!s) return NULL;
  size_t n = p->out.len;
  if (n && s[0] == '[') s++, n--;
  json_error_t jerr;
  json_t *j = json_loadb(s, n, JSON_DISABLE_EOF_CHECK, &jerr); /* the first value only */
  json_t *h = json_object_get(j, "header");
  const char *id = json_string_value(json_object_get(h ? h : j, "queryId"));
  char *out = id ? strdup(id) : NULL;
  json_decref(j);
  return out;
}

/* ---- the target ----------------------------------------------------------------------- */

static const char *const fz_accepts[] = {
    NULL, "application/json", "application/vnd.ksql.v1+json",
    "application/vnd.ksqlapi.delimited.v1", "text/html, application/json;q=0.9, */*"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ql_limits lim = {.max_push_queries = 2,
                   .retain_records = 4,
                   .retain_bytes = 1 << 14,
                   .retain_age_ns = 60000000000ll,
                   .emit_interval_ns = 0,
                   .grace_ns = 1000000000ll,
                   .default_topic = "smartphone-sensor-data",
                   .now_wall_ns = fz_wall};
  ql_engine *e = ql_engine_new(&lim);
  if (!e) abort();
  ql_error err;
  json_t *made = ql_execute(e, fz_streams, &err);
  if (!made) abort();
  json_decref(made);
  fz_ingest(e, 0); /* retained, for auto.offset.reset = earliest */

  api_server srv;
  memset(&srv, 0, sizeof srv);
  srv.host = &fz_host;
  srv.engine = e;
  srv.cfg.max_body = 1 << 20;
  srv.cfg.client_buffer = size & 1 ? 1 << 16 : 600; /* small: the slow-client cutoff too */
  pthread_mutex_init(&srv.mu, NULL);

  /* The transports hand over exactly the bytes received (no terminator guaranteed). */
  char *body = malloc(size ? size : 1);
  if (!body) abort();
  memcpy(body, data, size);
  const char *accept = fz_accepts[size % 5];
  const int absolute = (size / 5) & 1;

  static const char *const paths[] = {"/ksql", "/query-stream", "/query", "/close-query"};
  fz_push pushes[4];
  size_t npush = 0;
  for (size_t i = 0; i < 4; i++) {
    char target[64];
    snprintf(target, sizeof target, "%s%s%s", absolute ? "http://127.0.0.1:8088" : "", paths[i],
             absolute ? "?x=1" : "");
    api_request req = {
        .method = "POST", .target = target, .accept = accept, .body = body, .body_len = size};
    api_reply r;
    api_route(&srv, &req, &r);
    if (r.push) {
      if (r.status != 200 || r.body || !r.chunked) fz_fail("push reply", NULL, 0);
      fz_push *p = &pushes[npush++];
      memset(p, 0, sizeof *p);
      p->push = r.push;
      p->fmt = i == 2 ? API_FMT_V1 : api_format_from_accept(accept);
      r.push = NULL;
    } else {
      fz_check_reply(&r);
    }
    api_reply_clear(&r);
  }

  /* Rows for the running queries, then each is closed by its id and read to the end. */
  for (int round = 1; round < 4 && npush; round++) {
    fz_ingest(e, round);
    ql_engine_tick(e, fz_wall() + round * 1000000000ll);
    for (size_t k = 0; k < npush; k++) fz_drain(&pushes[k]);
  }
  for (size_t k = 0; k < npush; k++) {
    fz_push *p = &pushes[k];
    int done = fz_drain(p);
    char *id = done ? NULL : fz_query_id(p);
    if (id) {
      json_t *cj = json_pack("{s:s}", "queryId", id);
      char *close_body = json_dumps(cj, JSON_COMPACT);
      json_decref(cj);
      free(id);
      if (!close_body) abort();
      api_request req = {.method = "POST",
                         .target = "/close-query",
                         .body = close_body,
                         .body_len = strlen(close_body)};
      api_reply r;
      api_route(&srv, &req, &r);
      if (r.status != 200) fz_fail("close-query of a running query", r.body, r.body_len);
      api_reply_clear(&r);
      free(close_body);
      done = fz_drain(p);
    }
    if (!done) fz_fail("stream not complete after close-query", p->out.data, p->out.len);
    fz_check_stream(p);
    api_push_release(p->push);
    api_buf_free(&p->out);
  }
  if (srv.pushes || srv.push_count) abort();

  free(body);
  pthread_mutex_destroy(&srv.mu);
  ql_engine_free(e);
  return 0;
}
