/* Daemon lifecycle (see runtime.h). The main thread owns the order of everything: it
 * calls init() and destroy(), asks each stage thread to run start() and drain(), and
 * watches the signalfd in every wait so a second signal is always noticed. Also the
 * SIGHUP reload: a `sensord -t` child checks the file, then drain and re-exec. */
#include "runtime.h"

#include "admin.h"
#include "host.h"
#include "metrics.h"
#include "pipeline.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define START_TIMEOUT_NS (30 * 1000000000LL)
/* How long past the grace deadline a stuck stage thread is waited for before the
 * process gives up on an orderly exit. */
#define STUCK_MARGIN_NS (5 * 1000000000LL)
/* A reload's `sensord -t` loads every plugin and parses every query: seconds at most. */
#define CHECK_TIMEOUT_NS (30 * 1000000000LL)
#define CHECK_OUTPUT_MAX (64 * 1024)
/* Errors of a failed reload logged one by one; the rest are counted in the summary. */
#define CHECK_ERRORS_SHOWN 8
/* Carries the reload counters across the re-exec ("ok,failed"); removed at start. */
#define RELOAD_ENV "SENSORD_RELOADED"

typedef struct runtime {
  pipeline *pl;
  int sfd;
  int reloading;      /* a SIGHUP passed its check: drain, then re-exec */
  int stop_requested; /* SIGTERM/SIGINT during a reload's drain: exit instead of re-exec */
  sd_metric *reloads, *reload_failures, *reload_ok;
} runtime;

/* The command line and the reload history of this process (main thread only). */
static struct {
  char **argv; /* as main() received it, before getopt reordered it; NULL-terminated */
  int argc;
  uint64_t reloads, failures; /* since the first start, carried through RELOAD_ENV */
  int reexeced;               /* this image was started by a reload */
} self;

/* Every signal the daemon acts on goes to the signalfd; SIGHUP and SIGUSR1/2 would
 * otherwise end the process by default action. */
static void daemon_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGUSR1);
  sigaddset(set, SIGUSR2);
}

void runtime_block_signals(void) {
  sigset_t set;
  daemon_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void runtime_set_argv(int argc, char **argv) {
  self.argc = argc;
  self.argv = xcalloc((size_t)argc + 1, sizeof *self.argv);
  for (int i = 0; i < argc; i++) self.argv[i] = xstrdup(argv[i]);
  const char *carried = getenv(RELOAD_ENV);
  if (carried) {
    uint64_t ok = 0, failed = 0;
    if (sscanf(carried, "%" SCNu64 ",%" SCNu64, &ok, &failed) == 2) {
      self.reloads = ok;
      self.failures = failed;
      self.reexeced = 1;
    }
    unsetenv(RELOAD_ENV); /* still one thread: setenv/unsetenv are not thread-safe */
  }
}

static int open_signalfd(void) {
  sigset_t set;
  daemon_signals(&set);
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
  switch (sig) {
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  case SIGHUP:
    return "SIGHUP";
  case SIGUSR1:
    return "SIGUSR1";
  case SIGUSR2:
    return "SIGUSR2";
  default:
    return "a signal";
  }
}

static void ignored_signal(int sig) {
  LOG_WARN("received %s: ignored (SIGHUP reloads the config, SIGTERM or SIGINT stops)",
           signal_name(sig));
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

/* A signal while draining: SIGTERM/SIGINT end the process at once, except that the first
 * one during a reload's drain only turns the reload into a stop. Others are ignored. */
static void drain_signal(runtime *rt, int sig) {
  if (sig == SIGHUP) {
    LOG_WARN("received SIGHUP while %s: ignored",
             rt->reloading && !rt->stop_requested ? "reloading" : "shutting down");
  } else if (sig == SIGUSR1 || sig == SIGUSR2) {
    ignored_signal(sig);
  } else if (rt->reloading && !rt->stop_requested) {
    rt->stop_requested = 1;
    LOG_INFO("reload: received %s while draining: sensord will exit after the drain instead "
             "of re-executing (a further signal exits at once)",
             signal_name(sig));
  } else {
    second_signal_exit(sig);
  }
}

/* Polls pred until true or deadline (mono ns); see drain_signal for signals meanwhile.
 * Past soft_deadline, producers blocked on full queues are released. */
static int wait_until(runtime *rt, int (*pred)(sd_stage *), sd_stage *st, int64_t soft_deadline,
                      int64_t deadline) {
  for (;;) {
    if (pred(st)) return 1;
    int64_t now = util_now_mono_ns();
    if (now >= soft_deadline) abort_blocked(rt->pl);
    if (now >= deadline) return 0;
    int sig = wait_signal(rt, 2);
    if (sig) drain_signal(rt, sig);
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

/* ---- Reload (SIGHUP) ------------------------------------------------------------------ */

/* The binary for the check and the re-exec: /proc/self/exe, the very file this process
 * runs even when a newer build was installed over its path since. Under an emulator such
 * as valgrind /proc/self/exe is the emulator while readlink() names the program: a path
 * that exists and is another file than /proc/self/exe means exactly that. */
static const char *self_exe(char *buf, size_t size) {
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  struct stat named, proc;
  if (n > 0) {
    buf[n] = '\0';
    if (stat(buf, &named) == 0 && stat("/proc/self/exe", &proc) == 0 &&
        (named.st_dev != proc.st_dev || named.st_ino != proc.st_ino))
      return buf;
  }
  return "/proc/self/exe";
}

typedef enum { CHECK_OK, CHECK_FAILED, CHECK_STOP } check_result;

/* Runs `<same argv> -t` and collects what it prints (stdout and stderr, capped). A
 * SIGTERM/SIGINT meanwhile kills the check and is passed back in *stop_sig. *status is the
 * waitpid() status, or -1 when the check could not run or timed out (*why says which). */
static check_result run_check(runtime *rt, char **out, int *status, int *stop_sig, char *why,
                              size_t why_len) {
  *out = NULL;
  *status = -1;
  char exe_buf[4096];
  const char *exe = self_exe(exe_buf, sizeof exe_buf);
  char **argv = xcalloc((size_t)self.argc + 2, sizeof *argv);
  for (int i = 0; i < self.argc; i++) argv[i] = self.argv[i];
  argv[self.argc] = "-t";
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    free(argv);
    snprintf(why, why_len, "cannot create a pipe: %s", strerror(errno));
    return CHECK_FAILED;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  /* Not the plugins' sockets: the check must hold no port of the running daemon. */
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free(argv);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    snprintf(why, why_len, "cannot run %s -t: %s", exe, strerror(rc));
    return CHECK_FAILED;
  }
  char *buf = xmalloc(CHECK_OUTPUT_MAX + 1);
  size_t len = 0;
  int64_t deadline = util_now_mono_ns() + CHECK_TIMEOUT_NS;
  check_result result = CHECK_OK;
  int timed_out = 0;
  for (;;) {
    int64_t left_ms = (deadline - util_now_mono_ns()) / 1000000;
    if (left_ms <= 0) {
      timed_out = 1;
      break;
    }
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = rt->sfd, .events = POLLIN}};
    if (poll(p, 2, left_ms > 1000 ? 1000 : (int)left_ms) < 0) {
      if (errno == EINTR) continue;
      timed_out = 1;
      break;
    }
    if (p[1].revents & POLLIN) {
      int sig = wait_signal(rt, 0);
      if (sig == SIGTERM || sig == SIGINT) {
        *stop_sig = sig;
        result = CHECK_STOP;
        break;
      }
      if (sig == SIGHUP)
        LOG_INFO("reload: received SIGHUP again while checking: one check is enough");
      else if (sig)
        ignored_signal(sig);
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char chunk[4096];
      ssize_t n = read(fds[0], chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break; /* EOF: the check has exited (or is about to) */
      size_t take = (size_t)n < CHECK_OUTPUT_MAX - len ? (size_t)n : CHECK_OUTPUT_MAX - len;
      memcpy(buf + len, chunk, take);
      len += take;
    }
  }
  close(fds[0]);
  buf[len] = '\0';
  *out = buf;
  if (timed_out || result == CHECK_STOP) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (result == CHECK_STOP) return CHECK_STOP;
  if (timed_out) {
    snprintf(why, why_len, "the check did not finish within %llds: killed",
             (long long)(CHECK_TIMEOUT_NS / 1000000000));
    return CHECK_FAILED;
  }
  *status = st;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? CHECK_OK : CHECK_FAILED;
}

/* Logs the check's errors: one line each (a message's indented continuation lines stay
 * with it), the first CHECK_ERRORS_SHOWN of them. Returns how many there were. */
static size_t log_check_errors(char *out) {
  size_t count = 0;
  char *msg = out;
  while (msg && *msg) {
    char *end = msg;
    for (;;) { /* up to a newline that is not followed by an indented continuation */
      end = strchr(end, '\n');
      if (!end || (end[1] != ' ' && end[1] != '\t')) break;
      end++;
    }
    char *next = end ? end + 1 : NULL;
    if (end) *end = '\0';
    if (*msg) {
      if (++count <= CHECK_ERRORS_SHOWN) LOG_ERROR("reload: %s", msg);
    }
    msg = next;
  }
  return count;
}

static void count_reload(runtime *rt, int ok) {
  if (ok)
    self.reloads++;
  else
    self.failures++;
  metrics_add(ok ? rt->reloads : rt->reload_failures, 1);
  metrics_set(rt->reload_ok, ok);
}

/* SIGHUP: 1 = the file passed, drain and re-exec; 0 = it did not, keep running as is;
 * -1 = a SIGTERM/SIGINT came during the check (in *stop_sig): shut down. */
static int reload_check(runtime *rt, int *stop_sig) {
  const char *path = rt->pl->config_path;
  if (!self.argv) {
    LOG_ERROR("reload: received SIGHUP, but no command line was recorded to run again: "
              "ignored");
    return 0;
  }
  LOG_INFO("reload: received SIGHUP: checking %s as sensord -t would (plugins loaded and "
           "validated in a child process); the running pipeline is untouched until it passes",
           path);
  char *out = NULL;
  int status = -1;
  char why[4200] = "";
  int64_t t0 = util_now_mono_ns();
  check_result r = run_check(rt, &out, &status, stop_sig, why, sizeof why);
  if (r == CHECK_STOP) {
    LOG_INFO("reload: received %s during the check: abandoning the reload",
             signal_name(*stop_sig));
    free(out);
    return -1;
  }
  if (r == CHECK_OK) {
    /* What -t cannot know: a port the new file asks for that another process holds would
     * only fail in the new image's start, after the drain, and end the daemon. */
    sd_errors *errs = sd_errors_new();
    pipeline_probe_new_listeners(rt->pl, path, errs);
    size_t n = sd_errors_count(errs);
    for (size_t i = 0; i < n; i++)
      if (i < CHECK_ERRORS_SHOWN) LOG_ERROR("reload: %s", sd_errors_at(errs, i));
    sd_errors_free(errs);
    if (n > 0) {
      LOG_ERROR("reload: %zu listen address%s in %s cannot be bound: keeping the running "
                "configuration",
                n, n == 1 ? "" : "es", path);
      free(out);
      count_reload(rt, 0);
      return 0;
    }
  }
  if (r == CHECK_OK) {
    char grace[32];
    cfg_format_duration(rt->pl->grace_ns, grace, sizeof grace);
    LOG_INFO("reload: %s is ok (checked in %lld ms): draining as on SIGTERM (grace %s), then "
             "re-executing sensord with the same arguments; the ports are closed until the "
             "new configuration is running",
             path, (long long)((util_now_mono_ns() - t0) / 1000000), grace);
    free(out);
    count_reload(rt, 1);
    return 1;
  }
  if (status == -1) {
    LOG_ERROR("reload: %s: keeping the running configuration", why);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
    size_t n = log_check_errors(out);
    if (n == 0) LOG_ERROR("reload: the check of %s failed without a message", path);
    LOG_ERROR("reload: %zu configuration error%s in %s%s: keeping the running configuration", n,
              n == 1 ? "" : "s", path,
              n > CHECK_ERRORS_SHOWN ? " (sensord -t lists them all)" : "");
  } else {
    log_check_errors(out);
    if (WIFSIGNALED(status))
      LOG_ERROR("reload: the check of %s was killed by signal %d (a plugin's validate() "
                "crashed?): keeping the running configuration",
                path, WTERMSIG(status));
    else
      LOG_ERROR("reload: the check of %s exited %d: keeping the running configuration", path,
                WEXITSTATUS(status));
  }
  free(out);
  count_reload(rt, 0);
  return 0;
}

/* Every descriptor above stderr is closed by the exec: the new image opens its own, and a
 * plugin's socket without O_CLOEXEC must not keep a port bound into it. */
static void cloexec_all(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  int skip = dirfd(d);
  for (struct dirent *e; (e = readdir(d));) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end || fd < 3 || fd == skip) continue;
    int flags = fcntl((int)fd, F_GETFD);
    if (flags >= 0) fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(d);
}

int runtime_reexec(void) {
  char exe_buf[4096];
  const char *exe = self_exe(exe_buf, sizeof exe_buf);
  char *carried = xasprintf(RELOAD_ENV "=%" PRIu64 ",%" PRIu64, self.reloads, self.failures);
  size_t n = 0;
  while (environ[n]) n++;
  char **envp = xcalloc(n + 2, sizeof *envp);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], RELOAD_ENV "=", sizeof RELOAD_ENV) != 0) envp[k++] = environ[i];
  envp[k++] = carried;
  LOG_INFO("reload: executing %s again (pid %ld stays)", exe, (long)getpid());
  log_shutdown();
  fflush(NULL); /* a sink writing to stdout through stdio: the exec would drop its buffer */
  cloexec_all();
  execve(exe, self.argv, envp);
  LOG_ERROR("reload: cannot execute %s: %s: exiting (start sensord again)", exe,
            strerror(errno));
  free(envp);
  free(carried);
  return 1;
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
  rt.reloads = metrics_register(METRIC_COUNTER, "reloads_total",
                                "SIGHUP reloads whose check passed (drained and re-executed), "
                                "since the first start",
                                NULL, NULL, 0);
  rt.reload_failures = metrics_register(METRIC_COUNTER, "reload_failures_total",
                                        "SIGHUP reloads refused because the config check "
                                        "failed (the running config was kept)",
                                        NULL, NULL, 0);
  rt.reload_ok = metrics_register(METRIC_GAUGE, "config_last_reload_successful",
                                  "1 unless the last SIGHUP reload was refused", NULL, NULL, 0);
  /* Counters carried over from the image before the re-exec: they never go back. */
  metrics_add(rt.reloads, (double)self.reloads);
  metrics_add(rt.reload_failures, (double)self.failures);
  metrics_set(rt.reload_ok, 1);

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
    if (self.reexeced)
      LOG_INFO("reload: the new configuration is running (reloads since the first start: "
               "%" PRIu64 " done, %" PRIu64 " refused)",
               self.reloads, self.failures);
    int sig = 0;
    for (;;) {
      sig = wait_signal(&rt, 1000);
      if (!sig) {
        log_tick();
      } else if (sig == SIGHUP) {
        int r = reload_check(&rt, &sig);
        if (r != 0) {
          rt.reloading = r > 0;
          break;
        }
      } else if (sig == SIGUSR1 || sig == SIGUSR2) {
        ignored_signal(sig);
      } else {
        break;
      }
    }
    if (!rt.reloading) {
      char grace[32];
      cfg_format_duration(pl->grace_ns, grace, sizeof grace);
      LOG_INFO("received %s: draining (grace %s; a second signal exits at once)",
               signal_name(sig), grace);
    }
    int64_t deadline = util_now_mono_ns() + pl->grace_ns;
    atomic_store(&pl->stopping, 1);
    atomic_store(&pl->phase, PHASE_DRAINING);
    drain_pipeline(&rt, deadline);
    int64_t lost = stop_and_destroy(&rt, deadline);
    if (rt.reloading && !rt.stop_requested) {
      LOG_INFO("reload: drained: %lld records could not be delivered", (long long)lost);
      code = RUNTIME_REEXEC;
    } else {
      LOG_INFO("shutdown complete: %lld records could not be delivered", (long long)lost);
    }
  }
  admin_stop(admin);
  close(rt.sfd);
  return code;
}
