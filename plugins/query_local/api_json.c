/* ksqlDB's wire bytes: JSON values as Jackson writes them and the header, row, error and
 * final lines of the delimited, JSON-array and v1 StreamedRow formats. Hand-written rather
 * than jansson because it runs once per row per push query on the ingest thread. */
#include "api_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void api_buf_free(api_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

static int buf_reserve(api_buf *b, size_t extra) {
  if (b->oom) return -1;
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void api_buf_put(api_buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n) < 0) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void api_buf_puts(api_buf *b, const char *s) {
  api_buf_put(b, s, strlen(s));
}

void api_buf_printf(api_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    api_buf_put(b, small, (size_t)n);
    return;
  }
  if (buf_reserve(b, (size_t)n) < 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

char *api_buf_take(api_buf *b, size_t *len) {
  if (b->oom) {
    api_buf_free(b);
    return NULL;
  }
  if (!b->data) api_buf_put(b, "", 0);
  if (b->oom) return NULL;
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, surrogates
 * or code points past U+10FFFF), or 0. */
static size_t utf8_valid_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  size_t n = c >= 0xC2 && c <= 0xDF   ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (!n || n > avail) return 0;
  for (size_t k = 1; k < n; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
      (c == 0xF4 && s[1] > 0x8F))
    return 0;
  return n;
}

void api_json_string(api_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (buf_reserve(b, n + 2) < 0) return;
  api_buf_put(b, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      /* Valid UTF-8 passes through; anything else (a message quoting a client's broken
       * bytes) becomes U+FFFD, as a Java server decoding the same bytes shows it, so the
       * answer is always valid JSON. */
      size_t len = utf8_valid_len((const unsigned char *)s + i, n - i);
      if (len) {
        i += len - 1;
        continue;
      }
      api_buf_put(b, s + run, i - run);
      api_buf_put(b, "\xEF\xBF\xBD", 3);
      run = i + 1;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    api_buf_put(b, s + run, i - run);
    run = i + 1;
    char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
    size_t el = 2;
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      el = 6;
    }
    api_buf_put(b, esc, el);
  }
  api_buf_put(b, s + run, n - run);
  api_buf_put(b, "\"", 1);
}

void api_json_double(api_buf *b, double d) {
  if (!isfinite(d)) {
    api_buf_put(b, "null", 4);
    return;
  }
  if (d == 0) {
    api_buf_puts(b, signbit(d) ? "-0.0" : "0.0");
    return;
  }
  /* Shortest decimal that reads back as the same double. */
  char sci[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
    if (strtod(sci, NULL) == d) break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = sci;
  int neg = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1) digits[nd++] = *p;
  int exp10 = *p == 'e' ? atoi(p + 1) : 0;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = '\0';

  char out[64];
  size_t o = 0;
  if (neg) out[o++] = '-';
  if (exp10 >= -3 && exp10 < 7) {
    if (exp10 < 0) {
      out[o++] = '0';
      out[o++] = '.';
      for (int z = 0; z < -exp10 - 1; z++) out[o++] = '0';
      for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
      for (int i = 0; i <= exp10; i++) out[o++] = (size_t)i < nd ? digits[i] : '0';
      out[o++] = '.';
      if ((size_t)exp10 + 1 < nd)
        for (size_t i = (size_t)exp10 + 1; i < nd; i++) out[o++] = digits[i];
      else
        out[o++] = '0';
    }
    api_buf_put(b, out, o);
    return;
  }
  out[o++] = digits[0];
  out[o++] = '.';
  if (nd > 1)
    for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
  else
    out[o++] = '0';
  o += (size_t)snprintf(out + o, sizeof out - o, "E%d", exp10);
  api_buf_put(b, out, o);
}

static void json_timestamp_ms(api_buf *b, int64_t ms) {
  int64_t secs = ms / 1000, frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  time_t t = (time_t)secs;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    api_buf_put(b, "null", 4);
    return;
  }
  api_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03d\"", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

void api_json_value(api_buf *b, const sd_value *v, const char *type) {
  switch (v->type) {
  case SD_BOOL:
    api_buf_puts(b, v->as.i ? "true" : "false");
    break;
  case SD_INT:
    if (type && strcmp(type, "TIMESTAMP") == 0)
      json_timestamp_ms(b, v->as.i);
    else if (type && strcmp(type, "DOUBLE") == 0)
      api_json_double(b, (double)v->as.i);
    else
      api_buf_printf(b, "%lld", (long long)v->as.i);
    break;
  case SD_DOUBLE:
    api_json_double(b, v->as.d);
    break;
  case SD_STRING:
    api_json_string(b, v->as.s.ptr, (size_t)v->as.s.len);
    break;
  default:
    api_buf_put(b, "null", 4);
  }
}

const char *api_format_content_type(api_format fmt) {
  switch (fmt) {
  case API_FMT_JSON:
    return "application/json";
  case API_FMT_V1:
    return "application/vnd.ksql.v1+json";
  default:
    return "application/vnd.ksqlapi.delimited.v1";
  }
}

api_format api_format_from_accept(const char *accept) {
  if (!accept) return API_FMT_DELIMITED;
  const char *p = accept;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    size_t n = strcspn(p, ",;");
    size_t len = n;
    while (len && p[len - 1] == ' ') len--;
    if (len == 28 && strncasecmp(p, "application/vnd.ksql.v1+json", len) == 0)
      return API_FMT_V1;
    if (len == 16 && strncasecmp(p, "application/json", len) == 0) return API_FMT_JSON;
    if (len == 36 && strncasecmp(p, "application/vnd.ksqlapi.delimited.v1", len) == 0)
      return API_FMT_DELIMITED;
    p += n;
    if (*p == ';') p += strcspn(p, ",");
  }
  return API_FMT_DELIMITED;
}

void api_line_header(api_buf *b, api_format fmt, const char *query_id, size_t n,
                     const char *const *names, const char *const *types) {
  if (fmt == API_FMT_V1) {
    api_buf_puts(b, "[{\"header\":{\"queryId\":");
    api_json_string(b, query_id, strlen(query_id));
    api_buf_puts(b, ",\"schema\":");
    api_buf schema = {0};
    for (size_t i = 0; i < n; i++)
      api_buf_printf(&schema, "%s`%s` %s", i ? ", " : "", names[i], types[i]);
    api_json_string(b, schema.data ? schema.data : "", schema.len);
    if (schema.oom) b->oom = 1;
    api_buf_free(&schema);
    api_buf_puts(b, "}},\n");
    return;
  }
  if (fmt == API_FMT_JSON) api_buf_put(b, "[", 1);
  api_buf_puts(b, "{\"queryId\":");
  api_json_string(b, query_id, strlen(query_id));
  api_buf_puts(b, ",\"columnNames\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) api_buf_put(b, ",", 1);
    api_json_string(b, names[i], strlen(names[i]));
  }
  api_buf_puts(b, "],\"columnTypes\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) api_buf_put(b, ",", 1);
    api_json_string(b, types[i], strlen(types[i]));
  }
  api_buf_puts(b, "]}");
  if (fmt == API_FMT_DELIMITED) api_buf_put(b, "\n", 1);
}

void api_line_row(api_buf *b, api_format fmt, const sd_value *values, size_t n,
                  const char *const *types) {
  if (fmt == API_FMT_V1)
    api_buf_puts(b, "{\"row\":{\"columns\":[");
  else if (fmt == API_FMT_JSON)
    api_buf_puts(b, ",[");
  else
    api_buf_put(b, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i) api_buf_put(b, ",", 1);
    api_json_value(b, &values[i], types ? types[i] : NULL);
  }
  if (fmt == API_FMT_V1)
    api_buf_puts(b, "]}},\n");
  else if (fmt == API_FMT_JSON)
    api_buf_put(b, "]", 1);
  else
    api_buf_put(b, "]\n", 2);
}

static void error_object(api_buf *b, int code, const char *message) {
  api_buf_printf(b, "{\"@type\":\"generic_error\",\"error_code\":%d,\"message\":", code);
  api_json_string(b, message, strlen(message));
  api_buf_put(b, "}", 1);
}

void api_line_error(api_buf *b, api_format fmt, int code, const char *message) {
  if (fmt == API_FMT_V1) {
    api_buf_puts(b, "{\"errorMessage\":");
    error_object(b, code, message);
    api_buf_puts(b, "},\n");
  } else if (fmt == API_FMT_JSON) {
    api_buf_put(b, ",", 1);
    error_object(b, code, message);
  } else {
    error_object(b, code, message);
    api_buf_put(b, "\n", 1);
  }
}

void api_line_final(api_buf *b, api_format fmt, const char *message) {
  if (fmt != API_FMT_V1) return;
  api_buf_puts(b, "{\"finalMessage\":");
  api_json_string(b, message, strlen(message));
  api_buf_put(b, "}", 1);
}

const char *api_format_closer(api_format fmt) {
  return fmt == API_FMT_DELIMITED ? "" : "]";
}

void api_error_body(api_buf *b, int code, const char *message, const char *sql) {
  if (code != 40001 && code != 40002) {
    error_object(b, code, message);
    return;
  }
  api_buf_printf(b, "{\"@type\":\"statement_error\",\"error_code\":%d,\"message\":", code);
  api_json_string(b, message, strlen(message));
  api_buf_puts(b, ",\"statementText\":");
  api_json_string(b, sql ? sql : "", sql ? strlen(sql) : 0);
  api_buf_puts(b, ",\"entities\":[]}");
}
