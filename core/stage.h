/* Runtime state of one stage (a configured plugin instance): its input queue, in-flight
 * deliveries, timers, thread and commands, plus the pipeline that owns every stage.
 * Shared by flow.c (emit/complete), stage.c (the thread), pipeline.c and runtime.c. */
#ifndef SD_CORE_STAGE_H
#define SD_CORE_STAGE_H

#include "config.h"
#include "loader.h"
#include "log.h"

#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct pipeline pipeline;

typedef enum stage_state {
  STAGE_CREATED = 0,
  STAGE_STARTING,
  STAGE_RUNNING,
  STAGE_DRAINING,
  STAGE_DRAINED,
  STAGE_STOPPED,
  STAGE_FAILED
} stage_state;

/* Whole-daemon phase (pipeline.phase), reported by /healthz and /stages. */
typedef enum runtime_phase {
  PHASE_STARTING = 0,
  PHASE_RUNNING,
  PHASE_DRAINING,
  PHASE_STOPPED
} runtime_phase;

typedef enum on_full_policy {
  ON_FULL_BLOCK = 0,
  ON_FULL_REJECT = 1,
  ON_FULL_DROP = 2
} on_full_policy;

/* One batch handed to one consumer. pending = the plugin's completion + a guard the core
 * holds while process() runs + one per batch emitted from inside that process() call. */
struct sd_delivery {
  sd_batch *batch;
  sd_stage *stage;
  atomic_int pending;
  atomic_int worst;
  atomic_int completed;
  int processed;
  int64_t process_ns;
  sd_delivery *prev, *next; /* in the stage's queue or in-flight list */
  sd_delivery *reclaim_next;
};

struct sd_timer {
  sd_stage *stage;
  int64_t interval_ns;
  int64_t due_ns;
  int repeat;
  int stopped; /* timer_stop() was called: the stage thread frees it */
  int fired;   /* a one-shot timer that ran */
  sd_timer_fn fn;
  sd_timer *next;
};

typedef struct stage_metrics {
  sd_metric *records_in, *bytes_in, *batches_in;
  sd_metric *records_out, *bytes_out, *batches_out;
  sd_metric *queue_records, *queue_bytes, *in_flight;
  sd_metric *dropped_queue_full, *dropped_shutdown;
  sd_metric *errors_process, *errors_emit, *errors_plugin_bug;
  sd_metric *busy;
  sd_metric *completed[4]; /* by sd_status */
  sd_metric *latency;
} stage_metrics;

struct sd_stage {
  pipeline *pl;
  char *name;
  int line;
  size_t index; /* position in pipeline order (topological) */
  int level;    /* longest path from a source */
  const loader_plugin *plugin;
  const sd_plugin_descriptor *desc; /* NULL when the plugin failed to load */
  cfg_values *values;
  log_origin origin;
  char *asset_dir;
  char *labels; /* stage="…",plugin="…" */

  char **input_names;
  size_t input_name_count;
  sd_stage **inputs;
  size_t input_count;
  sd_stage **outputs; /* sorted by index: the lock order */
  size_t output_count;

  int64_t max_records, max_bytes;
  on_full_policy on_full;

  int config_ok;            /* plugin loaded and every key valid: validate() may run */
  sd_errors *validate_errs; /* set while validate() runs */

  void *state;
  int inited;
  pthread_t thread;
  int thread_started;
  atomic_int run_state; /* stage_state */

  pthread_mutex_t mu;
  pthread_cond_t wake; /* the stage thread sleeps here */
  pthread_cond_t room; /* producers blocked by on_full=block */
  pthread_cond_t done; /* the main thread waits for commands */
  sd_delivery *q_head, *q_tail;
  size_t q_records, q_bytes, q_batches;
  sd_delivery *fl_head;                   /* in-flight: handed to process(), not completed */
  size_t in_flight, fl_records, fl_bytes; /* count against the queue limits too */
  sd_delivery *reclaim;
  sd_timer *timers;
  int wakeup_pending;
  int pause_wanted, pause_applied;
  int rejected; /* a producer got SD_BUSY from this queue: resume it below half */
  /* Run-on-caller (SD_PLUGIN_PROCESS_ON_CALLER): an emitter runs process() itself while
   * the stage thread sleeps with nothing queued, instead of waking it (flow.c). */
  int thread_idle;      /* the stage thread waits for work with none queued */
  int caller_running;   /* an emitting thread is inside this stage's process() */
  int waits_for_caller; /* the stage thread woke and waits for that run to end */
  int cmd_start, start_done, cmd_drain, drain_done, cmd_exit;
  sd_result start_result;
  int64_t drain_deadline_ns;
  int64_t drain_undelivered;

  stage_metrics m;
};

struct pipeline {
  char *config_path;
  cfg_file *file;
  cfg_values *daemon_values;
  loader *ld;
  char *plugin_dir;
  char *admin_listen;
  int64_t grace_ns;
  sd_stage **stages; /* pipeline order: every stage after its inputs */
  size_t stage_count;
  atomic_int stopping;
  atomic_int aborting; /* grace is over: blocked producers give up */
  atomic_int phase;    /* runtime_phase, for /healthz */
};

/* ---- flow.c: emit, queues, completion ---------------------------------------------- */
sd_result flow_emit(sd_stage *st, sd_batch *b, sd_ack_fn ack, void *ctx);
void flow_complete(sd_delivery *d, sd_status status);
/* Pops the next delivery (caller holds st->mu) and moves it to the in-flight list. */
sd_delivery *flow_dequeue_locked(sd_stage *st, sd_stage ***resume, size_t *resume_count);
/* Lifts the pause of the source stages among inputs (after SD_BUSY). */
void flow_resume_producers(sd_stage **inputs, size_t count);
/* Runs process() for a dequeued delivery (the stage thread, or an emitter on its behalf). */
void flow_process(sd_stage *st, sd_delivery *d);
/* Shutdown: completes everything still queued with SD_STATUS_FAIL; returns records. */
int64_t flow_fail_queued(sd_stage *st);
/* After destroy(): completes deliveries the plugin never finished; returns records. */
int64_t flow_fail_in_flight(sd_stage *st);
void flow_reclaim(sd_stage *st);
/* Wakes producers blocked on any queue (abort). */
void flow_wake_blocked(pipeline *pl);

/* ---- stage.c: the stage thread, timers, wakeups ------------------------------------ */
/* A stage with its locks ready and nothing else (pipeline.c fills the rest). */
sd_stage *stage_create(pipeline *pl, const char *name, int line);
/* Adds the edge producer -> consumer (consumer->inputs, producer->outputs). */
void stage_connect(sd_stage *producer, sd_stage *consumer);
/* Queue limits and on_full from the stage's values, then its metrics. */
void stage_init_runtime(sd_stage *st);
/* Registers the per-stage metrics; needs st->labels. */
void stage_register_metrics(sd_stage *st);
void stage_free(sd_stage *st);
int stage_thread_start(sd_stage *st);
/* Asks the thread to exit and joins it; -1 when it did not end by deadline_ns (mono). */
int stage_thread_stop(sd_stage *st, int64_t deadline_ns);
/* Posts start()/drain() to the stage thread and waits until done or deadline_ns (mono);
 * returns 0 when done, -1 on timeout. */
int stage_run_start(sd_stage *st, int64_t deadline_ns, sd_result *result);
void stage_post_drain(sd_stage *st, int64_t deadline_ns);
int stage_wait_drained(sd_stage *st, int64_t until_ns);
int stage_idle(sd_stage *st); /* queue empty and nothing in flight */
void stage_request_pause(sd_stage *st, int pause);
void stage_wakeup(sd_stage *st);
sd_timer *stage_timer_start(sd_stage *st, int64_t interval_ns, int repeat, sd_timer_fn fn);
void stage_timer_stop(sd_timer *t);
const char *stage_state_name(stage_state s);

/* The stage whose callback this thread is running (NULL outside callbacks). */
extern _Thread_local sd_delivery *flow_current_delivery;

#endif
