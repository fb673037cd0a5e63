/* source_kafka: consumes a topic with librdkafka (consumer group) and emits each JSON
 * object value as a record (key = message key). Offsets are committed only once the
 * batches holding them were acknowledged downstream, in consumption order; a batch
 * acknowledged with RETRY is rebuilt from its retained messages and emitted again. */
#include "kafka/kafka_conf.h"
#include "kafka/kafka_record.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct source_kafka source_kafka;

/* Messages of one emitted batch, kept until it is acknowledged. */
typedef struct skc_pending {
  source_kafka *sc;
  struct skc_pending *next;      /* consumption order (commit FIFO) */
  struct skc_pending *next_redo; /* acknowledged with RETRY, to be emitted again */
  rd_kafka_message_t **msgs;
  size_t count;
  size_t cap;
  int done;
} skc_pending;

struct source_kafka {
  const sd_host_api *host;
  sd_stage *stage;
  rd_kafka_conf_t *conf;
  rd_kafka_t *rk;
  const char *topic;
  int64_t batch_max;
  pthread_t thread;
  int thread_running;
  atomic_int stop;
  atomic_int paused;     /* core asked us to pause (downstream full) */
  int partitions_paused; /* consumer thread only */
  pthread_mutex_t lock;  /* commit FIFO and redo list */
  skc_pending *fifo_head, *fifo_tail, *redo_head;
  kc_reach reach;
  sd_metric *m_consumed, *m_records, *m_skipped, *m_errors, *m_commits, *m_commit_failed,
      *m_busy, *m_redelivered, *m_in_flight;
};

static const sd_config_key skc_keys[] = {
    KC_BROKERS_KEY,
    {.name = "topic",
     .type = SD_CFG_STRING,
     .default_value = "smartphone-sensor-data",
     .description = "topic to consume; each value a JSON object"},
    {.name = "group_id",
     .type = SD_CFG_STRING,
     .default_value = "sensord",
     .description = "consumer group: offsets are committed under it"},
    {.name = "auto_offset_reset",
     .type = SD_CFG_ENUM,
     .default_value = "latest",
     .enum_values = "earliest|latest",
     .description = "where a group without committed offsets starts"},
    {.name = "batch_max",
     .type = SD_CFG_INT,
     .flags = SD_CFG_HAS_MIN | SD_CFG_HAS_MAX,
     .default_value = "500",
     .min = 1,
     .max = 100000,
     .description = "most messages per emitted batch (fewer when no more are waiting)"},
    {.name = "kafka.",
     .type = SD_CFG_PREFIX,
     .description = "any librdkafka consumer property, e.g. kafka.fetch.wait.max.ms = 10"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL}};

static void skc_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  (void)rk;
  source_kafka *sc = opaque;
  kc_on_error(sc->host, sc->stage, &sc->reach, err, reason);
}

static void skc_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *offsets, void *opaque) {
  (void)rk, (void)offsets;
  source_kafka *sc = opaque;
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  if (err) {
    sc->host->metric_add(sc->m_commit_failed, 1);
    sc->host->log(sc->stage, SD_LOG_WARN,
                  "offset commit failed: %s (the messages may be read again)",
                  rd_kafka_err2str(err));
  } else {
    sc->host->metric_add(sc->m_commits, 1);
  }
}

static void skc_pending_free(skc_pending *p) {
  for (size_t i = 0; i < p->count; i++) rd_kafka_message_destroy(p->msgs[i]);
  free(p->msgs);
  free(p);
}

/* Next offsets of every partition in p, merged into list. */
static void skc_offsets_merge(rd_kafka_topic_partition_list_t *list, const skc_pending *p) {
  for (size_t i = 0; i < p->count; i++) {
    const rd_kafka_message_t *m = p->msgs[i];
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(list, topic, m->partition);
    if (!tp) tp = rd_kafka_topic_partition_list_add(list, topic, m->partition);
    if (m->offset + 1 > tp->offset) tp->offset = m->offset + 1;
  }
}

/* Commits the acknowledged prefix of the FIFO (any thread). */
static void skc_commit_ready(source_kafka *sc) {
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(4);
  skc_pending *ready = NULL, **tail = &ready;
  pthread_mutex_lock(&sc->lock);
  while (sc->fifo_head && sc->fifo_head->done) {
    skc_pending *p = sc->fifo_head;
    sc->fifo_head = p->next;
    if (!sc->fifo_head) sc->fifo_tail = NULL;
    skc_offsets_merge(list, p);
    p->next = NULL;
    *tail = p;
    tail = &p->next;
  }
  pthread_mutex_unlock(&sc->lock);
  if (list->cnt > 0) rd_kafka_commit(sc->rk, list, 1);
  rd_kafka_topic_partition_list_destroy(list);
  while (ready) {
    skc_pending *p = ready;
    ready = p->next;
    sc->host->metric_add(sc->m_in_flight, -(double)p->count);
    skc_pending_free(p);
  }
}

static void skc_on_ack(void *ctx, sd_status status) {
  skc_pending *p = ctx;
  source_kafka *sc = p->sc;
  if (status == SD_STATUS_RETRY) {
    pthread_mutex_lock(&sc->lock);
    p->next_redo = sc->redo_head;
    sc->redo_head = p;
    pthread_mutex_unlock(&sc->lock);
    return;
  }
  if (status == SD_STATUS_FAIL || status == SD_STATUS_DROPPED)
    sc->host->log(sc->stage, SD_LOG_WARN, "%zu messages %s downstream; committing past them",
                  p->count, status == SD_STATUS_FAIL ? "failed for good" : "dropped");
  pthread_mutex_lock(&sc->lock);
  p->done = 1;
  pthread_mutex_unlock(&sc->lock);
  skc_commit_ready(sc);
}

/* Builds the batch for p's messages into *out. Unparseable values are counted and logged
 * only on the first pass (first != 0). *out is NULL when no message holds a record.
 * -1 when no batch could be had at all (p must be offered again, not committed). */
static int skc_build(source_kafka *sc, skc_pending *p, int first, sd_batch **out) {
  const sd_host_api *h = sc->host;
  sd_batch *batch = h->batch_new(sc->stage, p->count);
  size_t records = 0;
  *out = NULL;
  if (!batch) return -1;
  const int64_t now_ns = h->now_wall_ns(); /* fallback timestamp, once per batch */
  for (size_t i = 0; i < p->count; i++) {
    const rd_kafka_message_t *m = p->msgs[i];
    char why[200];
    kr_result r = kr_add_message(h, batch, m->payload, m->len, m->key, m->key_len,
                                 rd_kafka_message_timestamp(m, NULL), now_ns, why, sizeof why);
    if (r == KR_OK) {
      records++;
    } else if (first) {
      h->metric_add(sc->m_skipped, 1);
      h->log(sc->stage, SD_LOG_WARN, "skipped message at %s partition %d offset %lld: %s",
             rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, why);
    }
  }
  if (records == 0)
    h->batch_free(batch);
  else
    *out = batch;
  return 0;
}

static void skc_pause_partitions(source_kafka *sc, int pause) {
  if (sc->partitions_paused == pause) return;
  rd_kafka_topic_partition_list_t *parts = NULL;
  if (rd_kafka_assignment(sc->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
    if (pause)
      rd_kafka_pause_partitions(sc->rk, parts);
    else
      rd_kafka_resume_partitions(sc->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
  }
  sc->partitions_paused = pause;
}

static void skc_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Emits batch for p; on BUSY keeps it and pauses fetching. 1 = emitted. */
static int skc_try_emit(source_kafka *sc, skc_pending *p, sd_batch *batch) {
  sd_result r = sc->host->emit(sc->stage, batch, skc_on_ack, p);
  if (r == SD_OK) return 1;
  if (r == SD_BUSY) {
    sc->host->metric_add(sc->m_busy, 1);
    skc_pause_partitions(sc, 1);
    return 0;
  }
  /* SD_ERR: refused for good: count as failed downstream and move on. */
  sc->host->batch_free(batch);
  sc->host->log(sc->stage, SD_LOG_ERROR, "emit refused %zu messages; committing past them",
                p->count);
  skc_on_ack(p, SD_STATUS_FAIL);
  return 1;
}

static void skc_fifo_push(source_kafka *sc, skc_pending *p) {
  pthread_mutex_lock(&sc->lock);
  if (sc->fifo_tail)
    sc->fifo_tail->next = p;
  else
    sc->fifo_head = p;
  sc->fifo_tail = p;
  pthread_mutex_unlock(&sc->lock);
}

static skc_pending *skc_take_redo(source_kafka *sc) {
  pthread_mutex_lock(&sc->lock);
  skc_pending *p = sc->redo_head;
  if (p) sc->redo_head = p->next_redo;
  pthread_mutex_unlock(&sc->lock);
  return p;
}

/* Room for one more message in p. 0 = there is. */
static int skc_pending_grow(skc_pending *p, size_t want) {
  if (p->count < p->cap) return 0;
  size_t cap = p->cap ? p->cap * 2 : 64;
  if (cap > want) cap = want;
  rd_kafka_message_t **msgs = realloc(p->msgs, cap * sizeof *msgs);
  if (!msgs) return -1;
  p->msgs = msgs;
  p->cap = cap;
  return 0;
}

/* Reads up to batch_max messages that are ready now (waits up to 100 ms for the first).
 * Room for a message is made before it is polled, so running out of memory ends the batch
 * early instead of losing a message that later commits would skip. */
static skc_pending *skc_read(source_kafka *sc) {
  skc_pending *p = calloc(1, sizeof *p);
  if (!p) {
    sc->host->metric_add(sc->m_errors, 1);
    sc->host->log(sc->stage, SD_LOG_ERROR, "out of memory for a batch; reading again shortly");
    skc_sleep_ms(10);
    return NULL;
  }
  p->sc = sc;
  int timeout = 100;
  while ((int64_t)p->count < sc->batch_max) {
    if (skc_pending_grow(p, (size_t)sc->batch_max)) {
      sc->host->metric_add(sc->m_errors, 1);
      sc->host->log(sc->stage, SD_LOG_ERROR, "out of memory: batch cut at %zu messages",
                    p->count);
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(sc->rk, timeout);
    timeout = 0;
    if (!m) break;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        sc->host->metric_add(sc->m_errors, 1);
        sc->host->log(sc->stage, SD_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    p->msgs[p->count++] = m;
  }
  if (p->count == 0) {
    skc_pending_free(p);
    return NULL;
  }
  kc_reach_set(sc->host, sc->stage, &sc->reach, 1, NULL);
  sc->host->metric_add(sc->m_consumed, (double)p->count);
  return p;
}

static void *skc_thread(void *arg) {
  source_kafka *sc = arg;
  skc_pending *held = NULL; /* built but refused with BUSY */
  sd_batch *held_batch = NULL;
  while (!atomic_load(&sc->stop) && !sc->host->stopping(sc->stage)) {
    if (held) {
      if (atomic_load(&sc->paused) || !skc_try_emit(sc, held, held_batch)) {
        skc_sleep_ms(10); /* fetching is paused meanwhile; the group stays ours for
                             max.poll.interval.ms, after which Kafka rebalances (no loss) */
        continue;
      }
      held = NULL, held_batch = NULL;
      continue;
    }
    skc_pause_partitions(sc, atomic_load(&sc->paused) ? 1 : 0);
    skc_pending *p = skc_take_redo(sc);
    int first = 0;
    if (p) {
      sc->host->metric_add(sc->m_redelivered, (double)p->count);
    } else if (atomic_load(&sc->paused)) {
      skc_sleep_ms(10);
      continue;
    } else {
      p = skc_read(sc);
      if (!p) continue;
      first = 1;
      sc->host->metric_add(sc->m_in_flight, (double)p->count);
      skc_fifo_push(sc, p);
    }
    sd_batch *batch;
    if (skc_build(sc, p, first, &batch)) {
      sc->host->metric_add(sc->m_errors, 1);
      sc->host->log(sc->stage, SD_LOG_ERROR,
                    "no memory for a batch of %zu messages; offering them again", p->count);
      skc_on_ack(p, SD_STATUS_RETRY);
      skc_sleep_ms(10);
      continue;
    }
    if (!batch) { /* nothing but skipped messages: done as soon as reached */
      skc_on_ack(p, SD_STATUS_OK);
      continue;
    }
    sc->host->metric_add(sc->m_records, (double)sc->host->batch_count(batch));
    if (!skc_try_emit(sc, p, batch)) held = p, held_batch = batch;
  }
  if (held_batch) sc->host->batch_free(held_batch); /* not committed: read again next time */
  return NULL;
}

/* Plugin defaults for the consumer; values point into the stage's config. */
static void skc_defaults(const sd_host_api *host, sd_stage *stage, kc_setting out[7]) {
  const char *reset =
      host->config_enum(stage, "auto_offset_reset") == 0 ? "earliest" : "latest";
  const kc_setting d[7] = {
      {"group.id", host->config_string(stage, "group_id")},
      {"auto.offset.reset", reset},
      {"enable.auto.commit", "false"}, /* commit only what downstream acknowledged */
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms",
       "10"}, /* latency over fetch efficiency (an idle fetch every 10 ms) */
      {"client.id", "sensord-source_kafka"},
      {NULL, NULL}};
  memcpy(out, d, sizeof d);
}

static sd_result skc_validate(const sd_host_api *host, sd_stage *stage) {
  if (kc_check_topic(host, stage, "topic") != SD_OK) return SD_ERR;
  const char *group = host->config_string(stage, "group_id");
  if (!group || !group[0]) return host->config_error(stage, "group_id", "must not be empty");
  kc_setting defaults[7];
  skc_defaults(host, stage, defaults);
  return kc_validate(host, stage, RD_KAFKA_CONSUMER, defaults);
}

static sd_result skc_init(const sd_host_api *host, sd_stage *stage, void **state) {
  source_kafka *sc = calloc(1, sizeof *sc);
  if (!sc) return SD_ERR;
  sc->host = host;
  sc->stage = stage;
  sc->topic = host->config_string(stage, "topic");
  sc->batch_max = host->config_int(stage, "batch_max");
  pthread_mutex_init(&sc->lock, NULL);
  kc_setting defaults[7];
  skc_defaults(host, stage, defaults);
  sc->conf = kc_build(host, stage, defaults);
  if (!sc->conf) {
    pthread_mutex_destroy(&sc->lock);
    free(sc);
    return SD_ERR;
  }
  rd_kafka_conf_set_opaque(sc->conf, sc);
  rd_kafka_conf_set_error_cb(sc->conf, skc_on_error);
  rd_kafka_conf_set_offset_commit_cb(sc->conf, skc_on_commit);
  sc->m_consumed =
      host->counter(stage, "kafka_consumed_total", "messages read from Kafka", NULL);
  sc->m_records = host->counter(stage, "kafka_records_total", "records emitted", NULL);
  sc->m_skipped = host->counter(stage, "kafka_skipped_total",
                                "messages skipped: value not a JSON object", NULL);
  sc->m_errors = host->counter(stage, "kafka_consumer_errors_total", "consumer errors", NULL);
  sc->m_commits =
      host->counter(stage, "kafka_commits_total", "offset commits acknowledged", NULL);
  sc->m_commit_failed =
      host->counter(stage, "kafka_commit_failed_total", "offset commits refused", NULL);
  sc->m_busy =
      host->counter(stage, "kafka_busy_total", "emits refused by a full queue (retried)", NULL);
  sc->m_redelivered =
      host->counter(stage, "kafka_redelivered_total",
                    "messages emitted again after a RETRY acknowledgement", NULL);
  sc->m_in_flight =
      host->gauge(stage, "kafka_uncommitted", "messages read and not yet committed", NULL);
  kc_reach_init(&sc->reach,
                host->gauge(stage, "kafka_up", "1 while a broker is reachable", NULL));
  *state = sc;
  return SD_OK;
}

static sd_result skc_start(void *state) {
  source_kafka *sc = state;
  char errstr[512];
  sc->rk = rd_kafka_new(RD_KAFKA_CONSUMER, sc->conf, errstr, sizeof errstr);
  if (!sc->rk) {
    sc->host->log(sc->stage, SD_LOG_ERROR, "cannot create the Kafka consumer: %s", errstr);
    return SD_ERR;
  }
  sc->conf = NULL;
  rd_kafka_poll_set_consumer(sc->rk);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, sc->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(sc->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    sc->host->log(sc->stage, SD_LOG_ERROR, "cannot subscribe to %s: %s", sc->topic,
                  rd_kafka_err2str(err));
    return SD_ERR;
  }
  if (pthread_create(&sc->thread, NULL, skc_thread, sc)) {
    sc->host->log(sc->stage, SD_LOG_ERROR, "cannot start the consumer thread");
    return SD_ERR;
  }
  sc->thread_running = 1;
  sc->host->log(sc->stage, SD_LOG_INFO, "consuming topic %s", sc->topic);
  return SD_OK;
}

static void skc_pause(void *state) {
  atomic_store(&((source_kafka *)state)->paused, 1);
}
static void skc_resume(void *state) {
  atomic_store(&((source_kafka *)state)->paused, 0);
}

static void skc_stop_thread(source_kafka *sc) {
  if (!sc->thread_running) return;
  atomic_store(&sc->stop, 1);
  pthread_join(sc->thread, NULL);
  sc->thread_running = 0;
}

/* Sources stop reading; anything not yet emitted was never committed, so nothing is lost. */
static int64_t skc_drain(void *state, int64_t deadline_mono_ns) {
  (void)deadline_mono_ns;
  skc_stop_thread(state);
  return 0;
}

static void skc_destroy(void *state) {
  source_kafka *sc = state;
  if (!sc) return;
  skc_stop_thread(sc);
  if (sc->rk) {
    skc_commit_ready(sc);
    rd_kafka_consumer_close(sc->rk);
  }
  while (sc->fifo_head) {
    skc_pending *p = sc->fifo_head;
    sc->fifo_head = p->next;
    skc_pending_free(p);
  }
  if (sc->rk) rd_kafka_destroy(sc->rk);
  if (sc->conf) rd_kafka_conf_destroy(sc->conf);
  pthread_mutex_destroy(&sc->lock);
  free(sc);
}

static const sd_plugin_descriptor skc_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "source_kafka",
    .version = "1.0.0",
    .description =
        "consumes JSON objects from a Kafka topic (consumer group, commit after ack)",
    .kind = SD_KIND_SOURCE,
    .config_keys = skc_keys,
    .validate = skc_validate,
    .init = skc_init,
    .start = skc_start,
    .pause = skc_pause,
    .resume = skc_resume,
    .drain = skc_drain,
    .destroy = skc_destroy,
};

SD_PLUGIN_DEFINE(skc_descriptor)
