/* sink_kafka: produces every record of a batch to a Kafka topic with librdkafka and
 * completes the batch only when every delivery report is in (per-batch tracker). Delivery
 * reports arrive on the plugin's poll thread; producing and QUEUE_FULL retries happen on
 * the stage thread, so the stage loop never blocks on the broker. */
#include "kafka/kafka_conf.h"
#include "kafka_json.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink_kafka sink_kafka;

/* Failed records of a batch by librdkafka error, reported in one warning per kind once the
 * batch is settled: an outage fails thousands of records for the same reason. */
enum { SK_FAIL_KINDS = 4 };
typedef struct sk_fail_kind {
  rd_kafka_resp_err_t err;
  size_t count;
} sk_fail_kind;

/* One batch in flight: settled counts down from the record count, so a delivery report
 * can never finish a batch whose tail is still waiting for queue room. */
typedef struct sk_tracker {
  sink_kafka *sk;
  sd_delivery *delivery;
  const sd_batch *batch;
  size_t count;
  size_t next_record; /* stage thread only */
  atomic_size_t unsettled;
  atomic_int failed_permanent;
  atomic_int failed_transient;
  sk_fail_kind fails[SK_FAIL_KINDS]; /* guarded by sk->fail_lock */
  size_t fails_other;                /* failures of further kinds */
  struct sk_tracker *next_waiting;   /* stage thread only */
} sk_tracker;

struct sink_kafka {
  const sd_host_api *host;
  sd_stage *stage;
  rd_kafka_conf_t *conf; /* until start() hands it to rd_kafka_new */
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  const char *topic;
  int64_t retry_interval_ns;
  kj_buf buf;
  sk_tracker *wait_head, *wait_tail; /* batches with records not yet accepted (QUEUE_FULL) */
  sd_timer *retry_timer;
  pthread_t poller;
  int poller_running;
  atomic_int stop;
  atomic_llong in_flight;
  atomic_llong failed_count; /* records that ended undelivered, for drain's report */
  pthread_mutex_t fail_lock; /* trackers' failure tallies: stage and poll threads */
  kc_reach reach;
  int64_t last_txretries; /* poll thread only */
  sd_metric *m_produced, *m_delivered, *m_failed, *m_retried, *m_queue_full, *m_in_flight,
      *m_latency, *m_brokers_up, *m_undelivered;
};

static const kc_setting sk_defaults[] = {
    {"enable.idempotence", "true"},     /* no duplicates from librdkafka's own retries */
    {"linger.ms", "5"},                 /* phone-to-chart latency over batching */
    {"message.timeout.ms", "10000"},    /* a phone waiting on ack=delivered gets 503 after */
    {"statistics.interval.ms", "1000"}, /* broker up/down and retry metrics */
    {"client.id", "sensord-sink_kafka"},
    {NULL, NULL}};

static const sd_config_key sk_keys[] = {
    KC_BROKERS_KEY,
    {.name = "topic",
     .type = SD_CFG_STRING,
     .default_value = "smartphone-sensor-data",
     .description = "topic every reading is produced to (key = deviceId)"},
    {.name = "retry_interval",
     .type = SD_CFG_DURATION,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "10ms",
     .min = 1e6,
     .max = 1e9,
     .description = "how soon records refused with QUEUE_FULL are offered again"},
    {.name = "kafka.",
     .type = SD_CFG_PREFIX,
     .description = "any librdkafka producer property, e.g. kafka.linger.ms = 5"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

/* Errors that no resend can fix: the batch fails for good instead of "try again". */
static int sk_permanent(rd_kafka_resp_err_t err) {
  switch (err) {
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_INVALID_MSG:
  case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
  case RD_KAFKA_RESP_ERR_INVALID_RECORD:
  case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
  case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
  case RD_KAFKA_RESP_ERR__INVALID_ARG:
  case RD_KAFKA_RESP_ERR__FATAL:
    return 1;
  default:
    return 0;
  }
}

static void sk_tally_failure(sk_tracker *t, size_t n, rd_kafka_resp_err_t err) {
  sink_kafka *sk = t->sk;
  pthread_mutex_lock(&sk->fail_lock);
  size_t i = 0;
  while (i < SK_FAIL_KINDS && t->fails[i].count && t->fails[i].err != err) i++;
  if (i < SK_FAIL_KINDS) {
    t->fails[i].err = err;
    t->fails[i].count += n;
  } else {
    t->fails_other += n;
  }
  pthread_mutex_unlock(&sk->fail_lock);
}

/* One warning per kind of failure of a settled batch, e.g. "1500 readings failed: Local:
 * Message timed out"; the core rate-limits them when every batch of an outage fails. */
static void sk_log_failures(sk_tracker *t) {
  sink_kafka *sk = t->sk;
  pthread_mutex_lock(&sk->fail_lock);
  for (size_t i = 0; i < SK_FAIL_KINDS && t->fails[i].count; i++)
    sk->host->log(sk->stage, SD_LOG_WARN,
                  "%zu readings failed: %s (topic %s, batch of %zu readings)",
                  t->fails[i].count, rd_kafka_err2str(t->fails[i].err), sk->topic, t->count);
  if (t->fails_other)
    sk->host->log(sk->stage, SD_LOG_WARN,
                  "%zu readings failed for other reasons (topic %s, batch of %zu readings)",
                  t->fails_other, sk->topic, t->count);
  pthread_mutex_unlock(&sk->fail_lock);
}

/* Settles n records of t (any thread); the last one completes the batch and frees t. */
static void sk_settle(sk_tracker *t, size_t n, rd_kafka_resp_err_t err) {
  if (err) {
    if (sk_permanent(err))
      atomic_store(&t->failed_permanent, 1);
    else
      atomic_store(&t->failed_transient, 1);
    sk_tally_failure(t, n, err);
  }
  if (atomic_fetch_sub(&t->unsettled, n) != n) return;
  if (atomic_load(&t->failed_permanent) || atomic_load(&t->failed_transient))
    sk_log_failures(t);
  sd_status status = atomic_load(&t->failed_permanent)   ? SD_STATUS_FAIL
                     : atomic_load(&t->failed_transient) ? SD_STATUS_RETRY
                                                         : SD_STATUS_OK;
  t->sk->host->complete(t->delivery, status);
  free(t);
}

static void sk_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  sink_kafka *sk = opaque;
  sk_tracker *t = m->_private;
  atomic_fetch_sub(&sk->in_flight, 1);
  sk->host->metric_add(sk->m_in_flight, -1);
  if (m->err) {
    atomic_fetch_add(&sk->failed_count, 1);
    sk->host->metric_add(sk->m_failed, 1);
  } else {
    sk->host->metric_add(sk->m_delivered, 1);
    sk->host->metric_observe(sk->m_latency, (double)rd_kafka_message_latency(m) / 1e6);
    kc_reach_set(sk->host, sk->stage, &sk->reach, 1, NULL);
  }
  sk_settle(t, 1, m->err);
}

static void sk_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  sink_kafka *sk = opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
    sk->host->log(sk->stage, SD_LOG_ERROR,
                  "fatal producer error (%s): %s; every further batch fails",
                  rd_kafka_err2name(orig), why);
  } else {
    kc_on_error(sk->host, sk->stage, &sk->reach, err, reason);
  }
}

/* Statistics JSON: brokers' states for the up gauge, request retries for the counter. */
static int sk_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
  (void)rk;
  sink_kafka *sk = opaque;
  json_t *root = json_loadb(json, len, 0, NULL);
  json_t *brokers = root ? json_object_get(root, "brokers") : NULL;
  if (json_is_object(brokers)) {
    const char *name;
    json_t *b;
    int up = 0;
    int64_t retries = 0;
    json_object_foreach(brokers, name, b) {
      const char *source = json_string_value(json_object_get(b, "source"));
      if (source && !strcmp(source, "internal")) continue;
      const char *state = json_string_value(json_object_get(b, "state"));
      if (state && !strcmp(state, "UP")) up++;
      retries += json_integer_value(json_object_get(b, "txretries"));
    }
    sk->host->metric_set(sk->m_brokers_up, up);
    if (retries > sk->last_txretries)
      sk->host->metric_add(sk->m_retried, (double)(retries - sk->last_txretries));
    sk->last_txretries = retries;
    if (up > 0) kc_reach_set(sk->host, sk->stage, &sk->reach, 1, NULL);
  }
  json_decref(root);
  return 0; /* librdkafka frees json */
}

static void *sk_poll_thread(void *arg) {
  sink_kafka *sk = arg;
  while (!atomic_load(&sk->stop)) rd_kafka_poll(sk->rk, 100);
  return NULL;
}

enum { SK_DONE, SK_QUEUE_FULL };

/* Produces the records of t from next_record on. Stage thread. t is alive only while
 * one of its records has not been handed over: a delivery report may free it at once. */
static int sk_produce_records(sink_kafka *sk, sk_tracker *t) {
  const sd_host_api *h = sk->host;
  const size_t count = t->count;
  const sd_batch *batch = t->batch;
  for (size_t i = t->next_record; i < count; i++) {
    sd_record_view rec;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    kj_buf_reset(&sk->buf);
    t->next_record = i + 1;
    if (h->batch_record(batch, i, &rec) != SD_OK || kj_record_json(&sk->buf, &rec)) {
      err = RD_KAFKA_RESP_ERR__INVALID_ARG;
    } else {
      size_t key_len;
      const char *key = kj_record_key(&rec, &key_len);
      atomic_fetch_add(&sk->in_flight, 1);
      err = rd_kafka_producev(
          sk->rk, RD_KAFKA_V_RKT(sk->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(sk->buf.data, sk->buf.len), RD_KAFKA_V_KEY(key, key_len),
          RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
      if (err) atomic_fetch_sub(&sk->in_flight, 1);
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) { /* record i stays ours: t is alive */
      t->next_record = i;
      h->metric_add(sk->m_queue_full, 1);
      return SK_QUEUE_FULL;
    }
    if (err) {
      atomic_fetch_add(&sk->failed_count, 1);
      h->metric_add(sk->m_failed, 1);
      sk_settle(t, 1, err);
    } else {
      h->metric_add(sk->m_produced, 1);
      h->metric_add(sk->m_in_flight, 1);
    }
  }
  return SK_DONE;
}

/* Offers waiting batches again, oldest first, so records keep their order per key. */
static void sk_retry_waiting(void *state) {
  sink_kafka *sk = state;
  while (sk->wait_head) {
    sk_tracker *t = sk->wait_head;
    sk->wait_head = t->next_waiting;
    if (!sk->wait_head) sk->wait_tail = NULL;
    if (sk_produce_records(sk, t) == SK_QUEUE_FULL) {
      t->next_waiting = sk->wait_head;
      sk->wait_head = t;
      if (!sk->wait_tail) sk->wait_tail = t;
      return;
    }
  }
  if (sk->retry_timer) {
    sk->host->timer_stop(sk->retry_timer);
    sk->retry_timer = NULL;
  }
}

static void sk_enqueue_waiting(sink_kafka *sk, sk_tracker *t) {
  t->next_waiting = NULL;
  if (sk->wait_tail)
    sk->wait_tail->next_waiting = t;
  else
    sk->wait_head = t;
  sk->wait_tail = t;
  if (!sk->retry_timer)
    sk->retry_timer =
        sk->host->timer_start(sk->stage, sk->retry_interval_ns, 1, sk_retry_waiting);
}

static sd_result sk_process(void *state, sd_delivery *delivery) {
  sink_kafka *sk = state;
  const sd_batch *batch = sk->host->delivery_batch(delivery);
  size_t count = sk->host->batch_count(batch);
  if (count == 0) {
    sk->host->complete(delivery, SD_STATUS_OK);
    return SD_OK;
  }
  sk_tracker *t = calloc(1, sizeof *t);
  if (!t) {
    sk->host->log(sk->stage, SD_LOG_ERROR, "out of memory for a batch of %zu records", count);
    return SD_ERR;
  }
  t->sk = sk;
  t->delivery = delivery;
  t->batch = batch;
  t->count = count;
  atomic_init(&t->unsettled, count);
  if (sk->wait_head) /* earlier records are still waiting for room: keep the order */
    sk_enqueue_waiting(sk, t);
  else if (sk_produce_records(sk, t) == SK_QUEUE_FULL)
    sk_enqueue_waiting(sk, t);
  return SD_OK;
}

static sd_result sk_validate(const sd_host_api *host, sd_stage *stage) {
  sd_result topic_ok = kc_check_topic(host, stage, "topic");
  sd_result conf_ok = kc_validate(host, stage, RD_KAFKA_PRODUCER, sk_defaults);
  return topic_ok == SD_OK ? conf_ok : topic_ok;
}

static sd_result sk_init(const sd_host_api *host, sd_stage *stage, void **state) {
  sink_kafka *sk = calloc(1, sizeof *sk);
  if (!sk) return SD_ERR;
  sk->host = host;
  sk->stage = stage;
  pthread_mutex_init(&sk->fail_lock, NULL);
  sk->topic = host->config_string(stage, "topic");
  sk->retry_interval_ns = host->config_duration(stage, "retry_interval");
  sk->conf = kc_build(host, stage, sk_defaults);
  if (!sk->conf) {
    pthread_mutex_destroy(&sk->fail_lock);
    free(sk);
    return SD_ERR;
  }
  rd_kafka_conf_set_opaque(sk->conf, sk);
  rd_kafka_conf_set_dr_msg_cb(sk->conf, sk_on_delivery);
  rd_kafka_conf_set_error_cb(sk->conf, sk_on_error);
  rd_kafka_conf_set_stats_cb(sk->conf, sk_on_stats);
  sk->m_produced =
      host->counter(stage, "kafka_produced_total", "records handed to librdkafka", NULL);
  sk->m_delivered =
      host->counter(stage, "kafka_delivered_total", "records acknowledged by Kafka", NULL);
  sk->m_failed =
      host->counter(stage, "kafka_failed_total", "records that could not be delivered", NULL);
  sk->m_retried =
      host->counter(stage, "kafka_retried_total", "produce requests librdkafka resent", NULL);
  sk->m_queue_full =
      host->counter(stage, "kafka_queue_full_total",
                    "records refused for now by a full producer queue (offered again)", NULL);
  sk->m_in_flight =
      host->gauge(stage, "kafka_in_flight", "records produced and not yet reported", NULL);
  sk->m_latency = host->histogram(stage, "kafka_delivery_latency_seconds",
                                  "produce call to delivery report", NULL, NULL, 0);
  sk->m_brokers_up = host->gauge(stage, "kafka_brokers_up", "brokers in state UP", NULL);
  kc_reach_init(&sk->reach,
                host->gauge(stage, "kafka_up", "1 while a broker is reachable", NULL));
  sk->m_undelivered =
      host->counter(stage, "kafka_undelivered_at_shutdown_total",
                    "records still undelivered when the grace period ended", NULL);
  *state = sk;
  return SD_OK;
}

static sd_result sk_start(void *state) {
  sink_kafka *sk = state;
  char errstr[512];
  sk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, sk->conf, errstr, sizeof errstr);
  if (!sk->rk) {
    sk->host->log(sk->stage, SD_LOG_ERROR, "cannot create the Kafka producer: %s", errstr);
    return SD_ERR;
  }
  sk->conf = NULL; /* owned by rk now */
  sk->rkt = rd_kafka_topic_new(sk->rk, sk->topic, NULL);
  if (!sk->rkt) {
    sk->host->log(sk->stage, SD_LOG_ERROR, "cannot use topic %s: %s", sk->topic,
                  rd_kafka_err2str(rd_kafka_last_error()));
    return SD_ERR;
  }
  if (pthread_create(&sk->poller, NULL, sk_poll_thread, sk)) {
    sk->host->log(sk->stage, SD_LOG_ERROR, "cannot start the delivery-report thread");
    return SD_ERR;
  }
  sk->poller_running = 1;
  sk->host->log(sk->stage, SD_LOG_INFO, "producing to topic %s", sk->topic);
  return SD_OK;
}

static int64_t sk_waiting_records(const sink_kafka *sk) {
  int64_t n = 0;
  for (const sk_tracker *t = sk->wait_head; t; t = t->next_waiting)
    n += (int64_t)(t->count - t->next_record);
  return n;
}

/* Fails whatever is still pending: waiting records at once, queued and in-flight ones
 * through purge delivery reports. Stage thread. */
static void sk_abandon(sink_kafka *sk) {
  while (sk->wait_head) {
    sk_tracker *t = sk->wait_head;
    sk->wait_head = t->next_waiting;
    size_t left = t->count - t->next_record;
    t->next_record = t->count;
    atomic_fetch_add(&sk->failed_count, (long long)left);
    sk->host->metric_add(sk->m_failed, (double)left);
    sk_settle(t, left, RD_KAFKA_RESP_ERR__PURGE_QUEUE);
  }
  sk->wait_tail = NULL;
  if (sk->rk && atomic_load(&sk->in_flight) > 0) {
    rd_kafka_purge(sk->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 50 && atomic_load(&sk->in_flight) > 0; i++) rd_kafka_poll(sk->rk, 100);
  }
}

/* Flushes until the deadline, then fails what is left. Returns every reading that ended
 * undelivered during the drain: failed while flushing, or still pending at the deadline. */
static int64_t sk_drain(void *state, int64_t deadline_mono_ns) {
  sink_kafka *sk = state;
  if (!sk->rk) return 0;
  int64_t failed_before = atomic_load(&sk->failed_count);
  for (;;) {
    if (sk->wait_head) sk_retry_waiting(sk);
    if (!sk->wait_head && atomic_load(&sk->in_flight) == 0) break;
    int64_t left_ms = (deadline_mono_ns - sk->host->now_mono_ns()) / 1000000;
    if (left_ms <= 0) break;
    rd_kafka_flush(sk->rk, (int)(left_ms < 50 ? left_ms : 50));
  }
  int64_t pending = sk_waiting_records(sk) + atomic_load(&sk->in_flight);
  if (pending > 0) {
    sk->host->metric_add(sk->m_undelivered, (double)pending);
    sk_abandon(sk);
  }
  int64_t undelivered = atomic_load(&sk->failed_count) - failed_before;
  if (undelivered > 0)
    sk->host->log(sk->stage, SD_LOG_ERROR,
                  "shutdown: %lld readings not delivered to Kafka (%lld still pending when the "
                  "grace period ended); their batches failed",
                  (long long)undelivered, (long long)pending);
  else
    sk->host->log(sk->stage, SD_LOG_INFO, "drained: every reading delivered to Kafka");
  return undelivered;
}

static void sk_destroy(void *state) {
  sink_kafka *sk = state;
  if (!sk) return;
  if (sk->retry_timer) sk->host->timer_stop(sk->retry_timer);
  sk->retry_timer = NULL;
  if (sk->rk) sk_abandon(sk);
  if (sk->poller_running) {
    atomic_store(&sk->stop, 1);
    pthread_join(sk->poller, NULL);
  }
  if (sk->rkt) rd_kafka_topic_destroy(sk->rkt);
  if (sk->rk) rd_kafka_destroy(sk->rk);
  if (sk->conf) rd_kafka_conf_destroy(sk->conf);
  kj_buf_free(&sk->buf);
  pthread_mutex_destroy(&sk->fail_lock);
  free(sk);
}

static const sd_plugin_descriptor sk_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "sink_kafka",
    .version = "1.0.0",
    .description = "produces each reading as a JSON message to a Kafka topic (key = deviceId)",
    .kind = SD_KIND_SINK,
    .config_keys = sk_keys,
    .validate = sk_validate,
    .init = sk_init,
    .start = sk_start,
    .process = sk_process,
    .drain = sk_drain,
    .destroy = sk_destroy,
};

SD_PLUGIN_DEFINE(sk_descriptor)
