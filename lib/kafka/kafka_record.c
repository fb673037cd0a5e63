/* Parses Kafka message values for source_kafka with jansson and writes them into a
 * batch. Flattening uses the same `_` joining as source_http so a topic written by the
 * original Python producer or by sink_kafka reads back with identical field names. */
#include "kafka_record.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t kr_epoch_to_ns(int64_t v) {
  if (v <= 0) return v;
  if (v < 100000000000LL) return v * 1000000000LL; /* seconds */
  if (v < 100000000000000LL) return v * 1000000LL; /* milliseconds */
  if (v < 100000000000000000LL) return v * 1000LL; /* microseconds */
  return v;
}

static int kr_add_value(const sd_host_api *h, sd_batch *b, const char *name, size_t nlen,
                        json_t *v, int depth) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    return h->field_string(b, name, nlen, json_string_value(v), json_string_length(v)) != SD_OK;
  case JSON_INTEGER:
    return h->field_int(b, name, nlen, (int64_t)json_integer_value(v)) != SD_OK;
  case JSON_REAL:
    return h->field_double(b, name, nlen, json_real_value(v)) != SD_OK;
  case JSON_TRUE:
    return h->field_bool(b, name, nlen, 1) != SD_OK;
  case JSON_FALSE:
    return h->field_bool(b, name, nlen, 0) != SD_OK;
  case JSON_NULL:
    return h->field_null(b, name, nlen) != SD_OK;
  case JSON_OBJECT:
    if (depth < 8) {
      const char *k;
      json_t *child;
      json_object_foreach(v, k, child) {
        size_t klen = strlen(k);
        char *full = malloc(nlen + 1 + klen + 1);
        if (!full) return 1;
        memcpy(full, name, nlen);
        full[nlen] = '_';
        memcpy(full + nlen + 1, k, klen + 1);
        int rc = kr_add_value(h, b, full, nlen + 1 + klen, child, depth + 1);
        free(full);
        if (rc) return rc;
      }
      return 0;
    }
    /* too deep: kept as JSON text */
    __attribute__((fallthrough));
  case JSON_ARRAY: {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return 1;
    int rc = h->field_string(b, name, nlen, text, strlen(text)) != SD_OK;
    free(text);
    return rc;
  }
  }
  return 0;
}

kr_result kr_add_message(const sd_host_api *host, sd_batch *batch, const void *payload,
                         size_t len, const void *key, size_t key_len, int64_t timestamp_ms,
                         int64_t now_ns, char *why, size_t why_len) {
  json_error_t jerr;
  if (!payload || len == 0) {
    snprintf(why, why_len, "empty value");
    return KR_NOT_JSON;
  }
  json_t *root = json_loadb(payload, len, 0, &jerr);
  if (!root) {
    snprintf(why, why_len, "not JSON: %s at byte %d", jerr.text, jerr.position);
    return KR_NOT_JSON;
  }
  if (!json_is_object(root)) {
    snprintf(why, why_len, "JSON value is not an object");
    json_decref(root);
    return KR_NOT_OBJECT;
  }
  int64_t ts = timestamp_ms >= 0 ? timestamp_ms * 1000000LL : now_ns;
  json_t *time = json_object_get(root, "time");
  if (json_is_integer(time) && json_integer_value(time) > 0)
    ts = kr_epoch_to_ns((int64_t)json_integer_value(time));
  kr_result result = KR_OK;
  if (host->record_begin(batch, ts, key, key ? key_len : 0) != SD_OK) {
    result = KR_NO_MEMORY;
  } else {
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
      if (kr_add_value(host, batch, k, strlen(k), v, 0)) {
        result = KR_NO_MEMORY;
        break;
      }
    }
  }
  if (result == KR_NO_MEMORY) snprintf(why, why_len, "out of memory");
  json_decref(root);
  return result;
}
