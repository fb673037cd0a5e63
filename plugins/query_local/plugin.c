/* query_local as a pipeline stage: its config table, `sensord -t` validation of every SQL
 * statement, feeding each record to the engine, and publishing the rows of the named
 * queries (query.<name>) downstream as one schema-tagged batch per query per input batch. */
#include "api_server.h"
#include "engine.h"
#include "net/listen_addr.h"
#include "qlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define QL_DEFAULT_STREAM                                                                      \
  "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "       \
  "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "  \
  "WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')"

static const sd_config_key ql_config_keys[] = {
    {"listen", SD_CFG_STRING, 0, "127.0.0.1:8088", 0, 0, NULL,
     "host:port of the ksqlDB-compatible REST API (HTTP/1.1 and HTTP/2 cleartext on the same "
     "port); \"off\" disables the API"},
    {"stream", SD_CFG_STRING, 0, QL_DEFAULT_STREAM, 0, 0, NULL,
     "CREATE STREAM statement(s), separated by ';', run at start; more can be created over "
     "POST /ksql"},
    {"topic", SD_CFG_STRING, 0, "smartphone-sensor-data", 0, 0, NULL,
     "topic of the records entering this stage: streams created WITH (KAFKA_TOPIC='<topic>') "
     "receive them"},
    {"query.", SD_CFG_PREFIX, SD_CFG_MULTI, NULL, 0, 0, NULL,
     "named push query, query.<name> = SELECT ... EMIT CHANGES: runs for the life of the "
     "pipeline and sends its rows downstream with schema <name> (key = DEVICEID column)"},
    {"max_push_queries", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10000", 1, 1000000, NULL,
     "ad-hoc push queries the API runs at once; more are refused with error 40003"},
    {"max_body_size", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "1M", 1024,
     256.0 * 1024 * 1024, NULL, "largest API request body; larger ones get 413"},
    {"client_buffer", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "4M", 4096,
     1024.0 * 1024 * 1024, NULL,
     "rows waiting to be sent to one API client; when full the client's query ends with an "
     "error line instead of slowing ingest"},
    {"max_connections", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "20000", 16, 1000000, NULL,
     "open HTTP/1.1 connections (and streams per HTTP/2 connection) the API accepts"},
    {"header_timeout", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10s", 100e6, 3600e9,
     NULL,
     "a connection must deliver its request line and headers (or the HTTP/2 preface) this "
     "soon after it opens; slow or stalled clients are closed (slowloris)"},
    {"max_connections_per_ip", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "0", 0, 1000000,
     NULL,
     "HTTP/1.1 connections one client address may hold; 0 = no cap (an application server "
     "may run thousands of push queries from one address)"},
    {"allowed_hosts", SD_CFG_LIST, 0, NULL, 0, 0, NULL,
     "Host names the API answers to besides localhost and IP addresses (\"*\" = any); "
     "others get 403, which stops DNS rebinding"},
    {"cors_origins", SD_CFG_LIST, 0, NULL, 0, 0, NULL,
     "origins of web pages allowed to call the API (\"*\" = any); empty = same-origin only. "
     "Cross-origin requests from others get 403"},
    {"idle_timeout", SD_CFG_DURATION, SD_CFG_HAS_MIN, "300s", 0, 0, NULL,
     "HTTP/1.1 connections idle this long are closed (a waiting push query is never idle); "
     "0 = never"},
    {"retain_records", SD_CFG_INT, SD_CFG_HAS_MIN, "10000", 0, 0, NULL,
     "records kept in memory per stream for auto.offset.reset=earliest (0 = none); with "
     "data_dir set this is the log's cache: the newest records of the log are replayed into "
     "it at start, and earliest replays what it holds"},
    {"retain_bytes", SD_CFG_SIZE, SD_CFG_HAS_MIN, "16M", 0, 0, NULL,
     "bytes kept per stream for auto.offset.reset=earliest"},
    {"retain_age", SD_CFG_DURATION, SD_CFG_HAS_MIN, "10m", 0, 0, NULL,
     "retained records whose event time is older than this are dropped (0 = no age limit)"},
    {"data_dir", SD_CFG_STRING, 0, "", 0, 0, NULL,
     "directory of the durable stream log (one folder per topic, Kafka-style segments); "
     "records are appended before their batch completes and replayed into the retention at "
     "start, so auto.offset.reset=earliest works across restarts. Empty = off: retention "
     "lives in memory only and a restart loses it"},
    {"log_segment_bytes", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "64M", 4096,
     1024.0 * 1024 * 1024, NULL,
     "stream log: the active segment is closed and a new one started past this size"},
    {"log_segment_age", SD_CFG_DURATION, SD_CFG_HAS_MIN, "1h", 0, 0, NULL,
     "stream log: ... or once the active segment is this old (0 = by size only)"},
    {"log_retention_bytes", SD_CFG_SIZE, SD_CFG_HAS_MIN, "0", 0, 0, NULL,
     "stream log: oldest whole segments are deleted while the log is larger than this "
     "(0 = no size limit); the active segment is never deleted"},
    {"log_retention_age", SD_CFG_DURATION, SD_CFG_HAS_MIN, "168h", 0, 0, NULL,
     "stream log: whole segments last written longer ago than this are deleted (0 = kept "
     "forever)"},
    {"fsync", SD_CFG_ENUM, 0, "interval", 0, 0, "batch|interval|never",
     "stream log durability: batch = fdatasync before each batch completes (survives power "
     "loss); interval = group commit, batches complete after the next fdatasync, at most one "
     "per fsync_interval (survives power loss, adds up to fsync_interval of latency); never = "
     "the page cache only (survives a crash or kill -9 of sensord, not of the machine)"},
    {"fsync_interval", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10ms", 0, 10e9, NULL,
     "fsync = interval: fdatasyncs start at most this often, each shared by every batch "
     "written since the last (so a batch waits up to this long plus one fdatasync); 0 = "
     "back to back, the next starting as soon as the last ends"},
    {"emit_interval", SD_CFG_DURATION, SD_CFG_HAS_MIN, "0", 0, 0, NULL,
     "windowed aggregates: emit changed windows at most this often (0 = on every change, "
     "like ksqlDB with cache.max.bytes.buffering=0)"},
    {"grace", SD_CFG_DURATION, SD_CFG_HAS_MIN, "10s", 0, 0, NULL,
     "windows accept late rows for this long after they end"},
    {"tick_interval", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "100ms", 1e6, 60e9,
     NULL, "how often windows are flushed and closed and retention is expired"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

typedef struct ql_stage ql_stage;

typedef struct ql_named {
  ql_stage *st;
  char *name;
  ql_query *query;
  sd_schema *schema;
  size_t ncols;
  long key_col; /* -1: rows have no key */
  sd_batch *pending;
  sd_metric *rows_out;
  int ended;
} ql_named;

struct ql_stage {
  const sd_host_api *host;
  sd_stage *stage;
  ql_engine *engine;
  ql_named *named;
  size_t named_count;
  pthread_mutex_t mu; /* pending batches: rows may come from an API thread (DROP STREAM) */
  api_server *api;
  sd_timer *timer;
  qlog *log; /* data_dir set: the stream log of the stage's topic */
  ql_stats last_stats;
  sd_metric *m_records_in, *m_deser_errors, *m_emit_failed, *m_bad_records, *m_emit_waits;
  sd_metric *m_agg_dropped, *m_late;
  sd_metric *m_named_stopped; /* gauge: pipeline queries that ended by themselves */
};

/* ---- helpers shared by validate and init ------------------------------------------- */
static void limits_from_config(const sd_host_api *host, sd_stage *stage, ql_limits *l) {
  memset(l, 0, sizeof *l);
  l->max_push_queries = (size_t)host->config_int(stage, "max_push_queries");
  l->retain_records = (size_t)host->config_int(stage, "retain_records");
  l->retain_bytes = (size_t)host->config_size(stage, "retain_bytes");
  l->retain_age_ns = host->config_duration(stage, "retain_age");
  l->emit_interval_ns = host->config_duration(stage, "emit_interval");
  l->grace_ns = host->config_duration(stage, "grace");
  l->default_topic = host->config_string(stage, "topic");
}

typedef struct named_list {
  char **names, **sqls;
  size_t count, cap;
  int oom;
} named_list;

static void collect_named(void *ctx, const char *key, const char *value) {
  named_list *nl = ctx;
  if (nl->count == nl->cap) {
    size_t cap = nl->cap ? nl->cap * 2 : 8;
    char **n = realloc(nl->names, cap * sizeof *n);
    if (n) nl->names = n;
    char **s = realloc(nl->sqls, cap * sizeof *s);
    if (s) nl->sqls = s;
    if (!n || !s) {
      nl->oom = 1;
      return;
    }
    nl->cap = cap;
  }
  nl->names[nl->count] = strdup(key);
  nl->sqls[nl->count] = strdup(value ? value : "");
  nl->count++;
}

static void named_list_free(named_list *nl) {
  for (size_t i = 0; i < nl->count; i++) {
    free(nl->names[i]);
    free(nl->sqls[i]);
  }
  free(nl->names);
  free(nl->sqls);
}

static int valid_query_name(const char *name) {
  if (!*name) return 0;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-'))
      return 0;
  return 1;
}

/* ---- validate ------------------------------------------------------------------------ */
static sd_result ql_validate(const sd_host_api *host, sd_stage *stage) {
  sd_result rc = SD_OK;
  const char *listen = host->config_string(stage, "listen");
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char why[160];
  if (strcmp(listen, "off") != 0 && la_parse_listen(listen, &addr, &addr_len, why, sizeof why))
    rc = host->config_error(stage, "listen", "%s (or off)", why);

  ql_limits limits;
  limits_from_config(host, stage, &limits);
  ql_engine *engine = ql_engine_new(&limits);
  if (!engine) return host->config_error(stage, "stream", "out of memory");
  ql_error err = {0};
  const char *stream = host->config_string(stage, "stream");
  json_t *res = ql_execute(engine, stream, &err);
  if (!res) rc = host->config_error(stage, "stream", "%s", err.message);
  json_decref(res);

  named_list nl = {0};
  host->config_each(stage, "query.", collect_named, &nl);
  for (size_t i = 0; i < nl.count; i++) {
    char key[256];
    snprintf(key, sizeof key, "query.%s", nl.names[i] ? nl.names[i] : "");
    if (!nl.names[i] || !nl.sqls[i]) {
      rc = host->config_error(stage, key, "out of memory");
      continue;
    }
    if (!valid_query_name(nl.names[i])) {
      rc = host->config_error(stage, key,
                              "query name must be letters, digits, '_' or '-' (it names the "
                              "schema of the rows)");
      continue;
    }
    memset(&err, 0, sizeof err);
    if (ql_check_statement(engine, nl.sqls[i], &err) != 0)
      rc = host->config_error(stage, key, "%s", err.message);
  }
  named_list_free(&nl);
  ql_engine_free(engine);
  return rc;
}

/* ---- rows of named queries ------------------------------------------------------------ */
static void named_on_row(void *ctx, const sd_value *values, size_t n, int64_t rowtime_ns) {
  ql_named *q = ctx;
  ql_stage *st = q->st;
  const sd_host_api *h = st->host;
  pthread_mutex_lock(&st->mu);
  if (!q->pending) q->pending = h->batch_new(st->stage, 64);
  if (q->pending) {
    const char *key = NULL;
    size_t key_len = 0;
    if (q->key_col >= 0 && (size_t)q->key_col < n && values[q->key_col].type == SD_STRING) {
      key = values[q->key_col].as.s.ptr;
      key_len = (size_t)values[q->key_col].as.s.len;
    }
    int bad = h->record_begin(q->pending, rowtime_ns, key, key_len) != SD_OK;
    for (size_t i = 0; !bad && i < n && i < q->ncols; i++) {
      const char *col = ql_query_column_name(q->query, i);
      bad = h->field_value(q->pending, col, strlen(col), &values[i]) != SD_OK;
    }
    if (bad) {
      h->metric_add(st->m_emit_failed, 1);
      h->log(st->stage, SD_LOG_ERROR, "could not add a row to the output batch: query=%s",
             q->name);
    }
  } else {
    h->metric_add(st->m_emit_failed, 1);
    h->log(st->stage, SD_LOG_ERROR, "out of memory for an output batch: query=%s", q->name);
  }
  pthread_mutex_unlock(&st->mu);
}

/* Nothing restarts it before a reload, and the core's /healthz cannot be told (the ABI has
 * no health call): say so loudly here; the API's /healthcheck reports it from the engine. */
static void named_on_end(void *ctx, const char *reason) {
  ql_named *q = ctx;
  q->st->host->log(q->st->stage, SD_LOG_ERROR,
                   "pipeline query stopped: its rows no longer go downstream until sensord is "
                   "reloaded (SIGHUP): query=%s reason=\"%s\"",
                   q->name, reason ? reason : "");
  q->st->host->metric_add(q->st->m_named_stopped, 1);
  q->ended = 1;
}

/* Rows of a named query were derived from records upstream has already acknowledged
 * (source_http answered 200), so a full downstream must not lose them: wait for room.
 * Blocking this stage's thread is the backpressure — its own input queue fills and
 * source_http answers 503 to the next pushes. emit returns SD_ERR (not BUSY) once shutdown
 * gives up on the consumer, which ends the wait. */
static sd_result emit_waiting(ql_stage *st, sd_batch *b) {
  long pause_ns = 50000;
  for (;;) {
    sd_result r = st->host->emit(st->stage, b, NULL, NULL);
    if (r != SD_BUSY) return r;
    st->host->metric_add(st->m_emit_waits, 1);
    struct timespec ts = {.tv_sec = 0, .tv_nsec = pause_ns};
    nanosleep(&ts, NULL);
    if (pause_ns < 5000000) pause_ns *= 2;
  }
}

/* Emits every pending batch. 0 when all were taken downstream. */
static int flush_named(ql_stage *st) {
  int failed = 0;
  for (size_t i = 0; i < st->named_count; i++) {
    ql_named *q = &st->named[i];
    pthread_mutex_lock(&st->mu);
    sd_batch *b = q->pending;
    q->pending = NULL;
    pthread_mutex_unlock(&st->mu);
    if (!b) continue;
    size_t rows = st->host->batch_count(b);
    st->host->batch_set_schema(b, q->schema);
    sd_result r = emit_waiting(st, b);
    if (r == SD_OK) {
      st->host->metric_add(q->rows_out, (double)rows);
    } else {
      st->host->batch_free(b);
      st->host->metric_add(st->m_emit_failed, (double)rows);
      st->host->log(st->stage, SD_LOG_WARN,
                    "downstream refused the rows of a named query: query=%s rows=%zu "
                    "result=%s",
                    q->name, rows, r == SD_BUSY ? "busy" : "error");
      failed = r == SD_BUSY ? 1 : 2;
    }
  }
  return failed;
}

static void update_stats(ql_stage *st) {
  ql_stats s;
  ql_engine_stats(st->engine, &s);
  const ql_stats *last = &st->last_stats;
  if (s.deserialization_errors > last->deserialization_errors)
    st->host->metric_add(st->m_deser_errors,
                         (double)(s.deserialization_errors - last->deserialization_errors));
  if (s.late_records > last->late_records)
    st->host->metric_add(st->m_late, (double)(s.late_records - last->late_records));
  if (s.aggregate_rows_dropped > last->aggregate_rows_dropped) {
    uint64_t n = s.aggregate_rows_dropped - last->aggregate_rows_dropped;
    st->host->metric_add(st->m_agg_dropped, (double)n);
    st->host->log(st->stage, SD_LOG_ERROR,
                  "aggregate rows dropped: out of memory for a new group (window or GROUP BY "
                  "key): count=%llu",
                  (unsigned long long)n);
  }
  st->last_stats = s;
}

static void ql_tick(void *state) {
  ql_stage *st = state;
  /* Window flushes and replays emit bursts of rows too: one wake per push query. */
  api_push_defer_begin();
  ql_engine_tick(st->engine, st->host->now_wall_ns());
  api_push_defer_end();
  flush_named(st);
  update_stats(st);
  if (st->log) qlog_tick(st->log, st->host->now_wall_ns());
}

/* An `earliest` or pull query started on an API thread has retained rows to replay: run
 * the engine's pending work on the stage thread now rather than at the next tick. */
static void ql_notify(void *ctx) {
  ql_stage *st = ctx;
  st->host->wakeup(st->stage);
}

static void ql_on_wakeup(void *state) {
  ql_tick(state);
}

/* ---- lifecycle --------------------------------------------------------------------- */
static void ql_destroy(void *state);

static sd_result ql_init(const sd_host_api *host, sd_stage *stage, void **state) {
  ql_stage *st = calloc(1, sizeof *st);
  if (!st) return SD_ERR;
  st->host = host;
  st->stage = stage;
  pthread_mutex_init(&st->mu, NULL);
  *state = st;
  st->m_records_in =
      host->counter(stage, "query_records_in_total", "records fed to the query engine", NULL);
  st->m_deser_errors = host->counter(stage, "query_deserialization_errors_total",
                                     "record fields of the wrong type for their stream column "
                                     "(read as NULL, as ksqlDB does)",
                                     NULL);
  st->m_emit_failed = host->counter(stage, "query_rows_dropped_total",
                                    "rows of named queries downstream refused for good "
                                    "(shutdown, errors)",
                                    NULL);
  st->m_emit_waits = host->counter(stage, "query_emit_waits_total",
                                   "pauses waiting for room downstream (backpressure)", NULL);
  st->m_bad_records = host->counter(stage, "query_unreadable_records_total",
                                    "input records the core could not hand over", NULL);
  st->m_agg_dropped = host->counter(stage, "query_aggregate_rows_dropped_total",
                                    "rows aggregate queries could not count: out of memory "
                                    "for a new group (window or GROUP BY key)",
                                    NULL);
  st->m_named_stopped = host->gauge(stage, "query_pipeline_queries_stopped",
                                    "queries of the pipeline file (query.<name>) that ended "
                                    "by themselves (LIMIT reached) and send no more rows",
                                    NULL);
  st->m_late = host->counter(stage, "query_late_records_total",
                             "records that reached a window after its grace period (dropped, "
                             "as ksqlDB drops late records)",
                             NULL);

  ql_limits limits;
  limits_from_config(host, stage, &limits);
  st->engine = ql_engine_new(&limits);
  if (!st->engine) {
    host->log(stage, SD_LOG_ERROR, "could not create the query engine");
    ql_destroy(st);
    *state = NULL;
    return SD_ERR;
  }
  ql_engine_set_notify(st->engine, ql_notify, st);
  ql_error err = {0};
  json_t *res = ql_execute(st->engine, host->config_string(stage, "stream"), &err);
  if (!res) {
    host->log(stage, SD_LOG_ERROR, "stream statement failed: error=\"%s\"", err.message);
    ql_destroy(st);
    *state = NULL;
    return SD_ERR;
  }
  json_decref(res);

  /* Before the pipeline's queries start: they begin at the end of the replayed log. */
  const char *data_dir = host->config_string(stage, "data_dir");
  if (data_dir && *data_dir) {
    qlog_opts lo = {
        .data_dir = data_dir,
        .topic = limits.default_topic,
        .log = {.segment_bytes = (uint64_t)host->config_size(stage, "log_segment_bytes"),
                .segment_age_ns = host->config_duration(stage, "log_segment_age"),
                .retention_bytes = (uint64_t)host->config_size(stage, "log_retention_bytes"),
                .retention_age_ns = host->config_duration(stage, "log_retention_age"),
                .fsync = (tlog_fsync)host->config_enum(stage, "fsync")},
        .fsync_interval_ns = host->config_duration(stage, "fsync_interval"),
        .replay_records = limits.retain_records,
    };
    if (!(st->log = qlog_open(host, stage, &lo, st->engine))) {
      ql_destroy(st);
      *state = NULL;
      return SD_ERR;
    }
    ql_engine_set_history(st->engine, qlog_history, st->log);
  }

  named_list nl = {0};
  host->config_each(stage, "query.", collect_named, &nl);
  st->named = calloc(nl.count ? nl.count : 1, sizeof *st->named);
  int ok = st->named && !nl.oom;
  for (size_t i = 0; ok && i < nl.count; i++) {
    ql_named *q = &st->named[i];
    q->st = st;
    q->name = nl.names[i];
    nl.names[i] = NULL;
    q->key_col = -1;
    st->named_count++;
    ql_query_opts opts = {.earliest = 0, .ad_hoc = 0, .name = q->name, .pipeline = 1};
    memset(&err, 0, sizeof err);
    q->query =
        ql_query_start(st->engine, nl.sqls[i], &opts, named_on_row, named_on_end, q, &err);
    if (!q->query) {
      host->log(stage, SD_LOG_ERROR, "named query failed to start: query=%s error=\"%s\"",
                q->name, err.message);
      ok = 0;
      break;
    }
    q->ncols = ql_query_column_count(q->query);
    const char **cols = calloc(q->ncols ? q->ncols : 1, sizeof *cols);
    const char **types = calloc(q->ncols ? q->ncols : 1, sizeof *types);
    if (!cols || !types) {
      free(cols);
      free(types);
      ok = 0;
      break;
    }
    for (size_t c = 0; c < q->ncols; c++) {
      cols[c] = ql_query_column_name(q->query, c);
      types[c] = ql_query_column_type(q->query, c);
      if (q->key_col < 0 && strcasecmp(cols[c], "DEVICEID") == 0 &&
          strcmp(types[c], "STRING") == 0)
        q->key_col = (long)c;
    }
    q->schema = host->schema_new(stage, q->name, q->ncols, cols, types);
    free(cols);
    free(types);
    char labels[200];
    snprintf(labels, sizeof labels, "query=\"%s\"", q->name);
    q->rows_out = host->counter(stage, "query_rows_out_total",
                                "rows a named query sent downstream", labels);
    if (!q->schema) ok = 0;
  }
  named_list_free(&nl);
  if (!ok) {
    ql_destroy(st);
    *state = NULL;
    return SD_ERR;
  }
  return SD_OK;
}

static sd_result ql_start(void *state) {
  ql_stage *st = state;
  const sd_host_api *h = st->host;
  st->timer =
      h->timer_start(st->stage, h->config_duration(st->stage, "tick_interval"), 1, ql_tick);
  const char *listen = h->config_string(st->stage, "listen");
  if (strcmp(listen, "off") == 0) return SD_OK;
  api_config cfg = {
      .listen = listen,
      .max_body = (size_t)h->config_size(st->stage, "max_body_size"),
      .client_buffer = (size_t)h->config_size(st->stage, "client_buffer"),
      .idle_timeout_ns = h->config_duration(st->stage, "idle_timeout"),
      .max_connections = (size_t)h->config_int(st->stage, "max_connections"),
      .header_timeout_ns = h->config_duration(st->stage, "header_timeout"),
      .max_per_ip = (unsigned)h->config_int(st->stage, "max_connections_per_ip"),
  };
  st->api = api_server_start(h, st->stage, st->engine, &cfg);
  return st->api ? SD_OK : SD_ERR;
}

static sd_result ql_process(void *state, sd_delivery *delivery) {
  ql_stage *st = state;
  const sd_host_api *h = st->host;
  const sd_batch *in = h->delivery_batch(delivery);
  size_t n = h->batch_count(in);
  size_t unreadable = 0;
  /* Into the log first: a batch the log refused is neither acknowledged nor seen by any
   * query, so the producer's retry is not a duplicate. */
  if (st->log && qlog_append(st->log, in)) {
    h->complete(delivery, SD_STATUS_FAIL);
    return SD_OK;
  }
  api_push_defer_begin();
  for (size_t i = 0; i < n; i++) {
    sd_record_view rec;
    if (h->batch_record(in, i, &rec) != SD_OK) {
      unreadable++;
      continue;
    }
    ql_engine_ingest(st->engine, NULL, &rec);
  }
  api_push_defer_end();
  h->metric_add(st->m_records_in, (double)(n - unreadable));
  if (unreadable) {
    h->metric_add(st->m_bad_records, (double)unreadable);
    h->log(st->stage, SD_LOG_ERROR, "input records could not be read: count=%zu", unreadable);
  }
  int failed = flush_named(st);
  /* A refused output batch fails the input so the producer learns about it. */
  sd_status status = unreadable || failed == 2 ? SD_STATUS_FAIL
                     : failed == 1             ? SD_STATUS_RETRY
                                               : SD_STATUS_OK;
  if (st->log)
    qlog_complete(st->log, delivery, status);
  else
    h->complete(delivery, status);
  return SD_OK;
}

static int64_t ql_drain(void *state, int64_t deadline_mono_ns) {
  (void)deadline_mono_ns;
  ql_stage *st = state;
  flush_named(st);
  return 0;
}

static void ql_destroy(void *state) {
  ql_stage *st = state;
  if (!st) return;
  if (st->timer) st->host->timer_stop(st->timer);
  api_server_stop(st->api);
  for (size_t i = 0; i < st->named_count; i++) {
    ql_named *q = &st->named[i];
    if (q->query) ql_query_stop(q->query);
    if (q->pending) st->host->batch_free(q->pending);
    if (q->schema) st->host->schema_release(q->schema);
    free(q->name);
  }
  free(st->named);
  qlog_close(st->log);
  if (st->engine) ql_engine_free(st->engine);
  pthread_mutex_destroy(&st->mu);
  free(st);
}

static const sd_plugin_descriptor ql_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "query_local",
    .version = "1.0.0",
    .description = "in-process ksqlDB-style push queries over the pipeline's records, with a "
                   "ksqlDB-compatible REST API",
    .kind = SD_KIND_QUERY,
    .flags = SD_PLUGIN_PROCESS_ON_CALLER,
    .config_keys = ql_config_keys,
    .validate = ql_validate,
    .init = ql_init,
    .start = ql_start,
    .process = ql_process,
    .on_wakeup = ql_on_wakeup,
    .drain = ql_drain,
    .destroy = ql_destroy,
};

SD_PLUGIN_DEFINE(ql_descriptor)
