/* Strict HTTP/1.1 request framing (RFC 9112): the checks libmicrohttpd leaves out, as pure
 * functions over the request target and the header fields, so they can be unit-tested and
 * fuzzed apart from any server. */
#ifndef SD_LIB_HTTP_FRAMING_H
#define SD_LIB_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef struct hf_framing {
  unsigned content_lengths;  /* Content-Length fields seen */
  uint64_t content_length;   /* the (agreed) value */
  unsigned transfer_codings; /* Transfer-Encoding fields seen */
  int chunked;               /* the last coding is chunked */
  unsigned hosts;            /* Host fields seen */
  unsigned status;           /* first refusal: 400 or 501; 0 = fine so far */
  char why[120];             /* what was wrong, for the answer and the log */
} hf_framing;

void hf_framing_init(hf_framing *fr);

/* The raw request target as the client sent it (before percent-decoding). len is where the
 * target ends on the request line: a NUL before it means the client embedded one. */
void hf_framing_target(hf_framing *fr, const char *raw, size_t len);

/* One header field, name and value as parsed. */
void hf_framing_field(hf_framing *fr, const char *name, const char *value);

/* After the last field: checks that need all of them. http10: HTTP/1.0 request. Returns
 * 0, or the status to refuse with (fr->why says why). */
unsigned hf_framing_finish(hf_framing *fr, int http10);

/* 1 when the request carries a body (Content-Length > 0 or chunked). */
int hf_framing_has_body(const hf_framing *fr);

#endif
