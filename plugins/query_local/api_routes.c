/* The endpoints of the ksqlDB REST API, independent of the HTTP version: request bodies
 * parsed with jansson, statements checked the way ksqlDB checks them, and every answer
 * (static JSON, ksqlDB error objects, or a push-query stream) described as an api_reply. */
#include "api_server.h"
#include "sql_ast.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KSQL_VERSION "0.29.0"

void api_reply_clear(api_reply *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static void reply_text(api_reply *r, int status, const char *content_type, const char *text,
                       int chunked) {
  r->status = status;
  r->content_type = content_type;
  r->chunked = chunked;
  r->body = strdup(text);
  r->body_len = r->body ? strlen(text) : 0;
}

static void reply_error(api_reply *r, int code, const char *message, const char *sql,
                        int chunked) {
  api_buf b = {0};
  api_error_body(&b, code, message, sql);
  r->status = code / 100;
  r->content_type = "application/json";
  r->chunked = chunked;
  r->body = api_buf_take(&b, &r->body_len);
  if (!r->body) r->body_len = 0;
}

static void reply_json(api_reply *r, int status, json_t *value) {
  r->status = status;
  r->content_type = "application/json";
  r->body = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
  r->body_len = r->body ? strlen(r->body) : 0;
  if (!r->body) reply_error(r, 50000, "Could not serialize the response", NULL, 0);
}

/* Origin-form path of a request target: drops scheme://authority and ?query. */
static void target_path(const char *target, char *out, size_t cap) {
  const char *p = target;
  const char *scheme = strstr(p, "://");
  if (scheme && (size_t)(scheme - p) <= 5 && p[0] != '/') {
    p = scheme + 3;
    p += strcspn(p, "/");
    if (!*p) p = "/";
  }
  size_t n = strcspn(p, "?#");
  if (n >= cap) n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

/* Statement count and first keyword, skipping strings, quoted identifiers and comments
 * (the way ksqlDB's clients count statements). */
static int count_statements(const char *sql, char *first_word, size_t cap) {
  int count = 0, in_statement = 0;
  first_word[0] = '\0';
  for (const char *p = sql; *p;) {
    if (p[0] == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
      continue;
    }
    if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      p = e ? e + 2 : p + strlen(p);
      continue;
    }
    if (*p == '\'' || *p == '`' || *p == '"') {
      char q = *p++;
      while (*p) {
        if (*p == q && p[1] == q)
          p += 2;
        else if (*p == q)
          break;
        else
          p++;
      }
      if (*p) p++;
      if (!in_statement) count++;
      in_statement = 1;
      continue;
    }
    if (*p == ';') {
      in_statement = 0;
      p++;
      continue;
    }
    if (!isspace((unsigned char)*p)) {
      if (!in_statement) {
        count++;
        if (count == 1 && isalpha((unsigned char)*p)) {
          size_t n = 0;
          while (isalpha((unsigned char)p[n]) && n + 1 < cap) {
            first_word[n] = (char)toupper((unsigned char)p[n]);
            n++;
          }
          first_word[n] = '\0';
        }
      }
      in_statement = 1;
    }
    p++;
  }
  return count;
}

/* 1 when sql parses (whatever the statement is); 0 with err filled in when it does not (a
 * typo in the first keyword must read as a syntax error, not as "not a query"). */
static int statement_parses(const char *sql, ql_error *err) {
  ql_arena arena;
  ql_arena_init(&arena);
  int ok = ql_parse(&arena, sql, err) != NULL;
  ql_arena_free(&arena);
  return ok;
}

/* "latest" / "earliest" from the properties object; -1 when the value is not allowed. */
static int offset_reset(json_t *props, const char **bad) {
  if (!json_is_object(props)) return 0;
  static const char *const keys[] = {"auto.offset.reset", "ksql.streams.auto.offset.reset"};
  for (size_t i = 0; i < 2; i++) {
    json_t *v = json_object_get(props, keys[i]);
    if (!v) continue;
    const char *s = json_string_value(v);
    if (s && strcasecmp(s, "earliest") == 0) return 1;
    if (s && strcasecmp(s, "latest") == 0) return 0;
    *bad = s ? s : "(not a string)";
    return -1;
  }
  return 0;
}

static json_t *parse_body(const api_request *req, api_reply *r, int chunked) {
  json_error_t jerr;
  json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
  if (!json_is_object(body)) {
    char msg[400];
    snprintf(msg, sizeof msg, "Invalid JSON in request: %s",
             body ? "expected a JSON object" : jerr.text);
    reply_error(r, 40000, msg, NULL, chunked);
    json_decref(body);
    return NULL;
  }
  return body;
}

/* POST /query-stream and POST /query. */
static void route_push(api_server *srv, const api_request *req, api_reply *r, int v1_endpoint) {
  /* ksqlDB chunks error responses of its streaming endpoints. */
  json_t *body = parse_body(req, r, 1);
  if (!body) return;
  const char *field = v1_endpoint ? "ksql" : "sql";
  json_t *sqlv = json_object_get(body, field);
  const char *sql = json_string_value(sqlv);
  char word[16];
  int n = sql ? count_statements(sql, word, sizeof word) : 0;
  if (!sql || (v1_endpoint && n == 0)) {
    char msg[200];
    if (v1_endpoint)
      snprintf(msg, sizeof msg, "\"ksql\" field must be populated");
    else
      snprintf(msg, sizeof msg, "Invalid JSON in request: Missing required field \"sql\"");
    reply_error(r, 40000, msg, NULL, 1);
    json_decref(body);
    return;
  }
  if (n != 1) {
    char msg[120];
    snprintf(msg, sizeof msg, "Expected exactly one KSQL statement; found %d instead", n);
    reply_error(r, 40001, msg, sql, 1);
    json_decref(body);
    return;
  }
  if (strcmp(word, "SELECT") != 0) {
    ql_error err = {0};
    const char *msg = "Neither a query nor a print statement";
    if (strcmp(word, "PRINT") == 0)
      msg = "PRINT is not supported by sensord's query_local";
    else if (!statement_parses(sql, &err) && err.code)
      msg = err.message; /* the parser's own, as /ksql gives it: "Did you mean 'SELECT'?" */
    reply_error(r, 40001, msg, sql, 1);
    json_decref(body);
    return;
  }
  const char *bad = NULL;
  int earliest = offset_reset(
      json_object_get(body, v1_endpoint ? "streamsProperties" : "properties"), &bad);
  if (earliest < 0) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "Invalid value %s for configuration auto.offset.reset: String must be one of: "
             "latest, earliest",
             bad);
    reply_error(r, 40000, msg, NULL, 1);
    json_decref(body);
    return;
  }
  api_format fmt = v1_endpoint ? API_FMT_V1 : api_format_from_accept(req->accept);
  api_push_opts opts = {.sql = sql, .fmt = fmt, .earliest = earliest};
  ql_error err = {0};
  api_push *push = api_push_start(srv, &opts, &err);
  if (!push) {
    reply_error(r, err.code ? err.code : 50000, err.message, sql, 1);
    json_decref(body);
    return;
  }
  json_decref(body);
  r->status = 200;
  r->content_type = api_format_content_type(fmt);
  r->chunked = 1;
  r->push = push;
}

static void route_close(api_server *srv, const api_request *req, api_reply *r) {
  json_t *body = parse_body(req, r, 0);
  if (!body) return;
  const char *id = json_string_value(json_object_get(body, "queryId"));
  if (!id) {
    reply_error(r, 40000, "Invalid JSON in request: Missing required field \"queryId\"", NULL,
                0);
  } else if (api_push_close(srv, id) < 0) {
    char msg[300];
    snprintf(msg, sizeof msg, "No query with id %s", id);
    reply_error(r, 40000, msg, NULL, 0);
  } else {
    r->status = 200;
  }
  json_decref(body);
}

static void route_ksql(api_server *srv, const api_request *req, api_reply *r) {
  json_t *body = parse_body(req, r, 0);
  if (!body) return;
  const char *sql = json_string_value(json_object_get(body, "ksql"));
  char word[16];
  if (!sql || count_statements(sql, word, sizeof word) == 0) {
    reply_error(r, 40000, "\"ksql\" field must be populated", NULL, 0);
    json_decref(body);
    return;
  }
  ql_error err = {0};
  json_t *entities = ql_execute(srv->engine, sql, &err);
  if (!entities)
    reply_error(r, err.code ? err.code : 50000, err.message, sql, 0);
  else
    reply_json(r, 200, entities);
  json_decref(entities);
  json_decref(body);
}

static void route_info(api_reply *r) {
  reply_text(r, 200, "application/json",
             "{\"KsqlServerInfo\":{\"version\":\"" KSQL_VERSION
             "\",\"kafkaClusterId\":\"sensord\","
             "\"ksqlServiceId\":\"default_\",\"serverStatus\":\"RUNNING\"}}",
             0);
}

/* ksqlDB's checks, all true in process; while a query of the pipeline file has ended
 * (LIMIT reached) its outputs starve though pushes still get 200, so a "queries" check
 * naming it makes the answer unhealthy. ksqlDB answers 200 either way; 503 here lets a
 * probe that reads only the status see it too. */
static void route_health(api_server *srv, api_reply *r) {
  json_t *stopped = ql_engine_pipeline_stopped(srv->engine);
  if (stopped && json_array_size(stopped) == 0) {
    json_decref(stopped);
    reply_text(r, 200, "application/json",
               "{\"isHealthy\":true,\"details\":{\"metastore\":{\"isHealthy\":true},"
               "\"kafka\":{\"isHealthy\":true},\"commandRunner\":{\"isHealthy\":true}},"
               "\"serverState\":\"READY\"}",
               0);
    return;
  }
  json_t *o = stopped
                  ? json_pack("{s:b, s:{s:{s:b}, s:{s:b}, s:{s:b}, s:{s:b, s:o}}, s:s}",
                              "isHealthy", 0, "details", "metastore", "isHealthy", 1, "kafka",
                              "isHealthy", 1, "commandRunner", "isHealthy", 1, "queries",
                              "isHealthy", 0, "stopped", stopped, "serverState", "READY")
                  : NULL;
  if (!o) {
    reply_error(r, 50000, "Could not build the health check response", NULL, 0);
    return;
  }
  reply_json(r, 503, o);
  json_decref(o);
}

void api_route(api_server *srv, const api_request *req, api_reply *r) {
  memset(r, 0, sizeof *r);
  char path[256];
  target_path(req->target, path, sizeof path);
  int get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;

  static const char *const known[] = {
      "/query-stream", "/query", "/close-query", "/ksql", "/info", "/healthcheck", "/"};
  const char *endpoint = "other";
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (strcmp(path, known[i]) == 0) endpoint = known[i];

  if (atomic_load(&srv->stopping)) {
    reply_error(r, 50303, "The server is shutting down", NULL, 0);
  } else if (req->body_too_big) {
    char msg[160];
    snprintf(msg, sizeof msg, "Request body is larger than max_body_size (%zu bytes)",
             srv->cfg.max_body);
    reply_error(r, 41300, msg, NULL, 0);
  } else if (strcmp(endpoint, "other") == 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "Not found: %s %s", req->method, path);
    reply_error(r, 40400, msg, NULL, 0);
  } else if (strcmp(endpoint, "/") == 0 && get) {
    r->status = 307;
    r->location = "/info";
  } else if (strcmp(endpoint, "/info") == 0 && get) {
    route_info(r);
  } else if (strcmp(endpoint, "/healthcheck") == 0 && get) {
    route_health(srv, r);
  } else if (strcmp(endpoint, "/query-stream") == 0 && post) {
    route_push(srv, req, r, 0);
  } else if (strcmp(endpoint, "/query") == 0 && post) {
    route_push(srv, req, r, 1);
  } else if (strcmp(endpoint, "/close-query") == 0 && post) {
    route_close(srv, req, r);
  } else if (strcmp(endpoint, "/ksql") == 0 && post) {
    route_ksql(srv, req, r);
  } else {
    char msg[320];
    snprintf(msg, sizeof msg, "Method %s not allowed on %s", req->method, path);
    reply_error(r, 40500, msg, NULL, 0);
  }
  api_count_request(srv, endpoint, r->status);
}
