/* Serializes sensord records as the flat JSON objects the original project put on the
 * Kafka topic. Hand-rolled instead of jansson because it is the ingest hot path and the
 * shortest round-trip double format keeps values byte-identical to what phones sent. */
#include "kafka_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kj_buf_reset(kj_buf *b) {
  b->len = 0;
}

void kj_buf_free(kj_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int kj_reserve(kj_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int kj_buf_append(kj_buf *b, const char *s, size_t n) {
  if (kj_reserve(b, n)) return -1;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int kj_append_string(kj_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (kj_reserve(b, n + 2)) return -1;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    size_t el = 0;
    switch (c) {
    case '"':
      esc[0] = '\\', esc[1] = '"', el = 2;
      break;
    case '\\':
      esc[0] = '\\', esc[1] = '\\', el = 2;
      break;
    case '\n':
      esc[0] = '\\', esc[1] = 'n', el = 2;
      break;
    case '\r':
      esc[0] = '\\', esc[1] = 'r', el = 2;
      break;
    case '\t':
      esc[0] = '\\', esc[1] = 't', el = 2;
      break;
    default:
      if (c < 0x20) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4], esc[5] = hex[c & 15], el = 6;
      }
    }
    if (el) {
      if (kj_reserve(b, el + (n - i) + 1)) return -1;
      memcpy(b->data + b->len, esc, el);
      b->len += el;
    } else {
      b->data[b->len++] = (char)c;
    }
  }
  b->data[b->len++] = '"';
  b->data[b->len] = '\0';
  return 0;
}

int kj_append_double(kj_buf *b, double d) {
  if (!isfinite(d)) return kj_buf_append(b, "null", 4); /* JSON has no NaN/Infinity */
  char text[40];
  int n = 0;
  for (int precision = 15; precision <= 17; precision++) {
    n = snprintf(text, sizeof text, "%.*g", precision, d);
    if (strtod(text, NULL) == d) break;
  }
  /* Keep it a double when read back: 1 -> 1.0 */
  if (!strpbrk(text, ".eEn")) n += snprintf(text + n, sizeof text - (size_t)n, ".0");
  return kj_buf_append(b, text, (size_t)n);
}

static int kj_is_digits(const char *s, size_t n) {
  if (n == 0 || n > 19) return 0;
  for (size_t i = (s[0] == '-' && n > 1) ? 1 : 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

static int kj_append_value(kj_buf *b, const sd_field *f) {
  char num[32];
  const sd_value *v = &f->value;
  switch (v->type) {
  case SD_BOOL:
    return v->as.i ? kj_buf_append(b, "true", 4) : kj_buf_append(b, "false", 5);
  case SD_INT:
    return kj_buf_append(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)v->as.i));
  case SD_DOUBLE:
    return kj_append_double(b, v->as.d);
  case SD_STRING:
    /* Some relays send `time` as a numeric string; the topic keeps it an integer. */
    if (f->name_len == 4 && memcmp(f->name, "time", 4) == 0 &&
        kj_is_digits(v->as.s.ptr, (size_t)v->as.s.len)) {
      char *end = NULL;
      memcpy(num, v->as.s.ptr, (size_t)v->as.s.len);
      num[v->as.s.len] = '\0';
      long long t = strtoll(num, &end, 10);
      if (end && *end == '\0')
        return kj_buf_append(b, num, (size_t)snprintf(num, sizeof num, "%lld", t));
    }
    return kj_append_string(b, v->as.s.ptr, (size_t)v->as.s.len);
  default:
    return kj_buf_append(b, "null", 4);
  }
}

int kj_record_json(kj_buf *b, const sd_record_view *record) {
  if (kj_buf_append(b, "{", 1)) return -1;
  for (uint64_t i = 0; i < record->field_count; i++) {
    const sd_field *f = &record->fields[i];
    if ((i && kj_buf_append(b, ",", 1)) || kj_append_string(b, f->name, (size_t)f->name_len) ||
        kj_buf_append(b, ":", 1) || kj_append_value(b, f))
      return -1;
  }
  return kj_buf_append(b, "}", 1);
}

const char *kj_record_key(const sd_record_view *record, size_t *len) {
  if (record->key) {
    *len = (size_t)record->key_len;
    return record->key;
  }
  for (uint64_t i = 0; i < record->field_count; i++) {
    const sd_field *f = &record->fields[i];
    if (f->name_len == 8 && memcmp(f->name, "deviceId", 8) == 0 && f->value.type == SD_STRING) {
      *len = (size_t)f->value.as.s.len;
      return f->value.as.s.ptr;
    }
  }
  *len = 0;
  return NULL;
}
