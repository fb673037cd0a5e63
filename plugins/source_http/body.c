/* Streaming request-body accumulation with an inflated-size limit: identity bodies are
 * copied once into a buffer sized from Content-Length; gzip/deflate bodies are inflated
 * chunk by chunk and refused the moment the output passes the limit (zip bombs included). */
#include "body.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int body_encoding_parse(const char *header, body_encoding *out) {
  if (!header) {
    *out = BODY_IDENTITY;
    return 0;
  }
  while (*header == ' ' || *header == '\t') header++;
  size_t n = strlen(header);
  while (n && (header[n - 1] == ' ' || header[n - 1] == '\t')) n--;
  if (n == 0 || (n == 8 && !strncasecmp(header, "identity", 8))) {
    *out = BODY_IDENTITY;
    return 0;
  }
  if ((n == 4 && !strncasecmp(header, "gzip", 4)) ||
      (n == 6 && !strncasecmp(header, "x-gzip", 6)) ||
      (n == 7 && !strncasecmp(header, "deflate", 7))) {
    *out = BODY_GZIP;
    return 0;
  }
  return -1;
}

/* zlib's inflate state and 32 KiB window, charged once per gzip body. */
#define INFLATE_STATE_BYTES (48u * 1024u)

static int body_charge(body_buf *b, size_t n) {
  if (!b->budget || !n) return 0;
  if (b->budget->take(b->budget->ctx, n)) return -1;
  b->charged += n;
  return 0;
}

body_status body_init_charged(body_buf *b, size_t limit, body_encoding encoding,
                              size_t size_hint, const body_budget *budget) {
  memset(b, 0, sizeof *b);
  b->limit = limit;
  b->encoding = encoding;
  b->budget = budget;
  if (encoding == BODY_IDENTITY && size_hint > 0 && size_hint <= limit) {
    if (body_charge(b, size_hint + BODY_PADDING)) return BODY_OVER_BUDGET;
    b->data = malloc(size_hint + BODY_PADDING);
    if (b->data) b->cap = size_hint;
  }
  return BODY_OK;
}

void body_init(body_buf *b, size_t limit, body_encoding encoding, size_t size_hint) {
  body_init_charged(b, limit, encoding, size_hint, NULL);
}

/* Grows the buffer to at least `need` bytes, never beyond limit + 1 (one byte past the
 * limit is enough to know a body is too large). */
static int body_grow(body_buf *b, size_t need) {
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap * 2 : 16384;
  if (cap < need) cap = need;
  if (cap > b->limit + 1) cap = b->limit + 1;
  if (cap < need) return -1;
  size_t more = b->data ? cap - b->cap : cap + BODY_PADDING;
  if (body_charge(b, more)) return -2;
  char *p = realloc(b->data, cap + BODY_PADDING);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

static body_status body_bad(body_buf *b, const char *what) {
  snprintf(b->why, sizeof b->why, "%s", what ? what : "corrupt compressed body");
  return BODY_BAD_ENCODING;
}

static body_status body_inflate(body_buf *b, const char *data, size_t len) {
  if (!b->z_ready) {
    if (body_charge(b, INFLATE_STATE_BYTES)) return BODY_OVER_BUDGET;
    if (inflateInit2(&b->z, 15 + 32) != Z_OK) return BODY_NO_MEMORY; /* gzip or zlib */
    b->z_ready = 1;
  }
  b->z.next_in = (Bytef *)(uintptr_t)data;
  b->z.avail_in = (uInt)len;
  for (;;) {
    if (b->z_done) {
      if (b->z.avail_in == 0) return BODY_OK;
      if (inflateReset(&b->z) != Z_OK) return body_bad(b, NULL); /* next gzip member */
      b->z_done = 0;
    }
    if (b->len == b->cap) {
      int g = body_grow(b, b->len + 1);
      if (g) return g == -2 ? BODY_OVER_BUDGET : BODY_NO_MEMORY;
    }
    size_t room = b->cap - b->len;
    if (room > (1u << 30)) room = 1u << 30;
    b->z.next_out = (Bytef *)b->data + b->len;
    b->z.avail_out = (uInt)room;
    int ret = inflate(&b->z, Z_NO_FLUSH);
    b->len += room - b->z.avail_out;
    if (b->len > b->limit) return BODY_TOO_LARGE;
    switch (ret) {
    case Z_STREAM_END:
      b->z_done = 1;
      continue;
    case Z_OK:
      break;
    case Z_BUF_ERROR: /* no progress: needs more input or more room */
      if (b->z.avail_in == 0) return BODY_OK;
      if (b->z.avail_out == 0) continue;
      return body_bad(b, b->z.msg);
    case Z_MEM_ERROR:
      return BODY_NO_MEMORY;
    default:
      return body_bad(b, b->z.msg);
    }
    if (b->z.avail_in == 0 && b->z.avail_out > 0) return BODY_OK;
  }
}

body_status body_append(body_buf *b, const char *data, size_t len) {
  if (len > b->limit || b->wire_bytes > b->limit - len) {
    b->wire_bytes += len;
    return BODY_TOO_LARGE; /* a compressed body bigger than the limit is refused too */
  }
  b->wire_bytes += len;
  if (b->encoding == BODY_GZIP) return body_inflate(b, data, len);
  if (len > b->limit - b->len) return BODY_TOO_LARGE;
  int g = body_grow(b, b->len + len);
  if (g) return g == -2 ? BODY_OVER_BUDGET : BODY_NO_MEMORY;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return BODY_OK;
}

body_status body_finish(body_buf *b) {
  if (b->data) memset(b->data + b->len, 0, BODY_PADDING);
  if (b->encoding != BODY_GZIP) return BODY_OK;
  if (!b->z_ready) return body_bad(b, "empty compressed body");
  if (!b->z_done) return body_bad(b, "truncated compressed body");
  return BODY_OK;
}

void body_free(body_buf *b) {
  if (b->z_ready) inflateEnd(&b->z);
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->z_ready = 0;
  if (b->charged && b->budget) b->budget->give(b->budget->ctx, b->charged);
  b->charged = 0;
}
