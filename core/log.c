/* Daemon logging (see log.h): formats one logfmt line per event and hands it to a single
 * write(2) so lines from many threads never interleave; filters by level and rate-limits
 * repeats of the same (origin, format) with a small table of fixed windows. */
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_RL_SLOTS 256

static atomic_int log_level = SD_LOG_INFO;
static atomic_int log_fd = 2;
static atomic_ulong log_suppressed;

/* Rate-limit state; everything below is guarded by log_lock. */
typedef struct log_slot {
  int used;
  uint64_t hash;
  char *stage; /* copies: the origin may be gone when the summary is written */
  char *plugin;
  char *fmt;
  int level;
  int64_t window_start;
  unsigned count;           /* lines seen in this window */
  unsigned long suppressed; /* of which suppressed */
} log_slot;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_slot log_slots[LOG_RL_SLOTS];
static unsigned log_pending; /* slots whose suppressed > 0 */
static unsigned log_rl_max = 10;
static int64_t log_rl_window_ns = INT64_C(10000000000);
static int64_t (*log_mono)(void) = util_now_mono_ns;
static int64_t (*log_wall)(void) = util_now_wall_ns;

void log_set_level(sd_log_level level) {
  atomic_store(&log_level, (int)level);
}
sd_log_level log_get_level(void) {
  return (sd_log_level)atomic_load(&log_level);
}

static const char *const log_names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *text) {
  if (!text) return -1;
  for (int i = 0; i < 4; i++)
    if (strcmp(text, log_names[i]) == 0) return i;
  return -1;
}

const char *log_level_name(sd_log_level level) {
  return (unsigned)level < 4 ? log_names[level] : "unknown";
}

int log_enabled(const log_origin *origin, sd_log_level level) {
  int threshold = origin && origin->level >= 0 ? origin->level : atomic_load(&log_level);
  return (int)level <= threshold;
}

unsigned long log_suppressed_total(void) {
  return atomic_load(&log_suppressed);
}

void log_set_output(int fd) {
  atomic_store(&log_fd, fd);
}

void log_set_rate_limit(unsigned max_lines, int64_t window_ns) {
  pthread_mutex_lock(&log_lock);
  log_rl_max = max_lines;
  log_rl_window_ns = window_ns > 0 ? window_ns : 1;
  pthread_mutex_unlock(&log_lock);
}

void log_set_clock(int64_t (*mono_ns)(void), int64_t (*wall_ns)(void)) {
  pthread_mutex_lock(&log_lock);
  log_mono = mono_ns ? mono_ns : util_now_mono_ns;
  log_wall = wall_ns ? wall_ns : util_now_wall_ns;
  pthread_mutex_unlock(&log_lock);
}

/* ---- Line building ------------------------------------------------------------------ */

typedef struct log_buf {
  char *data;
  size_t len;
  size_t cap;
  char inline_space[512];
} log_buf;

static void buf_init(log_buf *b) {
  b->data = b->inline_space;
  b->len = 0;
  b->cap = sizeof(b->inline_space);
}

static void buf_reserve(log_buf *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap * 2;
  while (cap < b->len + extra) cap *= 2;
  if (b->data == b->inline_space) {
    char *heap = xmalloc(cap);
    memcpy(heap, b->data, b->len);
    b->data = heap;
  } else {
    b->data = xrealloc(b->data, cap);
  }
  b->cap = cap;
}

static void buf_put(log_buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void buf_puts(log_buf *b, const char *s) {
  buf_put(b, s, strlen(s));
}

static void buf_release(log_buf *b) {
  if (b->data != b->inline_space) free(b->data);
}

/* logfmt: bare when the value is a plain token, else double-quoted with \" \\ \n \r \t and
 * \u00XX for other control bytes, so one event is always exactly one line. */
static void buf_value(log_buf *b, const char *v) {
  int quote = *v == '\0';
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) {
      quote = 1;
      break;
    }
  if (!quote) {
    buf_puts(b, v);
    return;
  }
  buf_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    switch (*p) {
    case '"':
      buf_put(b, "\\\"", 2);
      break;
    case '\\':
      buf_put(b, "\\\\", 2);
      break;
    case '\n':
      buf_put(b, "\\n", 2);
      break;
    case '\r':
      buf_put(b, "\\r", 2);
      break;
    case '\t':
      buf_put(b, "\\t", 2);
      break;
    default:
      if (*p < 0x20 || *p == 0x7f) {
        snprintf(esc, sizeof(esc), "\\u%04x", *p);
        buf_puts(b, esc);
      } else {
        buf_put(b, (const char *)p, 1);
      }
    }
  }
  buf_put(b, "\"", 1);
}

static void write_all(const char *data, size_t len) {
  int fd = atomic_load(&log_fd);
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* nowhere left to report a failing log stream */
    }
    data += n;
    len -= (size_t)n;
  }
}

static void emit_line(int64_t wall_ns, const char *stage, const char *plugin, int level,
                      const char *msg) {
  log_buf b;
  buf_init(&b);
  time_t secs = (time_t)(wall_ns / 1000000000);
  int ms = (int)((wall_ns % 1000000000) / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char ts[48];
  size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%03dZ", ms);
  buf_puts(&b, "ts=");
  buf_puts(&b, ts);
  buf_puts(&b, " level=");
  buf_puts(&b, log_level_name((sd_log_level)level));
  if (stage) {
    buf_puts(&b, " stage=");
    buf_value(&b, stage);
  }
  if (plugin) {
    buf_puts(&b, " plugin=");
    buf_value(&b, plugin);
  }
  buf_puts(&b, " msg=");
  buf_value(&b, msg);
  buf_put(&b, "\n", 1);
  write_all(b.data, b.len);
  buf_release(&b);
}

/* ---- Rate limiting (callers hold log_lock) ------------------------------------------ */

static uint64_t hash_str(uint64_t h, const char *s) {
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
    h = (h ^ *p) * UINT64_C(1099511628211);
  return (h ^ 0xff) * UINT64_C(1099511628211); /* separator: ("ab","c") != ("a","bc") */
}

static int same_text(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static char *dup_or_null(const char *s) {
  return s ? xstrdup(s) : NULL;
}

static void slot_summary(log_slot *s) {
  if (s->suppressed == 0) return;
  char *msg = xasprintf("suppressed %lu repeats of: %s", s->suppressed, s->fmt);
  emit_line(log_wall(), s->stage, s->plugin, s->level, msg);
  free(msg);
  s->suppressed = 0;
  log_pending--;
}

static void slot_clear(log_slot *s) {
  slot_summary(s);
  free(s->stage);
  free(s->plugin);
  free(s->fmt);
  memset(s, 0, sizeof(*s));
}

static void flush_ended(int64_t now) {
  for (size_t i = 0; i < LOG_RL_SLOTS && log_pending > 0; i++) {
    log_slot *s = &log_slots[i];
    if (s->used && s->suppressed > 0 && now - s->window_start >= log_rl_window_ns)
      slot_summary(s);
  }
}

/* Returns 1 when this line may be written, 0 when it is suppressed. */
static int rate_admit(const log_origin *origin, int level, const char *fmt) {
  if (log_rl_max == 0) return 1;
  const char *stage = origin ? origin->stage : NULL;
  const char *plugin = origin ? origin->plugin : NULL;
  int64_t now = log_mono();
  if (log_pending > 0) flush_ended(now);
  uint64_t h = hash_str(hash_str(hash_str(UINT64_C(14695981039346656037), stage), plugin), fmt);
  log_slot *s = &log_slots[h % LOG_RL_SLOTS];
  if (!s->used || s->hash != h || !same_text(s->stage, stage) ||
      !same_text(s->plugin, plugin) || strcmp(s->fmt, fmt) != 0) {
    /* Direct-mapped: a different key evicts the old one (after its summary). */
    if (s->used) slot_clear(s);
    s->used = 1;
    s->hash = h;
    s->stage = dup_or_null(stage);
    s->plugin = dup_or_null(plugin);
    s->fmt = xstrdup(fmt);
    s->window_start = now;
  } else if (now - s->window_start >= log_rl_window_ns) {
    slot_summary(s);
    s->window_start = now;
    s->count = 0;
  }
  s->level = level;
  if (++s->count <= log_rl_max) return 1;
  if (s->suppressed++ == 0) log_pending++;
  atomic_fetch_add(&log_suppressed, 1);
  return 0;
}

void log_tick(void) {
  pthread_mutex_lock(&log_lock);
  if (log_pending > 0) flush_ended(log_mono());
  pthread_mutex_unlock(&log_lock);
}

void log_shutdown(void) {
  pthread_mutex_lock(&log_lock);
  for (size_t i = 0; i < LOG_RL_SLOTS; i++)
    if (log_slots[i].used) slot_clear(&log_slots[i]);
  log_pending = 0;
  pthread_mutex_unlock(&log_lock);
}

/* ---- Entry points ------------------------------------------------------------------ */

void log_vmsg(const log_origin *origin, sd_log_level level, const char *fmt, va_list ap) {
  if (!fmt || !log_enabled(origin, level)) return;
  pthread_mutex_lock(&log_lock);
  int admit = rate_admit(origin, (int)level, fmt);
  int64_t (*wall)(void) = log_wall;
  pthread_mutex_unlock(&log_lock);
  if (!admit) return;

  char small[512];
  char *msg = small;
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(small, sizeof(small), fmt, copy);
  va_end(copy);
  if (n < 0) {
    msg = "(message could not be formatted)";
  } else if ((size_t)n >= sizeof(small)) {
    msg = xmalloc((size_t)n + 1);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
  }
  emit_line(wall(), origin ? origin->stage : NULL, origin ? origin->plugin : NULL, (int)level,
            msg);
  if (msg != small && n >= 0) free(msg);
}

void log_msg(const log_origin *origin, sd_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vmsg(origin, level, fmt, ap);
  va_end(ap);
}
