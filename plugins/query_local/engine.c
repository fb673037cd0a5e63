/* The push-query engine behind engine.h: owns streams and running queries under one lock,
 * decodes each ingested record once per stream and runs every query on that shared row,
 * replays retention for `earliest`, and drives window flushes and retention from ticks. */
#include "ql_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

ql_engine *ql_engine_new(const ql_limits *limits) {
  ql_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (limits) e->limits = *limits;
  if (limits && limits->default_topic && !(e->default_topic = strdup(limits->default_topic))) {
    free(e);
    return NULL;
  }
  e->limits.default_topic = e->default_topic;
  pthread_mutex_init(&e->lock, NULL);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  e->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40) ^
           (uint64_t)(uintptr_t)e;
  ql_arena_init(&e->scratch);
  return e;
}

static void query_free(ql_query *q) {
  ql_aggtable_free(q->aggs);
  free(q->out);
  free(q->source_name);
  ql_arena_free(&q->arena);
  free(q);
}

void ql_engine_free(ql_engine *e) {
  if (!e) return;
  /* Queries still here were never stopped by their owners; free them with the engine. */
  ql_query *q = e->queries;
  while (q) {
    ql_query *n = q->all_next;
    query_free(q);
    q = n;
  }
  ql_stream *s = e->streams;
  while (s) {
    ql_stream *n = s->next;
    ql_stream_free(s);
    s = n;
  }
  ql_arena_free(&e->scratch);
  pthread_mutex_destroy(&e->lock);
  free(e->default_topic);
  free(e);
}

void ql_engine_set_notify(ql_engine *e, void (*fn)(void *ctx), void *ctx) {
  pthread_mutex_lock(&e->lock);
  e->notify = fn;
  e->notify_ctx = ctx;
  pthread_mutex_unlock(&e->lock);
}

ql_stream *ql_engine_find_stream(ql_engine *e, const char *name) {
  for (ql_stream *s = e->streams; s; s = s->next)
    if (!strcmp(s->name, name)) return s;
  return NULL;
}

/* ---- Statements -------------------------------------------------------------------------- */
static int count_statements(const ql_stmt *s) {
  int n = 0;
  for (; s; s = s->next) n++;
  return n;
}

static const char *const select_on_ksql =
    "The following statement types should be issued to the websocket endpoint '/query':\n"
    "\t* PRINT\n"
    "\t* SELECT";

json_t *ql_execute(ql_engine *e, const char *sql, ql_error *err) {
  ql_arena a;
  ql_arena_init(&a);
  ql_stmt *first = ql_parse(&a, sql ? sql : "", err);
  if (!first) {
    ql_arena_free(&a);
    if (err && err->code == 0) return json_array(); /* nothing to run */
    return NULL;
  }
  for (ql_stmt *s = first; s; s = s->next)
    if (s->kind == QL_S_SELECT) {
      ql_set_error(err, 40002, "%s", select_on_ksql);
      ql_arena_free(&a);
      return NULL;
    }
  json_t *out = json_array();
  pthread_mutex_lock(&e->lock);
  for (ql_stmt *s = first; s && out; s = s->next) {
    json_t *entity = ql_ddl_execute(e, s, err);
    if (!entity) {
      json_decref(out);
      out = NULL;
      break;
    }
    json_array_append_new(out, entity);
  }
  pthread_mutex_unlock(&e->lock);
  ql_arena_free(&a);
  return out;
}

int ql_check_statement(ql_engine *e, const char *sql, ql_error *err) {
  ql_arena a;
  ql_arena_init(&a);
  ql_stmt *first = ql_parse(&a, sql ? sql : "", err);
  int rc = 0;
  if (!first) {
    if (err && err->code == 0) ql_set_error(err, 40001, "Empty statement");
    rc = -1;
  }
  for (ql_stmt *s = first; s && !rc; s = s->next) {
    if (s->kind == QL_S_CREATE_STREAM) {
      if (!s->topic)
        rc = -1, ql_set_error(err, 40001,
                              "Missing required property \"KAFKA_TOPIC\" which has no default "
                              "value.");
      else if (s->value_format && strcmp(s->value_format, "JSON"))
        rc = -1,
        ql_set_error(err, 40001,
                     "VALUE_FORMAT '%s' is not supported: sensord's query engine reads "
                     "JSON records",
                     s->value_format);
    } else if (s->kind == QL_S_SELECT) {
      pthread_mutex_lock(&e->lock);
      ql_stream *st = ql_engine_find_stream(e, s->from);
      ql_plan plan;
      if (!st)
        rc = -1, ql_set_error(err, 40001, "Line: %d, Col: %d: %s does not exist.", s->from_line,
                              s->from_col, s->from);
      else if (ql_plan_select(&a, s, st, &plan, err))
        rc = -1;
      pthread_mutex_unlock(&e->lock);
    }
  }
  ql_arena_free(&a);
  return rc;
}

/* ---- Running rows through queries
 * ------------------------------------------------------------ */
void ql_query_end(ql_query *q, const char *reason) {
  if (q->ended) return;
  q->ended = 1;
  snprintf(q->end_reason, sizeof q->end_reason, "%s", reason ? reason : "");
  q->engine->n_running--;
  if (q->ad_hoc) q->engine->n_ad_hoc--;
  if (q->on_end) q->on_end(q->ctx, reason);
}

void ql_query_emit(ql_query *q, const sd_value *vals, int64_t rowtime_ms) {
  if (q->ended) return;
  q->on_row(q->ctx, vals, q->plan.ncols, rowtime_ms * 1000000);
  q->emitted++;
  q->engine->rows_out++;
  if (q->plan.limit >= 0 && q->emitted >= q->plan.limit) ql_query_end(q, "Limit Reached");
}

static void run_row(ql_query *q, const sd_value *row, int64_t rowtime_ms) {
  ql_engine *e = q->engine;
  ql_arena_reset(&e->scratch);
  ql_eval_ctx c = {.row = row, .rowtime_ms = rowtime_ms, .scratch = &e->scratch};
  if (q->plan.where && !ql_eval_true(q->plan.where, &c)) return;
  if (q->aggs) {
    ql_agg_row(q, &c);
    return;
  }
  for (size_t k = 0; k < q->plan.ncols; k++) ql_eval(q->plan.proj[k], &c, &q->out[k]);
  ql_query_emit(q, q->out, rowtime_ms);
}

static int64_t ns_to_ms(int64_t ns) {
  return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

/* Rows retained before the query started, then the pull query's end. */
static void replay(ql_query *q) {
  q->replay_pending = 0;
  ql_stream *s = q->stream;
  if (q->earliest_or_pull) {
    for (size_t k = 0; s && k < s->ring_count && !q->ended; k++) {
      ql_retained *r = &s->ring[(s->ring_head + k) % s->ring_cap];
      if (r->seq >= q->start_seq) break;
      run_row(q, r->vals, ns_to_ms(r->ts_ns));
    }
  }
  if (!q->ended && q->plan.limit == 0) ql_query_end(q, "Limit Reached");
  if (!q->ended && q->plan.pull) ql_query_end(q, "Query Completed");
}

void ql_engine_ingest(ql_engine *e, const char *topic, const sd_record_view *record) {
  pthread_mutex_lock(&e->lock);
  e->records_in++;
  const char *t = topic ? topic : e->default_topic;
  int64_t rowtime_ms = ns_to_ms(record->timestamp_ns);
  /* Retention ages by arrival, not event time: a phone with a wrong clock, or a replay of
   * old recordings, must not have its rows expire the moment they arrive. The coarse clock
   * (a few ms) is plenty for that and costs nothing per record. */
  int64_t arrived_ns;
  if (e->limits.now_wall_ns) {
    arrived_ns = e->limits.now_wall_ns();
  } else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    arrived_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  }
  for (ql_stream *s = e->streams; s; s = s->next) {
    if (t && strcmp(s->topic, t)) continue;
    /* Pending replays go first, before this record's retention can evict what they need. */
    for (ql_query *q = s->queries; q; q = q->next)
      if (q->replay_pending && !q->ended) replay(q);
    s->next_seq++;
    s->records++;
    size_t errors = ql_stream_decode(s, record);
    s->errors += errors;
    e->deser_errors += errors;
    ql_stream_retain(s, record->timestamp_ns, arrived_ns, e->limits.retain_bytes);
    for (ql_query *q = s->queries; q; q = q->next) {
      if (!q->ended) run_row(q, s->row, rowtime_ms);
    }
  }
  pthread_mutex_unlock(&e->lock);
}

void ql_engine_restore(ql_engine *e, const char *topic, const sd_record_view *record,
                       int64_t arrived_ns) {
  pthread_mutex_lock(&e->lock);
  const char *t = topic ? topic : e->default_topic;
  for (ql_stream *s = e->streams; s; s = s->next) {
    if (t && strcmp(s->topic, t)) continue;
    s->next_seq++;
    ql_stream_decode(s, record); /* type errors were counted when it first arrived */
    ql_stream_retain(s, record->timestamp_ns, arrived_ns, e->limits.retain_bytes);
  }
  pthread_mutex_unlock(&e->lock);
}

void ql_engine_set_history(ql_engine *e, ql_history_fn fn, void *ctx) {
  pthread_mutex_lock(&e->lock);
  e->history = fn;
  e->history_ctx = ctx;
  pthread_mutex_unlock(&e->lock);
}

typedef struct history_ctx {
  ql_engine *e;
  ql_stream *s;
} history_ctx;

static void history_record(void *ctx, const sd_record_view *record, int64_t arrived_ns) {
  history_ctx *h = ctx;
  h->s->next_seq++;
  ql_stream_decode(h->s, record);
  ql_stream_retain(h->s, record->timestamp_ns, arrived_ns, h->e->limits.retain_bytes);
}

void ql_engine_history_into(ql_engine *e, ql_stream *s) {
  if (!e->history || !s->ring_cap || (e->default_topic && strcmp(s->topic, e->default_topic)))
    return;
  history_ctx h = {e, s};
  e->history(e->history_ctx, e->records_in, history_record, &h);
}

void ql_engine_tick(ql_engine *e, int64_t now_wall_ns) {
  pthread_mutex_lock(&e->lock);
  if (e->limits.retain_age_ns > 0)
    for (ql_stream *s = e->streams; s; s = s->next)
      ql_stream_expire(s, now_wall_ns - e->limits.retain_age_ns);
  for (ql_query *q = e->queries; q; q = q->all_next) {
    if (q->ended) continue;
    if (q->replay_pending) replay(q);
    if (!q->ended && q->aggs) ql_agg_flush(q, now_wall_ns, 0);
  }
  pthread_mutex_unlock(&e->lock);
}

void ql_engine_stats(ql_engine *e, ql_stats *out) {
  pthread_mutex_lock(&e->lock);
  memset(out, 0, sizeof *out);
  out->records_in = e->records_in;
  out->rows_out = e->rows_out;
  out->deserialization_errors = e->deser_errors;
  out->queries_running = e->n_running;
  out->queries_started = e->queries_started;
  out->late_records = e->late_rows;
  out->aggregate_rows_dropped = e->agg_dropped_rows;
  pthread_mutex_unlock(&e->lock);
}

json_t *ql_engine_pipeline_stopped(ql_engine *e) {
  json_t *out = json_array();
  pthread_mutex_lock(&e->lock);
  /* e->queries is newest first: walk back from the oldest for start order. */
  ql_query *q = e->queries;
  while (q && q->all_next) q = q->all_next;
  for (; q && out; q = q->all_prev)
    if (q->pipeline && q->ended)
      json_array_append_new(out, json_pack("{s:s, s:s}", "queryId", q->id, "reason",
                                           q->end_reason[0] ? q->end_reason : "ended"));
  pthread_mutex_unlock(&e->lock);
  return out;
}

/* ---- Query lifecycle ------------------------------------------------------------------------
 */
static ql_query *find_query(ql_engine *e, const char *id) {
  for (ql_query *q = e->queries; q; q = q->all_next)
    if (!strcasecmp(q->id, id)) return q;
  return NULL;
}

ql_query *ql_query_find_locked(ql_engine *e, const char *id) {
  return find_query(e, id);
}

ql_query *ql_query_start(ql_engine *e, const char *sql, const ql_query_opts *opts,
                         ql_row_fn on_row, ql_end_fn on_end, void *ctx, ql_error *err) {
  ql_query_opts none = {0};
  if (!opts) opts = &none;
  if (!on_row) {
    ql_set_error(err, 50000, "ql_query_start: no row callback");
    return NULL;
  }
  ql_query *q = calloc(1, sizeof *q);
  if (!q) {
    ql_set_error(err, 50000, "out of memory");
    return NULL;
  }
  ql_arena_init(&q->arena);
  q->stmt = ql_parse(&q->arena, sql ? sql : "", err);
  int n = count_statements(q->stmt);
  if (!q->stmt && err && err->code == 0)
    n = 0;
  else if (!q->stmt)
    goto fail;
  if (n != 1) {
    ql_set_error(err, 40001, "Expected exactly one KSQL statement; found %d instead", n);
    goto fail;
  }
  if (q->stmt->kind != QL_S_SELECT) {
    ql_set_error(err, 40001, "Neither a query nor a print statement");
    goto fail;
  }
  q->engine = e;
  q->on_row = on_row;
  q->on_end = on_end;
  q->ctx = ctx;
  q->ad_hoc = opts->ad_hoc;
  q->named = opts->name != NULL;
  q->pipeline = q->named && opts->pipeline;
  q->emit_interval_ns = e->limits.emit_interval_ns;

  pthread_mutex_lock(&e->lock);
  ql_stream *s = ql_engine_find_stream(e, q->stmt->from);
  if (!s) {
    ql_set_error(err, 40001, "Line: %d, Col: %d: %s does not exist.", q->stmt->from_line,
                 q->stmt->from_col, q->stmt->from);
    goto fail_locked;
  }
  if (ql_plan_select(&q->arena, q->stmt, s, &q->plan, err)) goto fail_locked;
  if (q->ad_hoc && e->limits.max_push_queries && e->n_ad_hoc >= e->limits.max_push_queries) {
    ql_set_error(
        err, 40003,
        "Not executing query as it would cause the number of active push queries to "
        "exceed the configured limit. Terminate existing push queries, or increase the "
        "limit of push queries. Current push query count: %zu. Configured limit: %zu.",
        e->n_ad_hoc, e->limits.max_push_queries);
    goto fail_locked;
  }
  if (opts->name) {
    if (find_query(e, opts->name)) {
      ql_set_error(err, 40001, "Query ID '%s' already exists.", opts->name);
      goto fail_locked;
    }
    snprintf(q->id, sizeof q->id, "%s", opts->name);
  } else {
    do {
      snprintf(q->id, sizeof q->id, "transient_%s_%llu", s->name,
               (unsigned long long)(splitmix64(&e->rng) >> 1));
    } while (find_query(e, q->id));
  }
  q->source_name = strdup(s->name);
  q->out = calloc(q->plan.ncols + 1, sizeof *q->out);
  if (!q->source_name || !q->out) {
    ql_set_error(err, 50000, "out of memory");
    goto fail_locked;
  }
  if (q->plan.aggregate) {
    q->grace_ms =
        q->plan.window.has_grace ? q->plan.window.grace_ms : e->limits.grace_ns / 1000000;
    if (!(q->aggs = ql_aggtable_new(&q->plan))) {
      ql_set_error(err, 50000, "out of memory");
      goto fail_locked;
    }
  }
  q->stream = s;
  q->start_seq = s->next_seq;
  q->earliest_or_pull = opts->earliest || q->plan.pull;
  q->replay_pending = q->earliest_or_pull || q->plan.limit == 0;
  q->next = s->queries;
  if (s->queries) s->queries->prev = q;
  s->queries = q;
  q->all_next = e->queries;
  if (e->queries) e->queries->all_prev = q;
  e->queries = q;
  e->n_running++;
  if (q->ad_hoc) e->n_ad_hoc++;
  e->queries_started++;
  void (*notify)(void *) = q->replay_pending ? e->notify : NULL;
  void *notify_ctx = e->notify_ctx;
  pthread_mutex_unlock(&e->lock);
  if (notify) notify(notify_ctx);
  return q;

fail_locked:
  pthread_mutex_unlock(&e->lock);
fail:
  if (err && err->code == 0) ql_set_error(err, 40001, "Invalid query");
  query_free(q);
  return NULL;
}

/* Detaches q from its stream (stream dropped or query stopped); lock held. */
void ql_query_detach(ql_query *q) {
  if (!q->stream) return;
  if (q->prev)
    q->prev->next = q->next;
  else
    q->stream->queries = q->next;
  if (q->next) q->next->prev = q->prev;
  q->next = q->prev = NULL;
  q->stream = NULL;
}

void ql_query_stop(ql_query *q) {
  if (!q) return;
  ql_engine *e = q->engine;
  pthread_mutex_lock(&e->lock);
  ql_query_detach(q);
  if (q->all_prev)
    q->all_prev->all_next = q->all_next;
  else
    e->queries = q->all_next;
  if (q->all_next) q->all_next->all_prev = q->all_prev;
  if (!q->ended) {
    q->ended = 1; /* stopped by its owner: no end callback */
    e->n_running--;
    if (q->ad_hoc) e->n_ad_hoc--;
  }
  pthread_mutex_unlock(&e->lock);
  query_free(q);
}

const char *ql_query_id(const ql_query *q) {
  return q->id;
}
size_t ql_query_column_count(const ql_query *q) {
  return q->plan.ncols;
}
const char *ql_query_column_name(const ql_query *q, size_t i) {
  return i < q->plan.ncols ? q->plan.names[i] : NULL;
}
const char *ql_query_column_type(const ql_query *q, size_t i) {
  return i < q->plan.ncols ? ql_type_name(q->plan.types[i]) : NULL;
}
const char *ql_query_source(const ql_query *q) {
  return q->source_name;
}
int64_t ql_query_limit(const ql_query *q) {
  return q->plan.limit;
}
int ql_query_is_pull(const ql_query *q) {
  return q->plan.pull;
}
const char *ql_query_sql(const ql_query *q) {
  return q->stmt->text;
}
