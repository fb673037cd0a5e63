/* Differential libFuzzer target: every input goes through source_http's jansson parsers and
 * the simdjson fast path (as a Sensor Logger push and as flat records, padded and not).
 * The fast path must decline, or build byte-for-byte the records and reply jansson builds. */
#include "../../plugins/source_http/ingest.h"
#include "../../plugins/source_http/ingest_fast.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every builder call appended to one byte log: a tag, the name, the exact value bytes. */
typedef struct fd_log {
  unsigned char *p;
  size_t len, cap;
} fd_log;

static int fd_put(fd_log *l, const void *data, size_t n) {
  if (l->len + n > l->cap) {
    size_t cap = l->cap ? l->cap : 4096;
    while (cap < l->len + n) cap *= 2;
    unsigned char *q = realloc(l->p, cap);
    if (!q) abort();
    l->p = q;
    l->cap = cap;
  }
  memcpy(l->p + l->len, data, n);
  l->len += n;
  return 0;
}

static void fd_head(fd_log *l, char tag, const char *name, size_t name_len) {
  fd_put(l, &tag, 1);
  fd_put(l, &name_len, sizeof name_len);
  fd_put(l, name, name_len + 1); /* with its NUL */
}
static int fd_begin(void *ctx, int64_t ts, const char *key, size_t key_len) {
  fd_log *l = ctx;
  fd_put(l, "R", 1);
  fd_put(l, &ts, sizeof ts);
  char has = key != NULL;
  fd_put(l, &has, 1);
  fd_put(l, &key_len, sizeof key_len);
  if (key) fd_put(l, key, key_len);
  return 0;
}
static int fd_null(void *ctx, const char *name, size_t name_len) {
  fd_head(ctx, 'n', name, name_len);
  return 0;
}
static int fd_bool(void *ctx, const char *name, size_t name_len, int v) {
  fd_head(ctx, 'b', name, name_len);
  return fd_put(ctx, &v, sizeof v);
}
static int fd_int(void *ctx, const char *name, size_t name_len, int64_t v) {
  fd_head(ctx, 'i', name, name_len);
  return fd_put(ctx, &v, sizeof v);
}
static int fd_double(void *ctx, const char *name, size_t name_len, double v) {
  fd_head(ctx, 'd', name, name_len);
  return fd_put(ctx, &v, sizeof v); /* the bits: -0.0 and 0.0 differ */
}
static int fd_string(void *ctx, const char *name, size_t name_len, const char *v, size_t len) {
  fd_head(ctx, 's', name, name_len);
  fd_put(ctx, &len, sizeof len);
  return fd_put(ctx, v, len);
}

static rb_builder fd_builder(fd_log *l) {
  rb_builder b = {.ctx = l,
                  .record_begin = fd_begin,
                  .field_null = fd_null,
                  .field_bool = fd_bool,
                  .field_int = fd_int,
                  .field_double = fd_double,
                  .field_string = fd_string};
  return b;
}

static void fd_compare(const char *data, size_t len, int records) {
  static const ing_records_opts opts = {.time_field = "time", .key_field = "deviceId"};
  fd_log slow = {0}, fast = {0};
  rb_builder bs = fd_builder(&slow);
  ing_summary ss, fs;
  ing_error err;
  int slow_rc = records ? ing_parse_records(data, len, &opts, 7, &bs, &ss, &err)
                        : ing_parse_sensorlogger(data, len, 7, &bs, &ss, &err);
  int accepted = -1;
  for (int padded = 0; padded < 2; padded++) {
    /* exactly len bytes when unpadded, so ASan sees any read past the body */
    char *copy = malloc(len + (padded ? ING_FAST_PADDING : 0) + 1);
    if (!copy) abort();
    memcpy(copy, data, len);
    if (padded) memset(copy + len, len & 1 ? '"' : '9', ING_FAST_PADDING);
    fast.len = 0;
    rb_builder bf = fd_builder(&fast);
    int fast_rc = records ? ing_fast_records(copy, len, padded, &opts, 7, &bf, &fs)
                          : ing_fast_sensorlogger(copy, len, padded, 7, &bf, &fs);
    free(copy);
    if (fast_rc != ING_FAST_OK && fast_rc != ING_FAST_DECLINED) abort();
    if (accepted >= 0 && accepted != (fast_rc == ING_FAST_OK)) abort();
    accepted = fast_rc == ING_FAST_OK;
    if (!accepted) {
      if (fs.reply) abort();
      continue;
    }
    if (slow_rc != 0) {
      fprintf(stderr, "fast path accepted what jansson refused: %d %s\n", err.status,
              err.detail);
      abort();
    }
    if (fs.records != ss.records || fs.test_push != ss.test_push ||
        fs.reply_len != ss.reply_len || strcmp(fs.reply, ss.reply) || fast.len != slow.len ||
        (slow.len && memcmp(fast.p, slow.p, slow.len))) {
      fprintf(stderr, "fast path built other records or reply than jansson\n");
      abort();
    }
    ing_summary_free(&fs);
  }
  if (slow_rc == 0) ing_summary_free(&ss);
  free(slow.p);
  free(fast.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fd_compare((const char *)data, size, 0);
  fd_compare((const char *)data, size, 1);
  return 0;
}
