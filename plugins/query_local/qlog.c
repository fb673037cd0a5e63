/* The stage's stream log (qlog.h): start-up recovery and replay into the engine, one log
 * batch per input batch, the fsync = interval group commit (a thread that fdatasyncs at
 * most every fsync_interval and then completes the deliveries waiting on it), retention. */
#include "qlog.h"

#include "qlog_codec.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct waiting {
  sd_delivery *d;
  sd_status status;
} waiting;

struct qlog {
  const sd_host_api *h;
  sd_stage *stage;
  tlog *log;
  char *topic;
  qlog_enc *enc;
  tlog_fsync mode;
  int64_t interval_ns;
  pthread_mutex_t mu; /* log, waiting list */
  pthread_cond_t cv;
  pthread_t thread;
  int thread_started, stop;
  waiting *wait;
  size_t nwait, capwait;
  uint64_t offset_at_start; /* the engine's n-th ingested record has offset this + n */
  size_t replay_records;
  sd_metric *m_errors, *m_records, *m_fsyncs, *m_bytes, *m_segments;
};

static void log_cb(void *ctx, int level, const char *msg) {
  qlog *q = ctx;
  q->h->log(q->stage, (sd_log_level)level, "stream log: %s", msg);
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Replay ---------------------------------------------------------------------------------
 */
typedef struct replay_ctx {
  qlog *q;
  ql_engine *engine;
  ql_restore_fn restore; /* NULL: into every stream of the engine */
  void *rctx;
  uint64_t from, upto, offset, records;
  int64_t arrived_ns;
  int bad;
} replay_ctx;

static int replay_record(void *ctx, const sd_record_view *r) {
  replay_ctx *c = ctx;
  uint64_t off = c->offset++;
  if (off >= c->upto) return 1;
  if (off < c->from) return 0;
  if (c->restore)
    c->restore(c->rctx, r, c->arrived_ns);
  else
    ql_engine_restore(c->engine, c->q->topic, r, c->arrived_ns);
  c->records++;
  return 0;
}

static int replay_batch(void *ctx, const tlog_batch *b) {
  replay_ctx *c = ctx;
  c->offset = b->base_offset;
  c->arrived_ns = b->append_ns;
  if (b->base_offset >= c->upto) return 1;
  int r = qlog_decode(b->raw, b->raw_len, b->count, replay_record, c);
  if (r == 1) return 1;
  if (r) {
    c->bad++; /* the CRC matched, so this is a bug or another version's batch: say so */
    c->q->h->log(c->q->stage, SD_LOG_ERROR,
                 "stream log: batch at offset %llu does not decode; skipped",
                 (unsigned long long)b->base_offset);
  }
  return 0;
}

/* ---- Group commit ---------------------------------------------------------------------------
 */
static void *committer(void *arg) {
  qlog *q = arg;
  int64_t last = 0;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    if (!q->nwait) {
      if (q->stop) break;
      pthread_cond_wait(&q->cv, &q->mu);
      continue;
    }
    int64_t due = last + q->interval_ns, now = mono_ns();
    if (now < due && !q->stop) { /* others arriving meanwhile share the next fdatasync */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + (due - now);
      ts.tv_sec = t / 1000000000;
      ts.tv_nsec = t % 1000000000;
      pthread_cond_timedwait(&q->cv, &q->mu, &ts);
      continue;
    }
    waiting *w = q->wait;
    size_t n = q->nwait;
    q->wait = NULL;
    q->nwait = q->capwait = 0;
    int fd = dup(tlog_active_fd(q->log)); /* retention may close the original meanwhile */
    pthread_mutex_unlock(&q->mu);
    int rc = fd < 0 ? -1 : fdatasync(fd);
    int e = errno;
    if (fd >= 0) close(fd);
    last = mono_ns();
    q->h->metric_add(q->m_fsyncs, 1);
    if (rc) {
      q->h->metric_add(q->m_errors, 1);
      q->h->log(q->stage, SD_LOG_ERROR,
                "stream log: fdatasync failed: topic=%s error=\"%s\" (%zu batches not "
                "acknowledged)",
                q->topic, strerror(e), n);
    }
    for (size_t i = 0; i < n; i++) q->h->complete(w[i].d, rc ? SD_STATUS_FAIL : w[i].status);
    free(w);
    pthread_mutex_lock(&q->mu);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* ---- Lifecycle ------------------------------------------------------------------------------
 */
qlog *qlog_open(const sd_host_api *h, sd_stage *stage, const qlog_opts *o, ql_engine *engine) {
  qlog *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->h = h;
  q->stage = stage;
  q->mode = o->log.fsync;
  q->interval_ns = o->fsync_interval_ns;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  size_t n = strlen(o->data_dir) + strlen(o->topic) + 2;
  char *dir = malloc(n);
  q->topic = strdup(o->topic);
  q->enc = qlog_enc_new();
  if (!dir || !q->topic || !q->enc) {
    free(dir);
    h->log(stage, SD_LOG_ERROR, "stream log: out of memory");
    qlog_close(q);
    return NULL;
  }
  snprintf(dir, n, "%s/%s", o->data_dir, o->topic);
  tlog_config cfg = o->log;
  cfg.log = log_cb;
  cfg.log_ctx = q;
  tlog_recovery rec;
  char err[600];
  int64_t t0 = mono_ns();
  q->log = tlog_open(dir, &cfg, &rec, err, sizeof err);
  if (!q->log) {
    h->log(stage, SD_LOG_ERROR, "stream log: could not open: %s", err);
    free(dir);
    qlog_close(q);
    return NULL;
  }
  int64_t t1 = mono_ns();
  uint64_t start = tlog_start_offset(q->log), next = tlog_next_offset(q->log);
  replay_ctx rc = {.q = q, .engine = engine, .upto = next};
  rc.from = next - start > o->replay_records ? next - o->replay_records : start;
  if (o->replay_records && next > start && tlog_read(q->log, rc.from, replay_batch, &rc))
    h->log(stage, SD_LOG_ERROR,
           "stream log: replay stopped at a damaged batch (records after it are not "
           "replayed): dir=%s",
           dir);
  int64_t t2 = mono_ns();
  q->offset_at_start = next;
  q->replay_records = o->replay_records;
  h->log(
      stage, SD_LOG_INFO,
      "stream log opened: dir=%s segments=%zu bytes=%llu offsets=%llu..%llu recovery_ms=%.1f "
      "replayed=%llu replay_ms=%.1f",
      dir, tlog_segment_count(q->log), (unsigned long long)tlog_size_bytes(q->log),
      (unsigned long long)start, (unsigned long long)next, (double)(t1 - t0) / 1e6,
      (unsigned long long)rc.records, (double)(t2 - t1) / 1e6);
  if (rec.cut_bytes)
    h->log(stage, SD_LOG_WARN,
           "stream log: torn tail cut at start-up: dir=%s bytes=%llu records=%llu", dir,
           (unsigned long long)rec.cut_bytes, (unsigned long long)rec.cut_records);
  free(dir);
  char labels[300];
  snprintf(labels, sizeof labels, "topic=\"%s\"", q->topic);
  q->m_errors = h->counter(stage, "query_log_write_errors_total",
                           "stream log writes or fdatasyncs that failed (ENOSPC, EIO, EROFS): "
                           "their batches were not acknowledged",
                           labels);
  q->m_records = h->counter(stage, "query_log_records_total",
                            "records appended to the stream log", labels);
  q->m_fsyncs =
      h->counter(stage, "query_log_fsyncs_total",
                 "group commits (fdatasync) of the stream log with fsync = interval", labels);
  q->m_bytes = h->gauge(stage, "query_log_bytes", "bytes of the stream log on disk", labels);
  q->m_segments = h->gauge(stage, "query_log_segments", "segments of the stream log", labels);
  h->metric_set(q->m_bytes, (double)tlog_size_bytes(q->log));
  h->metric_set(q->m_segments, (double)tlog_segment_count(q->log));
  if (q->mode == TLOG_FSYNC_INTERVAL) {
    if (pthread_create(&q->thread, NULL, committer, q)) {
      h->log(stage, SD_LOG_ERROR, "stream log: could not start the group-commit thread");
      qlog_close(q);
      return NULL;
    }
    q->thread_started = 1;
  }
  return q;
}

int qlog_append(qlog *q, const sd_batch *in) {
  const sd_host_api *h = q->h;
  size_t n = h->batch_count(in);
  qlog_enc_reset(q->enc);
  uint32_t count = 0;
  int64_t first = 0, last = 0;
  for (size_t i = 0; i < n; i++) {
    sd_record_view rec;
    if (h->batch_record(in, i, &rec) != SD_OK) continue;
    if (qlog_enc_record(q->enc, &rec)) {
      h->metric_add(q->m_errors, 1);
      h->log(q->stage, SD_LOG_ERROR, "stream log: out of memory encoding a batch");
      return -1;
    }
    if (!count) first = last = rec.timestamp_ns;
    if (rec.timestamp_ns < first) first = rec.timestamp_ns;
    if (rec.timestamp_ns > last) last = rec.timestamp_ns;
    count++;
  }
  if (!count) return 0;
  const void *raw;
  size_t len;
  if (qlog_enc_finish(q->enc, &raw, &len)) {
    h->metric_add(q->m_errors, 1);
    h->log(q->stage, SD_LOG_ERROR, "stream log: out of memory encoding a batch");
    return -1;
  }
  pthread_mutex_lock(&q->mu);
  int rc = tlog_append(q->log, raw, len, count, first, last, h->now_wall_ns(), NULL);
  int e = errno;
  char why[600];
  if (rc) snprintf(why, sizeof why, "%s", tlog_error(q->log));
  pthread_mutex_unlock(&q->mu);
  if (rc) {
    h->metric_add(q->m_errors, 1);
    h->log(q->stage, SD_LOG_ERROR,
           "stream log: write failed, batch not acknowledged: %s (errno=%d) records=%u", why, e,
           count);
    return -1;
  }
  h->metric_add(q->m_records, count);
  return 0;
}

void qlog_complete(qlog *q, sd_delivery *d, sd_status status) {
  if (q->mode != TLOG_FSYNC_INTERVAL || status != SD_STATUS_OK) {
    q->h->complete(d, status);
    return;
  }
  pthread_mutex_lock(&q->mu);
  if (q->nwait == q->capwait) {
    size_t cap = q->capwait ? q->capwait * 2 : 64;
    waiting *n = realloc(q->wait, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&q->mu);
      q->h->complete(d, SD_STATUS_RETRY);
      return;
    }
    q->wait = n;
    q->capwait = cap;
  }
  q->wait[q->nwait++] = (waiting){d, status};
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

void qlog_history(void *ctx, uint64_t ingested, ql_restore_fn restore, void *rctx) {
  qlog *q = ctx;
  pthread_mutex_lock(&q->mu);
  uint64_t start = tlog_start_offset(q->log), upto = q->offset_at_start + ingested;
  if (upto > tlog_next_offset(q->log)) upto = tlog_next_offset(q->log);
  replay_ctx rc = {.q = q, .restore = restore, .rctx = rctx, .upto = upto};
  rc.from = upto - start > q->replay_records ? upto - q->replay_records : start;
  if (q->replay_records && upto > start && tlog_read(q->log, rc.from, replay_batch, &rc))
    q->h->log(q->stage, SD_LOG_ERROR,
              "stream log: replay into a new stream stopped at a damaged batch");
  pthread_mutex_unlock(&q->mu);
}

void qlog_tick(qlog *q, int64_t now_wall_ns) {
  pthread_mutex_lock(&q->mu);
  tlog_enforce_retention(q->log, now_wall_ns);
  uint64_t bytes = tlog_size_bytes(q->log);
  size_t segs = tlog_segment_count(q->log);
  pthread_mutex_unlock(&q->mu);
  q->h->metric_set(q->m_bytes, (double)bytes);
  q->h->metric_set(q->m_segments, (double)segs);
}

void qlog_close(qlog *q) {
  if (!q) return;
  if (q->thread_started) {
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
  }
  if (q->log && q->mode != TLOG_FSYNC_NEVER && tlog_sync(q->log))
    q->h->log(q->stage, SD_LOG_ERROR, "stream log: final fdatasync failed: %s",
              tlog_error(q->log));
  tlog_close(q->log);
  qlog_enc_free(q->enc);
  free(q->wait);
  free(q->topic);
  pthread_cond_destroy(&q->cv);
  pthread_mutex_destroy(&q->mu);
  free(q);
}
