/* query_ksql: runs each configured push query on a ksqlDB server (POST /query-stream,
 * delimited format) and emits its rows with the header's schema. One libcurl multi
 * handle on the plugin's own thread drives every transfer: the /ksql statements that make
 * sure the stream exists, then one long-lived request per query, reconnected with backoff. */
#include "ksql_rows.h"
#include "ksql_text.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct query_ksql query_ksql;

enum { KQ_HTTP_AUTO = 0, KQ_HTTP_11 = 1, KQ_HTTP_2 = 2 };
enum { KQ_DDL_NEED, KQ_DDL_SHOW, KQ_DDL_CREATE, KQ_DDL_READY };
#define KQ_MAX_ERROR_BODY 65536

typedef struct kq_conn {
  query_ksql *q;
  char *name;
  char *sql;
  char *body;
  CURL *easy;
  int running;
  int64_t next_attempt_ns;
  unsigned attempt;
  int up; /* -1 never connected, 0 down, 1 streaming */
  long http_status;
  int header_seen;
  char *error_line; /* ksqlDB error object sent after the header */
  char *err_body;
  size_t err_len;
  kq_lines lines;
  int line_overflow;
  kq_rows rows; /* columns of the header; rows.batch holds the rows of the current chunk */
  int held;     /* rows.batch refused with BUSY: the transfer is paused */
  char last_reason[1024];
  char curl_error[CURL_ERROR_SIZE];
  sd_metric *m_up, *m_reconnects;
} kq_conn;

struct query_ksql {
  const sd_host_api *host;
  sd_stage *stage;
  char *server;
  int http_mode;
  int use_http2;
  const char *user, *password;
  long reconnect_min_ms, reconnect_max_ms, connect_timeout_ms, request_timeout_ms;
  int earliest;
  const char *stream_name;
  char *create_sql;
  kq_conn *conns;
  size_t conn_count;
  CURLM *multi;
  pthread_t thread;
  int thread_running;
  atomic_int stop;
  struct curl_slist *headers;     /* /query-stream */
  struct curl_slist *ddl_headers; /* /ksql */
  /* making sure the stream exists */
  int ddl_state;
  CURL *ddl;
  int ddl_running;
  char *ddl_body;
  size_t ddl_len;
  int64_t ddl_next_ns;
  unsigned ddl_attempt;
  char ddl_last_reason[600];
  char ddl_curl_error[CURL_ERROR_SIZE];
  unsigned rng;
  sd_schema *status_schema;
  sd_metric *m_errors, *m_dropped, *m_status_dropped;
};

#define KQ_ORIGINAL_COLUMNS                                                                    \
  "name VARCHAR, time BIGINT, values_x DOUBLE, values_y DOUBLE, values_z DOUBLE, "             \
  "messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR"

static const sd_config_key kq_keys[] = {
    {.name = "server",
     .type = SD_CFG_STRING,
     .default_value = "http://127.0.0.1:8088",
     .description = "ksqlDB server base URL"},
    {.name = "http_version",
     .type = SD_CFG_ENUM,
     .default_value = "auto",
     .enum_values = "auto|1.1|2",
     .description = "auto: HTTP/1.1, switching to HTTP/2 when the server asks (ksqlDB < 0.24)"},
    {.name = "user", .type = SD_CFG_STRING, .description = "HTTP basic auth user"},
    {.name = "password",
     .type = SD_CFG_STRING,
     .flags = SD_CFG_SECRET,
     .description = "HTTP basic auth password"},
    {.name = "create_stream",
     .type = SD_CFG_BOOL,
     .default_value = "true",
     .description = "create the stream over /ksql when SHOW STREAMS does not list it"},
    {.name = "stream_name",
     .type = SD_CFG_STRING,
     .default_value = "smartphone_sensor_stream",
     .description = "stream the queries read (an identifier)"},
    {.name = "columns",
     .type = SD_CFG_STRING,
     .default_value = KQ_ORIGINAL_COLUMNS,
     .description = "stream columns, `name TYPE, ...` (the original project's by default)"},
    {.name = "topic",
     .type = SD_CFG_STRING,
     .default_value = "smartphone-sensor-data",
     .description = "Kafka topic of the stream"},
    {.name = "value_format",
     .type = SD_CFG_STRING,
     .default_value = "JSON",
     .description = "VALUE_FORMAT of the stream"},
    {.name = "auto_offset_reset",
     .type = SD_CFG_ENUM,
     .default_value = "latest",
     .enum_values = "latest|earliest",
     .description = "where each push query starts"},
    {.name = "reconnect_min",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "200ms",
     .min = 1e6,
     .description = "first reconnect delay"},
    {.name = "reconnect_max",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "10s",
     .min = 1e6,
     .description = "longest reconnect delay"},
    {.name = "connect_timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "5s",
     .min = 1e6,
     .description = "TCP connect timeout"},
    {.name = "request_timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "10s",
     .min = 1e6,
     .description = "timeout of /ksql statements"},
    {.name = "query.",
     .type = SD_CFG_PREFIX,
     .flags = SD_CFG_MULTI,
     .description =
         "query.<name> = SELECT … EMIT CHANGES: one push query, rows labelled <name>"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

/* ---- config ----------------------------------------------------------------------- */

typedef struct kq_collect {
  const sd_host_api *host;
  sd_stage *stage;
  int report; /* validate: config_error for each bad query */
  int failed;
  kq_conn *conns;
  size_t count;
} kq_collect;

static void kq_collect_query(void *arg, const char *name, const char *sql) {
  kq_collect *c = arg;
  char why[256], key[200];
  snprintf(key, sizeof key, "query.%s", name);
  char *checked = NULL;
  if (!kq_ident_valid(name, strlen(name))) {
    snprintf(why, sizeof why, "query name must be an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  } else {
    checked = kq_push_query_sql(sql, why, sizeof why);
  }
  if (!checked) {
    if (c->report)
      c->host->config_error(c->stage, key, "%s", why);
    else
      c->host->log(c->stage, SD_LOG_ERROR, "%s: %s", key, why);
    c->failed = 1;
    return;
  }
  kq_conn *grown = realloc(c->conns, (c->count + 1) * sizeof *grown);
  if (!grown) {
    free(checked);
    c->failed = 1;
    return;
  }
  c->conns = grown;
  kq_conn *conn = &c->conns[c->count++];
  memset(conn, 0, sizeof *conn);
  conn->name = strdup(name);
  conn->sql = checked;
}

static void kq_free_conns(kq_conn *conns, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(conns[i].name);
    free(conns[i].sql);
  }
  free(conns);
}

static char *kq_stream_sql(const sd_host_api *host, sd_stage *stage, char *why, size_t len) {
  return kq_create_stream_sql(host->config_string(stage, "stream_name"),
                              host->config_string(stage, "columns"),
                              host->config_string(stage, "topic"),
                              host->config_string(stage, "value_format"), why, len);
}

static sd_result kq_validate(const sd_host_api *host, sd_stage *stage) {
  const char *server = host->config_string(stage, "server");
  if (!server || (strncmp(server, "http://", 7) && strncmp(server, "https://", 8)))
    return host->config_error(stage, "server", "must be an http:// or https:// URL");
  char why[256];
  char *sql = kq_stream_sql(host, stage, why, sizeof why);
  if (!sql) {
    const char *key = strstr(why, "column")   ? "columns"
                      : strstr(why, "format") ? "value_format"
                                              : "stream_name";
    return host->config_error(stage, key, "%s", why);
  }
  free(sql);
  kq_collect c = {.host = host, .stage = stage, .report = 1};
  host->config_each(stage, "query.", kq_collect_query, &c);
  kq_free_conns(c.conns, c.count);
  if (c.failed) return SD_ERR;
  if (c.count == 0) return host->config_error(stage, "query.", "no query.<name> configured");
  if (host->config_duration(stage, "reconnect_max") <
      host->config_duration(stage, "reconnect_min"))
    return host->config_error(stage, "reconnect_max", "must not be below reconnect_min");
  return SD_OK;
}

/* ---- rows -------------------------------------------------------------------------- */

/* Tells everything downstream that a query went up or down, as one row on the reserved
 * "_status" stream (columns QUERY, STATE, DETAIL): outputs show it to browsers, which stay
 * connected while ksqlDB is away. Best effort: a full downstream skips the notice (counted)
 * rather than holding up rows or reconnects. */
static void kq_emit_status(kq_conn *c, const char *state, const char *detail) {
  query_ksql *q = c->q;
  const sd_host_api *h = q->host;
  sd_batch *b = h->batch_new(q->stage, 1);
  if (!b) return;
  h->batch_set_schema(b, q->status_schema);
  h->record_begin(b, h->now_wall_ns(), NULL, 0);
  h->field_string(b, "QUERY", 5, c->name, strlen(c->name));
  h->field_string(b, "STATE", 5, state, strlen(state));
  h->field_string(b, "DETAIL", 6, detail, strlen(detail));
  if (h->emit(q->stage, b, NULL, NULL) != SD_OK) {
    h->batch_free(b);
    h->metric_add(q->m_status_dropped, 1);
  }
}

static int kq_on_header(kq_conn *c, json_t *header) {
  query_ksql *q = c->q;
  if (kq_rows_header(&c->rows, header)) return -1;
  c->header_seen = 1;
  c->attempt = 0;
  q->host->metric_set(c->m_up, 1);
  if (c->up != 1) {
    const char *id = json_string_value(json_object_get(header, "queryId"));
    q->host->log(q->stage, SD_LOG_INFO, "query %s streaming from %s (queryId %s, HTTP/%s)",
                 c->name, q->server, id ? id : "?", q->use_http2 ? "2" : "1.1");
    kq_emit_status(c, "up", q->server);
  }
  c->up = 1;
  c->last_reason[0] = '\0';
  return 0;
}

static void kq_on_line(void *ctx, const char *line, size_t len) {
  kq_conn *c = ctx;
  query_ksql *q = c->q;
  json_t *v = json_loadb(line, len, 0, NULL);
  if (json_is_array(v) && c->header_seen) {
    kq_rows_add(&c->rows, v);
  } else if (json_is_object(v) && json_object_get(v, "columnNames")) {
    if (kq_on_header(c, v))
      q->host->log(q->stage, SD_LOG_WARN, "query %s: unusable header: %.*s", c->name, (int)len,
                   line);
  } else if (json_is_object(v) &&
             (json_object_get(v, "error_code") || json_object_get(v, "@type"))) {
    free(c->error_line);
    c->error_line = strndup(line, len); /* reported verbatim when the stream ends */
    q->host->metric_add(q->m_errors, 1);
  } else {
    q->host->metric_add(q->m_errors, 1);
    q->host->log(q->stage, SD_LOG_WARN, "query %s: unexpected line from ksqlDB: %.*s", c->name,
                 (int)(len > 300 ? 300 : len), line);
  }
  json_decref(v);
}

/* Emits the rows gathered so far; BUSY keeps them and pauses the transfer. */
static void kq_flush(kq_conn *c) {
  query_ksql *q = c->q;
  sd_batch *b = c->rows.batch;
  if (!b) return;
  if (q->host->batch_count(b) == 0) return;
  sd_result r = q->host->emit(q->stage, b, NULL, NULL);
  if (r == SD_OK) {
    c->rows.batch = NULL;
    c->held = 0;
  } else if (r == SD_BUSY) {
    c->held = 1;
  } else {
    size_t n = q->host->batch_count(b);
    q->host->metric_add(q->m_dropped, (double)n);
    q->host->log(q->stage, SD_LOG_ERROR, "query %s: %zu rows refused downstream", c->name, n);
    q->host->batch_free(b);
    c->rows.batch = NULL;
    c->held = 0;
  }
}

static size_t kq_on_data(char *data, size_t size, size_t nmemb, void *arg) {
  kq_conn *c = arg;
  size_t n = size * nmemb;
  if (c->held) return CURL_WRITEFUNC_PAUSE; /* handed to us again once downstream has room */
  if (!c->http_status) curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http_status);
  if (c->http_status != 200) {
    size_t room = KQ_MAX_ERROR_BODY - c->err_len;
    size_t take = n < room ? n : room;
    char *p = realloc(c->err_body, c->err_len + take + 1);
    if (!p) return 0;
    memcpy(p + c->err_len, data, take);
    c->err_len += take;
    p[c->err_len] = '\0';
    c->err_body = p;
    return n;
  }
  if (kq_lines_feed(&c->lines, data, n, kq_on_line, c) < 0) {
    c->line_overflow = 1;
    return 0; /* aborts the transfer */
  }
  kq_flush(c);
  return n;
}

/* ---- transfers ---------------------------------------------------------------------- */

static CURL *kq_easy(query_ksql *q, const char *path, const char *body, char *errbuf) {
  CURL *e = curl_easy_init();
  if (!e) return NULL;
  char url[1024];
  snprintf(url, sizeof url, "%s%s", q->server, path);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
  curl_easy_setopt(
      e, CURLOPT_HTTP_VERSION,
      (long)(q->use_http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1));
  if (q->use_http2) {
    /* libcurl 7.88 does not send a request on a reused prior-knowledge HTTP/2 connection
     * (it reports it "left intact" and the transfer hangs or fails): one connection each. */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, q->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  errbuf[0] = '\0';
  if (q->user) {
    curl_easy_setopt(e, CURLOPT_USERNAME, q->user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, q->password ? q->password : "");
  }
  return e;
}

static void kq_conn_start(kq_conn *c) {
  query_ksql *q = c->q;
  c->http_status = 0;
  c->header_seen = 0;
  c->line_overflow = 0;
  free(c->error_line);
  c->error_line = NULL;
  free(c->err_body);
  c->err_body = NULL;
  c->err_len = 0;
  kq_lines_reset(&c->lines);
  c->easy = kq_easy(q, "/query-stream", c->body, c->curl_error);
  if (!c->easy) return;
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, kq_on_data);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
  curl_multi_add_handle(q->multi, c->easy);
  c->running = 1;
}

static int64_t kq_backoff_ns(query_ksql *q, unsigned *attempt) {
  double r = (double)(rand_r(&q->rng) % 10000) / 10000.0;
  long ms = kq_backoff_ms((*attempt)++, q->reconnect_min_ms, q->reconnect_max_ms, r);
  return (int64_t)ms * 1000000;
}

/* What "the same failure again" is compared by: curl's detail text carries the elapsed
 * time ("after 3 ms"), so a transfer failure is known by its curl code alone. */
static void kq_reason_key(char *key, size_t len, CURLcode res, const char *reason) {
  snprintf(key, len, "%s", res != CURLE_OK ? curl_easy_strerror(res) : reason);
}

static void kq_conn_done(kq_conn *c, CURLcode res) {
  query_ksql *q = c->q;
  char reason[1024];
  kq_flush(c);
  curl_multi_remove_handle(q->multi, c->easy);
  curl_easy_cleanup(c->easy);
  c->easy = NULL;
  c->running = 0;
  int64_t now = q->host->now_mono_ns();
  if (c->line_overflow)
    snprintf(reason, sizeof reason, "a line longer than %zu bytes", c->lines.max_line);
  else if (res != CURLE_OK)
    snprintf(reason, sizeof reason, "%s%s%s", curl_easy_strerror(res),
             c->curl_error[0] ? ": " : "", c->curl_error);
  else if (c->http_status != 200)
    snprintf(reason, sizeof reason, "HTTP %ld: %s", c->http_status,
             c->err_body ? c->err_body : "");
  else if (c->error_line)
    snprintf(reason, sizeof reason, "error after the header: %s", c->error_line);
  else
    snprintf(reason, sizeof reason, "the server ended the stream");
  const char *text = c->err_body ? c->err_body : c->error_line;
  if (q->http_mode == KQ_HTTP_AUTO && !q->use_http2 && c->http_status == 400 && text &&
      strstr(text, "40004")) {
    q->use_http2 = 1;
    q->host->log(q->stage, SD_LOG_INFO,
                 "query %s: server wants HTTP/2 on /query-stream (ksqlDB before 0.24): %s; "
                 "switching to HTTP/2",
                 c->name, text);
    c->next_attempt_ns = now;
    return;
  }
  if (text && strstr(text, "does not exist") && q->ddl_state == KQ_DDL_READY && q->create_sql)
    q->ddl_state = KQ_DDL_NEED;
  q->host->metric_set(c->m_up, 0);
  q->host->metric_add(c->m_reconnects, 1);
  int64_t delay = kq_backoff_ns(q, &c->attempt);
  char key[sizeof c->last_reason];
  kq_reason_key(key, sizeof key, res, reason);
  if (c->up != 0 || strcmp(key, c->last_reason)) {
    q->host->log(q->stage, c->up == 1 ? SD_LOG_WARN : SD_LOG_ERROR,
                 "query %s %s: %s; retrying with backoff (first in %lld ms)", c->name,
                 c->up == 1 ? "down" : "failed", reason, (long long)(delay / 1000000));
    snprintf(c->last_reason, sizeof c->last_reason, "%s", key);
    if (c->up != 0) kq_emit_status(c, "down", reason); /* a new reason is no new state */
  }
  c->up = 0;
  c->next_attempt_ns = now + delay;
}

static size_t kq_on_ddl_data(char *data, size_t size, size_t nmemb, void *arg) {
  query_ksql *q = arg;
  size_t n = size * nmemb;
  if (q->ddl_len + n > KQ_MAX_ERROR_BODY * 16) return 0;
  char *p = realloc(q->ddl_body, q->ddl_len + n + 1);
  if (!p) return 0;
  memcpy(p + q->ddl_len, data, n);
  q->ddl_len += n;
  p[q->ddl_len] = '\0';
  q->ddl_body = p;
  return n;
}

static void kq_ddl_start(query_ksql *q, const char *statement) {
  json_t *body = json_pack("{s:s, s:{}}", "ksql", statement, "streamsProperties");
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  q->ddl_len = 0;
  q->ddl = kq_easy(q, "/ksql", text, q->ddl_curl_error);
  free(text);
  if (!q->ddl) return;
  curl_easy_setopt(q->ddl, CURLOPT_HTTP_VERSION,
                   (long)(q->http_mode == KQ_HTTP_2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                    : CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(q->ddl, CURLOPT_TIMEOUT_MS, q->request_timeout_ms);
  curl_easy_setopt(q->ddl, CURLOPT_HTTPHEADER, q->ddl_headers);
  curl_easy_setopt(q->ddl, CURLOPT_WRITEFUNCTION, kq_on_ddl_data);
  curl_easy_setopt(q->ddl, CURLOPT_WRITEDATA, q);
  curl_easy_setopt(q->ddl, CURLOPT_PRIVATE, NULL);
  curl_multi_add_handle(q->multi, q->ddl);
  q->ddl_running = 1;
}

static int kq_stream_listed(query_ksql *q, json_t *answer) {
  json_t *streams = json_object_get(json_array_get(answer, 0), "streams");
  size_t i;
  json_t *s;
  json_array_foreach(streams, i, s) {
    const char *name = json_string_value(json_object_get(s, "name"));
    if (name && !strcasecmp(name, q->stream_name)) return 1;
  }
  return 0;
}

static void kq_ddl_done(query_ksql *q, CURLcode res) {
  long status = 0;
  curl_easy_getinfo(q->ddl, CURLINFO_RESPONSE_CODE, &status);
  curl_multi_remove_handle(q->multi, q->ddl);
  curl_easy_cleanup(q->ddl);
  q->ddl = NULL;
  q->ddl_running = 0;
  char reason[600];
  json_t *answer =
      res == CURLE_OK ? json_loadb(q->ddl_body ? q->ddl_body : "", q->ddl_len, 0, NULL) : NULL;
  int step = q->ddl_state;
  if (res == CURLE_OK && status == 200 && json_is_array(answer)) {
    if (step == KQ_DDL_SHOW && !kq_stream_listed(q, answer)) {
      q->ddl_state = KQ_DDL_CREATE;
      q->host->log(q->stage, SD_LOG_INFO, "creating stream: %s", q->create_sql);
      kq_ddl_start(q, q->create_sql);
    } else {
      if (step == KQ_DDL_CREATE)
        q->host->log(q->stage, SD_LOG_INFO, "stream %s created", q->stream_name);
      q->ddl_state = KQ_DDL_READY;
      q->ddl_attempt = 0;
      q->ddl_last_reason[0] = '\0';
    }
    json_decref(answer);
    return;
  }
  json_decref(answer);
  if (step == KQ_DDL_CREATE && status == 400 && q->ddl_body &&
      strstr(q->ddl_body, "already exists")) {
    q->ddl_state = KQ_DDL_READY; /* created meanwhile by someone else */
    return;
  }
  if (res != CURLE_OK)
    snprintf(reason, sizeof reason, "%s%s%s", curl_easy_strerror(res),
             q->ddl_curl_error[0] ? ": " : "", q->ddl_curl_error);
  else
    snprintf(reason, sizeof reason, "HTTP %ld: %.500s", status, q->ddl_body ? q->ddl_body : "");
  q->host->metric_add(q->m_errors, 1);
  int64_t delay = kq_backoff_ns(q, &q->ddl_attempt);
  char key[sizeof q->ddl_last_reason];
  kq_reason_key(key, sizeof key, res, reason);
  if (strcmp(key, q->ddl_last_reason)) {
    q->host->log(q->stage, SD_LOG_ERROR, "%s on %s failed: %s; retrying with backoff",
                 step == KQ_DDL_SHOW ? "SHOW STREAMS" : "CREATE STREAM", q->server, reason);
    snprintf(q->ddl_last_reason, sizeof q->ddl_last_reason, "%s", key);
  }
  q->ddl_state = KQ_DDL_NEED;
  q->ddl_next_ns = q->host->now_mono_ns() + delay;
}

static void kq_schedule(query_ksql *q, int64_t now) {
  if (q->ddl_state == KQ_DDL_NEED && !q->ddl_running && now >= q->ddl_next_ns) {
    q->ddl_state = KQ_DDL_SHOW;
    kq_ddl_start(q, "SHOW STREAMS;");
  }
  for (size_t i = 0; i < q->conn_count; i++) {
    kq_conn *c = &q->conns[i];
    if (c->held && c->rows.batch) {
      kq_flush(c);
      if (!c->held && c->running) curl_easy_pause(c->easy, CURLPAUSE_CONT);
    }
    if (q->ddl_state == KQ_DDL_READY && !c->running && !c->held && now >= c->next_attempt_ns)
      kq_conn_start(c);
  }
}

static void *kq_thread(void *arg) {
  query_ksql *q = arg;
  while (!atomic_load(&q->stop)) {
    int64_t now = q->host->now_mono_ns();
    kq_schedule(q, now);
    int running = 0;
    curl_multi_perform(q->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(q->multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      if (msg->easy_handle == q->ddl) {
        kq_ddl_done(q, msg->data.result);
        continue;
      }
      kq_conn *c = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
      if (c) kq_conn_done(c, msg->data.result);
    }
    int held = 0;
    for (size_t i = 0; i < q->conn_count; i++) held |= q->conns[i].held;
    curl_multi_poll(q->multi, NULL, 0, held ? 10 : 50, NULL);
  }
  return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static sd_result kq_init(const sd_host_api *host, sd_stage *stage, void **state) {
  query_ksql *q = calloc(1, sizeof *q);
  if (!q) return SD_ERR;
  char why[256];
  q->host = host;
  q->stage = stage;
  q->server = strdup(host->config_string(stage, "server"));
  size_t sl = strlen(q->server);
  while (sl > 0 && q->server[sl - 1] == '/') q->server[--sl] = '\0';
  q->http_mode = host->config_enum(stage, "http_version");
  q->use_http2 = q->http_mode == KQ_HTTP_2;
  q->user = host->config_string(stage, "user");
  q->password = host->config_string(stage, "password");
  q->reconnect_min_ms = (long)(host->config_duration(stage, "reconnect_min") / 1000000);
  q->reconnect_max_ms = (long)(host->config_duration(stage, "reconnect_max") / 1000000);
  q->connect_timeout_ms = (long)(host->config_duration(stage, "connect_timeout") / 1000000);
  q->request_timeout_ms = (long)(host->config_duration(stage, "request_timeout") / 1000000);
  q->earliest = host->config_enum(stage, "auto_offset_reset") == 1;
  q->stream_name = host->config_string(stage, "stream_name");
  q->rng = (unsigned)host->now_wall_ns();
  if (host->config_bool(stage, "create_stream")) {
    q->create_sql = kq_stream_sql(host, stage, why, sizeof why);
    if (!q->create_sql) {
      host->log(stage, SD_LOG_ERROR, "stream definition: %s", why);
      free(q->server);
      free(q);
      return SD_ERR;
    }
  } else {
    q->ddl_state = KQ_DDL_READY;
  }
  kq_collect c = {.host = host, .stage = stage};
  host->config_each(stage, "query.", kq_collect_query, &c);
  q->conns = c.conns;
  q->conn_count = c.count;
  q->m_errors =
      host->counter(stage, "ksql_errors_total", "errors reported by or about ksqlDB", NULL);
  q->m_dropped =
      host->counter(stage, "ksql_rows_refused_total", "rows refused downstream (SD_ERR)", NULL);
  q->m_status_dropped =
      host->counter(stage, "ksql_status_skipped_total",
                    "up/down notices not sent because downstream was full", NULL);
  static const char *const status_columns[] = {"QUERY", "STATE", "DETAIL"};
  static const char *const status_types[] = {"STRING", "STRING", "STRING"};
  q->status_schema = host->schema_new(stage, "_status", 3, status_columns, status_types);
  for (size_t i = 0; i < q->conn_count; i++) {
    kq_conn *k = &q->conns[i];
    char labels[200];
    snprintf(labels, sizeof labels, "query=\"%s\"", k->name);
    k->q = q;
    k->up = -1;
    k->rows.host = host;
    k->rows.stage = stage;
    k->rows.query = k->name;
    k->rows.key_col = k->rows.time_col = -1;
    k->lines.max_line = 8 << 20;
    json_t *body = json_pack("{s:s, s:{s:s}}", "sql", k->sql, "properties", "auto.offset.reset",
                             q->earliest ? "earliest" : "latest");
    k->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    k->m_up = host->gauge(stage, "ksql_up", "1 while the push query streams", labels);
    k->rows.m_rows =
        host->counter(stage, "ksql_rows_total", "rows received from ksqlDB", labels);
    k->rows.m_failed =
        host->counter(stage, "ksql_rows_failed_total",
                      "rows dropped or cut short because the batch refused them", labels);
    k->m_reconnects =
        host->counter(stage, "ksql_reconnects_total", "push query restarts", labels);
  }
  q->headers = curl_slist_append(NULL, "Content-Type: application/json");
  q->headers = curl_slist_append(q->headers, "Accept: application/vnd.ksqlapi.delimited.v1");
  q->ddl_headers = curl_slist_append(NULL, "Content-Type: application/json");
  q->ddl_headers = curl_slist_append(q->ddl_headers, "Accept: application/json");
  *state = q;
  if (c.failed) return SD_ERR;
  return SD_OK;
}

static sd_result kq_start(void *state) {
  query_ksql *q = state;
  q->multi = curl_multi_init();
  if (!q->multi) return SD_ERR;
  curl_multi_setopt(q->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  if (pthread_create(&q->thread, NULL, kq_thread, q)) {
    q->host->log(q->stage, SD_LOG_ERROR, "cannot start the ksqlDB client thread");
    return SD_ERR;
  }
  q->thread_running = 1;
  q->host->log(q->stage, SD_LOG_INFO, "%zu push queries on %s", q->conn_count, q->server);
  return SD_OK;
}

static void kq_stop(query_ksql *q) {
  if (!q->thread_running) return;
  atomic_store(&q->stop, 1);
  curl_multi_wakeup(q->multi);
  pthread_join(q->thread, NULL);
  q->thread_running = 0;
  /* Closing the connection is what ends a push query on the server. */
  for (size_t i = 0; i < q->conn_count; i++) {
    kq_conn *c = &q->conns[i];
    if (c->easy) {
      curl_multi_remove_handle(q->multi, c->easy);
      curl_easy_cleanup(c->easy);
      c->easy = NULL;
    }
    if (c->rows.batch && q->host->batch_count(c->rows.batch) > 0)
      q->host->log(q->stage, SD_LOG_WARN, "query %s: %zu rows not emitted at shutdown", c->name,
                   q->host->batch_count(c->rows.batch));
  }
  if (q->ddl) {
    curl_multi_remove_handle(q->multi, q->ddl);
    curl_easy_cleanup(q->ddl);
    q->ddl = NULL;
  }
}

static int64_t kq_drain(void *state, int64_t deadline_mono_ns) {
  (void)deadline_mono_ns;
  kq_stop(state);
  return 0;
}

static void kq_destroy(void *state) {
  query_ksql *q = state;
  if (!q) return;
  kq_stop(q);
  for (size_t i = 0; i < q->conn_count; i++) {
    kq_conn *c = &q->conns[i];
    if (c->rows.batch) q->host->batch_free(c->rows.batch);
    kq_rows_clear_header(&c->rows);
    kq_lines_free(&c->lines);
    free(c->body);
    free(c->error_line);
    free(c->err_body);
  }
  kq_free_conns(q->conns, q->conn_count);
  if (q->multi) curl_multi_cleanup(q->multi);
  curl_slist_free_all(q->headers);
  curl_slist_free_all(q->ddl_headers);
  free(q->ddl_body);
  free(q->create_sql);
  free(q->server);
  if (q->status_schema) q->host->schema_release(q->status_schema);
  free(q);
}

static const sd_plugin_descriptor kq_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "query_ksql",
    .version = "1.0.0",
    .description = "runs push queries on a ksqlDB server and emits their rows",
    .kind = SD_KIND_SOURCE,
    .config_keys = kq_keys,
    .validate = kq_validate,
    .init = kq_init,
    .start = kq_start,
    .drain = kq_drain,
    .destroy = kq_destroy,
};

SD_PLUGIN_DEFINE(kq_descriptor)
