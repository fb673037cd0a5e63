/* Metrics registry and Prometheus rendering (see metrics.h). Values are doubles kept as
 * their bit pattern in an atomic 64-bit word so updates from any thread need no lock;
 * the registry lock only guards registration and rendering of the family list. */
#include "metrics.h"

#include "log.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct metric_family metric_family;

struct sd_metric {
  metric_family *family;
  char *labels;
  _Atomic uint64_t value_bits;   /* counter/gauge value, histogram sum */
  _Atomic uint64_t count;        /* histogram observations */
  _Atomic uint64_t *bucket_hits; /* per bucket (not cumulative) */
  sd_metric *next;
};

struct metric_family {
  char *name;
  char *help;
  metric_type type;
  double *buckets;
  size_t bucket_count;
  sd_metric *series, *series_tail;
  metric_family *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static metric_family *families, *families_tail;
static sd_metric *detached; /* refused registrations: kept so they can be freed */

static const double default_buckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                         0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                         0.5,     1,      2.5,     5,      10};

static uint64_t to_bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  return b;
}

static double from_bits(uint64_t b) {
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

static void atomic_add_double(_Atomic uint64_t *word, double delta) {
  uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(word, &old, to_bits(from_bits(old) + delta),
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
}

static int valid_name(const char *name) {
  if (!name || !*name) return 0;
  for (const char *c = name; *c; c++) {
    int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' || *c == ':';
    int digit = *c >= '0' && *c <= '9';
    if (!alpha && !(digit && c != name)) return 0;
  }
  return 1;
}

static const char *type_name(metric_type t) {
  return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static sd_metric *new_series(metric_family *family, const char *labels) {
  sd_metric *m = xcalloc(1, sizeof *m);
  m->family = family;
  m->labels = xstrdup(labels ? labels : "");
  if (family->type == METRIC_HISTOGRAM)
    m->bucket_hits = xcalloc(family->bucket_count, sizeof *m->bucket_hits);
  return m;
}

static metric_family *new_family(metric_type type, const char *name, const char *help,
                                 const double *buckets, size_t bucket_count) {
  metric_family *f = xcalloc(1, sizeof *f);
  f->name = xstrdup(name);
  f->help = xstrdup(help ? help : name);
  f->type = type;
  if (type == METRIC_HISTOGRAM) {
    if (!buckets || bucket_count == 0) {
      buckets = default_buckets;
      bucket_count = sizeof default_buckets / sizeof default_buckets[0];
    }
    f->buckets = xmalloc(bucket_count * sizeof *f->buckets);
    memcpy(f->buckets, buckets, bucket_count * sizeof *f->buckets);
    f->bucket_count = bucket_count;
  }
  return f;
}

static sd_metric *detach(metric_type type, const char *name, const char *help,
                         const char *labels, const char *why) {
  log_msg(NULL, SD_LOG_ERROR, "metric \"%s\" {%s} refused: %s (it will not be exported)",
          name ? name : "(null)", labels ? labels : "", why);
  metric_family *f = new_family(type, "detached", help, NULL, 0);
  sd_metric *m = new_series(f, labels);
  m->next = detached;
  detached = m;
  return m;
}

static int buckets_ascending(const double *b, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (!(b[i] > b[i - 1])) return 0;
  return 1;
}

sd_metric *metrics_register(metric_type type, const char *name, const char *help,
                            const char *labels, const double *buckets, size_t bucket_count) {
  pthread_mutex_lock(&registry_lock);
  sd_metric *m = NULL;
  if (!valid_name(name)) {
    m = detach(type, name, help, labels, "a metric name is letters, digits, '_' and ':'");
    goto out;
  }
  if (labels && (strchr(labels, '\n') || strchr(labels, '}'))) {
    m = detach(type, name, help, labels, "labels must be name=\"value\" pairs on one line");
    goto out;
  }
  if (type == METRIC_HISTOGRAM && buckets && !buckets_ascending(buckets, bucket_count)) {
    m = detach(type, name, help, labels, "histogram buckets must be strictly ascending");
    goto out;
  }
  metric_family *f = families;
  while (f && strcmp(f->name, name) != 0) f = f->next;
  if (f && f->type != type) {
    m = detach(type, name, help, labels, "the name is already registered as another type");
    goto out;
  }
  if (!f) {
    f = new_family(type, name, help, buckets, bucket_count);
    if (families_tail)
      families_tail->next = f;
    else
      families = f;
    families_tail = f;
  }
  for (m = f->series; m; m = m->next)
    if (strcmp(m->labels, labels ? labels : "") == 0) goto out;
  m = new_series(f, labels);
  if (f->series_tail)
    f->series_tail->next = m;
  else
    f->series = m;
  f->series_tail = m;
out:
  pthread_mutex_unlock(&registry_lock);
  return m;
}

void metrics_add(sd_metric *m, double delta) {
  if (m && m->family->type != METRIC_HISTOGRAM) atomic_add_double(&m->value_bits, delta);
}

void metrics_set(sd_metric *m, double value) {
  if (m && m->family->type == METRIC_GAUGE)
    atomic_store_explicit(&m->value_bits, to_bits(value), memory_order_relaxed);
}

void metrics_observe(sd_metric *m, double value) {
  if (!m || m->family->type != METRIC_HISTOGRAM || isnan(value)) return;
  metric_family *f = m->family;
  size_t i = 0;
  while (i < f->bucket_count && value > f->buckets[i]) i++;
  if (i < f->bucket_count)
    atomic_fetch_add_explicit(&m->bucket_hits[i], 1, memory_order_relaxed);
  atomic_add_double(&m->value_bits, value);
  atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

double metrics_value(const sd_metric *m) {
  if (!m) return 0;
  if (m->family->type == METRIC_HISTOGRAM)
    return (double)atomic_load_explicit(&((sd_metric *)m)->count, memory_order_relaxed);
  return from_bits(atomic_load_explicit(&((sd_metric *)m)->value_bits, memory_order_relaxed));
}

typedef struct text {
  char *buf;
  size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    t->cap = (t->cap + (size_t)n + 1) * 2;
    t->buf = xrealloc(t->buf, t->cap);
  }
}

/* Prometheus floats: integers without a fraction, +Inf/-Inf/NaN spelled out. */
static void put_number(text *t, double v) {
  if (isnan(v))
    put(t, "NaN");
  else if (isinf(v))
    put(t, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 1e15)
    put(t, "%.0f", v);
  else
    put(t, "%s", util_shortest_double(v, (char[32]){0}, 32));
}

static void put_help(text *t, const char *help) {
  for (const char *c = help; *c; c++) {
    if (*c == '\\')
      put(t, "\\\\");
    else if (*c == '\n')
      put(t, "\\n");
    else
      put(t, "%c", *c);
  }
}

static void put_series(text *t, const char *name, const char *suffix, const char *labels,
                       const char *extra, double value) {
  int has = labels && *labels, has_extra = extra && *extra;
  put(t, "sensord_%s%s", name, suffix);
  if (has || has_extra)
    put(t, "{%s%s%s}", has ? labels : "", has && has_extra ? "," : "", has_extra ? extra : "");
  put(t, " ");
  put_number(t, value);
  put(t, "\n");
}

char *metrics_render(size_t *len) {
  text t = {xmalloc(4096), 0, 4096};
  t.buf[0] = '\0';
  pthread_mutex_lock(&registry_lock);
  for (metric_family *f = families; f; f = f->next) {
    put(&t, "# HELP sensord_%s ", f->name);
    put_help(&t, f->help);
    put(&t, "\n# TYPE sensord_%s %s\n", f->name, type_name(f->type));
    for (sd_metric *m = f->series; m; m = m->next) {
      if (f->type != METRIC_HISTOGRAM) {
        put_series(&t, f->name, "", m->labels, NULL, metrics_value(m));
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f->bucket_count; i++) {
        cumulative += atomic_load_explicit(&m->bucket_hits[i], memory_order_relaxed);
        text le = {xmalloc(64), 0, 64};
        put(&le, "le=\"");
        put_number(&le, f->buckets[i]);
        put(&le, "\"");
        put_series(&t, f->name, "_bucket", m->labels, le.buf, (double)cumulative);
        free(le.buf);
      }
      uint64_t count = atomic_load_explicit(&m->count, memory_order_relaxed);
      put_series(&t, f->name, "_bucket", m->labels, "le=\"+Inf\"", (double)count);
      put_series(&t, f->name, "_sum", m->labels, NULL,
                 from_bits(atomic_load_explicit(&m->value_bits, memory_order_relaxed)));
      put_series(&t, f->name, "_count", m->labels, NULL, (double)count);
    }
  }
  pthread_mutex_unlock(&registry_lock);
  if (len) *len = t.len;
  return t.buf;
}

static void free_series(sd_metric *m) {
  while (m) {
    sd_metric *next = m->next;
    free(m->labels);
    free(m->bucket_hits);
    free(m);
    m = next;
  }
}

static void free_family(metric_family *f) {
  free(f->name);
  free(f->help);
  free(f->buckets);
  free(f);
}

void metrics_reset(void) {
  pthread_mutex_lock(&registry_lock);
  for (metric_family *f = families; f;) {
    metric_family *next = f->next;
    free_series(f->series);
    free_family(f);
    f = next;
  }
  families = families_tail = NULL;
  for (sd_metric *m = detached; m;) {
    sd_metric *next = m->next;
    free_family(m->family);
    m->next = NULL;
    free_series(m);
    m = next;
  }
  detached = NULL;
  pthread_mutex_unlock(&registry_lock);
}

char *metrics_escape_label(const char *value) {
  text t = {xmalloc(64), 0, 64};
  t.buf[0] = '\0';
  for (const char *c = value ? value : ""; *c; c++) {
    if (*c == '\\')
      put(&t, "\\\\");
    else if (*c == '"')
      put(&t, "\\\"");
    else if (*c == '\n')
      put(&t, "\\n");
    else
      put(&t, "%c", *c);
  }
  return t.buf;
}
