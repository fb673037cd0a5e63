/* HTTP routes of the streaming outputs: static dashboard files from the plugin's asset
 * folder, /config.json (which transport the page should use), /streams, /healthz, CORS
 * decisions, and the parameters of /events/{query} and /chart-data/{id}. */
#include <sys/stat.h>
#include <sys/types.h>

#include "http/front.h"
#include "outs.h"
#include "web.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Access-Control-Allow-Origin value for this request, or NULL (same-origin only). */
static const char *web_cors(outs_state *s, struct MHD_Connection *conn) {
  const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
  if (!origin) return NULL;
  if (s->cors_any) return "*";
  for (size_t i = 0; i < s->cors_count; i++)
    if (strcmp(s->cors[i], origin) == 0) return origin;
  return NULL;
}

static enum MHD_Result web_reply_json_t(struct MHD_Connection *conn, unsigned status, json_t *j,
                                        const char *cors) {
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text)
    return outs_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "{\"error\":\"out of memory\"}", cors);
  enum MHD_Result r = outs_reply_json(conn, status, text, cors);
  free(text);
  return r;
}

static const char *content_type(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot) return "application/octet-stream";
  if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
  if (strcmp(dot, ".json") == 0) return "application/json";
  if (strcmp(dot, ".png") == 0) return "image/png";
  if (strcmp(dot, ".svg") == 0) return "image/svg+xml";
  if (strcmp(dot, ".ico") == 0) return "image/x-icon";
  return "application/octet-stream";
}

/* Paths we serve from the asset folder: plain names, no dot segments. */
static int safe_asset_path(const char *p) {
  if (*p != '/' || strlen(p) > 200) return 0;
  for (const char *c = p; *c; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '.' || *c == '_' || *c == '-' || *c == '/';
    if (!ok) return 0;
    if (*c == '/' && c[1] == '.') return 0;
  }
  return 1;
}

static enum MHD_Result web_not_found(outs_state *s, struct MHD_Connection *conn,
                                     const char *cors) {
  if (s->m.requests_404) s->host->metric_add(s->m.requests_404, 1);
  return outs_reply_json(conn, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}", cors);
}

static enum MHD_Result web_static(outs_state *s, struct MHD_Connection *conn, const char *url,
                                  const char *cors) {
  if (strcmp(url, "/") == 0) url = "/index.html";
  if (!s->asset_dir || !safe_asset_path(url)) return web_not_found(s, conn, cors);
  char path[1024];
  snprintf(path, sizeof path, "%s%s", s->asset_dir, url);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    if (strcmp(url, "/index.html") == 0)
      s->host->log(s->stage, SD_LOG_WARN, "dashboard page missing: %s", path);
    return web_not_found(s, conn, cors);
  }
  struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  if (!resp) {
    close(fd);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", content_type(url));
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  outs_add_cors(resp, cors);
  enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  return r;
}

static enum MHD_Result web_config(outs_state *s, struct MHD_Connection *conn,
                                  const char *cors) {
  json_t *j =
      json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "transport", s->transport->name,
                "chart_query", s->chart_query, "ingest_port", (json_int_t)s->ingest_port,
                "ingest_path", "/phone-producer/", "ingest_url", s->ingest_url_hint,
                "heartbeat_ms", (json_int_t)(s->heartbeat_ns / 1000000));
  return web_reply_json_t(conn, MHD_HTTP_OK, j, cors);
}

static void web_stream_entry(void *ctx, const char *name, size_t count,
                             const char *const *columns, const char *const *types,
                             uint64_t last_id, size_t clients) {
  json_t *arr = ctx;
  json_t *cols = json_array(), *tys = json_array();
  for (size_t i = 0; i < count; i++) {
    json_array_append_new(cols, json_string(columns[i]));
    json_array_append_new(tys, json_string(types[i]));
  }
  json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:I, s:I}", "name", name, "columns",
                                       cols, "types", tys, "last_id", (json_int_t)last_id,
                                       "clients", (json_int_t)clients));
}

static enum MHD_Result web_streams(outs_state *s, struct MHD_Connection *conn,
                                   const char *cors) {
  json_t *arr = json_array();
  if (arr) hub_each_topic(s->hub, web_stream_entry, arr);
  return web_reply_json_t(conn, MHD_HTTP_OK, arr, cors);
}

static enum MHD_Result web_health(outs_state *s, struct MHD_Connection *conn,
                                  const char *cors) {
  hub_stats st;
  hub_stats_get(s->hub, &st);
  json_t *j = json_pack(
      "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "status", "ok",
      "transport", s->transport->name, "clients", (json_int_t)st.clients, "streams",
      (json_int_t)st.topics, "events_published", (json_int_t)st.events_published, "events_sent",
      (json_int_t)st.events_sent, "overflow_disconnects", (json_int_t)st.overflow_disconnects,
      "skipped_events", (json_int_t)st.skipped_events, "resets", (json_int_t)st.resets,
      "heartbeats", (json_int_t)st.heartbeats, "rejected", (json_int_t)st.rejected_full,
      "rows_dropped", (json_int_t)st.rows_dropped, "waiting_streams",
      (json_int_t)st.waiting_streams, "streams_refused", (json_int_t)st.streams_refused);
  return web_reply_json_t(conn, MHD_HTTP_OK, j, cors);
}

static enum MHD_Result web_preflight(struct MHD_Connection *conn, const char *cors) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  if (cors) {
    outs_add_cors(resp, cors);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Last-Event-ID, Cache-Control");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
  MHD_destroy_response(resp);
  return r;
}

static enum MHD_Result web_stream(outs_state *s, struct MHD_Connection *conn, const char *name,
                                  int chart, const char *cors, void **con_cls) {
  if (!*name || strlen(name) >= 128)
    return outs_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                           "{\"error\":\"stream name must be 1-127 characters\"}", cors);
  hub_sub_opts opts = {.format = HUB_FMT_ARRAY};
  if (chart) {
    opts.format = HUB_FMT_CHART;
  } else {
    const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
    if (fmt && strcmp(fmt, "object") == 0)
      opts.format = HUB_FMT_OBJECT;
    else if (fmt && strcmp(fmt, "array") != 0)
      return outs_reply_json(conn, MHD_HTTP_BAD_REQUEST,
                             "{\"error\":\"format must be array or object\"}", cors);
  }
  const char *device = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "device");
  if (device && *device) opts.device = device;
  const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
  if (!last) last = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "last_event_id");
  if (last && *last) {
    opts.has_last_id = 1;
    opts.last_id_valid = hub_parse_id(last, &opts.last_id) == 0;
  }
  hub_want_error werr;
  hub_topic *topic = hub_topic_want(s->hub, name, conn, &werr);
  if (!topic && werr == HUB_WANT_FULL) {
    /* The core's log rate limit keeps a flood of made-up names from flooding the log. */
    s->host->log(s->stage, SD_LOG_WARN,
                 "stream '%.40s' refused: no query has produced it, and every placeholder for "
                 "such streams is in use (out_rejected_total{reason=\"stream_table\"})",
                 name);
    return outs_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "{\"error\":\"no query produces this stream yet, and too many such "
                           "streams are being waited for\"}",
                           cors);
  }
  if (!topic) return outs_reply_sub_error(s, conn, HUB_SUB_NOMEM, cors);
  hf_request_stream(s->front, conn); /* heartbeats keep it alive, not the front's deadlines */
  enum MHD_Result r = s->transport->open(s, conn, topic, &opts, cors, con_cls);
  /* A stream served by libmicrohttpd's reader is subscribed by now and holds its topic
   * itself; a refused one holds nothing. Only a request the transport keeps (*con_cls: a
   * WebSocket upgrade, which subscribes once the 101 is out) needs the pin until
   * web_completed. */
  if (!*con_cls) hub_release(s->hub, conn);
  return r;
}

enum MHD_Result web_access(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls) {
  outs_state *s = cls;
  const char *cors = web_cors(s, conn);
  if (strcmp(method, "OPTIONS") == 0) return web_preflight(conn, cors);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return outs_reply_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "{\"error\":\"only GET is served here\"}", cors);
  if (strncmp(url, "/events/", 8) == 0) return web_stream(s, conn, url + 8, 0, cors, con_cls);
  if (strncmp(url, "/chart-data/", 12) == 0 || strcmp(url, "/chart-data") == 0)
    return web_stream(s, conn, s->chart_query, 1, cors, con_cls);
  if (strcmp(url, "/config.json") == 0) return web_config(s, conn, cors);
  if (strcmp(url, "/streams") == 0) return web_streams(s, conn, cors);
  if (strcmp(url, "/healthz") == 0) return web_health(s, conn, cors);
  return web_static(s, conn, url, cors);
}

void web_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                   enum MHD_RequestTerminationCode toe) {
  outs_state *s = cls;
  hub_release(s->hub, conn);
  if (*con_cls && s->transport->completed) s->transport->completed(s, *con_cls);
  *con_cls = NULL;
}
