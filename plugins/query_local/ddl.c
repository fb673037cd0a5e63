/* Non-query statements for /ksql: CREATE/DROP STREAM, SHOW/LIST STREAMS|TABLES|QUERIES,
 * DESCRIBE and TERMINATE, each answered with the entity ksqlDB's /ksql returns
 * (currentStatus, streams, tables, queries, sourceDescription). Runs under the engine lock.
 * Queries of the pipeline file are the stage's own: DROP and TERMINATE refuse to end them. */
#include "ql_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *entity(const char *type, const ql_stmt *s) {
  return json_pack("{s:s, s:s}", "@type", type, "statementText", s->text);
}

static json_t *finish(json_t *e) {
  json_object_set_new(e, "warnings", json_array());
  return e;
}

static json_t *current_status(ql_engine *e, const ql_stmt *s, const char *command_id,
                              const char *message) {
  json_t *o = entity("currentStatus", s);
  json_object_set_new(o, "commandId", json_string(command_id));
  json_object_set_new(
      o, "commandStatus",
      json_pack("{s:s, s:s, s:n}", "status", "SUCCESS", "message", message, "queryId"));
  json_object_set_new(o, "commandSequenceNumber", json_integer((json_int_t)++e->command_seq));
  return finish(o);
}

static json_t *running_query(const ql_query *q) {
  return json_pack("{s:s, s:[], s:[], s:s, s:{s:i}, s:s, s:s}", "queryString", q->stmt->text,
                   "sinks", "sinkKafkaTopics", "id", q->id, "statusCount", "RUNNING", 1,
                   "queryType", q->named ? "PERSISTENT" : "PUSH", "state", "RUNNING");
}

static json_t *stream_summary(const ql_stream *st) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "type", "STREAM", "name", st->name,
                   "topic", st->topic, "keyFormat", st->key_format, "valueFormat",
                   st->value_format, "isWindowed", 0);
}

static json_t *source_description(ql_engine *e, const ql_stream *st, int extended) {
  json_t *fields = json_array();
  for (size_t k = 0; k < st->ncols; k++) {
    json_t *f = json_pack("{s:s, s:{s:s, s:n, s:n}}", "name", st->cols[k].name, "schema",
                          "type", ql_type_name(st->cols[k].type), "fields", "memberSchema");
    if (st->cols[k].is_key) json_object_set_new(f, "type", json_string("KEY"));
    json_array_append_new(fields, f);
  }
  json_t *reads = json_array();
  for (const ql_query *q = e->queries; q; q = q->all_next)
    if (q->named && !q->ended && q->stream == st)
      json_array_append_new(reads, running_query(q));
  char stats[160] = "", errs[160] = "";
  if (extended) {
    snprintf(stats, sizeof stats, "total-messages: %llu, retained-messages: %zu",
             (unsigned long long)st->records, st->ring_count);
    snprintf(errs, sizeof errs, "deserialization-errors: %llu", (unsigned long long)st->errors);
  }
  return json_pack("{s:s, s:n, s:o, s:[], s:o, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:i, "
                   "s:i, s:[], s:[], s:[]}",
                   "name", st->name, "windowType", "readQueries", reads, "writeQueries",
                   "fields", fields, "type", "STREAM", "timestamp", "", "statistics", stats,
                   "errorStats", errs, "extended", extended, "keyFormat", st->key_format,
                   "valueFormat", st->value_format, "topic", st->topic, "partitions",
                   st->partitions, "replication", 1, "sourceConstraints", "clusterStatistics",
                   "clusterErrorStats");
}

static json_t *create_stream(ql_engine *e, ql_stmt *s, ql_error *err) {
  if (!s->topic) {
    ql_set_error(err, 40001,
                 "Missing required property \"KAFKA_TOPIC\" which has no default value.");
    return NULL;
  }
  if (s->value_format && strcmp(s->value_format, "JSON")) {
    ql_set_error(
        err, 40001,
        "VALUE_FORMAT '%s' is not supported: sensord's query engine reads JSON records",
        s->value_format);
    return NULL;
  }
  char command[256];
  snprintf(command, sizeof command, "stream/`%s`/create", s->name);
  if (ql_engine_find_stream(e, s->name)) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "Cannot add stream '%s': A stream with the same name already exists", s->name);
    if (s->if_not_exists) return current_status(e, s, command, msg);
    ql_set_error(err, 40001, "%s", msg);
    return NULL;
  }
  ql_stream **tail = &e->streams; /* creation order, as SHOW STREAMS lists them */
  size_t count = 0;
  for (; *tail; tail = &(*tail)->next) count++;
  /* Each stream holds its own retention: a flood of CREATE STREAMs must not grow memory
   * (and every SHOW STREAMS, every name lookup) without bound. */
  if (count >= QL_MAX_STREAMS) {
    ql_set_error(err, 40001,
                 "Cannot add stream '%s': sensord holds at most %d streams; drop one first",
                 s->name, QL_MAX_STREAMS);
    return NULL;
  }
  ql_stream *st = ql_stream_new(s, e->limits.retain_records);
  if (!st) {
    ql_set_error(err, 50000, "out of memory creating stream %s", s->name);
    return NULL;
  }
  *tail = st;
  ql_engine_history_into(e, st);
  return current_status(e, s, command, "Stream created");
}

static json_t *drop_stream(ql_engine *e, ql_stmt *s, ql_error *err) {
  ql_stream **pp = &e->streams;
  while (*pp && strcmp((*pp)->name, s->name)) pp = &(*pp)->next;
  char command[256];
  snprintf(command, sizeof command, "stream/`%s`/drop", s->name);
  if (!*pp) {
    if (s->if_exists) {
      char msg[300];
      snprintf(msg, sizeof msg, "Source `%s` does not exist.", s->name);
      return current_status(e, s, command, msg);
    }
    ql_set_error(err, 40001, "Source %s does not exist.", s->name);
    return NULL;
  }
  ql_stream *st = *pp;
  char names[512] = "";
  size_t o = 0;
  for (ql_query *q = st->queries; q; q = q->next)
    if (q->named && !q->ended && o < sizeof names)
      o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "", q->id);
  if (o) {
    ql_set_error(err, 40001,
                 "Cannot drop %s.\nThe following queries read from this source: [%s].\n"
                 "You need to terminate them before dropping %s.",
                 st->name, names, st->name);
    return NULL;
  }
  while (st->queries) { /* push queries on it end, as ksqlDB's do */
    ql_query *q = st->queries;
    ql_query_detach(q);
    ql_query_end(q, "Query Completed");
  }
  char msg[600];
  snprintf(msg, sizeof msg, "Source `%s` (topic: %s) was dropped.", st->name, st->topic);
  *pp = st->next;
  ql_stream_free(st);
  return current_status(e, s, command, msg);
}

/* "accel, gravity": the running pipeline-file queries, oldest first (malloc'd; NULL when
 * there are none or no memory). */
static char *pipeline_query_names(ql_engine *e) {
  ql_query *q = e->queries;
  while (q && q->all_next) q = q->all_next;
  size_t len = 0;
  for (ql_query *r = q; r; r = r->all_prev)
    if (r->pipeline && !r->ended) len += strlen(r->id) + 2;
  char *names = len ? malloc(len + 1) : NULL;
  if (!names) return NULL;
  size_t o = 0;
  for (; q; q = q->all_prev)
    if (q->pipeline && !q->ended)
      o += (size_t)snprintf(names + o, len + 1 - o, "%s%s", o ? ", " : "", q->id);
  return names;
}

/* Queries of the pipeline file feed the stage's outputs (the dashboard): ending one over
 * the API would stop its rows until a restart while every push is still answered 200, so
 * they are refused here the way DROP STREAM refuses the stream they read. */
static json_t *terminate(ql_engine *e, ql_stmt *s, ql_error *err) {
  char command[300];
  if (!strcasecmp(s->name, "ALL")) {
    for (ql_query *q = e->queries; q; q = q->all_next)
      if (!q->ended && !q->pipeline) ql_query_end(q, "Query Completed");
    json_t *o = current_status(e, s, "terminate/ALL/execute", "Query terminated.");
    char *kept = pipeline_query_names(e);
    if (kept) {
      char *msg = NULL;
      if (asprintf(&msg,
                   "Queries defined in the pipeline file were left running: [%s]. Edit the "
                   "pipeline file and reload sensord with SIGHUP to change or remove them.",
                   kept) >= 0) {
        json_array_append_new(json_object_get(o, "warnings"),
                              json_pack("{s:s}", "message", msg));
        free(msg);
      }
      free(kept);
    }
    return o;
  }
  ql_query *q = ql_query_find_locked(e, s->name);
  if (q && q->pipeline) {
    ql_set_error(err, 40001,
                 "Cannot terminate query %s: it is defined in the pipeline file (query.%s) and "
                 "feeds the pipeline's outputs. Edit the pipeline file and reload sensord with "
                 "SIGHUP to change or remove it.",
                 q->id, q->id);
    return NULL;
  }
  if (!q || q->ended) {
    ql_set_error(err, 40001, "Unknown queryId: %s", s->name);
    return NULL;
  }
  snprintf(command, sizeof command, "terminate/%s/execute", q->id);
  ql_query_end(q, "Query Completed");
  return current_status(e, s, command, "Query terminated.");
}

json_t *ql_ddl_execute(ql_engine *e, ql_stmt *s, ql_error *err) {
  json_t *o, *list;
  switch (s->kind) {
  case QL_S_CREATE_STREAM:
    return create_stream(e, s, err);
  case QL_S_DROP_STREAM:
    return drop_stream(e, s, err);
  case QL_S_TERMINATE:
    return terminate(e, s, err);
  case QL_S_SHOW_STREAMS:
    if (s->extended) goto describe_all;
    o = entity("streams", s);
    list = json_array();
    for (ql_stream *st = e->streams; st; st = st->next)
      json_array_append_new(list, stream_summary(st));
    json_object_set_new(o, "streams", list);
    return finish(o);
  case QL_S_SHOW_TABLES:
    o = entity("tables", s);
    json_object_set_new(o, "tables", json_array());
    return finish(o);
  case QL_S_SHOW_QUERIES:
    o = entity("queries", s);
    list = json_array();
    for (ql_query *q = e->queries; q; q = q->all_next)
      if (!q->ended) json_array_append_new(list, running_query(q));
    json_object_set_new(o, "queries", list);
    return finish(o);
  case QL_S_DESCRIBE: {
    ql_stream *st = ql_engine_find_stream(e, s->name);
    if (!st) {
      ql_set_error(err, 40001, "Could not find STREAM/TABLE '%s' in the Metastore", s->name);
      return NULL;
    }
    o = entity("sourceDescription", s);
    json_object_set_new(o, "sourceDescription", source_description(e, st, s->extended));
    return finish(o);
  }
  case QL_S_DESCRIBE_STREAMS:
  describe_all:
    o = entity("source_descriptions", s);
    list = json_array();
    for (ql_stream *st = e->streams; st; st = st->next)
      json_array_append_new(list, source_description(e, st, s->extended));
    json_object_set_new(o, "sourceDescriptions", list);
    return finish(o);
  default:
    ql_set_error(err, 40002, "Statement is not supported on /ksql: %s", s->text);
    return NULL;
  }
}
