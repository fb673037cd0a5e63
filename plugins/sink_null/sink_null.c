/* sink_null: counts records and discards them. `latency` holds each batch that long
 * before completing it and `fail` picks the completion status, so tests can exercise
 * slow and failing outputs, backpressure and acknowledgement paths. */
#include <sensord/plugin.h>

#include <stdlib.h>
#include <time.h>

typedef struct held {
  sd_delivery *delivery;
  int64_t due_ns;
  struct held *next;
} held;

typedef struct sink {
  const sd_host_api *host;
  sd_stage *stage;
  int64_t latency_ns;
  sd_status status;
  sd_timer *timer;
  held *head, *tail;
  int64_t records, batches;
  sd_metric *records_metric;
} sink;

static const sd_config_key keys[] = {
    {.name = "latency",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "0",
     .min = 0,
     .max = 3600e9,
     .description = "how long each batch is held before it is completed"},
    {.name = "fail",
     .type = SD_CFG_ENUM,
     .default_value = "none",
     .enum_values = "none|retry|fail",
     .description =
         "completion status: none = ok, retry = transient failure, fail = permanent"},
    {.name = NULL}};

static void finish(sink *s, sd_delivery *d) {
  s->host->complete(d, s->status);
}

static void release_due(sink *s, int64_t now) {
  while (s->head && s->head->due_ns <= now) {
    held *h = s->head;
    s->head = h->next;
    if (!s->head) s->tail = NULL;
    finish(s, h->delivery);
    free(h);
  }
}

static void tick(void *state) {
  sink *s = state;
  release_due(s, s->host->now_mono_ns());
}

static sd_result null_init(const sd_host_api *host, sd_stage *stage, void **state) {
  sink *s = calloc(1, sizeof *s);
  if (!s) return SD_ERR;
  s->host = host;
  s->stage = stage;
  s->latency_ns = host->config_duration(stage, "latency");
  static const sd_status statuses[3] = {SD_STATUS_OK, SD_STATUS_RETRY, SD_STATUS_FAIL};
  s->status = statuses[host->config_enum(stage, "fail") % 3];
  s->records_metric =
      host->counter(stage, "null_records_total", "Records sink_null received", NULL);
  if (s->latency_ns > 0) {
    /* One repeating tick releases every due batch; a quarter of the latency keeps the
     * added delay small without a timer per batch. */
    int64_t interval = s->latency_ns / 4;
    if (interval < 1000000) interval = 1000000;
    if (interval > 50000000) interval = 50000000;
    s->timer = host->timer_start(stage, interval, 1, tick);
  }
  *state = s;
  return SD_OK;
}

static sd_result null_process(void *state, sd_delivery *d) {
  sink *s = state;
  size_t n = s->host->batch_count(s->host->delivery_batch(d));
  s->records += (int64_t)n;
  s->batches++;
  s->host->metric_add(s->records_metric, (double)n);
  if (s->latency_ns <= 0) {
    finish(s, d);
    return SD_OK;
  }
  held *h = malloc(sizeof *h);
  if (!h) return SD_ERR;
  h->delivery = d;
  h->due_ns = s->host->now_mono_ns() + s->latency_ns;
  h->next = NULL;
  if (s->tail)
    s->tail->next = h;
  else
    s->head = h;
  s->tail = h;
  return SD_OK;
}

static int64_t null_drain(void *state, int64_t deadline) {
  sink *s = state;
  /* Flush: wait for held batches as long as the deadline allows. */
  while (s->head) {
    int64_t now = s->host->now_mono_ns();
    release_due(s, now);
    if (!s->head) break;
    int64_t until = s->head->due_ns < deadline ? s->head->due_ns : deadline;
    if (now >= deadline) break;
    int64_t wait = until - now;
    struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
    nanosleep(&ts, NULL);
  }
  int64_t lost = 0;
  while (s->head) {
    held *h = s->head;
    s->head = h->next;
    lost += (int64_t)s->host->batch_count(s->host->delivery_batch(h->delivery));
    s->host->complete(h->delivery, SD_STATUS_FAIL);
    free(h);
  }
  s->tail = NULL;
  s->host->log(s->stage, SD_LOG_INFO, "drain: received %lld records in %lld batches",
               (long long)s->records, (long long)s->batches);
  return lost;
}

static void null_destroy(void *state) {
  sink *s = state;
  if (s->timer) s->host->timer_stop(s->timer);
  while (s->head) { /* only when drain never ran: the core fails these for us */
    held *h = s->head;
    s->head = h->next;
    free(h);
  }
  free(s);
}

static const sd_plugin_descriptor descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "sink_null",
    .version = "0.1.0",
    .description = "counts and discards records; can delay or fail completions (tests)",
    .kind = SD_KIND_SINK,
    .flags = SD_PLUGIN_PROCESS_ON_CALLER,
    .config_keys = keys,
    .init = null_init,
    .process = null_process,
    .drain = null_drain,
    .destroy = null_destroy,
};

SD_PLUGIN_DEFINE(descriptor)
