/* Admin HTTP endpoints (see admin.h). Handlers only read: metrics are atomics, stage
 * queues are read under each stage's lock, and the pipeline graph is immutable while the
 * listener runs. */
#include "admin.h"

#include "http/front.h"
#include "metrics.h"
#include "net/listen_addr.h"
#include "util.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct admin_server {
  struct MHD_Daemon *daemon;
  hf_front *front; /* header deadline, connection caps, framing (lib/http) */
  pipeline *pl;
  unsigned port;
  sd_metric *log_suppressed;
};

static const char *phase_name(int phase) {
  switch (phase) {
  case PHASE_STARTING:
    return "starting";
  case PHASE_RUNNING:
    return "running";
  case PHASE_DRAINING:
    return "draining";
  default:
    return "stopped";
  }
}

static const char *on_full_name(on_full_policy p) {
  return p == ON_FULL_BLOCK ? "block" : p == ON_FULL_REJECT ? "reject" : "drop";
}

int admin_healthy(pipeline *pl) {
  if (atomic_load(&pl->phase) != PHASE_RUNNING) return 0;
  for (size_t i = 0; i < pl->stage_count; i++)
    if (atomic_load(&pl->stages[i]->run_state) != STAGE_RUNNING) return 0;
  return 1;
}

static json_t *stage_json(sd_stage *st) {
  json_t *inputs = json_array(), *outputs = json_array();
  for (size_t i = 0; i < st->input_count; i++)
    json_array_append_new(inputs, json_string(st->inputs[i]->name));
  for (size_t i = 0; i < st->output_count; i++)
    json_array_append_new(outputs, json_string(st->outputs[i]->name));
  pthread_mutex_lock(&st->mu);
  size_t q_records = st->q_records, q_bytes = st->q_bytes, q_batches = st->q_batches;
  size_t in_flight = st->in_flight;
  int paused = st->pause_applied;
  pthread_mutex_unlock(&st->mu);
  const stage_metrics *m = &st->m;
  json_t *counters = json_pack(
      "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "records_in",
      metrics_value(m->records_in), "bytes_in", metrics_value(m->bytes_in), "batches_in",
      metrics_value(m->batches_in), "records_out", metrics_value(m->records_out), "bytes_out",
      metrics_value(m->bytes_out), "batches_out", metrics_value(m->batches_out),
      "dropped_queue_full", metrics_value(m->dropped_queue_full), "dropped_shutdown",
      metrics_value(m->dropped_shutdown), "errors",
      metrics_value(m->errors_process) + metrics_value(m->errors_emit) +
          metrics_value(m->errors_plugin_bug),
      "busy", metrics_value(m->busy));
  /* Counters are whole numbers: print them as integers. */
  const char *key;
  json_t *value;
  json_object_foreach(counters, key, value) {
    json_object_set_new(counters, key, json_integer((json_int_t)json_real_value(value)));
  }
  json_t *queue = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}", "records", (json_int_t)q_records,
                            "bytes", (json_int_t)q_bytes, "batches", (json_int_t)q_batches,
                            "max_records", (json_int_t)st->max_records, "max_bytes",
                            (json_int_t)st->max_bytes, "on_full", on_full_name(st->on_full));
  return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:b, s:o, s:I, s:o}", "name", st->name,
                   "plugin", st->plugin->name, "kind", loader_kind_name(st->desc->kind),
                   "inputs", inputs, "outputs", outputs, "state",
                   stage_state_name((stage_state)atomic_load(&st->run_state)), "paused", paused,
                   "queue", queue, "in_flight", (json_int_t)in_flight, "counters", counters);
}

char *admin_stages_json(pipeline *pl) {
  json_t *stages = json_array();
  for (size_t i = 0; i < pl->stage_count; i++)
    json_array_append_new(stages, stage_json(pl->stages[i]));
  json_t *root =
      json_pack("{s:s, s:o}", "phase", phase_name(atomic_load(&pl->phase)), "stages", stages);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return text;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result reply_json_error(struct MHD_Connection *conn, unsigned status,
                                        const char *error, const char *path) {
  json_t *o = json_pack("{s:s, s:s}", "error", error, "path", path);
  char *body = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  /* jansson allocates with malloc, which MHD_RESPMEM_MUST_FREE frees. */
  return reply(conn, status, "application/json", body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls) {
  admin_server *srv = cls;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return reply_json_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET",
                            url);
  if (strcmp(url, "/metrics") == 0) {
    metrics_set(srv->log_suppressed, (double)log_suppressed_total());
    char *body = metrics_render(NULL);
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body);
  }
  if (strcmp(url, "/healthz") == 0) {
    int ok = admin_healthy(srv->pl);
    json_t *o =
        json_pack("{s:s}", "status", ok ? "ok" : phase_name(atomic_load(&srv->pl->phase)));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
                 body);
  }
  if (strcmp(url, "/stages") == 0)
    return reply(conn, MHD_HTTP_OK, "application/json", admin_stages_json(srv->pl));
  return reply_json_error(conn, MHD_HTTP_NOT_FOUND,
                          "not found: the admin endpoints are /metrics, /healthz and /stages",
                          url);
}

static void admin_front_log(void *ctx, sd_log_level level, const char *msg) {
  (void)ctx;
  log_msg(NULL, level, "admin listener: %s", msg);
}

/* The admin port serves scrapers and operators: a few connections, kept alive. */
static hf_front *admin_front(void) {
  hf_env env = {.metric_add = metrics_add, .log = admin_front_log};
  for (int i = 0; i < HF_REFUSAL_COUNT; i++) {
    char labels[64];
    snprintf(labels, sizeof labels, "server=\"admin\",reason=\"%s\"", hf_refusal_names[i]);
    env.refused[i] = metrics_register(
        METRIC_COUNTER, "http_refused_total",
        "Connections and requests the HTTP front end refused, by reason", labels, NULL, 0);
  }
  env.lingering =
      metrics_register(METRIC_GAUGE, "http_lingering_sockets",
                       "Sockets draining unread input after their answer (lingering close)",
                       "server=\"admin\"", NULL, 0);
  hf_limits lim;
  hf_limits_default(&lim);
  lim.max_connections = 64;
  lim.max_per_ip = 32;
  return hf_front_new("admin", &lim, &env);
}

admin_server *admin_start(pipeline *pl, const char *listen, char **err) {
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char why[160];
  if (la_parse_listen(listen, &addr, &addr_len, why, sizeof why) != 0) {
    *err = xasprintf("admin_listen \"%s\": %s (expected HOST:PORT such as 127.0.0.1:9180, or "
                     "off)",
                     listen, why);
    return NULL;
  }
  admin_server *srv = xcalloc(1, sizeof *srv);
  srv->pl = pl;
  /* Registered before the listener thread exists: its handler reads this pointer and
   * updates the series, and thread creation is what orders those reads after these writes. */
  srv->log_suppressed =
      metrics_register(METRIC_GAUGE, "log_suppressed_lines",
                       "Log lines suppressed by rate limiting since start", NULL, NULL, 0);
  srv->front = admin_front();
  /* epoll, not select(): with thousands of sockets open in the process, a new admin
   * connection's descriptor can be past FD_SETSIZE, and select() would refuse it. */
  unsigned flags =
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  hf_daemon_opts o = {.handler = handle, .handler_cls = srv};
  struct MHD_OptionItem extra[] = {{MHD_OPTION_SOCK_ADDR, 0, &addr},
                                   {MHD_OPTION_CONNECTION_TIMEOUT, 90, NULL},
                                   {MHD_OPTION_END, 0, NULL}};
  srv->daemon = srv->front ? hf_start_daemon(srv->front, flags, &o, extra) : NULL;
  if (!srv->daemon) {
    *err = xasprintf("admin_listen \"%s\": cannot listen (address in use or not local?); "
                     "pick another port or set admin_listen = off",
                     listen);
    hf_front_free(srv->front);
    free(srv);
    return NULL;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv->port = info ? info->port : la_port(&addr);
  return srv;
}

unsigned admin_port(const admin_server *srv) {
  return srv ? srv->port : 0;
}

void admin_stop(admin_server *srv) {
  if (!srv) return;
  MHD_stop_daemon(srv->daemon);
  hf_front_free(srv->front);
  free(srv);
}
