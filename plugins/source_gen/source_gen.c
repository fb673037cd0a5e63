/* source_gen: emits Sensor Logger-shaped flattened records (name, time, values_x/y/z,
 * messageId, sessionId, deviceId; key = deviceId) at `rate` records/s in batches of
 * `batch_size`, optionally stopping after `count`. Runs entirely on its stage thread. */
#include <sensord/plugin.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct gen {
  const sd_host_api *host;
  sd_stage *stage;
  double rate;
  int64_t batch_size, device_count, count;
  const char *sensor;
  char session[40];
  sd_timer *timer;
  int64_t start_ns;
  int64_t produced; /* records built into batches (emitted or held) */
  int64_t message_id;
  sd_batch *held; /* refused with SD_BUSY: retried before building more */
  int paused, stopped, done_logged;
  atomic_llong acked[4];
  sd_metric *acked_metric[4];
  sd_metric *busy_metric;
} gen;

/* Ticks at most this often; each tick catches up with the rate. */
#define MIN_TICK_NS          1000000LL
#define MAX_BATCHES_PER_TICK 64

static const sd_config_key keys[] = {
    {.name = "rate",
     .type = SD_CFG_DOUBLE,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "100",
     .min = 0.001,
     .max = 10000000,
     .description = "records per second, all devices together"},
    {.name = "batch_size",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "10",
     .min = 1,
     .max = 100000,
     .description = "records per emitted batch (the last batch before count may be smaller)"},
    {.name = "device_count",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "1",
     .min = 1,
     .max = 100000,
     .description = "distinct deviceId values, used round robin (gen-device-0001, ...)"},
    {.name = "count",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN,
     .default_value = "0",
     .min = 0,
     .description = "stop after this many records; 0 = run until shutdown"},
    {.name = "sensor",
     .type = SD_CFG_STRING,
     .default_value = "accelerometer",
     .description = "value of the name field (a Sensor Logger sensor name)"},
    {.name = NULL}};

static void on_ack(void *ctx, sd_status status) {
  gen *g = ctx;
  /* Batches are acknowledged whole; the record count is not carried, so count batches. */
  atomic_fetch_add(&g->acked[status & 3], 1);
  g->host->metric_add(g->acked_metric[status & 3], 1);
}

static sd_batch *build_batch(gen *g, int64_t n) {
  const sd_host_api *h = g->host;
  sd_batch *b = h->batch_new(g->stage, (size_t)n);
  int64_t now = h->now_wall_ns();
  g->message_id++;
  for (int64_t i = 0; i < n; i++) {
    int64_t seq = g->produced + i;
    char device[32];
    int len = snprintf(device, sizeof device, "gen-device-%04lld",
                       (long long)(seq % g->device_count) + 1);
    double t = (double)seq * 0.01;
    h->record_begin(b, now, device, (size_t)len);
    h->field_string(b, "name", 4, g->sensor, strlen(g->sensor));
    h->field_int(b, "time", 4, now);
    h->field_double(b, "values_x", 8, sin(t));
    h->field_double(b, "values_y", 8, cos(t));
    h->field_double(b, "values_z", 8, 9.81 + 0.1 * sin(3 * t));
    h->field_int(b, "messageId", 9, g->message_id);
    h->field_string(b, "sessionId", 9, g->session, strlen(g->session));
    h->field_string(b, "deviceId", 8, device, (size_t)len);
  }
  g->produced += n;
  return b;
}

/* Emits the held batch; returns 1 when it was taken (or refused for good). */
static int flush_held(gen *g) {
  if (!g->held) return 1;
  sd_result r = g->host->emit(g->stage, g->held, on_ack, g);
  if (r == SD_BUSY) {
    g->host->metric_add(g->busy_metric, 1);
    return 0;
  }
  if (r != SD_OK) {
    g->host->log(g->stage, SD_LOG_ERROR, "emit refused a batch of %zu records; stopping",
                 g->host->batch_count(g->held));
    g->host->batch_free(g->held);
    g->stopped = 1;
  }
  g->held = NULL;
  return 1;
}

static void tick(void *state) {
  gen *g = state;
  if (g->stopped || g->paused) return;
  if (!flush_held(g)) return;
  int64_t elapsed = g->host->now_mono_ns() - g->start_ns;
  int64_t due = (int64_t)(g->rate * (double)elapsed / 1e9) - g->produced;
  /* Only whole batches (or the last one before count), so batch sizes are predictable. */
  for (int i = 0; i < MAX_BATCHES_PER_TICK && !g->stopped; i++) {
    int64_t n = g->batch_size;
    if (g->count > 0 && g->count - g->produced < n) n = g->count - g->produced;
    if (n <= 0 || due < n) break;
    g->held = build_batch(g, n);
    due -= n;
    if (!flush_held(g)) return;
  }
  if (g->count > 0 && g->produced >= g->count && !g->held && !g->done_logged) {
    g->done_logged = 1;
    g->host->timer_stop(g->timer);
    g->timer = NULL;
    g->host->log(g->stage, SD_LOG_INFO, "generated %lld records: count reached",
                 (long long)g->produced);
  }
}

static sd_result gen_init(const sd_host_api *host, sd_stage *stage, void **state) {
  gen *g = calloc(1, sizeof *g);
  if (!g) return SD_ERR;
  g->host = host;
  g->stage = stage;
  g->rate = host->config_double(stage, "rate");
  g->batch_size = host->config_int(stage, "batch_size");
  g->device_count = host->config_int(stage, "device_count");
  g->count = host->config_int(stage, "count");
  g->sensor = host->config_string(stage, "sensor");
  snprintf(g->session, sizeof g->session, "gen-session-%lld",
           (long long)(host->now_wall_ns() / 1000));
  static const char *const labels[4] = {"status=\"ok\"", "status=\"retry\"", "status=\"fail\"",
                                        "status=\"dropped\""};
  for (int i = 0; i < 4; i++)
    g->acked_metric[i] =
        host->counter(stage, "gen_acked_batches_total",
                      "Batches of source_gen acknowledged, by status", labels[i]);
  g->busy_metric = host->counter(stage, "gen_busy_total",
                                 "Emits of source_gen refused with busy (retried later)", NULL);
  *state = g;
  return SD_OK;
}

static sd_result gen_start(void *state) {
  gen *g = state;
  double per_batch_ns = (double)g->batch_size / g->rate * 1e9;
  int64_t interval = per_batch_ns < MIN_TICK_NS ? MIN_TICK_NS : (int64_t)per_batch_ns;
  if (interval > 100 * MIN_TICK_NS) interval = 100 * MIN_TICK_NS; /* stay responsive */
  g->start_ns = g->host->now_mono_ns();
  g->timer = g->host->timer_start(g->stage, interval, 1, tick);
  return g->timer ? SD_OK : SD_ERR;
}

static void gen_pause(void *state) {
  ((gen *)state)->paused = 1;
}

static void gen_resume(void *state) {
  gen *g = state;
  g->paused = 0;
  flush_held(g);
}

static int64_t gen_drain(void *state, int64_t deadline) {
  gen *g = state;
  g->stopped = 1;
  if (g->timer) g->host->timer_stop(g->timer);
  g->timer = NULL;
  /* A batch refused with busy was generated already: keep offering it until the
   * deadline, since the consumers are still running. */
  while (g->held && g->host->now_mono_ns() < deadline && !flush_held(g)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  int64_t lost = 0;
  if (g->held) {
    lost = (int64_t)g->host->batch_count(g->held);
    g->host->batch_free(g->held);
    g->held = NULL;
  }
  g->host->log(
      g->stage, SD_LOG_INFO,
      "drain: generated %lld records; batches acked ok=%lld retry=%lld fail=%lld dropped=%lld",
      (long long)(g->produced - lost), (long long)atomic_load(&g->acked[0]),
      (long long)atomic_load(&g->acked[1]), (long long)atomic_load(&g->acked[2]),
      (long long)atomic_load(&g->acked[3]));
  return lost;
}

static void gen_destroy(void *state) {
  gen *g = state;
  if (g->held) g->host->batch_free(g->held);
  free(g);
}

static const sd_plugin_descriptor descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "source_gen",
    .version = "0.1.0",
    .description = "generates Sensor Logger-shaped readings at a fixed rate (tests and demos)",
    .kind = SD_KIND_SOURCE,
    .config_keys = keys,
    .init = gen_init,
    .start = gen_start,
    .pause = gen_pause,
    .resume = gen_resume,
    .drain = gen_drain,
    .destroy = gen_destroy,
};

SD_PLUGIN_DEFINE(descriptor)
