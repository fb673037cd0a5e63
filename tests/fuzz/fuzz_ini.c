/* libFuzzer target over the pipeline file: the input is the text of an INI file, loaded the
 * way `sensord -t` loads it (pipeline_load: INI syntax, [sensord] keys, one stage per section
 * typed against its plugin's key table, the graph and listen-address checks), then validated
 * by plugins that read every key through the host API. Plugins are fakes (no dlopen) with
 * a key of every type and flag, and names only resolve as numeric addresses (no DNS). */
#include <netdb.h>
#undef getaddrinfo

#include "errors.h"
#include "log.h"
#include "pipeline.h"
#include "stage.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- no resolver: listen_addr.c is built with -Dgetaddrinfo=fz_getaddrinfo ---------- */

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res);
int fz_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res);
int fz_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                   struct addrinfo **res) {
  struct addrinfo h = *hints;
  h.ai_flags |= AI_NUMERICHOST; /* a fuzzer must never send a name to a DNS server */
  if (node && strcmp(node, "localhost") == 0) node = "127.0.0.1";
  return getaddrinfo(node, service, &h, res);
}

/* ---- fake plugins --------------------------------------------------------------------- */

/* Keys named and typed like the real plugins' (so the tests' INI files mostly validate and
 * reach the graph checks), with every type and flag among them. */
#define FZ_KEY(n, t, f, def, lo, hi, en)                                                       \
  { n, t, f, def, lo, hi, en, "fuzz" }
static const sd_config_key fz_http_keys[] = {
    FZ_KEY("listen", SD_CFG_STRING, 0, "127.0.0.1:8000", 0, 0, NULL),
    FZ_KEY("paths", SD_CFG_LIST, 0, "/phone-producer/", 0, 0, NULL),
    FZ_KEY("max_body_size", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "16M", 1024,
           1073741824.0, NULL),
    FZ_KEY("auth_token", SD_CFG_STRING, SD_CFG_SECRET, NULL, 0, 0, NULL),
    FZ_KEY("cors_origins", SD_CFG_LIST, 0, NULL, 0, 0, NULL),
    FZ_KEY("max_connections", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "1024", 1, 65536,
           NULL),
    FZ_KEY("request_timeout", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "30s", 1e6,
           36e11, NULL),
    FZ_KEY("ack", SD_CFG_ENUM, 0, "accepted", 0, 0, "accepted|delivered|durable"),
    FZ_KEY("pass_test_push", SD_CFG_BOOL, 0, "false", 0, 0, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_gen_keys[] = {
    FZ_KEY("rate", SD_CFG_DOUBLE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "100", 0.001, 1e7, NULL),
    FZ_KEY("batch_size", SD_CFG_INT, SD_CFG_HAS_MIN, "16", 1, 0, NULL),
    FZ_KEY("device_count", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "1", 1, 1000, NULL),
    FZ_KEY("count", SD_CFG_INT, SD_CFG_HAS_MIN, "0", 0, 0, NULL),
    FZ_KEY("sensor", SD_CFG_STRING, 0, "accelerometer", 0, 0, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_query_keys[] = {
    FZ_KEY("listen", SD_CFG_STRING, 0, "127.0.0.1:8088", 0, 0, NULL),
    FZ_KEY("stream", SD_CFG_STRING, 0, "CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t');", 0, 0,
           NULL),
    FZ_KEY("topic", SD_CFG_STRING, 0, "smartphone-sensor-data", 0, 0, NULL),
    FZ_KEY("query.", SD_CFG_PREFIX, SD_CFG_MULTI, NULL, 0, 0, NULL),
    FZ_KEY("max_push_queries", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "10000", 1, 1000000,
           NULL),
    FZ_KEY("client_buffer", SD_CFG_SIZE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "4M", 4096,
           1073741824.0, NULL),
    FZ_KEY("retain", SD_CFG_DURATION, SD_CFG_HAS_MAX, "5m", 0, 36e11, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_ksql_keys[] = {
    FZ_KEY("server", SD_CFG_STRING, SD_CFG_REQUIRED, NULL, 0, 0, NULL),
    FZ_KEY("http_version", SD_CFG_ENUM, 0, "2", 0, 0, "1.1|2"),
    FZ_KEY("password", SD_CFG_STRING, SD_CFG_SECRET, NULL, 0, 0, NULL),
    FZ_KEY("create_stream", SD_CFG_BOOL, 0, "true", 0, 0, NULL),
    FZ_KEY("stream_name", SD_CFG_STRING, 0, "smartphone_sensor_stream", 0, 0, NULL),
    FZ_KEY("auto_offset_reset", SD_CFG_ENUM, 0, "latest", 0, 0, "latest|earliest"),
    FZ_KEY("reconnect_min", SD_CFG_DURATION, SD_CFG_HAS_MIN, "500ms", 1e6, 0, NULL),
    FZ_KEY("reconnect_max", SD_CFG_DURATION, SD_CFG_HAS_MIN, "30s", 1e6, 0, NULL),
    FZ_KEY("query.", SD_CFG_PREFIX, SD_CFG_MULTI, NULL, 0, 0, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_sse_keys[] = {
    FZ_KEY("listen", SD_CFG_STRING, 0, "0.0.0.0:5000", 0, 0, NULL),
    FZ_KEY("chart_query", SD_CFG_STRING, 0, "accelerometer", 0, 0, NULL),
    FZ_KEY("cors_origins", SD_CFG_LIST, 0, NULL, 0, 0, NULL),
    FZ_KEY("heartbeat", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "15s", 10e6, 3600e9,
           NULL),
    FZ_KEY("overflow", SD_CFG_ENUM, 0, "disconnect", 0, 0, "disconnect|skip"),
    FZ_KEY("ingest_port", SD_CFG_INT, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "8000", 1, 65535, NULL),
    FZ_KEY("ratio", SD_CFG_DOUBLE, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX | SD_CFG_SECRET, NULL, 0, 1,
           NULL),
    FZ_KEY("verbose", SD_CFG_BOOL, 0, "false", 0, 0, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_kafka_keys[] = {
    FZ_KEY("brokers", SD_CFG_STRING, 0, "127.0.0.1:9092", 0, 0, NULL),
    FZ_KEY("topic", SD_CFG_STRING, 0, "smartphone-sensor-data", 0, 0, NULL),
    FZ_KEY("group_id", SD_CFG_STRING, 0, "sensord", 0, 0, NULL),
    FZ_KEY("retry_interval", SD_CFG_DURATION, SD_CFG_HAS_MIN, "1s", 1e6, 0, NULL),
    FZ_KEY("kafka.", SD_CFG_PREFIX, 0, NULL, 0, 0, NULL),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_null_keys[] = {
    FZ_KEY("latency", SD_CFG_DURATION, SD_CFG_HAS_MIN | SD_CFG_HAS_MAX, "0", 0, 6e10, NULL),
    FZ_KEY("fail", SD_CFG_ENUM, 0, "none", 0, 0, "none|retry|fail"),
    FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

static const sd_config_key fz_stdout_keys[] = {
    FZ_KEY("path", SD_CFG_STRING, 0, "-", 0, 0, NULL), FZ_KEY(NULL, 0, 0, NULL, 0, 0, NULL)};

/* What a plugin's validate() does: read every key as its type, walk the prefixes, and
 * report a cross-key rule through config_error. */
static void fz_each(void *ctx, const char *key, const char *value) {
  if (!key || !value) abort();
  *(size_t *)ctx += strlen(key) + strlen(value);
}

static sd_result fz_validate(const sd_host_api *h, sd_stage *st) {
  const sd_config_key *k = st->desc->config_keys;
  size_t touched = 0;
  if (!k) return SD_OK;
  for (; k->name; k++) {
    switch (k->type) {
    case SD_CFG_STRING: {
      const char *s = h->config_string(st, k->name);
      if (s) touched += strlen(s);
      break;
    }
    case SD_CFG_INT:
      touched += (size_t)h->config_int(st, k->name);
      break;
    case SD_CFG_BOOL:
      touched += (size_t)h->config_bool(st, k->name);
      break;
    case SD_CFG_DOUBLE:
      touched += h->config_double(st, k->name) > 0.5;
      break;
    case SD_CFG_SIZE:
      touched += (size_t)h->config_size(st, k->name);
      break;
    case SD_CFG_DURATION:
      touched += (size_t)h->config_duration(st, k->name);
      break;
    case SD_CFG_ENUM:
      if (h->config_enum(st, k->name) < 0 && k->default_value) abort(); /* validated */
      break;
    case SD_CFG_LIST: {
      size_t n = h->config_list_count(st, k->name);
      for (size_t i = 0; i < n; i++)
        if (!h->config_list_item(st, k->name, i)) abort();
      if (h->config_list_item(st, k->name, n)) abort();
      break;
    }
    case SD_CFG_PREFIX:
      h->config_each(st, k->name, fz_each, &touched);
      break;
    }
  }
  /* query_ksql's rule: the reconnect backoff must not shrink. */
  int64_t lo = -1, hi = -1;
  for (k = st->desc->config_keys; k->name; k++) {
    if (strcmp(k->name, "reconnect_min") == 0) lo = h->config_duration(st, k->name);
    if (strcmp(k->name, "reconnect_max") == 0) hi = h->config_duration(st, k->name);
  }
  if (lo > hi && hi >= 0) return h->config_error(st, "reconnect_max", "is below reconnect_min");
  if (touched == 7) return h->config_error(st, NULL, "seven");
  return SD_OK;
}

#define FZ_PLUGIN(nm, kd, keys)                                                                \
  {                                                                                            \
    .name = nm, .path = "/fuzz/" nm ".so", .dir = "/fuzz", .desc = {                           \
      SD_DESCRIPTOR_HEADER,                                                                    \
      .name = nm,                                                                              \
      .version = "0",                                                                          \
      .description = "fake",                                                                   \
      .kind = kd,                                                                              \
      .config_keys = keys,                                                                     \
      .validate = fz_validate                                                                  \
    }                                                                                          \
  }
static loader_plugin fz_plugins[] = {
    FZ_PLUGIN("source_http", SD_KIND_SOURCE, fz_http_keys),
    FZ_PLUGIN("source_gen", SD_KIND_SOURCE, fz_gen_keys),
    FZ_PLUGIN("source_kafka", SD_KIND_SOURCE, fz_kafka_keys),
    FZ_PLUGIN("query_local", SD_KIND_QUERY, fz_query_keys),
    FZ_PLUGIN("query_ksql", SD_KIND_SOURCE, fz_ksql_keys),
    FZ_PLUGIN("fx_passthru", SD_KIND_QUERY, NULL),
    FZ_PLUGIN("out_sse", SD_KIND_SINK, fz_sse_keys),
    FZ_PLUGIN("out_websocket", SD_KIND_SINK, fz_sse_keys),
    FZ_PLUGIN("sink_kafka", SD_KIND_SINK, fz_kafka_keys),
    FZ_PLUGIN("sink_null", SD_KIND_SINK, fz_null_keys),
    FZ_PLUGIN("sink_stdout", SD_KIND_SINK, fz_stdout_keys),
};

/* ---- the loader, without dlopen ------------------------------------------------------- */

struct loader {
  char *dir;
};

loader *loader_new(const char *plugin_dir) {
  loader *ld = calloc(1, sizeof *ld);
  if (!ld || !(ld->dir = strdup(plugin_dir))) abort();
  return ld;
}

void loader_free(loader *ld) {
  if (!ld) return;
  free(ld->dir);
  free(ld);
}

const char *loader_dir(const loader *ld) {
  return ld->dir;
}

const loader_plugin *loader_load(loader *ld, const char *name, sd_errors *errs) {
  for (size_t i = 0; i < sizeof fz_plugins / sizeof *fz_plugins; i++)
    if (strcmp(fz_plugins[i].name, name) == 0) return &fz_plugins[i];
  sd_errors_add(errs, "plugin \"%s\": %s/%s.so not found", name, ld->dir, name);
  return NULL;
}

char **loader_list_names(const char *plugin_dir, size_t *count) {
  *count = 0;
  return NULL;
}

void loader_free_names(char **names, size_t count) {
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
}

const char *loader_kind_name(uint32_t kind) {
  static const char *const names[] = {"unknown", "source", "query", "sink"};
  return kind < 4 ? names[kind] : "unknown";
}

char *loader_default_dir(void) {
  char *d = strdup("/fuzz");
  if (!d) abort();
  return d;
}

/* ---- the target ----------------------------------------------------------------------- */

static int fz_fd = -1;
static char fz_path[64];

static void fz_init(void) {
  log_set_output(open("/dev/null", O_WRONLY | O_CLOEXEC)); /* getter misuse logs; quiet */
  sd_errors *errs = sd_errors_new();
  for (size_t i = 0; i < sizeof fz_plugins / sizeof *fz_plugins; i++)
    if (cfg_check_defaults(fz_plugins[i].name, fz_plugins[i].desc.config_keys, errs)) {
      for (size_t j = 0; j < sd_errors_count(errs); j++)
        fprintf(stderr, "%s\n", sd_errors_at(errs, j));
      abort(); /* a broken fake table would only fuzz its own mistake */
    }
  sd_errors_free(errs);
  fz_fd = memfd_create("fuzz.ini", MFD_CLOEXEC);
  if (fz_fd < 0) abort();
  snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (fz_fd < 0) fz_init();
  if (ftruncate(fz_fd, 0) != 0 || pwrite(fz_fd, data, size, 0) != (ssize_t)size) abort();

  sd_errors *errs = sd_errors_new();
  pipeline *pl = pipeline_load(fz_path, NULL, errs);
  if (!pl) abort(); /* the file is there: every problem is an error in errs, never NULL */
  size_t before = sd_errors_count(errs);
  pipeline_validate(pl, errs);
  size_t n = sd_errors_count(errs);

  /* Every message points into the file. */
  size_t plen = strlen(fz_path);
  for (size_t i = 0; i < n; i++) {
    const char *m = sd_errors_at(errs, i);
    if (!m || strncmp(m, fz_path, plen) != 0 || (m[plen] != ':' && m[plen] != '\0')) {
      fprintf(stderr, "message without the file: %s\n", m ? m : "(null)");
      abort();
    }
  }
  /* A clean file is runnable: stage names unique, every stage after its inputs. */
  if (n == 0) {
    if (pl->stage_count == 0) abort();
    for (size_t i = 0; i < pl->stage_count; i++) {
      sd_stage *st = pl->stages[i];
      if (st->index != i || !st->config_ok || !st->plugin) abort();
      if (st->input_count != st->input_name_count) abort();
      for (size_t j = 0; j < st->input_count; j++)
        if (st->inputs[j]->index >= i) abort();
      for (size_t j = 0; j < i; j++)
        if (strcmp(pl->stages[j]->name, st->name) == 0) abort();
    }
  }
  (void)before;
  pipeline_free(pl);
  sd_errors_free(errs);
  return 0;
}
