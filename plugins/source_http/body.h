/* A request body being received: bytes appended as they stream in, inflated on the fly
 * when Content-Encoding is gzip or deflate, with the size limit applied to the bytes
 * kept (the inflated size), so an over-limit body is refused without buffering it. */
#ifndef SOURCE_HTTP_BODY_H
#define SOURCE_HTTP_BODY_H

#include <stddef.h>
#include <zlib.h>

typedef enum body_encoding { BODY_IDENTITY = 0, BODY_GZIP = 1 } body_encoding;

typedef enum body_status {
  BODY_OK = 0,
  BODY_TOO_LARGE = 1,    /* more than limit bytes after inflating */
  BODY_BAD_ENCODING = 2, /* corrupt or truncated compressed stream */
  BODY_NO_MEMORY = 3,
  BODY_OVER_BUDGET = 4 /* the server's request memory budget is spent: try again later */
} body_status;

/* Where a body's memory is charged: take returns 0, or -1 when the budget is spent. */
typedef struct body_budget {
  int (*take)(void *ctx, size_t bytes);
  void (*give)(void *ctx, size_t bytes);
  void *ctx;
} body_budget;

/* Bytes allocated past data[cap], and zeroed past data[len] by body_finish, so that a
 * parser that reads ahead (simdjson) can take the body where it lies, without a copy. */
#define BODY_PADDING 64

typedef struct body_buf {
  char *data; /* cap + BODY_PADDING bytes */
  size_t len;
  size_t cap;
  size_t limit;
  size_t wire_bytes; /* bytes received before inflating */
  body_encoding encoding;
  int z_ready; /* inflate state initialised */
  int z_done;  /* end of the compressed stream seen */
  z_stream z;
  char why[96];              /* reason for BODY_BAD_ENCODING */
  const body_budget *budget; /* NULL: not charged */
  size_t charged;            /* bytes taken from the budget, given back by body_free */
} body_buf;

/* Parses a Content-Encoding header value (NULL = none). Returns 0 and sets *out, or -1
 * for an encoding this source cannot decode. "gzip", "x-gzip" and "deflate" inflate. */
int body_encoding_parse(const char *header, body_encoding *out);

/* size_hint: the Content-Length when known (0 = unknown), used to size the buffer once. */
void body_init(body_buf *b, size_t limit, body_encoding encoding, size_t size_hint);
/* The same, charging every buffer and inflate state to budget (it must outlive b). */
body_status body_init_charged(body_buf *b, size_t limit, body_encoding encoding,
                              size_t size_hint, const body_budget *budget);
body_status body_append(body_buf *b, const char *data, size_t len);
/* At the end of the request: a compressed stream must be complete. Zeroes the padding. */
body_status body_finish(body_buf *b);
void body_free(body_buf *b);

#endif
