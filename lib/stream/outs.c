/* Stage glue shared by out_sse and out_websocket: the config table, validation, the
 * libmicrohttpd daemon (epoll, thread pool, suspend/resume), publishing each batch's rows
 * into the hub, the periodic tick (heartbeats, stalled clients, metrics). */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "http/front.h"
#include "net/lan_url.h"
#include "net/listen_addr.h"
#include "outs.h"
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OUTS_TOPIC_NAME_MAX 128

const sd_config_key outs_config_keys[] = {
    {"listen", SD_CFG_STRING, 0, "0.0.0.0:5000", 0, 0, NULL,
     "address:port the dashboard and the streams are served on"},
    {"chart_query", SD_CFG_STRING, 0, "accelerometer", 0, 0, NULL,
     "query whose rows /chart-data/{id} streams in the original dashboard's format"},
    {"cors_origins", SD_CFG_LIST, 0, NULL, 0, 0, NULL,
     "origins allowed to read the streams from other pages (\"*\" = any); empty = same-origin "
     "only"},
    {"max_clients", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10000", 1, 1000000, NULL,
     "streaming clients at once; more get 503"},
    {"client_queue", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "1024", 1, 1000000, NULL,
     "events a client may fall behind before `overflow` applies"},
    {"replay", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "1000", 0, 1000000, NULL,
     "events kept per query for clients resuming with Last-Event-ID (capped by client_queue)"},
    {"heartbeat", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "15s", 10e6, 3600e9, NULL,
     "idle interval after which a heartbeat (SSE comment, WebSocket ping) is sent"},
    {"overflow", SD_CFG_ENUM, 0, "disconnect", 0, 0, "disconnect|skip",
     "a client past client_queue: disconnect (after `event: overflow`) or skip ahead"},
    {"ingest_port", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "8000", 1, 65535, NULL,
     "source_http's port, for the push URL the dashboard suggests"},
    {"ingest_url_hint", SD_CFG_STRING, 0, NULL, 0, 0, NULL,
     "full push URL the dashboard suggests instead (e.g. behind a proxy)"},
    {"http_threads", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "0", 0, 64, NULL,
     "HTTP event-loop threads, and as many stream writer threads (each an epoll loop); 0 = "
     "half the CPUs, at least 1"},
    {"connection_memory", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "8K", 4096, 1048576,
     NULL,
     "memory each connection gets for its request and reply headers, kept while it streams "
     "(most of the memory per client); headers that do not fit get 431 (cookies count twice)"},
    {"header_timeout", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10s", 100e6, 3600e9,
     NULL,
     "a connection must deliver a whole request line and headers this soon after it opens "
     "(slow or stalled clients are closed, slowloris); streams are exempt once they start"},
    {"max_connections_per_ip", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "0", 0, 1000000,
     NULL,
     "connections one client address may hold; 0 = no cap (browsers behind one NAT or "
     "proxy share an address; max_clients and header_timeout still hold)"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};

static int origin_well_formed(const char *o) {
  if (strcmp(o, "*") == 0) return 1;
  const char *rest = strncmp(o, "http://", 7) == 0    ? o + 7
                     : strncmp(o, "https://", 8) == 0 ? o + 8
                                                      : NULL;
  return rest && *rest && !strchr(rest, '/');
}

sd_result outs_validate(const sd_host_api *host, sd_stage *stage) {
  sd_result rc = SD_OK;
  struct sockaddr_storage ss;
  socklen_t ss_len;
  char why[160];
  if (la_parse_listen(host->config_string(stage, "listen"), &ss, &ss_len, why, sizeof why) < 0)
    rc = host->config_error(stage, "listen", "%s", why);
  size_t n = host->config_list_count(stage, "cors_origins");
  for (size_t i = 0; i < n; i++) {
    const char *o = host->config_list_item(stage, "cors_origins", i);
    if (!origin_well_formed(o))
      rc = host->config_error(stage, "cors_origins",
                              "\"%s\" is not an origin: expected scheme://host[:port] or *", o);
  }
  const char *hint = host->config_string(stage, "ingest_url_hint");
  if (hint && *hint && strncmp(hint, "http://", 7) != 0 && strncmp(hint, "https://", 8) != 0)
    rc = host->config_error(stage, "ingest_url_hint", "expected an http:// or https:// URL");
  const char *cq = host->config_string(stage, "chart_query");
  if (!cq || !*cq || strlen(cq) >= OUTS_TOPIC_NAME_MAX)
    rc = host->config_error(stage, "chart_query", "expected a query name (1-127 characters)");
  if (host->config_int(stage, "replay") > host->config_int(stage, "client_queue"))
    host->log(stage, SD_LOG_WARN,
              "replay is larger than client_queue: resume covers client_queue events");
  return rc;
}

static char *dup_or_empty(const char *s) {
  return strdup(s ? s : "");
}

sd_result outs_init(const sd_host_api *host, sd_stage *stage, void **state,
                    const outs_transport *transport) {
  outs_state *s = calloc(1, sizeof *s);
  if (!s) return SD_ERR;
  s->host = host;
  s->stage = stage;
  s->transport = transport;
  s->listen = dup_or_empty(host->config_string(stage, "listen"));
  s->chart_query = dup_or_empty(host->config_string(stage, "chart_query"));
  s->ingest_url_hint = dup_or_empty(host->config_string(stage, "ingest_url_hint"));
  s->ingest_port = host->config_int(stage, "ingest_port");
  s->heartbeat_ns = host->config_duration(stage, "heartbeat");
  s->max_clients = (size_t)host->config_int(stage, "max_clients");
  s->http_threads = (unsigned)host->config_int(stage, "http_threads");
  if (s->http_threads == 0) {
    /* Writing to sockets is kernel work that scales with cores, but so does everything
     * upstream (parsing, queries): one writer per two cores leaves them room. On 2 cores,
     * one writer also serves every client in the same order each round, which measured
     * a lower p99 than two writers contending with each other (docs/BENCHMARKS.md). */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->http_threads = cpus >= 4 ? (unsigned)(cpus / 2) : 1u;
  }
  s->connection_memory = (size_t)host->config_size(stage, "connection_memory");
  s->header_timeout_ns = host->config_duration(stage, "header_timeout");
  s->max_per_ip = (unsigned)host->config_int(stage, "max_connections_per_ip");
  s->cors_count = host->config_list_count(stage, "cors_origins");
  s->cors = calloc(s->cors_count + 1, sizeof *s->cors);
  int failed = !s->listen || !s->chart_query || !s->ingest_url_hint || !s->cors;
  for (size_t i = 0; !failed && i < s->cors_count; i++) {
    s->cors[i] = strdup(host->config_list_item(stage, "cors_origins", i));
    failed = !s->cors[i];
    if (!failed && strcmp(s->cors[i], "*") == 0) s->cors_any = 1;
  }
  hub_limits lim = {
      .client_queue = (size_t)host->config_int(stage, "client_queue"),
      .replay = (size_t)host->config_int(stage, "replay"),
      .max_clients = s->max_clients,
      .max_topics = 256,
      .max_waiting = 64,
      .overflow = host->config_enum(stage, "overflow"),
      .heartbeat_ns = s->heartbeat_ns,
      .chart_query = s->chart_query,
  };
  if (!failed) s->hub = hub_new(&lim);
  /* Names the dashboard asks for before any row: the chart's query, and the upstream status
   * query_ksql publishes. Made as the publisher's, they never wait in the placeholder table,
   * which names nobody produces may fill. */
  if (!failed && s->hub &&
      (!hub_topic_get(s->hub, s->chart_query, 1) || !hub_topic_get(s->hub, "_status", 1)))
    failed = 1;
  if (failed || !s->hub) {
    host->log(stage, SD_LOG_ERROR, "out of memory while configuring the stage");
    outs_destroy(s);
    return SD_ERR;
  }
  const char *ad = host->asset_dir(stage);
  s->asset_dir = ad ? strdup(ad) : NULL;
  s->m.clients = host->gauge(stage, "out_clients", "streaming clients connected", NULL);
  s->m.published = host->counter(stage, "out_events_published_total",
                                 "rows serialized into a stream's event ring", NULL);
  s->m.sent = host->counter(stage, "out_events_sent_total", "events written to clients", NULL);
  s->m.bytes = host->counter(stage, "out_bytes_sent_total", "stream bytes written", NULL);
  s->m.overflows = host->counter(stage, "out_overflow_disconnects_total",
                                 "clients disconnected for falling behind client_queue", NULL);
  s->m.skipped = host->counter(stage, "out_skipped_events_total",
                               "events skipped by slow clients (overflow=skip)", NULL);
  s->m.resets =
      host->counter(stage, "out_resets_total",
                    "resumes refused with event: reset (events no longer kept)", NULL);
  s->m.heartbeats = host->counter(stage, "out_heartbeats_total", "heartbeats sent", NULL);
  s->m.rejected = host->counter(stage, "out_rejected_total", "stream requests refused",
                                "reason=\"max_clients\"");
  s->m.refused_streams = host->counter(stage, "out_rejected_total", "stream requests refused",
                                       "reason=\"stream_table\"");
  s->m.dropped = host->counter(stage, "out_rows_dropped_total",
                               "rows not published (out of memory or too many streams)", NULL);
  s->m.requests_404 =
      host->counter(stage, "out_not_found_total", "requests for no route", NULL);
  s->m.ws_errors = host->counter(stage, "out_protocol_errors_total",
                                 "connections closed for a protocol error", NULL);
  *state = s;
  return SD_OK;
}

static void metric_delta(const sd_host_api *host, sd_metric *m, uint64_t now, uint64_t *last) {
  if (m && now > *last) host->metric_add(m, (double)(now - *last));
  *last = now;
}

static void outs_update_metrics(outs_state *s) {
  hub_stats st;
  hub_stats_get(s->hub, &st);
  const sd_host_api *h = s->host;
  if (s->m.clients) h->metric_set(s->m.clients, (double)st.clients);
  metric_delta(h, s->m.published, st.events_published, &s->last.events_published);
  metric_delta(h, s->m.sent, st.events_sent, &s->last.events_sent);
  metric_delta(h, s->m.bytes, st.bytes_sent, &s->last.bytes_sent);
  metric_delta(h, s->m.overflows, st.overflow_disconnects, &s->last.overflow_disconnects);
  metric_delta(h, s->m.skipped, st.skipped_events, &s->last.skipped_events);
  metric_delta(h, s->m.resets, st.resets, &s->last.resets);
  metric_delta(h, s->m.heartbeats, st.heartbeats, &s->last.heartbeats);
  metric_delta(h, s->m.rejected, st.rejected_full, &s->last.rejected_full);
  metric_delta(h, s->m.refused_streams, st.streams_refused, &s->last.streams_refused);
  metric_delta(h, s->m.dropped, st.rows_dropped, &s->last.rows_dropped);
}

static void outs_tick(void *state) {
  outs_state *s = state;
  int64_t now = s->host->now_mono_ns();
  hub_tick(s->hub, now);
  if (s->transport->tick) s->transport->tick(s, now);
  outs_update_metrics(s);
}

/* Each client holds a socket; make sure max_clients of them fit under the fd limit. */
static void outs_raise_fd_limit(outs_state *s) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = (rlim_t)s->max_clients + 512;
  if (rl.rlim_cur >= want) return;
  rlim_t old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want) return;
  s->host->log(s->stage, SD_LOG_WARN,
               "open-file limit %llu is below max_clients + 512 = %llu; raise ulimit -n",
               (unsigned long long)(rl.rlim_cur > old ? rl.rlim_cur : old),
               (unsigned long long)want);
}

sd_result outs_start(void *state) {
  outs_state *s = state;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char why[160];
  if (la_parse_listen(s->listen, &addr, &addr_len, why, sizeof why) < 0) {
    s->host->log(s->stage, SD_LOG_ERROR, "listen %s: %s", s->listen, why);
    return SD_ERR;
  }
  outs_raise_fd_limit(s);
  s->pump = pump_new(s->http_threads);
  if (!s->pump || pump_start(s->pump) < 0) {
    s->host->log(s->stage, SD_LOG_ERROR, "cannot start the stream writer threads: %s",
                 strerror(errno));
    return SD_ERR;
  }
  if (s->transport->start && s->transport->start(s) < 0) return SD_ERR;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG | s->transport->mhd_flags;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  unsigned timeout = (unsigned)(s->heartbeat_ns / 1000000000) * 3 + 10;
  /* A pool of one is a logged warning in libmicrohttpd: leave the option out then. */
  struct MHD_OptionItem pool[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->http_threads, NULL},
      {MHD_OPTION_END, 0, NULL}};
  if (s->http_threads < 2) pool[0].option = MHD_OPTION_END;
  hf_env env;
  hf_env_from_host(&env, s->host, s->stage);
  env.header_memory_key = "connection_memory";
  hf_limits lim;
  hf_limits_default(&lim);
  lim.header_timeout_ns = s->header_timeout_ns;
  lim.max_connections = (unsigned)(s->max_clients + 256);
  lim.max_per_ip = s->max_per_ip;
  s->front = hf_front_new(s->transport->name, &lim, &env);
  hf_daemon_opts o = {
      .handler = web_access, .handler_cls = s, .completed = web_completed, .completed_cls = s};
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_ARRAY, 0, pool},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)s->connection_memory, NULL},
      {MHD_OPTION_CONNECTION_MEMORY_INCREMENT, 1024, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, timeout, NULL},
      {MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL},
      {MHD_OPTION_END, 0, NULL}};
  s->daemon = s->front ? hf_start_daemon(s->front, flags, &o, opts) : NULL;
  if (!s->daemon) {
    s->host->log(s->stage, SD_LOG_ERROR, "cannot listen on %s: %s", s->listen, strerror(errno));
    if (s->transport->stop) s->transport->stop(s);
    return SD_ERR;
  }
  int64_t interval = s->heartbeat_ns / 4;
  if (interval > 250000000) interval = 250000000;
  if (interval < 5000000) interval = 5000000;
  s->timer = s->host->timer_start(s->stage, interval, 1, outs_tick);
  /* The URL to open in a browser: with a wildcard bind, on this host's LAN address.
   * "(port N)" only for an ephemeral port, which the configuration does not show. */
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  unsigned port = info ? (unsigned)info->port : 0u;
  int ephemeral = addr.ss_family == AF_INET6
                      ? ((const struct sockaddr_in6 *)&addr)->sin6_port == 0
                      : ((const struct sockaddr_in *)&addr)->sin_port == 0;
  char host[64], port_note[24] = "";
  lan_url_host((const struct sockaddr *)&addr, host, sizeof host);
  if (ephemeral) snprintf(port_note, sizeof port_note, " (port %u)", port);
  s->host->log(s->stage, SD_LOG_INFO,
               "dashboard at http://%s:%u/ (%s streams, listening on %s%s)", host, port,
               s->transport->name, s->listen, port_note);
  return SD_OK;
}

/* Rows without a schema come straight from a source: one stream per reading name. */
static void schemaless_topic_name(const sd_record_view *rec, char *out, size_t cap) {
  snprintf(out, cap, "records");
  for (size_t i = 0; i < rec->field_count; i++) {
    const sd_field *f = &rec->fields[i];
    if (strcmp(f->name, "name") == 0 && f->value.type == SD_STRING && f->value.as.s.len > 0) {
      size_t n = (size_t)f->value.as.s.len < cap - 1 ? (size_t)f->value.as.s.len : cap - 1;
      memcpy(out, f->value.as.s.ptr, n);
      out[n] = '\0';
      return;
    }
  }
}

sd_result outs_process(void *state, sd_delivery *delivery) {
  outs_state *s = state;
  const sd_host_api *h = s->host;
  const sd_batch *batch = h->delivery_batch(delivery);
  const sd_schema *schema = h->batch_schema(batch);
  hub_topic *topic = NULL;
  uint64_t dropped = 0;
  if (schema) {
    sd_schema_view view;
    h->schema_view(schema, &view);
    topic = hub_topic_get(s->hub, view.name ? view.name : "records", 1);
    if (topic &&
        !hub_topic_same_schema(topic, (size_t)view.column_count, view.columns, view.types) &&
        hub_topic_set_schema(topic, (size_t)view.column_count, view.columns, view.types) < 0)
      topic = NULL;
  }
  size_t n = h->batch_count(batch);
  char name[OUTS_TOPIC_NAME_MAX];
  /* Rows the hub refused are in its rows_dropped (added to the metric by the tick); only
   * the ones that never reached it are counted here, so none is counted twice. */
  uint64_t not_offered = 0;
  for (size_t i = 0; i < n; i++) {
    sd_record_view rec;
    hub_topic *t = NULL;
    if (h->batch_record(batch, i, &rec) == SD_OK) {
      t = topic;
      if (!schema) {
        schemaless_topic_name(&rec, name, sizeof name);
        t = hub_topic_get(s->hub, name, 1);
      }
    }
    if (!t)
      not_offered++;
    else if (hub_publish(t, &rec) < 0)
      dropped++;
  }
  hub_flush(s->hub);
  dropped += not_offered;
  if (dropped) {
    if (s->m.dropped && not_offered) h->metric_add(s->m.dropped, (double)not_offered);
    h->log(s->stage, SD_LOG_WARN,
           "%llu rows not published: out of memory, an unreadable record or more than "
           "256 streams",
           (unsigned long long)dropped);
  }
  h->complete(delivery, SD_STATUS_OK);
  return SD_OK;
}

/* Ends every stream and waits (bounded) until no connection is left suspended:
 * libmicrohttpd refuses to stop with suspended connections. */
static void outs_close_clients(outs_state *s, int64_t deadline_mono_ns) {
  if (!s->daemon || atomic_exchange(&s->closed, 1)) return;
  MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon);
  if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
  if (s->transport->stop) s->transport->stop(s);
  for (;;) {
    hub_close_all(s->hub);
    hub_stats st;
    hub_stats_get(s->hub, &st);
    if (st.clients == 0 || s->host->now_mono_ns() >= deadline_mono_ns) break;
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  /* Whatever did not end in time is closed now (SSE ones go back to libmicrohttpd). */
  pump_stop(s->pump);
}

int64_t outs_drain(void *state, int64_t deadline_mono_ns) {
  /* Rows are live views: once published they are in every client's reach, and a client
   * that reconnects resumes from the replay ring. Nothing waits to be delivered; the
   * streams are closed so browsers reconnect to the next instance. */
  outs_state *s = state;
  int64_t soon = s->host->now_mono_ns() + 2000000000;
  outs_close_clients(s, deadline_mono_ns < soon ? deadline_mono_ns : soon);
  return 0;
}

void outs_destroy(void *state) {
  outs_state *s = state;
  if (!s) return;
  if (s->timer) s->host->timer_stop(s->timer);
  if (s->daemon) {
    outs_close_clients(s, s->host->now_mono_ns() + 2000000000);
    MHD_stop_daemon(s->daemon);
  }
  hf_front_free(s->front);
  if (s->transport->destroy) s->transport->destroy(s);
  pump_free(s->pump);
  hub_free(s->hub);
  for (size_t i = 0; s->cors && i < s->cors_count; i++) free(s->cors[i]);
  free(s->cors);
  free(s->listen);
  free(s->chart_query);
  free(s->ingest_url_hint);
  free(s->asset_dir);
  free(s);
}

void outs_add_cors(struct MHD_Response *resp, const char *cors_origin) {
  if (!cors_origin) return;
  MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors_origin);
  if (strcmp(cors_origin, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
}

enum MHD_Result outs_reply_json(struct MHD_Connection *conn, unsigned status, const char *json,
                                const char *cors_origin) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "application/json");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  outs_add_cors(resp, cors_origin);
  if (status == MHD_HTTP_SERVICE_UNAVAILABLE) MHD_add_response_header(resp, "Retry-After", "5");
  enum MHD_Result r = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return r;
}

enum MHD_Result outs_reply_sub_error(outs_state *s, struct MHD_Connection *conn,
                                     hub_sub_error err, const char *cors_origin) {
  if (err == HUB_SUB_FULL) {
    s->host->log(s->stage, SD_LOG_WARN, "stream refused: max_clients (%zu) reached",
                 s->max_clients);
    return outs_reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "{\"error\":\"too many clients (max_clients)\"}", cors_origin);
  }
  s->host->log(s->stage, SD_LOG_ERROR, "stream refused: out of memory");
  return outs_reply_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"error\":\"out of memory\"}",
                         cors_origin);
}
