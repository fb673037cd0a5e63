/* Clocks and allocation helpers for the core (see util.h). Allocation failure aborts:
 * a daemon that cannot allocate a few bytes cannot report anything useful either. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t util_now_mono_ns(void) {
  return clock_ns(CLOCK_MONOTONIC);
}
int64_t util_now_wall_ns(void) {
  return clock_ns(CLOCK_REALTIME);
}

static void out_of_memory(size_t size) {
  fprintf(stderr, "sensord: out of memory allocating %zu bytes\n", size);
  abort();
}

void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) out_of_memory(size);
  return p;
}

void *xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) out_of_memory(count * size);
  return p;
}

void *xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p) out_of_memory(size);
  return p;
}

char *xstrdup(const char *text) {
  size_t n = strlen(text) + 1;
  char *p = xmalloc(n);
  memcpy(p, text, n);
  return p;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *out = NULL;
  int n = vasprintf(&out, fmt, ap);
  va_end(ap);
  if (n < 0) out_of_memory(0);
  return out;
}

void util_grow(void **items, size_t *cap, size_t need, size_t item_size) {
  if (need <= *cap) return;
  size_t next = *cap ? *cap * 2 : 8;
  while (next < need) next *= 2;
  *items = xrealloc(*items, next * item_size);
  *cap = next;
}

/* The shortest %g text that reads back as exactly v (15, 16 or 17 significant digits), so
 * 0.00025 prints as "0.00025", not "0.00025000000000000001". */
const char *util_shortest_double(double v, char *buf, size_t size) {
  for (int precision = 15; precision <= 17; precision++) {
    snprintf(buf, size, "%.*g", precision, v);
    if (strtod(buf, NULL) == v) break;
  }
  return buf;
}
