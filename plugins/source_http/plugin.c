/* source_http plugin: descriptor, configuration table and checks, metrics, lifecycle.
 * Phones running Sensor Logger POST batches here; each request becomes one batch
 * (accepted or refused whole). The HTTP side lives in server.c. */
#include "headers.h"
#include "net/listen_addr.h"
#include "source_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sd_config_key hs_keys[] = {
    {.name = "listen",
     .type = SD_CFG_STRING,
     .default_value = "0.0.0.0:8000",
     .description = "address to accept pushes on: host:port, [ipv6]:port or :port"},
    {.name = "paths",
     .type = SD_CFG_LIST,
     .default_value = "/phone-producer/, /phone-producer",
     .description = "paths that take Sensor Logger pushes (POST, JSON); both forms of the "
                    "original producer's path are answered directly, no redirect"},
    {.name = "records_path",
     .type = SD_CFG_STRING,
     .default_value = "/records",
     .description = "path that takes already-flat records as a JSON array or NDJSON; "
                    "\"off\" disables it"},
    {.name = "records_time_field",
     .type = SD_CFG_STRING,
     .default_value = "time",
     .description = "field of a flat record holding its event time (integer ns or digit "
                    "string); records without it get the time of receipt"},
    {.name = "records_key_field",
     .type = SD_CFG_STRING,
     .default_value = "deviceId",
     .description = "field of a flat record used as its key (string); absent = no key"},
    {.name = "max_body_size",
     .type = SD_CFG_SIZE,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "8M",
     .min = 1024,
     .max = 1073741824.0,
     .description = "largest request body, applied to the inflated size of gzip bodies "
                    "(a 5 s, 2000-reading backlog is about 300K); larger bodies get 413"},
    {.name = "auth_token",
     .type = SD_CFG_STRING,
     .flags = SD_CFG_SECRET,
     .description = "token phones must send as Authorization: Bearer <token> (or the bare "
                    "token); the app's Auth Header is then \"Bearer <token>\"; unset = none"},
    {.name = "cors_origins",
     .type = SD_CFG_LIST,
     .description = "origins allowed to POST from a browser (e.g. https://example.org, or *); "
                    "empty = no CORS headers"},
    {.name = "max_connections",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "1000",
     .min = 1,
     .max = 100000,
     .description = "connections held open at once; more are refused at accept"},
    {.name = "threads",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "2",
     .min = 1,
     .max = 64,
     .description = "HTTP worker threads, each with its own listening socket on the port "
                    "(SO_REUSEPORT: the kernel spreads connections) that parses and emits the "
                    "bodies it receives"},
    {.name = "request_timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "30s",
     .min = 1e8,
     .max = 3600e9,
     .description = "longest time to receive one request body; a slower client is cut off"},
    {.name = "idle_timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "60s",
     .min = 1e9,
     .max = 3600e9,
     .description = "a connection silent this long is closed (whole seconds, rounded up)"},
    {.name = "ack",
     .type = SD_CFG_ENUM,
     .default_value = "accepted",
     .enum_values = "accepted|delivered|durable",
     .description = "accepted: answer 200 once the batch is queued; delivered: only after "
                    "every downstream stage completed it (503 when it failed); durable: the "
                    "same wait, which a storing stage makes a durable one (query_local with "
                    "data_dir completes a batch once it is in the log under its fsync policy, "
                    "sink_kafka once Kafka has it)"},
    {.name = "pass_test_push",
     .type = SD_CFG_BOOL,
     .default_value = "false",
     .description = "let the app's \"Tap to Test Pushing\" reading (name test) into the "
                    "pipeline; it is answered 200 either way (401 without a valid token)"},
    {.name = "error_format",
     .type = SD_CFG_ENUM,
     .default_value = "json",
     .enum_values = "json|sensorlogger",
     .description = "json: errors as {\"error\",\"detail\"} with their HTTP status; "
                    "sensorlogger: status 499 and plain text, which the app shows to the user"},
    {.name = "header_timeout",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "10s",
     .min = 1e8,
     .max = 3600e9,
     .description = "a connection must deliver a whole request line and headers this soon "
                    "after it opens (slow or stalled clients are closed, slowloris)"},
    {.name = "max_connections_per_ip",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "256",
     .min = 0,
     .max = 100000,
     .description = "connections one client address may hold; more are refused at accept "
                    "(0 = no cap: behind a reverse proxy every phone has its address)"},
    {.name = "request_memory",
     .type = SD_CFG_SIZE,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "64M",
     .min = 65536,
     .max = 1099511627776.0,
     .description = "memory all request bodies in flight may hold together, inflated gzip "
                    "included; past it pushes get 503 with Retry-After"},
    {.name = "retry_after",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "1s",
     .min = 1e9,
     .max = 3600e9,
     .description = "Retry-After sent with 503 when downstream is full (whole seconds)"},
    {.name = NULL},
};

const int hs_statuses[HS_STATUS_COUNT] = {200, 204, 400, 401, 404, 405, 408,
                                          413, 415, 422, 499, 500, 503, 0};
const char *const hs_error_class_names[HS_ERR_CLASS_COUNT] = {
    "json", "schema", "encoding", "too_large", "media_type", "internal"};

static int hs_records_path_off(const char *p) {
  return !p || !*p || !strcmp(p, "off");
}

static sd_result hs_validate(const sd_host_api *host, sd_stage *stage) {
  sd_result rc = SD_OK;
  char why[160];
  struct sockaddr_storage addr;
  socklen_t addr_len;
  if (la_parse_listen(host->config_string(stage, "listen"), &addr, &addr_len, why, sizeof why))
    rc = host->config_error(stage, "listen", "%s", why);
  size_t n = host->config_list_count(stage, "paths");
  const char *records = host->config_string(stage, "records_path");
  for (size_t i = 0; i < n; i++) {
    const char *p = host->config_list_item(stage, "paths", i);
    if (p[0] != '/')
      rc = host->config_error(stage, "paths", "\"%s\" must start with /", p);
    else if (!hs_records_path_off(records) && !strcmp(p, records))
      rc = host->config_error(stage, "paths", "\"%s\" is also records_path", p);
  }
  if (!hs_records_path_off(records) && records[0] != '/')
    rc = host->config_error(stage, "records_path", "\"%s\" must start with / (or be off)",
                            records);
  if (n == 0 && hs_records_path_off(records))
    rc = host->config_error(stage, "paths",
                            "no path to serve: paths is empty and "
                            "records_path is off");
  size_t c = host->config_list_count(stage, "cors_origins");
  for (size_t i = 0; i < c; i++) {
    const char *o = host->config_list_item(stage, "cors_origins", i);
    if (strcmp(o, "*") && strncmp(o, "http://", 7) && strncmp(o, "https://", 8))
      rc =
          host->config_error(stage, "cors_origins",
                             "\"%s\" is not an origin (http://host[:port], https://… or *)", o);
  }
  if (host->config_int(stage, "threads") > host->config_int(stage, "max_connections"))
    rc = host->config_error(stage, "threads", "more threads than max_connections");
  return rc;
}

static unsigned hs_seconds_up(int64_t ns) {
  return (unsigned)((ns + 999999999) / 1000000000);
}

static const char **hs_list(const sd_host_api *host, sd_stage *stage, const char *key,
                            size_t *count) {
  *count = host->config_list_count(stage, key);
  const char **items = calloc(*count ? *count : 1, sizeof *items);
  if (!items) return NULL;
  for (size_t i = 0; i < *count; i++) items[i] = host->config_list_item(stage, key, i);
  return items;
}

static void hs_make_metrics(hs_state *s) {
  const sd_host_api *h = s->host;
  char label[48];
  for (int i = 0; i < HS_STATUS_COUNT; i++) {
    if (hs_statuses[i])
      snprintf(label, sizeof label, "status=\"%d\"", hs_statuses[i]);
    else
      snprintf(label, sizeof label, "status=\"closed\"");
    s->requests[i] =
        h->counter(s->stage, "http_requests_total",
                   "HTTP requests by answer status (closed: no answer sent)", label);
  }
  for (int i = 0; i < HS_ERR_CLASS_COUNT; i++) {
    snprintf(label, sizeof label, "class=\"%s\"", hs_error_class_names[i]);
    s->parse_errors[i] = h->counter(s->stage, "http_parse_errors_total",
                                    "Request bodies refused, by class of error", label);
  }
  s->readings = h->counter(s->stage, "http_readings_total",
                           "Readings (records) accepted into the pipeline", NULL);
  s->bytes = h->counter(s->stage, "http_received_bytes_total",
                        "Request body bytes received, as sent (before inflating)", NULL);
  s->test_pushes = h->counter(s->stage, "http_test_pushes_total",
                              "\"Tap to Test Pushing\" messages received", NULL);
  s->fallbacks = h->counter(s->stage, "http_parse_fallbacks_total",
                            "Bodies the simdjson fast path declined, parsed again by jansson "
                            "(invalid or unusual JSON)",
                            NULL);
  s->duration =
      h->histogram(s->stage, "http_request_duration_seconds",
                   "Time from request headers to the end of the answer", NULL, NULL, 0);
  s->awaiting_ack = h->gauge(s->stage, "http_awaiting_ack",
                             "Requests held open until their batch is delivered (ack = "
                             "delivered)",
                             NULL);
}

static sd_result hs_init(const sd_host_api *host, sd_stage *stage, void **state) {
  hs_state *s = calloc(1, sizeof *s);
  if (!s) return SD_ERR;
  s->host = host;
  s->stage = stage;
  char why[160];
  s->listen = host->config_string(stage, "listen");
  if (la_parse_listen(s->listen, &s->addr, &s->addr_len, why, sizeof why)) {
    host->log(stage, SD_LOG_ERROR, "listen %s: %s", s->listen, why);
    free(s);
    return SD_ERR;
  }
  s->paths = hs_list(host, stage, "paths", &s->path_count);
  s->cors = hs_list(host, stage, "cors_origins", &s->cors_count);
  if (!s->paths || !s->cors) {
    free(s->paths);
    free(s->cors);
    free(s);
    return SD_ERR;
  }
  const char *records = host->config_string(stage, "records_path");
  s->records_path = hs_records_path_off(records) ? NULL : records;
  s->records_opts.time_field = host->config_string(stage, "records_time_field");
  s->records_opts.key_field = host->config_string(stage, "records_key_field");
  if (s->records_opts.time_field && !*s->records_opts.time_field)
    s->records_opts.time_field = NULL;
  if (s->records_opts.key_field && !*s->records_opts.key_field)
    s->records_opts.key_field = NULL;
  s->max_body = (size_t)host->config_size(stage, "max_body_size");
  s->token = host->config_string(stage, "auth_token");
  if (s->token && !*s->token) s->token = NULL;
  s->token_len = s->token ? strlen(s->token) : 0;
  s->max_connections = (unsigned)host->config_int(stage, "max_connections");
  s->threads = (unsigned)host->config_int(stage, "threads");
  s->request_timeout_ns = host->config_duration(stage, "request_timeout");
  s->idle_timeout_s = hs_seconds_up(host->config_duration(stage, "idle_timeout"));
  /* durable is delivered's wait: what makes it durable is the storing stage downstream. */
  s->ack_delivered = host->config_enum(stage, "ack") >= 1;
  s->pass_test_push = host->config_bool(stage, "pass_test_push");
  s->sensorlogger_errors = host->config_enum(stage, "error_format") == 1;
  s->retry_after_s = hs_seconds_up(host->config_duration(stage, "retry_after"));
  s->header_timeout_ns = host->config_duration(stage, "header_timeout");
  s->max_per_ip = (unsigned)host->config_int(stage, "max_connections_per_ip");
  hf_budget_init(&s->budget, (size_t)host->config_size(stage, "request_memory"));
  pthread_mutex_init(&s->lock, NULL);
  atomic_init(&s->pending_acks, 0);
  hs_make_metrics(s);
  *state = s;
  return SD_OK;
}

static sd_result hs_start(void *state) {
  return hs_server_start(state) ? SD_ERR : SD_OK;
}

static int64_t hs_drain(void *state, int64_t deadline_mono_ns) {
  hs_server_stop(state, deadline_mono_ns);
  return 0; /* every accepted batch was handed to the core by emit */
}

static void hs_destroy(void *state) {
  hs_state *s = state;
  hs_server_stop(s, s->host->now_mono_ns());
  long pending = atomic_load(&s->pending_acks);
  if (pending > 0) {
    /* An ack callback may still arrive and touch this state: keep it rather than risk a
     * use after free. The core fires every ack before destroy, so this is a core bug. */
    s->host->log(s->stage, SD_LOG_ERROR, "destroy with %ld acknowledgements still pending",
                 pending);
    return;
  }
  pthread_mutex_destroy(&s->lock);
  free(s->paths);
  free(s->cors);
  free(s);
}

static const sd_plugin_descriptor hs_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "source_http",
    .version = "1.0.0",
    .description = "Sensor Logger HTTP push ingest (drop-in for the original producer), "
                   "plus flat records as JSON or NDJSON",
    .kind = SD_KIND_SOURCE,
    .config_keys = hs_keys,
    .validate = hs_validate,
    .init = hs_init,
    .start = hs_start,
    .drain = hs_drain,
    .destroy = hs_destroy,
};

SD_PLUGIN_DEFINE(hs_descriptor)
