/* The stage thread: one per stage, running start(), process(), timer callbacks,
 * on_wakeup(), pause()/resume() and drain() one at a time, so a plugin never sees two of
 * its callbacks at once. Other threads talk to it through flags under st->mu. */
#include "stage.h"

#include "batch.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *stage_state_name(stage_state s) {
  switch (s) {
  case STAGE_CREATED:
    return "created";
  case STAGE_STARTING:
    return "starting";
  case STAGE_RUNNING:
    return "running";
  case STAGE_DRAINING:
    return "draining";
  case STAGE_DRAINED:
    return "drained";
  case STAGE_STOPPED:
    return "stopped";
  case STAGE_FAILED:
    return "failed";
  }
  return "unknown";
}

/* Index of `name` among the '|'-separated choices of a core key, or -1. */
static int core_enum_index(const char *key, const char *name) {
  for (const sd_config_key *k = cfg_core_stage_keys; k->name; k++) {
    if (strcmp(k->name, key) != 0 || !k->enum_values) continue;
    const char *p = k->enum_values;
    size_t len = strlen(name);
    for (int i = 0; *p; i++) {
      const char *bar = strchr(p, '|');
      size_t n = bar ? (size_t)(bar - p) : strlen(p);
      if (n == len && strncmp(p, name, n) == 0) return i;
      if (!bar) break;
      p = bar + 1;
    }
  }
  return -1;
}

static sd_metric *stage_metric(sd_stage *st, metric_type type, const char *name,
                               const char *help, const char *extra) {
  char *labels = extra ? xasprintf("%s,%s", st->labels, extra) : xstrdup(st->labels);
  sd_metric *m = metrics_register(type, name, help, labels, NULL, 0);
  free(labels);
  return m;
}

sd_stage *stage_create(pipeline *pl, const char *name, int line) {
  sd_stage *st = xcalloc(1, sizeof *st);
  st->pl = pl;
  st->name = xstrdup(name);
  st->line = line;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* every deadline is monotonic */
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->wake, &attr);
  pthread_cond_init(&st->room, &attr);
  pthread_cond_init(&st->done, &attr);
  pthread_condattr_destroy(&attr);
  st->origin.stage = st->name;
  st->origin.level = -1;
  return st;
}

static void append_stage(sd_stage ***list, size_t *count, sd_stage *st) {
  *list = xrealloc(*list, (*count + 1) * sizeof **list);
  (*list)[(*count)++] = st;
}

void stage_connect(sd_stage *producer, sd_stage *consumer) {
  append_stage(&consumer->inputs, &consumer->input_count, producer);
  append_stage(&producer->outputs, &producer->output_count, consumer);
}

void stage_init_runtime(sd_stage *st) {
  st->max_records = cfg_get_int(st->values, "queue.max_records");
  st->max_bytes = cfg_get_size(st->values, "queue.max_bytes");
  int idx = cfg_get_enum(st->values, "on_full");
  if (idx == core_enum_index("on_full", "reject"))
    st->on_full = ON_FULL_REJECT;
  else if (idx == core_enum_index("on_full", "drop"))
    st->on_full = ON_FULL_DROP;
  else
    st->on_full = ON_FULL_BLOCK;
  stage_register_metrics(st);
}

void stage_register_metrics(sd_stage *st) {
  stage_metrics *m = &st->m;
  m->records_in = stage_metric(st, METRIC_COUNTER, "records_in_total",
                               "Records handed to the stage's process()", NULL);
  m->bytes_in = stage_metric(st, METRIC_COUNTER, "bytes_in_total",
                             "Bytes of records handed to the stage's process()", NULL);
  m->batches_in = stage_metric(st, METRIC_COUNTER, "batches_in_total",
                               "Batches handed to the stage's process()", NULL);
  m->records_out = stage_metric(st, METRIC_COUNTER, "records_out_total",
                                "Records emitted by the stage", NULL);
  m->bytes_out = stage_metric(st, METRIC_COUNTER, "bytes_out_total",
                              "Bytes of records emitted by the stage", NULL);
  m->batches_out = stage_metric(st, METRIC_COUNTER, "batches_out_total",
                                "Batches emitted by the stage", NULL);
  m->queue_records = stage_metric(st, METRIC_GAUGE, "queue_records",
                                  "Records waiting in the stage's input queue", NULL);
  m->queue_bytes = stage_metric(st, METRIC_GAUGE, "queue_bytes",
                                "Bytes waiting in the stage's input queue", NULL);
  m->in_flight = stage_metric(st, METRIC_GAUGE, "in_flight_batches",
                              "Batches handed to process() and not completed yet", NULL);
  m->dropped_queue_full =
      stage_metric(st, METRIC_COUNTER, "dropped_records_total",
                   "Records dropped instead of queued, by reason", "reason=\"queue_full\"");
  m->dropped_shutdown =
      stage_metric(st, METRIC_COUNTER, "dropped_records_total",
                   "Records dropped instead of queued, by reason", "reason=\"shutdown\"");
  m->errors_process = stage_metric(
      st, METRIC_COUNTER, "errors_total",
      "Errors by reason: process() failed, emit refused, plugin bug", "reason=\"process\"");
  m->errors_emit = stage_metric(st, METRIC_COUNTER, "errors_total",
                                "Errors by reason: process() failed, emit refused, plugin bug",
                                "reason=\"emit\"");
  m->errors_plugin_bug = stage_metric(
      st, METRIC_COUNTER, "errors_total",
      "Errors by reason: process() failed, emit refused, plugin bug", "reason=\"plugin_bug\"");
  m->busy = stage_metric(
      st, METRIC_COUNTER, "emit_busy_total",
      "Emits refused with SD_BUSY because a consumer queue was full (on_full=reject)", NULL);
  static const char *const status_labels[4] = {"status=\"ok\"", "status=\"retry\"",
                                               "status=\"fail\"", "status=\"dropped\""};
  for (int i = 0; i < 4; i++)
    m->completed[i] =
        stage_metric(st, METRIC_COUNTER, "completed_batches_total",
                     "Batches this stage finished, by final status", status_labels[i]);
  m->latency =
      metrics_register(METRIC_HISTOGRAM, "process_seconds",
                       "Time from process() to complete() per batch", st->labels, NULL, 0);
}

void stage_free(sd_stage *st) {
  if (!st) return;
  flow_reclaim(st);
  for (sd_timer *t = st->timers; t;) {
    sd_timer *next = t->next;
    free(t);
    t = next;
  }
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->wake);
  pthread_cond_destroy(&st->room);
  pthread_cond_destroy(&st->done);
  cfg_values_free(st->values);
  for (size_t i = 0; i < st->input_name_count; i++) free(st->input_names[i]);
  free(st->input_names);
  free(st->inputs);
  free(st->outputs);
  free(st->asset_dir);
  free(st->labels);
  free(st->name);
  free(st);
}

static void abs_time(int64_t mono_deadline_ns, struct timespec *ts) {
  /* Condition variables use CLOCK_MONOTONIC (set in pipeline.c). */
  ts->tv_sec = mono_deadline_ns / 1000000000;
  ts->tv_nsec = mono_deadline_ns % 1000000000;
}

/* Runs due timers, one per call; returns 1 if one ran. Caller holds st->mu. */
static int run_due_timer(sd_stage *st, int64_t now, int64_t *next_due) {
  sd_timer **link = &st->timers;
  while (*link) {
    sd_timer *t = *link;
    if (t->stopped) {
      *link = t->next;
      free(t);
      continue;
    }
    if (!t->fired && t->due_ns <= now) {
      if (t->repeat) {
        t->due_ns += t->interval_ns;
        if (t->due_ns <= now) t->due_ns = now + t->interval_ns; /* fell behind: skip ticks */
      } else {
        t->fired = 1; /* kept until timer_stop() so the plugin's handle stays valid */
      }
      pthread_mutex_unlock(&st->mu);
      t->fn(st->state);
      pthread_mutex_lock(&st->mu);
      return 1;
    }
    if (!t->fired && (*next_due == 0 || t->due_ns < *next_due)) *next_due = t->due_ns;
    link = &t->next;
  }
  return 0;
}

static void *stage_main(void *arg) {
  sd_stage *st = arg;
  char thread_name[16];
  snprintf(thread_name, sizeof thread_name, "sd:%s", st->name);
  pthread_setname_np(pthread_self(), thread_name);

  pthread_mutex_lock(&st->mu);
  for (;;) {
    if (st->caller_running) {
      /* Nothing of the plugin's may run beside process() on an emitter's thread; waiting
       * with thread_idle cleared also stops new runs there, so timers and queued batches
       * cannot be starved by a stream of them. */
      st->thread_idle = 0;
      st->waits_for_caller = 1;
      pthread_cond_wait(&st->wake, &st->mu);
      st->waits_for_caller = 0;
      continue;
    }
    if (st->reclaim) {
      pthread_mutex_unlock(&st->mu);
      flow_reclaim(st);
      pthread_mutex_lock(&st->mu);
    }
    if (st->cmd_exit) break;
    if (st->cmd_start && !st->start_done) {
      pthread_mutex_unlock(&st->mu);
      sd_result r = st->desc->start ? st->desc->start(st->state) : SD_OK;
      pthread_mutex_lock(&st->mu);
      st->start_result = r;
      st->start_done = 1;
      pthread_cond_broadcast(&st->done);
      continue;
    }
    if (!st->start_done) {
      pthread_cond_wait(&st->wake, &st->mu);
      continue;
    }
    if (st->pause_wanted != st->pause_applied) {
      int pause = st->pause_wanted;
      st->pause_applied = pause;
      pthread_mutex_unlock(&st->mu);
      log_msg(&st->origin, SD_LOG_DEBUG, "%s",
              pause ? "downstream full: pausing" : "downstream has room: resuming");
      if (pause && st->desc->pause) st->desc->pause(st->state);
      if (!pause && st->desc->resume) st->desc->resume(st->state);
      pthread_mutex_lock(&st->mu);
      continue;
    }
    if (st->cmd_drain && !st->drain_done) {
      int64_t deadline = st->drain_deadline_ns;
      pthread_mutex_unlock(&st->mu);
      int64_t lost = st->desc->drain ? st->desc->drain(st->state, deadline) : 0;
      pthread_mutex_lock(&st->mu);
      st->drain_undelivered = lost > 0 ? lost : 0;
      st->drain_done = 1;
      atomic_store(&st->run_state, STAGE_DRAINED);
      pthread_cond_broadcast(&st->done);
      continue;
    }
    if (st->wakeup_pending) {
      st->wakeup_pending = 0;
      if (st->desc->on_wakeup) {
        pthread_mutex_unlock(&st->mu);
        st->desc->on_wakeup(st->state);
        pthread_mutex_lock(&st->mu);
      }
      continue;
    }
    int64_t next_due = 0;
    /* One timer, then one batch: a timer whose callback outlasts its interval is due again
     * at once, and must not keep the queue waiting forever. */
    int ran_timer = run_due_timer(st, util_now_mono_ns(), &next_due);
    sd_stage **resume = NULL;
    size_t resume_count = 0;
    sd_delivery *d = flow_dequeue_locked(st, &resume, &resume_count);
    if (d) {
      pthread_mutex_unlock(&st->mu);
      flow_resume_producers(resume, resume_count);
      flow_process(st, d);
      pthread_mutex_lock(&st->mu);
      continue;
    }
    if (ran_timer) continue;
    st->thread_idle = !st->cmd_drain;
    if (next_due) {
      struct timespec ts;
      abs_time(next_due, &ts);
      pthread_cond_timedwait(&st->wake, &st->mu, &ts);
    } else {
      pthread_cond_wait(&st->wake, &st->mu);
    }
    st->thread_idle = 0;
  }
  pthread_mutex_unlock(&st->mu);
  flow_reclaim(st);
  return NULL;
}

int stage_thread_start(sd_stage *st) {
  int rc = pthread_create(&st->thread, NULL, stage_main, st);
  if (rc != 0) {
    log_msg(&st->origin, SD_LOG_ERROR, "cannot start the stage thread: %s", strerror(rc));
    return -1;
  }
  st->thread_started = 1;
  return 0;
}

int stage_thread_stop(sd_stage *st, int64_t deadline_ns) {
  if (!st->thread_started) return 0;
  pthread_mutex_lock(&st->mu);
  st->cmd_exit = 1;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->mu);
  /* pthread_timedjoin_np takes CLOCK_REALTIME: convert the monotonic deadline. */
  int64_t wall = util_now_wall_ns() + (deadline_ns - util_now_mono_ns());
  struct timespec ts = {.tv_sec = wall / 1000000000, .tv_nsec = wall % 1000000000};
  if (pthread_timedjoin_np(st->thread, NULL, &ts) != 0) return -1;
  st->thread_started = 0;
  return 0;
}

static int wait_flag(sd_stage *st, int *flag, int64_t deadline_ns) {
  struct timespec ts;
  abs_time(deadline_ns, &ts);
  pthread_mutex_lock(&st->mu);
  while (!*flag) {
    if (pthread_cond_timedwait(&st->done, &st->mu, &ts) == ETIMEDOUT && !*flag) break;
  }
  int ok = *flag;
  pthread_mutex_unlock(&st->mu);
  return ok ? 0 : -1;
}

int stage_run_start(sd_stage *st, int64_t deadline_ns, sd_result *result) {
  pthread_mutex_lock(&st->mu);
  st->cmd_start = 1;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->mu);
  if (wait_flag(st, &st->start_done, deadline_ns) != 0) return -1;
  *result = st->start_result;
  return 0;
}

void stage_post_drain(sd_stage *st, int64_t deadline_ns) {
  pthread_mutex_lock(&st->mu);
  if (!st->cmd_drain) {
    st->cmd_drain = 1;
    st->drain_deadline_ns = deadline_ns;
    atomic_store(&st->run_state, STAGE_DRAINING);
    pthread_cond_signal(&st->wake);
  }
  pthread_mutex_unlock(&st->mu);
}

int stage_wait_drained(sd_stage *st, int64_t until_ns) {
  return wait_flag(st, &st->drain_done, until_ns);
}

int stage_idle(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  int idle = st->q_batches == 0 && st->in_flight == 0;
  pthread_mutex_unlock(&st->mu);
  return idle;
}

void stage_request_pause(sd_stage *st, int pause) {
  pthread_mutex_lock(&st->mu);
  if (st->pause_wanted != pause) {
    st->pause_wanted = pause;
    pthread_cond_signal(&st->wake);
  }
  pthread_mutex_unlock(&st->mu);
}

void stage_wakeup(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  st->wakeup_pending = 1;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->mu);
}

sd_timer *stage_timer_start(sd_stage *st, int64_t interval_ns, int repeat, sd_timer_fn fn) {
  if (!st || !fn) return NULL;
  if (interval_ns < 0) interval_ns = 0;
  if (repeat && interval_ns < 1000) interval_ns = 1000; /* a 0 ns repeat would spin */
  sd_timer *t = xcalloc(1, sizeof *t);
  t->stage = st;
  t->interval_ns = interval_ns;
  t->repeat = repeat;
  t->fn = fn;
  t->due_ns = util_now_mono_ns() + interval_ns;
  pthread_mutex_lock(&st->mu);
  t->next = st->timers;
  st->timers = t;
  pthread_cond_signal(&st->wake);
  pthread_mutex_unlock(&st->mu);
  return t;
}

void stage_timer_stop(sd_timer *t) {
  if (!t) return;
  sd_stage *st = t->stage;
  pthread_mutex_lock(&st->mu);
  t->stopped = 1; /* freed by the stage thread (or stage_free), never here */
  pthread_mutex_unlock(&st->mu);
}
