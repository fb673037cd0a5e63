/* Internal structures of query_local's engine: streams with their retention and field
 * layout caches, planned queries, evaluation contexts, scalar functions and aggregates.
 * Shared by engine.c, streams.c, sql_plan.c, sql_eval.c, sql_functions.c, windows.c, ddl.c. */
#ifndef QL_INTERNAL_H
#define QL_INTERNAL_H

#include "sql_ast.h"

#include <pthread.h>

/* Streams one engine holds at most (CREATE STREAM past it is refused). */
#define QL_MAX_STREAMS 1000

#define QL_LAYOUTS  16 /* distinct record shapes cached per stream */
#define QL_MAX_ARGS 16 /* scalar function arguments */

/* ---- Evaluation ---------------------------------------------------------------------------
 */
typedef struct ql_eval_ctx {
  const sd_value *row; /* stream columns */
  int64_t rowtime_ms;
  int64_t wstart, wend; /* windowed aggregates */
  const sd_value *keys; /* GROUP BY values */
  const sd_value *aggs; /* aggregate results */
  ql_arena *scratch;    /* strings made while evaluating; reset per row */
} ql_eval_ctx;

void ql_eval(const ql_expr *e, ql_eval_ctx *c, sd_value *out);
/* SQL truth: 1 only for a non-NULL true. */
int ql_eval_true(const ql_expr *e, ql_eval_ctx *c);
/* Text of a value as ksqlDB's CAST(x AS STRING) renders it; into the scratch arena. */
int ql_value_to_text(const sd_value *v, ql_type t, ql_arena *a, sd_value *out);
/* Shortest text that reads back as the same double, Java-style ("1.0", "1.0E10"). */
void ql_format_double(double d, char *buf, size_t len);
int ql_like(const char *s, size_t slen, const char *pat, size_t plen);
int ql_values_equal(const sd_value *a, const sd_value *b);
uint64_t ql_value_hash(const sd_value *v, uint64_t h);

/* ---- Scalar functions ----------------------------------------------------------------------
 */
typedef struct ql_func {
  const char *name;
  int min_args, max_args; /* max -1: variadic */
  /* Sets call->type from the argument types, or writes a message and returns -1. */
  int (*check)(ql_expr *call, char *msg, size_t msglen);
  void (*eval)(const ql_expr *call, const sd_value *args, ql_eval_ctx *c, sd_value *out);
} ql_func;

const ql_func *ql_func_find(const char *upper_name);

/* ---- Aggregates
 * ------------------------------------------------------------------------------ */
typedef enum ql_agg_kind {
  QL_AGG_COUNT,
  QL_AGG_SUM,
  QL_AGG_AVG,
  QL_AGG_MIN,
  QL_AGG_MAX,
  QL_AGG_LATEST,
  QL_AGG_EARLIEST
} ql_agg_kind;

int ql_agg_lookup(const char *upper_name, ql_agg_kind *out);

typedef struct ql_agg_spec {
  ql_agg_kind kind;
  ql_expr *arg; /* NULL: COUNT(*) */
  ql_type out_type;
} ql_agg_spec;

/* ---- Streams
 * --------------------------------------------------------------------------------- */
typedef struct ql_column {
  char *name;
  ql_type type;
  int is_key;
} ql_column;

/* The column each field position maps to, for one record shape (names kept to verify). */
typedef struct ql_layout {
  size_t nfields;
  char *names; /* concatenated field names */
  uint32_t *name_len;
  int *col; /* column index or -1 */
  uint64_t last_use;
} ql_layout;

typedef struct ql_retained {
  uint64_t seq;
  int64_t ts_ns;      /* event time: the replayed row's ROWTIME */
  int64_t arrived_ns; /* wall clock at ingest: what retain_age is measured against */
  sd_value *vals;
  char *buf; /* owns vals and string bytes */
  size_t cap, bytes;
} ql_retained;

typedef struct ql_query ql_query;

typedef struct ql_stream {
  char *name, *topic, *key_format, *value_format, *sql;
  int partitions;
  ql_column *cols;
  size_t ncols;
  ql_query *queries; /* running on it */
  ql_layout layouts[QL_LAYOUTS];
  uint64_t layout_clock;
  ql_retained *ring;
  size_t ring_cap, ring_head, ring_count, ring_bytes;
  uint64_t next_seq;
  uint64_t records, errors;
  sd_value *row;    /* deserialized current record */
  ql_arena scratch; /* deserialization text, reset per record */
  struct ql_stream *next;
} ql_stream;

ql_stream *ql_stream_new(const ql_stmt *create, size_t retain_records);
void ql_stream_free(ql_stream *s);
int ql_stream_column(const ql_stream *s, const char *name); /* index or -1 */
/* Deserializes record into s->row; returns the number of fields of the wrong type. */
size_t ql_stream_decode(ql_stream *s, const sd_record_view *r);
/* Keeps s->row for replay within the limits; evicts the oldest over them. */
void ql_stream_retain(ql_stream *s, int64_t ts_ns, int64_t arrived_ns, size_t max_bytes);
void ql_stream_expire(ql_stream *s, int64_t older_than_ns);

/* ---- Planned SELECT ------------------------------------------------------------------------
 */
typedef struct ql_plan {
  size_t ncols;
  char **names;
  ql_type *types;
  ql_expr **proj;
  ql_expr *where, *having;
  int aggregate;
  ql_window_def window;
  ql_expr **keys;
  size_t nkeys;
  ql_agg_spec *aggs;
  size_t naggs;
  int64_t limit;
  int pull; /* no EMIT CHANGES: replay what is retained, then end */
} ql_plan;

/* Resolves names and types of a SELECT against a stream. 0, or -1 with err (40001). */
int ql_plan_select(ql_arena *a, ql_stmt *s, const ql_stream *st, ql_plan *out, ql_error *err);

/* ---- Windowed aggregation state ------------------------------------------------------------
 */
typedef struct ql_aggtable ql_aggtable;
ql_aggtable *ql_aggtable_new(const ql_plan *plan);
void ql_aggtable_free(ql_aggtable *t);
void ql_agg_row(ql_query *q, ql_eval_ctx *c);                   /* a filtered input row */
void ql_agg_flush(ql_query *q, int64_t now_wall_ns, int force); /* emit-interval flush */
size_t ql_aggtable_groups(const ql_aggtable *t);

/* ---- Queries ----------------------------------------------------------------------------- */
struct ql_engine;

struct ql_query {
  struct ql_engine *engine;
  ql_stream *stream; /* NULL once the stream was dropped */
  ql_arena arena;    /* statement, plan */
  ql_stmt *stmt;
  ql_plan plan;
  char id[128];
  char *source_name;
  ql_row_fn on_row;
  ql_end_fn on_end;
  void *ctx;
  int ad_hoc, named, ended, replay_pending, earliest_or_pull;
  int pipeline;        /* defined in the pipeline file: the API may not end it */
  char end_reason[64]; /* why it ended by itself (health reports it) */
  uint64_t start_seq;  /* retained rows before this are replayed (earliest) */
  int64_t emitted;
  uint64_t late_rows;
  uint64_t dropped_rows; /* aggregate rows with no memory for their group */
  sd_value *out;         /* projection buffer */
  ql_aggtable *aggs;
  int64_t emit_interval_ns, grace_ms;
  ql_query *next, *prev;         /* on the stream */
  ql_query *all_next, *all_prev; /* on the engine */
};

/* Emits one projected row (counts it, applies LIMIT, ends the query on the limit). */
void ql_query_emit(ql_query *q, const sd_value *vals, int64_t rowtime_ms);
/* Ends a query by itself: once, with ksqlDB's final message. */
void ql_query_end(ql_query *q, const char *reason);

/* ---- Engine -------------------------------------------------------------------------------
 */
struct ql_engine {
  pthread_mutex_t lock;
  ql_limits limits;
  char *default_topic;
  ql_stream *streams;
  ql_query *queries; /* every query, running or ended, until stopped */
  size_t n_ad_hoc, n_running;
  uint64_t command_seq;
  uint64_t rng;
  uint64_t records_in, rows_out, deser_errors, queries_started, late_rows;
  uint64_t agg_dropped_rows; /* rows aggregates could not count: no memory for a group */
  ql_arena scratch;          /* evaluation strings; every evaluation runs under lock */
  void (*notify)(void *ctx);
  void *notify_ctx;
  ql_history_fn history; /* the stream log: replays the topic into a new stream */
  void *history_ctx;
};

/* A stream just created on the default topic gets the topic's history; lock held. */
void ql_engine_history_into(ql_engine *e, ql_stream *s);

ql_stream *ql_engine_find_stream(ql_engine *e, const char *name);
/* Rows every aggregate query dropped for want of memory for a new group, since the start
 * (takes the lock). Beside ql_engine_stats, whose struct is engine.h's. */
ql_query *ql_query_find_locked(ql_engine *e, const char *id); /* case-insensitive */
void ql_query_detach(ql_query *q);                            /* from its stream; lock held */
/* Statement execution for /ksql (ddl.c), under the engine lock. */
json_t *ql_ddl_execute(ql_engine *e, ql_stmt *s, ql_error *err);

#endif
