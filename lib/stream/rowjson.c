/* Row serialization for the streaming outputs: the JSON writer behind every event
 * payload. Hand-rolled rather than jansson because it runs once per row on the publish
 * path and must print doubles in their shortest exact form (-0.0049, not -0.00489999…). */
#include "rowjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rj_init(rj_buf *b) {
  memset(b, 0, sizeof *b);
}

void rj_free(rj_buf *b) {
  free(b->data);
  rj_init(b);
}

static int rj_reserve(rj_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 128;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) {
    b->failed = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void rj_put(rj_buf *b, const char *s, size_t n) {
  if (rj_reserve(b, n) < 0) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void rj_puts(rj_buf *b, const char *s) {
  rj_put(b, s, strlen(s));
}

void rj_string(rj_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (rj_reserve(b, n + 2) < 0) return;
  rj_put(b, "\"", 1);
  size_t run = 0; /* bytes copied verbatim in one go */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    rj_put(b, s + run, i - run);
    run = i + 1;
    char esc[7] = {'\\', 0};
    switch (c) {
    case '"':
      esc[1] = '"';
      rj_put(b, esc, 2);
      break;
    case '\\':
      esc[1] = '\\';
      rj_put(b, esc, 2);
      break;
    case '\n':
      esc[1] = 'n';
      rj_put(b, esc, 2);
      break;
    case '\r':
      esc[1] = 'r';
      rj_put(b, esc, 2);
      break;
    case '\t':
      esc[1] = 't';
      rj_put(b, esc, 2);
      break;
    default:
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      rj_put(b, esc, 6);
    }
  }
  rj_put(b, s + run, n - run);
  rj_put(b, "\"", 1);
}

void rj_double(rj_buf *b, double d) {
  if (!isfinite(d)) {
    rj_put(b, "null", 4);
    return;
  }
  char tmp[40];
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  /* Keep it a JSON number that reads back as a double, not an integer. */
  if (!strpbrk(tmp, ".eEn")) {
    tmp[n++] = '.';
    tmp[n++] = '0';
    tmp[n] = '\0';
  }
  rj_put(b, tmp, (size_t)n);
}

void rj_int(rj_buf *b, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  rj_put(b, tmp, (size_t)n);
}

void rj_value(rj_buf *b, const sd_value *v) {
  switch (v->type) {
  case SD_BOOL:
    rj_puts(b, v->as.i ? "true" : "false");
    break;
  case SD_INT:
    rj_int(b, v->as.i);
    break;
  case SD_DOUBLE:
    rj_double(b, v->as.d);
    break;
  case SD_STRING:
    rj_string(b, v->as.s.ptr, (size_t)v->as.s.len);
    break;
  default:
    rj_put(b, "null", 4);
    break;
  }
}

void rj_chart_time(char *out, size_t cap, int64_t ns) {
  int64_t secs = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    secs -= 1;
  }
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(frac / 1000));
}
