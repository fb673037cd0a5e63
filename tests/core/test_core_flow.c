/* Flow between stages without plugins: concurrent producers into one bounded queue
 * (counts conserved, limit respected), on_full reject/drop/block, the ack tree through a
 * query stage, double complete, process() failure, timers and wakeups on the stage thread,
 * and process() run on the emitting thread (SD_PLUGIN_PROCESS_ON_CALLER) staying serialized. */
#include "batch.h"
#include "metrics.h"
#include "stage.h"
#include "util.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pipeline pl;
static size_t next_index;

static sd_stage *make_stage(const char *name, const sd_plugin_descriptor *desc,
                            int64_t max_records, on_full_policy policy) {
  sd_stage *st = stage_create(&pl, name, 1);
  st->desc = desc;
  st->index = next_index++;
  st->labels = xasprintf("stage=\"%s\",plugin=\"test\"", name);
  st->max_records = max_records;
  st->on_full = policy;
  atomic_store(&st->run_state, STAGE_RUNNING);
  stage_register_metrics(st);
  pl.stages = xrealloc(pl.stages, (pl.stage_count + 1) * sizeof *pl.stages);
  pl.stages[pl.stage_count++] = st;
  return st;
}

static void teardown(void) {
  for (size_t i = 0; i < pl.stage_count; i++) {
    flow_fail_queued(pl.stages[i]);
    flow_fail_in_flight(pl.stages[i]);
  }
  for (size_t i = 0; i < pl.stage_count; i++) stage_free(pl.stages[i]);
  free(pl.stages);
  memset(&pl, 0, sizeof pl);
  next_index = 0;
  metrics_reset();
}

static sd_batch *records(sd_stage *st, int n) {
  sd_batch *b = batch_new(st, (size_t)n);
  for (int i = 0; i < n; i++) {
    batch_record_begin(b, i, "k", 1);
    sd_value v = {.type = SD_INT, .as.i = i};
    batch_field(b, "i", 1, &v);
  }
  return b;
}

typedef struct ack_log {
  atomic_int calls;
  atomic_int last;
  atomic_llong batches[4];
} ack_log;

static void on_ack(void *ctx, sd_status status) {
  ack_log *a = ctx;
  atomic_fetch_add(&a->calls, 1);
  atomic_store(&a->last, status);
  atomic_fetch_add(&a->batches[status & 3], 1);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int wait_for(atomic_llong *value, long long want, int ms) {
  for (int i = 0; i < ms; i++) {
    if (atomic_load(value) >= want) return 1;
    sleep_ms(1);
  }
  return 0;
}

/* A sink whose process() keeps the delivery for the test to complete by hand. */
static sd_delivery *kept;
static sd_result keep_process(void *state, sd_delivery *d) {
  (void)state;
  kept = d;
  return SD_OK;
}

static const sd_plugin_descriptor source_desc = {SD_DESCRIPTOR_HEADER, .name = "src",
                                                 .kind = SD_KIND_SOURCE};
static const sd_plugin_descriptor manual_sink = {SD_DESCRIPTOR_HEADER, .name = "manual",
                                                 .kind = SD_KIND_SINK, .process = keep_process};

/* Dequeues like the stage thread and runs process() on this thread. */
static sd_delivery *take(sd_stage *st) {
  sd_stage **resume;
  size_t n;
  pthread_mutex_lock(&st->mu);
  sd_delivery *d = flow_dequeue_locked(st, &resume, &n);
  pthread_mutex_unlock(&st->mu);
  flow_resume_producers(resume, n);
  ck_assert_ptr_nonnull(d);
  kept = NULL;
  flow_process(st, d);
  return kept;
}

/* ---- concurrent producers into a bounded, blocking queue --------------------------- */
static atomic_llong consumed_records, over_limit;
static sd_stage *counted_stage;

static sd_result counting_process(void *state, sd_delivery *d) {
  (void)state;
  sd_stage *st = counted_stage;
  pthread_mutex_lock(&st->mu);
  if (st->q_records + st->fl_records > (size_t)st->max_records + 5)
    atomic_fetch_add(&over_limit, 1);
  pthread_mutex_unlock(&st->mu);
  atomic_fetch_add(&consumed_records, (long long)d->batch->record_count);
  flow_complete(d, SD_STATUS_OK);
  return SD_OK;
}
static const sd_plugin_descriptor counting_sink = {
    SD_DESCRIPTOR_HEADER, .name = "count", .kind = SD_KIND_SINK, .process = counting_process};

enum { PRODUCERS = 4, BATCHES_EACH = 1500 };
static ack_log producer_acks;
static atomic_llong produced_records;

static void *producer(void *arg) {
  sd_stage *src = arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  for (int i = 0; i < BATCHES_EACH; i++) {
    int n = 1 + (int)(rand_r(&seed) % 5);
    sd_batch *b = records(src, n);
    ck_assert_int_eq(flow_emit(src, b, on_ack, &producer_acks), SD_OK);
    atomic_fetch_add(&produced_records, n);
  }
  return NULL;
}

START_TEST(concurrent_producers_block) {
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &counting_sink, 64, ON_FULL_BLOCK);
  counted_stage = sink;
  stage_connect(src, sink);
  ck_assert_int_eq(stage_thread_start(sink), 0);
  sd_result r;
  ck_assert_int_eq(stage_run_start(sink, util_now_mono_ns() + 5000000000LL, &r), 0);
  pthread_t t[PRODUCERS];
  for (int i = 0; i < PRODUCERS; i++) pthread_create(&t[i], NULL, producer, src);
  for (int i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
  ck_assert(wait_for(&producer_acks.batches[SD_STATUS_OK], PRODUCERS * BATCHES_EACH, 10000));
  ck_assert_int_eq(atomic_load(&consumed_records), atomic_load(&produced_records));
  ck_assert_int_eq(atomic_load(&producer_acks.calls), PRODUCERS * BATCHES_EACH);
  ck_assert_int_eq(atomic_load(&over_limit), 0);
  ck_assert_int_eq(metrics_value(src->m.records_out), (double)atomic_load(&produced_records));
  ck_assert_int_eq(metrics_value(sink->m.records_in), (double)atomic_load(&produced_records));
  ck_assert_int_eq(stage_thread_stop(sink, util_now_mono_ns() + 5000000000LL), 0);
  ck_assert_uint_eq(sink->q_batches, 0);
  teardown();
}
END_TEST

/* ---- reject: nothing is enqueued anywhere, the source is paused, then resumed ------- */
START_TEST(reject_takes_nothing) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *strict = make_stage("strict", &manual_sink, 10, ON_FULL_REJECT);
  sd_stage *roomy = make_stage("roomy", &manual_sink, 1000, ON_FULL_BLOCK);
  stage_connect(src, strict);
  stage_connect(src, roomy);
  ck_assert_int_eq(flow_emit(src, records(src, 10), on_ack, &acks), SD_OK);
  sd_batch *extra = records(src, 1);
  ck_assert_int_eq(flow_emit(src, extra, on_ack, &acks), SD_BUSY);
  ck_assert_uint_eq(strict->q_batches, 1);
  ck_assert_uint_eq(roomy->q_batches, 1); /* not enqueued to the consumer with room either */
  ck_assert_int_eq(src->pause_wanted, 1);
  ck_assert_int_eq(metrics_value(src->m.busy), 1);
  ck_assert_int_eq(atomic_load(&extra->emitted), 0); /* still the caller's */
  batch_destroy(extra);
  sd_delivery *d = take(strict);
  ck_assert_int_eq(src->pause_wanted, 1); /* taken but not completed: still held */
  flow_complete(d, SD_STATUS_OK);
  ck_assert_int_eq(src->pause_wanted, 0);        /* below half: resumed */
  ck_assert_int_eq(atomic_load(&acks.calls), 0); /* roomy has not finished it */
  flow_complete(take(roomy), SD_STATUS_OK);
  ck_assert_int_eq(atomic_load(&acks.calls), 1);
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_OK);
  teardown();
}
END_TEST

/* ---- drop: accepted, counted, acked as dropped -------------------------------------- */
START_TEST(drop_counts_and_acks_dropped) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *lossy = make_stage("lossy", &manual_sink, 5, ON_FULL_DROP);
  stage_connect(src, lossy);
  ck_assert_int_eq(flow_emit(src, records(src, 5), on_ack, &acks), SD_OK);
  ck_assert_int_eq(flow_emit(src, records(src, 3), on_ack, &acks), SD_OK);
  ck_assert_int_eq(atomic_load(&acks.calls), 1);
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_DROPPED);
  ck_assert_int_eq(metrics_value(lossy->m.dropped_queue_full), 3);
  ck_assert_uint_eq(lossy->q_records, 5);
  teardown();
}
END_TEST

/* ---- block: a blocked producer is released when shutdown aborts --------------------- */
static sd_result blocked_result;
static void *blocked_producer(void *arg) {
  sd_stage *src = arg;
  sd_batch *b = records(src, 1);
  blocked_result = flow_emit(src, b, NULL, NULL);
  if (blocked_result != SD_OK) batch_destroy(b);
  return NULL;
}

START_TEST(block_waits_until_abort) {
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *tight = make_stage("tight", &manual_sink, 1, ON_FULL_BLOCK);
  stage_connect(src, tight);
  ck_assert_int_eq(flow_emit(src, records(src, 1), NULL, NULL), SD_OK);
  pthread_t t;
  blocked_result = (sd_result)-1;
  pthread_create(&t, NULL, blocked_producer, src);
  sleep_ms(150);
  ck_assert_int_eq(blocked_result, (sd_result)-1); /* still waiting for room */
  atomic_store(&pl.aborting, 1);
  flow_wake_blocked(&pl);
  pthread_join(t, NULL);
  ck_assert_int_eq(blocked_result, SD_ERR);
  ck_assert_uint_eq(tight->q_batches, 1);
  teardown();
}
END_TEST

START_TEST(block_resumes_when_consumer_completes) {
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *tight = make_stage("tight", &manual_sink, 1, ON_FULL_BLOCK);
  stage_connect(src, tight);
  ck_assert_int_eq(flow_emit(src, records(src, 1), NULL, NULL), SD_OK);
  pthread_t t;
  blocked_result = (sd_result)-1;
  pthread_create(&t, NULL, blocked_producer, src);
  sleep_ms(50);
  sd_delivery *d = take(tight);
  sleep_ms(50);
  ck_assert_int_eq(blocked_result, (sd_result)-1); /* in flight still counts */
  flow_complete(d, SD_STATUS_OK);
  pthread_join(t, NULL);
  ck_assert_int_eq(blocked_result, SD_OK);
  teardown();
}
END_TEST

/* ---- the ack tree through a query stage --------------------------------------------- */
static sd_stage *query_stage;
static sd_result copy_process(void *state, sd_delivery *d) {
  (void)state;
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(flow_emit(query_stage, records(query_stage, 2), NULL, NULL), SD_OK);
  flow_complete(d, SD_STATUS_OK); /* done with the input; its children are not */
  return SD_OK;
}
static const sd_plugin_descriptor copy_query = {SD_DESCRIPTOR_HEADER, .name = "copy",
                                                .kind = SD_KIND_QUERY, .process = copy_process};

START_TEST(ack_waits_for_children) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  query_stage = make_stage("query", &copy_query, 100, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &manual_sink, 100, ON_FULL_BLOCK);
  stage_connect(src, query_stage);
  stage_connect(query_stage, sink);
  ck_assert_int_eq(flow_emit(src, records(src, 3), on_ack, &acks), SD_OK);
  ck_assert_ptr_null(take(query_stage)); /* completed inside process() */
  ck_assert_uint_eq(sink->q_batches, 2);
  ck_assert_uint_eq(query_stage->in_flight, 0);
  ck_assert_int_eq(atomic_load(&acks.calls), 0);
  sd_delivery *first = take(sink), *second = take(sink);
  flow_complete(first, SD_STATUS_OK);
  ck_assert_int_eq(atomic_load(&acks.calls), 0);
  flow_complete(second, SD_STATUS_RETRY);
  ck_assert_int_eq(atomic_load(&acks.calls), 1);
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_RETRY); /* the worst child wins */
  ck_assert_int_eq(metrics_value(query_stage->m.completed[SD_STATUS_RETRY]), 1);
  teardown();
}
END_TEST

/* ---- plugin mistakes ------------------------------------------------------------------ */
START_TEST(double_complete_is_ignored) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &manual_sink, 100, ON_FULL_BLOCK);
  stage_connect(src, sink);
  flow_emit(src, records(src, 1), on_ack, &acks);
  sd_delivery *d = take(sink);
  flow_complete(d, SD_STATUS_OK);
  flow_complete(d, SD_STATUS_FAIL);
  ck_assert_int_eq(atomic_load(&acks.calls), 1);
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_OK);
  ck_assert_int_eq(metrics_value(sink->m.errors_plugin_bug), 1);
  flow_reclaim(sink);
  teardown();
}
END_TEST

static sd_result failing_process(void *state, sd_delivery *d) {
  (void)state;
  (void)d;
  return SD_ERR;
}
static const sd_plugin_descriptor failing_sink = {
    SD_DESCRIPTOR_HEADER, .name = "failing", .kind = SD_KIND_SINK, .process = failing_process};

START_TEST(process_error_fails_the_batch) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &failing_sink, 100, ON_FULL_BLOCK);
  stage_connect(src, sink);
  flow_emit(src, records(src, 1), on_ack, &acks);
  ck_assert_ptr_null(take(sink));
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_FAIL);
  ck_assert_int_eq(metrics_value(sink->m.errors_process), 1);
  teardown();
}
END_TEST

START_TEST(emit_after_drain_and_from_sink_refused) {
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &manual_sink, 100, ON_FULL_BLOCK);
  stage_connect(src, sink);
  sd_batch *b = records(sink, 1);
  ck_assert_int_eq(flow_emit(sink, b, NULL, NULL), SD_ERR);
  atomic_store(&src->run_state, STAGE_DRAINED);
  ck_assert_int_eq(flow_emit(src, b, NULL, NULL), SD_ERR);
  batch_destroy(b);
  teardown();
}
END_TEST

START_TEST(shutdown_fails_queued) {
  ack_log acks = {0};
  sd_stage *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("sink", &manual_sink, 100, ON_FULL_BLOCK);
  stage_connect(src, sink);
  flow_emit(src, records(src, 4), on_ack, &acks);
  flow_emit(src, records(src, 3), on_ack, &acks);
  (void)take(sink); /* in flight, never completed by the "plugin" */
  ck_assert_int_eq(flow_fail_queued(sink), 3);
  ck_assert_int_eq(flow_fail_in_flight(sink), 4);
  ck_assert_int_eq(atomic_load(&acks.batches[SD_STATUS_FAIL]), 2);
  ck_assert_int_eq(metrics_value(sink->m.dropped_shutdown), 7);
  teardown();
}
END_TEST

/* ---- timers and wakeups run on the stage thread ------------------------------------- */
static pthread_t callback_thread;
static atomic_llong ticks, wakeups;
static sd_timer *the_timer;
static void on_tick(void *state) {
  (void)state;
  callback_thread = pthread_self();
  if (atomic_fetch_add(&ticks, 1) + 1 == 5) stage_timer_stop(the_timer);
}
static void on_wake(void *state) {
  (void)state;
  ck_assert(pthread_equal(pthread_self(), callback_thread));
  atomic_fetch_add(&wakeups, 1);
}
static const sd_plugin_descriptor timed_source = {SD_DESCRIPTOR_HEADER, .name = "timed",
                                                  .kind = SD_KIND_SOURCE, .on_wakeup = on_wake};

START_TEST(timers_and_wakeups) {
  sd_stage *st = make_stage("timed", &timed_source, 0, ON_FULL_BLOCK);
  ck_assert_int_eq(stage_thread_start(st), 0);
  sd_result r;
  stage_run_start(st, util_now_mono_ns() + 5000000000LL, &r);
  the_timer = stage_timer_start(st, 2000000, 1, on_tick);
  sd_timer *once = stage_timer_start(st, 1000000, 0, on_tick);
  ck_assert(wait_for(&ticks, 5, 5000));
  sleep_ms(30);
  ck_assert_int_eq(atomic_load(&ticks), 5); /* stopped at 5 (4 repeats + 1 one-shot) */
  ck_assert(pthread_equal(callback_thread, st->thread));
  stage_wakeup(st);
  ck_assert(wait_for(&wakeups, 1, 5000));
  stage_timer_stop(once); /* a fired one-shot handle stays valid */
  ck_assert_int_eq(stage_thread_stop(st, util_now_mono_ns() + 5000000000LL), 0);
  teardown();
}
END_TEST

/* ---- SD_PLUGIN_PROCESS_ON_CALLER ------------------------------------------------------ */
static _Thread_local int processed_here; /* process() ran on this thread */
static atomic_int inside, overlaps;
static atomic_llong caller_records, caller_ticks, caller_on_caller, out_of_order;
static long long last_seq[8];

static void enter(void) {
  if (atomic_fetch_add(&inside, 1) != 0) atomic_fetch_add(&overlaps, 1);
}
static void leave(void) {
  atomic_fetch_sub(&inside, 1);
}

/* Records carry (producer, sequence) so order per producer can be checked. */
static sd_result caller_process(void *state, sd_delivery *d) {
  (void)state;
  enter();
  processed_here = 1;
  const sd_batch *b = d->batch;
  for (size_t i = 0; i < b->record_count; i++) {
    sd_record_view v;
    batch_view(b, i, &v);
    long long producer_id = v.fields[0].value.as.i, seq = v.fields[1].value.as.i;
    if (seq <= last_seq[producer_id]) atomic_fetch_add(&out_of_order, 1);
    last_seq[producer_id] = seq;
  }
  atomic_fetch_add(&caller_records, (long long)b->record_count);
  leave();
  flow_complete(d, SD_STATUS_OK);
  return SD_OK;
}
static void caller_tick(void *state) {
  (void)state;
  enter();
  sleep_ms(1); /* long enough for an emitter to collide if the core let it */
  atomic_fetch_add(&caller_ticks, 1);
  leave();
}
static const sd_plugin_descriptor caller_sink = {
    SD_DESCRIPTOR_HEADER, .name = "oncaller", .kind = SD_KIND_SINK,
    .flags = SD_PLUGIN_PROCESS_ON_CALLER, .process = caller_process};

static sd_batch *sequenced(sd_stage *st, int producer_id, long long *seq, int n) {
  sd_batch *b = batch_new(st, (size_t)n);
  for (int i = 0; i < n; i++) {
    batch_record_begin(b, 0, "k", 1);
    sd_value p = {.type = SD_INT, .as.i = producer_id}, q = {.type = SD_INT, .as.i = ++*seq};
    batch_field(b, "p", 1, &p);
    batch_field(b, "q", 1, &q);
  }
  return b;
}

static sd_stage *started_caller_sink(sd_stage **src) {
  /* Fresh counters: without CK_FORK (valgrind runs) every test shares this process. */
  atomic_store(&caller_records, 0);
  atomic_store(&caller_ticks, 0);
  atomic_store(&caller_on_caller, 0);
  atomic_store(&out_of_order, 0);
  atomic_store(&overlaps, 0);
  memset(last_seq, 0, sizeof last_seq);
  *src = make_stage("src", &source_desc, 0, ON_FULL_BLOCK);
  sd_stage *sink = make_stage("oncaller", &caller_sink, 1000, ON_FULL_BLOCK);
  stage_connect(*src, sink);
  ck_assert_int_eq(stage_thread_start(sink), 0);
  sd_result r;
  ck_assert_int_eq(stage_run_start(sink, util_now_mono_ns() + 5000000000LL, &r), 0);
  for (int i = 0; i < 5000; i++) { /* until the stage thread has gone to sleep */
    pthread_mutex_lock(&sink->mu);
    int idle = sink->thread_idle;
    pthread_mutex_unlock(&sink->mu);
    if (idle) break;
    sleep_ms(1);
  }
  return sink;
}

START_TEST(idle_stage_runs_on_caller) {
  sd_stage *src, *sink = started_caller_sink(&src);
  ack_log acks = {0};
  long long seq = 0;
  memset(last_seq, 0, sizeof last_seq);
  ck_assert_int_eq(flow_emit(src, sequenced(src, 0, &seq, 3), on_ack, &acks), SD_OK);
  /* Processed and acknowledged before emit returned, on this thread. */
  ck_assert_int_eq(atomic_load(&acks.calls), 1);
  ck_assert_int_eq(atomic_load(&acks.last), SD_STATUS_OK);
  ck_assert(processed_here);
  ck_assert_int_eq(metrics_value(sink->m.records_in), 3);
  ck_assert_int_eq(stage_thread_stop(sink, util_now_mono_ns() + 5000000000LL), 0);
  teardown();
}
END_TEST

enum { CALLER_PRODUCERS = 3, CALLER_BATCHES = 3000 };
static sd_stage *caller_src;
static ack_log caller_acks;

static void *caller_producer(void *arg) {
  int id = (int)(intptr_t)arg;
  long long seq = 0;
  for (int i = 0; i < CALLER_BATCHES; i++) {
    ck_assert_int_eq(
        flow_emit(caller_src, sequenced(caller_src, id, &seq, 2), on_ack, &caller_acks), SD_OK);
    if (processed_here) atomic_fetch_add(&caller_on_caller, 1);
    processed_here = 0;
  }
  return NULL;
}

/* Producers racing each other and a 3 ms timer: callbacks never overlap, every record is
 * processed once and in each producer's order, and the timer keeps running. */
START_TEST(caller_runs_stay_serialized) {
  sd_stage *sink = started_caller_sink(&caller_src);
  memset(last_seq, 0, sizeof last_seq);
  memset(&caller_acks, 0, sizeof caller_acks);
  sd_timer *t = stage_timer_start(sink, 3000000, 1, caller_tick);
  pthread_t th[CALLER_PRODUCERS];
  for (int i = 0; i < CALLER_PRODUCERS; i++)
    pthread_create(&th[i], NULL, caller_producer, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < CALLER_PRODUCERS; i++) pthread_join(th[i], NULL);
  long long want = 2LL * CALLER_PRODUCERS * CALLER_BATCHES;
  ck_assert(wait_for(&caller_records, want, 10000));
  long long ticks_before = atomic_load(&caller_ticks);
  sleep_ms(50);
  ck_assert_int_gt(atomic_load(&caller_ticks), ticks_before); /* not starved */
  stage_timer_stop(t);
  ck_assert_int_eq(stage_thread_stop(sink, util_now_mono_ns() + 5000000000LL), 0);
  ck_assert_int_eq(atomic_load(&overlaps), 0);
  ck_assert_int_eq(atomic_load(&out_of_order), 0);
  ck_assert_int_eq(atomic_load(&caller_records), want);
  ck_assert_int_eq(atomic_load(&caller_acks.batches[SD_STATUS_OK]),
                   CALLER_PRODUCERS * CALLER_BATCHES);
  teardown();
}
END_TEST

int main(void) {
  Suite *s = suite_create("core_flow");
  TCase *tc = tcase_create("flow");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, concurrent_producers_block);
  tcase_add_test(tc, reject_takes_nothing);
  tcase_add_test(tc, drop_counts_and_acks_dropped);
  tcase_add_test(tc, block_waits_until_abort);
  tcase_add_test(tc, block_resumes_when_consumer_completes);
  tcase_add_test(tc, ack_waits_for_children);
  tcase_add_test(tc, double_complete_is_ignored);
  tcase_add_test(tc, process_error_fails_the_batch);
  tcase_add_test(tc, emit_after_drain_and_from_sink_refused);
  tcase_add_test(tc, shutdown_fails_queued);
  tcase_add_test(tc, timers_and_wakeups);
  tcase_add_test(tc, idle_stage_runs_on_caller);
  tcase_add_test(tc, caller_runs_stay_serialized);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
