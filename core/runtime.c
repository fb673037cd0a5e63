/* Daemon lifecycle (see runtime.h). The main thread owns the order of everything: it
 * calls init() and destroy(), asks each stage thread to run start() and drain(), and
 * watches the signalfd in every wait so a second signal is always noticed. */
#include "runtime.h"

#include "admin.h"
#include "host.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define START_TIMEOUT_NS (30 * 1000000000LL)
/* How long past the grace deadline a stuck stage thread is waited for before the
 * process gives up on an orderly exit. */
#define STUCK_MARGIN_NS (5 * 1000000000LL)

typedef struct runtime {
  pipeline *pl;
  int sfd;
  int signals;
} runtime;

void runtime_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static int open_signalfd(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Waits up to timeout_ms for a signal; returns its number or 0. */
static int wait_signal(runtime *rt, int timeout_ms) {
  struct pollfd p = {.fd = rt->sfd, .events = POLLIN};
  if (poll(&p, 1, timeout_ms) <= 0) return 0;
  struct signalfd_siginfo si;
  if (read(rt->sfd, &si, sizeof si) != (ssize_t)sizeof si) return 0;
  return (int)si.ssi_signo;
}

static const char *signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

static void second_signal_exit(int sig) {
  log_msg(NULL, SD_LOG_ERROR,
          "second signal (%s) during shutdown: exiting at once without draining",
          signal_name(sig));
  log_shutdown();
  _exit(1);
}

static void abort_blocked(pipeline *pl) {
  if (!atomic_exchange(&pl->aborting, 1)) flow_wake_blocked(pl);
}

/* Polls pred until true or deadline (mono ns); a signal in the meantime ends the process.
 * Past soft_deadline, producers blocked on full queues are released. */
static int wait_until(runtime *rt, int (*pred)(sd_stage *), sd_stage *st, int64_t soft_deadline,
                      int64_t deadline) {
  for (;;) {
    if (pred(st)) return 1;
    int64_t now = util_now_mono_ns();
    if (now >= soft_deadline) abort_blocked(rt->pl);
    if (now >= deadline) return 0;
    int sig = wait_signal(rt, 2);
    if (sig) second_signal_exit(sig);
  }
}

static int pred_queue_empty(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  int empty = st->q_batches == 0;
  pthread_mutex_unlock(&st->mu);
  return empty;
}

static int pred_drained(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  int done = st->drain_done;
  pthread_mutex_unlock(&st->mu);
  return done;
}

/* Under the stage's lock: after a start() timeout the stage thread may still be writing
 * these while the main thread drains. */
static int started(sd_stage *st) {
  pthread_mutex_lock(&st->mu);
  int ok = st->start_done && st->start_result == SD_OK;
  pthread_mutex_unlock(&st->mu);
  return ok;
}

static void stuck_exit(sd_stage *st, const char *what) {
  log_msg(&st->origin, SD_LOG_ERROR,
          "%s did not return within grace + %llds: exiting without cleanup", what,
          (long long)(STUCK_MARGIN_NS / 1000000000));
  log_shutdown();
  _exit(1);
}

/* Sources first, then each level once everything upstream is drained and idle. */
static void drain_pipeline(runtime *rt, int64_t deadline) {
  pipeline *pl = rt->pl;
  int max_level = 0;
  for (size_t i = 0; i < pl->stage_count; i++)
    if (pl->stages[i]->level > max_level) max_level = pl->stages[i]->level;
  int64_t hard = deadline + STUCK_MARGIN_NS;
  for (int level = 0; level <= max_level; level++) {
    for (size_t i = 0; i < pl->stage_count; i++) {
      sd_stage *st = pl->stages[i];
      if (st->level != level || !started(st)) continue;
      if (!wait_until(rt, pred_queue_empty, st, deadline, deadline))
        log_msg(&st->origin, SD_LOG_WARN, "grace is over with records still queued");
      stage_post_drain(st, deadline);
    }
    for (size_t i = 0; i < pl->stage_count; i++) {
      sd_stage *st = pl->stages[i];
      if (st->level != level || !started(st)) continue;
      if (!wait_until(rt, pred_drained, st, deadline, hard)) stuck_exit(st, "drain()");
      if (!wait_until(rt, stage_idle, st, deadline, deadline))
        log_msg(&st->origin, SD_LOG_WARN, "grace is over with batches not completed");
    }
  }
}

static int64_t stop_and_destroy(runtime *rt, int64_t deadline) {
  pipeline *pl = rt->pl;
  abort_blocked(pl);
  atomic_store(&pl->phase, PHASE_STOPPED);
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    if (st->thread_started && stage_thread_stop(st, deadline + STUCK_MARGIN_NS) != 0)
      stuck_exit(st, "a callback");
    atomic_store(&st->run_state, STAGE_STOPPED);
  }
  int64_t total = 0;
  int64_t *lost = xcalloc(pl->stage_count, sizeof *lost);
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    lost[i] = st->drain_undelivered + flow_fail_queued(st);
  }
  for (size_t i = pl->stage_count; i-- > 0;) {
    sd_stage *st = pl->stages[i];
    if (st->inited && st->desc->destroy) st->desc->destroy(st->state);
    st->inited = 0;
    lost[i] += flow_fail_in_flight(st);
  }
  for (size_t i = 0; i < pl->stage_count; i++) {
    if (lost[i] > 0)
      log_msg(&pl->stages[i]->origin, SD_LOG_WARN,
              "shutdown: %lld records could not be delivered", (long long)lost[i]);
    total += lost[i];
  }
  free(lost);
  return total;
}

static int init_stages(pipeline *pl) {
  for (size_t i = 0; i < pl->stage_count; i++) {
    sd_stage *st = pl->stages[i];
    atomic_store(&st->run_state, STAGE_STARTING);
    sd_result r = st->desc->init(host_api(), st, &st->state);
    if (r != SD_OK) {
      log_msg(&st->origin, SD_LOG_ERROR, "init() failed: the stage cannot run (see above)");
      atomic_store(&st->run_state, STAGE_FAILED);
      return -1;
    }
    st->inited = 1;
  }
  return 0;
}

/* Threads for every stage, then start() from the sinks up so a source's first batch
 * always finds its consumers running. */
static int start_stages(pipeline *pl) {
  for (size_t i = 0; i < pl->stage_count; i++)
    if (stage_thread_start(pl->stages[i]) != 0) return -1;
  for (size_t i = pl->stage_count; i-- > 0;) {
    sd_stage *st = pl->stages[i];
    sd_result r = SD_ERR;
    if (stage_run_start(st, util_now_mono_ns() + START_TIMEOUT_NS, &r) != 0) {
      log_msg(&st->origin, SD_LOG_ERROR, "start() did not return within 30s");
      return -1;
    }
    if (r != SD_OK) {
      log_msg(&st->origin, SD_LOG_ERROR, "start() failed: the stage cannot run (see above)");
      atomic_store(&st->run_state, STAGE_FAILED);
      return -1;
    }
    atomic_store(&st->run_state, STAGE_RUNNING);
  }
  return 0;
}

int runtime_run(pipeline *pl) {
  runtime rt = {.pl = pl, .sfd = -1};
  runtime_block_signals();
  rt.sfd = open_signalfd();
  if (rt.sfd < 0) {
    LOG_ERROR("cannot create a signalfd: %s", strerror(errno));
    return 1;
  }
  const char *level = cfg_get_string(pl->daemon_values, "log_level");
  if (level && log_parse_level(level) >= 0) log_set_level((sd_log_level)log_parse_level(level));
  atomic_store(&pl->phase, PHASE_STARTING);
  for (size_t i = 0; i < pl->stage_count; i++) stage_init_runtime(pl->stages[i]);
  char *build_labels =
      xasprintf("version=\"%s\",abi=\"%d.%d\"", SENSORD_VERSION, SD_ABI_MAJOR, SD_ABI_MINOR);
  metrics_set(metrics_register(METRIC_GAUGE, "build_info", "sensord version and plugin ABI",
                               build_labels, NULL, 0),
              1);
  free(build_labels);

  admin_server *admin = NULL;
  if (strcmp(pl->admin_listen, "off") != 0) {
    char *err = NULL;
    admin = admin_start(pl, pl->admin_listen, &err);
    if (!admin) {
      LOG_ERROR("%s", err);
      free(err);
      close(rt.sfd);
      return 1;
    }
    LOG_INFO("admin listening on %s (port %u): /metrics /healthz /stages", pl->admin_listen,
             admin_port(admin));
  }

  int code = 0;
  if (init_stages(pl) != 0 || start_stages(pl) != 0) {
    code = 1;
    atomic_store(&pl->stopping, 1);
    atomic_store(&pl->phase, PHASE_DRAINING);
    int64_t deadline =
        util_now_mono_ns() + (pl->grace_ns < 2000000000 ? pl->grace_ns : 2000000000);
    drain_pipeline(&rt, deadline);
    stop_and_destroy(&rt, deadline);
  } else {
    atomic_store(&pl->phase, PHASE_RUNNING);
    LOG_INFO("running: %zu stages from %s, plugins from %s", pl->stage_count, pl->config_path,
             pl->plugin_dir);
    int sig = 0;
    while (!(sig = wait_signal(&rt, 1000))) log_tick();
    char grace[32];
    cfg_format_duration(pl->grace_ns, grace, sizeof grace);
    LOG_INFO("received %s: draining (grace %s; a second signal exits at once)",
             signal_name(sig), grace);
    int64_t deadline = util_now_mono_ns() + pl->grace_ns;
    atomic_store(&pl->stopping, 1);
    atomic_store(&pl->phase, PHASE_DRAINING);
    drain_pipeline(&rt, deadline);
    int64_t lost = stop_and_destroy(&rt, deadline);
    LOG_INFO("shutdown complete: %lld records could not be delivered", (long long)lost);
  }
  admin_stop(admin);
  close(rt.sfd);
  return code;
}
