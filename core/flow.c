/* Data flow between stages: emit with on_full (block|reject|drop) over every consumer
 * queue, dequeue, process(), and the completion tree that turns consumers' complete()
 * calls into one ack per emitted batch, transitively through query stages. */
#include "batch.h"
#include "metrics.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Thread_local sd_delivery *flow_current_delivery;

/* Severity used to combine consumers' outcomes into one ack: a permanent failure
 * outranks a retry, a retry outranks a drop, and OK is the least. */
static int severity(int status) {
  switch (status) {
  case SD_STATUS_OK:
    return 0;
  case SD_STATUS_DROPPED:
    return 1;
  case SD_STATUS_RETRY:
    return 2;
  default:
    return 3;
  }
}

static void merge_status(atomic_int *worst, int status) {
  int old = atomic_load(worst);
  while (severity(status) > severity(old) &&
         !atomic_compare_exchange_weak(worst, &old, status)) {
  }
}

static void delivery_release(sd_delivery *d, int status);

/* Drops one reference of an emitted batch; the last one acks and releases its parent. */
static void batch_release(sd_batch *b, int status) {
  merge_status(&b->worst, status);
  if (atomic_fetch_sub(&b->pending, 1) != 1) return;
  int final = atomic_load(&b->worst);
  sd_delivery *parent = b->parent;
  if (b->ack) b->ack(b->ack_ctx, (sd_status) final);
  batch_destroy(b);
  if (parent) delivery_release(parent, final);
}

static void delivery_release(sd_delivery *d, int status) {
  merge_status(&d->worst, status);
  if (atomic_fetch_sub(&d->pending, 1) != 1) return;
  int final = atomic_load(&d->worst);
  sd_stage *st = d->stage;
  metrics_add(st->m.completed[final & 3], 1);
  sd_batch *b = d->batch;
  /* The delivery itself is freed later by its stage thread, so that a plugin calling
   * complete() a second time soon after hits a live object and is reported. */
  pthread_mutex_lock(&st->mu);
  d->reclaim_next = st->reclaim;
  st->reclaim = d;
  pthread_mutex_unlock(&st->mu);
  batch_release(b, final);
}

void flow_reclaim(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  sd_delivery *d = st->reclaim;
  st->reclaim = NULL;
  pthread_mutex_unlock(&st->mu);
  while (d) {
    sd_delivery *next = d->reclaim_next;
    free(d);
    d = next;
  }
}

/* A stage holds what is queued plus what process() took and has not completed: an
 * asynchronous sink must not escape backpressure by taking batches faster than it
 * finishes them. An idle stage takes any batch, however large. */
static int queue_full(const sd_stage *c, size_t records, size_t bytes) {
  if (c->q_batches == 0 && c->in_flight == 0) return 0;
  if (c->max_records > 0 && c->q_records + c->fl_records + records > (uint64_t)c->max_records)
    return 1;
  if (c->max_bytes > 0 && c->q_bytes + c->fl_bytes + bytes > (uint64_t)c->max_bytes) return 1;
  return 0;
}

/* Producers refused with SD_BUSY resume once the stage holds less than half its limits. */
static void check_resume_locked(sd_stage *st, sd_stage ***resume, size_t *resume_count) {
  size_t records = st->q_records + st->fl_records, bytes = st->q_bytes + st->fl_bytes;
  int below_half = (st->max_records <= 0 || records * 2 < (uint64_t)st->max_records) &&
                   (st->max_bytes <= 0 || bytes * 2 < (uint64_t)st->max_bytes);
  if (st->rejected && below_half) {
    st->rejected = 0;
    *resume = st->inputs;
    *resume_count = st->input_count;
  }
}

void flow_resume_producers(sd_stage **inputs, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (inputs[i]->desc && inputs[i]->desc->kind == SD_KIND_SOURCE)
      stage_request_pause(inputs[i], 0);
}

static void update_queue_gauges(sd_stage *c) {
  metrics_set(c->m.queue_records, (double)c->q_records);
  metrics_set(c->m.queue_bytes, (double)c->q_bytes);
  metrics_set(c->m.in_flight, (double)c->in_flight);
}

static void lock_outputs(sd_stage *st) {
  for (size_t i = 0; i < st->output_count; i++) pthread_mutex_lock(&st->outputs[i]->mu);
}

static void unlock_outputs(sd_stage *st) {
  for (size_t i = st->output_count; i-- > 0;) pthread_mutex_unlock(&st->outputs[i]->mu);
}

static void wait_for_room(sd_stage *c, size_t records, size_t bytes) {
  pthread_mutex_lock(&c->mu);
  while (queue_full(c, records, bytes) && !atomic_load(&c->pl->aborting)) {
    /* Bounded waits: the abort flag is also re-checked when nobody signals. */
    int64_t until = util_now_mono_ns() + 100 * 1000000;
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    pthread_cond_timedwait(&c->room, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
}

static sd_result emit_refused(sd_stage *st, const char *why) {
  metrics_add(st->m.errors_emit, 1);
  log_msg(&st->origin, SD_LOG_ERROR, "emit refused: %s", why);
  return SD_ERR;
}

/* Moves d (not queued) to the in-flight list. */
static void in_flight_add_locked(sd_stage *st, sd_delivery *d) {
  d->prev = NULL;
  d->next = st->fl_head;
  if (st->fl_head) st->fl_head->prev = d;
  st->fl_head = d;
  st->in_flight++;
  st->fl_records += d->batch->record_count;
  st->fl_bytes += d->batch->bytes;
  update_queue_gauges(st);
}

/* A stage that allows it (SD_PLUGIN_PROCESS_ON_CALLER) runs a batch on the emitting
 * thread when its own thread sleeps with nothing queued: the batch would be next anyway,
 * and waking a thread per batch costs two context switches on the ingest path. Its
 * callbacks stay serialized: the stage thread waits while such a run is on. */
static int can_run_on_caller_locked(const sd_stage *c) {
  return (c->desc->flags & SD_PLUGIN_PROCESS_ON_CALLER) && c->thread_idle &&
         !c->caller_running && c->q_batches == 0 && c->start_done && !c->cmd_drain &&
         !c->cmd_exit && atomic_load(&c->run_state) == STAGE_RUNNING;
}

static void run_on_caller(sd_delivery *d) {
  sd_stage *c = d->stage;
  flow_process(c, d);
  flow_reclaim(c); /* what the stage thread does after each process() */
  pthread_mutex_lock(&c->mu);
  c->caller_running = 0;
  if (c->waits_for_caller) pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->mu);
}

sd_result flow_emit(sd_stage *st, sd_batch *b, sd_ack_fn ack, void *ctx) {
  if (!st || !b) return SD_ERR;
  if (atomic_load(&b->emitted)) {
    metrics_add(st->m.errors_plugin_bug, 1);
    log_msg(&st->origin, SD_LOG_ERROR,
            "plugin bug: emit() of a batch that was already emitted");
    return SD_ERR;
  }
  if (st->desc->kind == SD_KIND_SINK) return emit_refused(st, "a sink has no outputs");
  int state = atomic_load(&st->run_state);
  if (state == STAGE_DRAINED || state == STAGE_STOPPED || atomic_load(&st->pl->aborting))
    return emit_refused(st, "the stage has drained for shutdown");

  size_t records = b->record_count, bytes = b->bytes;
  sd_delivery *parent = flow_current_delivery;
  if (parent && parent->stage != st) parent = NULL;

  lock_outputs(st);
  for (;;) {
    sd_stage *blocked = NULL;
    for (size_t i = 0; i < st->output_count; i++) {
      sd_stage *c = st->outputs[i];
      if (c->on_full == ON_FULL_REJECT && queue_full(c, records, bytes)) {
        c->rejected = 1;
        unlock_outputs(st);
        metrics_add(st->m.busy, 1);
        if (st->desc->kind == SD_KIND_SOURCE) stage_request_pause(st, 1);
        return SD_BUSY;
      }
      if (c->on_full == ON_FULL_BLOCK && !blocked && queue_full(c, records, bytes)) blocked = c;
    }
    if (!blocked) break;
    unlock_outputs(st);
    if (atomic_load(&st->pl->aborting)) return emit_refused(st, "shutdown grace is over");
    wait_for_room(blocked, records, bytes);
    lock_outputs(st);
  }

  /* Committed: from here the core owns the batch. The guard reference keeps it alive
   * until every consumer got its delivery. */
  atomic_store(&b->emitted, 1);
  atomic_init(&b->pending, 1);
  atomic_init(&b->worst, SD_STATUS_OK);
  b->ack = ack;
  b->ack_ctx = ctx;
  b->parent = parent;
  if (parent) atomic_fetch_add(&parent->pending, 1);
  int dropped = 0;
  /* Consumers are signalled after their locks are released: a thread woken while the
   * emitter still holds its mutex would only block again on it (two more context switches
   * on the POST -> row path). */
  sd_stage *to_wake[st->output_count ? st->output_count : 1];
  sd_delivery *run_here[st->output_count ? st->output_count : 1];
  size_t nwake = 0, nrun = 0;
  for (size_t i = 0; i < st->output_count; i++) {
    sd_stage *c = st->outputs[i];
    if (c->on_full == ON_FULL_DROP && queue_full(c, records, bytes)) {
      metrics_add(c->m.dropped_queue_full, (double)records);
      dropped = 1;
      continue;
    }
    sd_delivery *d = xcalloc(1, sizeof *d);
    d->batch = b;
    d->stage = c;
    atomic_init(&d->pending, 2);
    atomic_init(&d->worst, SD_STATUS_OK);
    atomic_fetch_add(&b->pending, 1);
    if (can_run_on_caller_locked(c)) {
      c->caller_running = 1;
      in_flight_add_locked(c, d);
      run_here[nrun++] = d;
      continue;
    }
    d->prev = c->q_tail;
    if (c->q_tail)
      c->q_tail->next = d;
    else
      c->q_head = d;
    c->q_tail = d;
    c->q_records += records;
    c->q_bytes += bytes;
    c->q_batches++;
    update_queue_gauges(c);
    to_wake[nwake++] = c;
  }
  unlock_outputs(st);
  for (size_t i = 0; i < nwake; i++) pthread_cond_signal(&to_wake[i]->wake);
  for (size_t i = 0; i < nrun; i++) run_on_caller(run_here[i]);
  metrics_add(st->m.records_out, (double)records);
  metrics_add(st->m.bytes_out, (double)bytes);
  metrics_add(st->m.batches_out, 1);
  if (dropped)
    log_msg(&st->origin, SD_LOG_WARN,
            "downstream queue full (on_full=drop): %zu records dropped", records);
  batch_release(b, dropped ? SD_STATUS_DROPPED : SD_STATUS_OK);
  return SD_OK;
}

sd_delivery *flow_dequeue_locked(sd_stage *st, sd_stage ***resume, size_t *resume_count) {
  sd_delivery *d = st->q_head;
  *resume_count = 0;
  if (!d) return NULL;
  st->q_head = d->next;
  if (st->q_head)
    st->q_head->prev = NULL;
  else
    st->q_tail = NULL;
  size_t records = d->batch->record_count, bytes = d->batch->bytes;
  st->q_records -= records;
  st->q_bytes -= bytes;
  st->q_batches--;
  in_flight_add_locked(st, d);
  check_resume_locked(st, resume, resume_count);
  return d;
}

static void unlink_in_flight_locked(sd_stage *st, sd_delivery *d) {
  if (d->prev)
    d->prev->next = d->next;
  else
    st->fl_head = d->next;
  if (d->next) d->next->prev = d->prev;
  d->prev = d->next = NULL;
  st->in_flight--;
  st->fl_records -= d->batch->record_count;
  st->fl_bytes -= d->batch->bytes;
  update_queue_gauges(st);
  pthread_cond_broadcast(&st->room);
}

void flow_complete(sd_delivery *d, sd_status status) {
  if (!d) return;
  sd_stage *st = d->stage;
  if (atomic_exchange(&d->completed, 1)) {
    metrics_add(st->m.errors_plugin_bug, 1);
    log_msg(&st->origin, SD_LOG_ERROR,
            "plugin bug: complete() called twice for the same delivery; the second call is "
            "ignored");
    return;
  }
  if ((unsigned)status > SD_STATUS_DROPPED) {
    metrics_add(st->m.errors_plugin_bug, 1);
    log_msg(&st->origin, SD_LOG_ERROR,
            "plugin bug: complete() with unknown status %d, treated as fail", (int)status);
    status = SD_STATUS_FAIL;
  }
  if (d->processed)
    metrics_observe(st->m.latency, (double)(util_now_mono_ns() - d->process_ns) / 1e9);
  sd_stage **resume = NULL;
  size_t resume_count = 0;
  pthread_mutex_lock(&st->mu);
  unlink_in_flight_locked(st, d);
  check_resume_locked(st, &resume, &resume_count);
  pthread_cond_broadcast(&st->done);
  pthread_mutex_unlock(&st->mu);
  flow_resume_producers(resume, resume_count);
  delivery_release(d, status);
}

void flow_process(sd_stage *st, sd_delivery *d) {
  const sd_batch *b = d->batch;
  metrics_add(st->m.records_in, (double)b->record_count);
  metrics_add(st->m.bytes_in, (double)b->bytes);
  metrics_add(st->m.batches_in, 1);
  d->processed = 1;
  d->process_ns = util_now_mono_ns();
  sd_delivery *outer = flow_current_delivery; /* an emitter's own, when run on its thread */
  flow_current_delivery = d;
  sd_result r = st->desc->process(st->state, d);
  flow_current_delivery = outer;
  if (r != SD_OK) {
    metrics_add(st->m.errors_process, 1);
    if (!atomic_load(&d->completed)) flow_complete(d, SD_STATUS_FAIL);
  }
  delivery_release(d, SD_STATUS_OK); /* the guard held during process() */
}

int64_t flow_fail_queued(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  sd_delivery *d = st->q_head;
  st->q_head = st->q_tail = NULL;
  st->q_records = st->q_bytes = st->q_batches = 0;
  update_queue_gauges(st);
  pthread_mutex_unlock(&st->mu);
  int64_t records = 0;
  while (d) {
    sd_delivery *next = d->next;
    size_t n = d->batch->record_count;
    records += (int64_t)n;
    metrics_add(st->m.dropped_shutdown, (double)n);
    atomic_store(&d->completed, 1);
    delivery_release(d, SD_STATUS_FAIL); /* the completion */
    delivery_release(d, SD_STATUS_FAIL); /* the guard */
    d = next;
  }
  return records;
}

int64_t flow_fail_in_flight(sd_stage *st) {
  int64_t records = 0;
  for (;;) {
    pthread_mutex_lock(&st->mu);
    sd_delivery *d = st->fl_head;
    while (d && atomic_load(&d->completed)) d = d->next; /* being completed right now */
    if (d) {
      atomic_store(&d->completed, 1);
      unlink_in_flight_locked(st, d);
    }
    pthread_mutex_unlock(&st->mu);
    if (!d) break;
    size_t n = d->batch->record_count;
    records += (int64_t)n;
    metrics_add(st->m.dropped_shutdown, (double)n);
    log_msg(&st->origin, SD_LOG_WARN,
            "plugin never completed a batch of %zu records; failing it at shutdown", n);
    delivery_release(d, SD_STATUS_FAIL);
  }
  return records;
}

void flow_wake_blocked(pipeline *pl) {
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    pthread_mutex_lock(&st->mu);
    pthread_cond_broadcast(&st->room);
    pthread_mutex_unlock(&st->mu);
  }
}
