/* query_local's push-query engine as seen by the rest of the plugin (the REST API and the
 * stage glue): streams, running queries, statements for /ksql, and record ingest.
 * Thread-safe: ingest runs on the stage thread, API calls on HTTP threads. */
#ifndef QL_ENGINE_H
#define QL_ENGINE_H

#include <jansson.h>
#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ql_engine ql_engine;
typedef struct ql_query ql_query;

/* A ksqlDB-style error: code is ksqlDB's error_code (40001 bad statement, 40002 SELECT on
 * /ksql, 40003 too many push queries, 40000 bad request, 50000 server error). */
typedef struct ql_error {
  int code;
  char message[1024];
} ql_error;

typedef struct ql_limits {
  size_t max_push_queries; /* ad-hoc API queries running at once */
  size_t retain_records;   /* per stream, for auto.offset.reset=earliest */
  size_t retain_bytes;
  int64_t retain_age_ns;
  int64_t emit_interval_ns;  /* windowed aggregates: 0 = emit on every change */
  int64_t grace_ns;          /* late rows accepted into a closed window for this long */
  const char *default_topic; /* records entering the stage feed streams on this topic */
  /* Wall clock read at ingest for retain_age (NULL = CLOCK_REALTIME_COARSE); tests inject
   * one so that ageing does not depend on when the test runs. */
  int64_t (*now_wall_ns)(void);
} ql_limits;

ql_engine *ql_engine_new(const ql_limits *limits);
void ql_engine_free(ql_engine *engine);

/* Executes one or more non-query statements (CREATE STREAM [IF NOT EXISTS], DROP STREAM,
 * SHOW/LIST STREAMS, SHOW QUERIES, DESCRIBE) and returns the /ksql response entity array.
 * On error returns NULL and fills err (a SELECT gives 40002). */
json_t *ql_execute(ql_engine *engine, const char *sql, ql_error *err);

/* Called with each output row of a query, on the thread that produced it (ingest or a
 * window timer). values has column_count entries; strings are only valid during the call. */
typedef void (*ql_row_fn)(void *ctx, const sd_value *values, size_t column_count,
                          int64_t rowtime_ns);
/* Called once when the query ends by itself (LIMIT reached, stream dropped): the callback
 * must not call ql_query_stop from inside; reason is ksqlDB's final message text. */
typedef void (*ql_end_fn)(void *ctx, const char *reason);

typedef struct ql_query_opts {
  int earliest;     /* auto.offset.reset = earliest: replay retained records first */
  int ad_hoc;       /* counts against max_push_queries */
  const char *name; /* named queries from the INI; NULL = transient id generated */
  /* Defined in the pipeline file and feeding the stage's outputs: TERMINATE refuses it and
   * TERMINATE ALL leaves it running, as DROP STREAM refuses its stream. Needs a name. */
  int pipeline;
} ql_query_opts;

/* Parses, plans and starts a push query (SELECT … EMIT CHANGES). NULL + err on failure
 * (syntax error with position and what was expected, unknown stream or column). */
ql_query *ql_query_start(ql_engine *engine, const char *sql, const ql_query_opts *opts,
                         ql_row_fn on_row, ql_end_fn on_end, void *ctx, ql_error *err);
/* Stops and frees it; after return no callback for it runs. Safe from any thread. */
void ql_query_stop(ql_query *query);
const char *ql_query_id(const ql_query *query); /* transient_<SOURCE>_<n> or the name */
size_t ql_query_column_count(const ql_query *query);
const char *ql_query_column_name(const ql_query *query, size_t i); /* "DEVICEID" */
const char *ql_query_column_type(const ql_query *query, size_t i); /* "STRING" */
const char *ql_query_source(const ql_query *query);                /* stream name */
int64_t ql_query_limit(const ql_query *query);                     /* -1 = none */

/* Only validates (for `sensord -t`): 0 ok, else -1 and err. */
int ql_check_statement(ql_engine *engine, const char *sql, ql_error *err);

/* Feeds one record (already flattened fields) to every stream on topic (NULL = the
 * default topic), and through them to every running query. */
void ql_engine_ingest(ql_engine *engine, const char *topic, const sd_record_view *record);

/* Start-up replay of the stream log: puts one record into the retention of every stream on
 * topic (NULL = the default topic) as if it had just arrived at arrived_ns, without running
 * any query, so a later `earliest` query replays it. */
void ql_engine_restore(ql_engine *engine, const char *topic, const sd_record_view *record,
                       int64_t arrived_ns);

/* Where the records that entered the default topic before now can be read again (the
 * stream log): a stream CREATEd later on that topic gets them in its retention, as a ksqlDB
 * stream over an existing Kafka topic sees the topic's history. fn runs under the engine
 * lock; it calls restore(rctx, record, arrived_ns) for each record, oldest first, among the
 * first `ingested` records the engine was fed since it started (later ones arrive live). */
typedef void (*ql_restore_fn)(void *rctx, const sd_record_view *record, int64_t arrived_ns);
typedef void (*ql_history_fn)(void *ctx, uint64_t ingested, ql_restore_fn restore, void *rctx);
void ql_engine_set_history(ql_engine *engine, ql_history_fn fn, void *ctx);

/* Periodic work: flush windows due under emit_interval, close windows past grace, expire
 * retained records past retain_age. Called from a stage timer (and by tests). */
void ql_engine_tick(ql_engine *engine, int64_t now_wall_ns);

/* Pipeline-file queries (opts.pipeline) that ended by themselves (LIMIT reached, a pull
 * query's end): a JSON array of {"queryId", "reason"} in start order, empty when every one
 * runs. For /healthcheck: their rows no longer reach the stage's outputs. */
json_t *ql_engine_pipeline_stopped(ql_engine *engine);

/* Counters for /metrics. */
typedef struct ql_stats {
  uint64_t records_in, rows_out, deserialization_errors, queries_running, queries_started;
  uint64_t late_records; /* rows that reached a window after its grace period: dropped */
  uint64_t aggregate_rows_dropped; /* rows that got no memory for a new window group */
} ql_stats;
void ql_engine_stats(ql_engine *engine, ql_stats *out);

/* ---- Additions (the functions above are unchanged) -------------------------------------
 * Rows are never delivered from inside ql_query_start: the retained rows an `earliest` or
 * pull query replays are sent from the next ql_engine_ingest or ql_engine_tick on the stage
 * thread. fn (called from the thread that started the query, engine lock not held) says
 * such work is waiting, so the glue can host->wakeup() and call ql_engine_tick at once. */
void ql_engine_set_notify(ql_engine *engine, void (*fn)(void *ctx), void *ctx);
/* SELECT without EMIT CHANGES: replays what is retained, then ends ("Query Completed"). */
int ql_query_is_pull(const ql_query *query);
const char *ql_query_sql(const ql_query *query); /* statement text, ending in ';' */
/* Value representation in ql_row_fn: BOOLEAN -> SD_BOOL; INTEGER, BIGINT -> SD_INT;
 * DOUBLE -> SD_DOUBLE; STRING -> SD_STRING; TIMESTAMP -> SD_INT epoch milliseconds (render
 * it as "2024-01-02T03:04:05.678", UTC); NULL -> SD_NULL. ROWTIME, WINDOWSTART and
 * WINDOWEND are BIGINT epoch milliseconds, as in ksqlDB. */

#endif
