/* Strict request framing (see framing.h). Every refusal here closes the connection: once
 * framing is in doubt, nothing after it on the connection can be trusted as a request. */
#include "framing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void hf_framing_init(hf_framing *fr) {
  memset(fr, 0, sizeof *fr);
}

static void refuse(hf_framing *fr, unsigned status, const char *why) {
  if (fr->status) return; /* the first reason is the one reported */
  fr->status = status;
  snprintf(fr->why, sizeof fr->why, "%s", why);
}

static int hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void hf_framing_target(hf_framing *fr, const char *raw, size_t len) {
  if (!raw) return;
  /* libmicrohttpd keeps a NUL from the request line: the string then ends early. */
  if (strnlen(raw, len) != len) {
    refuse(fr, 400, "NUL byte in the request target");
    return;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)raw[i];
    if (c < 0x21 || c == 0x7f) {
      refuse(fr, 400, "control character or space in the request target");
      return;
    }
    /* RFC 3986 targets are ASCII; clients percent-encode anything else. */
    if (c >= 0x80) {
      refuse(fr, 400, "non-ASCII byte in the request target (percent-encode it)");
      return;
    }
    if (c == '%') {
      if (i + 2 >= len || !hex_digit(raw[i + 1]) || !hex_digit(raw[i + 2])) {
        refuse(fr, 400, "malformed percent-escape in the request target");
        return;
      }
      /* %00 decodes to a NUL that would cut the path short inside the server. */
      if (raw[i + 1] == '0' && raw[i + 2] == '0') {
        refuse(fr, 400, "%00 in the request target");
        return;
      }
    }
  }
}

/* RFC 9110 token characters: what a field name may hold. */
static int is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_ows(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return p;
}

/* Content-Length: digits, or a list of identical digit strings ("5, 5"). */
static void field_content_length(hf_framing *fr, const char *value) {
  const char *p = skip_ows(value);
  int any = 0;
  while (*p) {
    if (*p < '0' || *p > '9') {
      refuse(fr, 400, "Content-Length is not a number");
      return;
    }
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
      if (v > (UINT64_MAX - 9) / 10) {
        refuse(fr, 400, "Content-Length out of range");
        return;
      }
      v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if ((fr->content_lengths || any) && v != fr->content_length) {
      refuse(fr, 400, "conflicting Content-Length values");
      return;
    }
    fr->content_length = v;
    any = 1;
    p = skip_ows(p);
    if (*p == ',')
      p = skip_ows(p + 1);
    else if (*p) {
      refuse(fr, 400, "Content-Length is not a number");
      return;
    }
  }
  if (!any) refuse(fr, 400, "empty Content-Length");
  fr->content_lengths++;
}

/* Transfer-Encoding: only "chunked", and only as the last coding; others are 501. */
static void field_transfer_encoding(hf_framing *fr, const char *value) {
  const char *p = value;
  fr->transfer_codings++;
  for (;;) {
    p = skip_ows(p);
    const char *start = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != ';') p++;
    size_t n = (size_t)(p - start);
    if (!n) {
      refuse(fr, 400, "empty transfer coding");
      return;
    }
    if (fr->chunked) {
      refuse(fr, 400, "a transfer coding after chunked");
      return;
    }
    if (n == 7 && strncasecmp(start, "chunked", 7) == 0)
      fr->chunked = 1;
    else {
      refuse(fr, 501, "unsupported transfer coding (only chunked is)");
      return;
    }
    p = skip_ows(p);
    if (*p == ';') {
      refuse(fr, 400, "parameters on a transfer coding");
      return;
    }
    if (!*p) return;
    if (*p != ',') {
      refuse(fr, 400, "malformed Transfer-Encoding");
      return;
    }
    p++;
  }
}

void hf_framing_field(hf_framing *fr, const char *name, const char *value) {
  if (!name || !*name) {
    refuse(fr, 400, "empty header field name");
    return;
  }
  for (const unsigned char *c = (const unsigned char *)name; *c; c++)
    if (!is_tchar(*c)) {
      /* "Transfer-Encoding : chunked" would otherwise be a field nobody reads. */
      refuse(fr, 400, "invalid character (such as a space) in a header field name");
      return;
    }
  if (!value) value = "";
  for (const unsigned char *c = (const unsigned char *)value; *c; c++)
    if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
      refuse(fr, 400, "control character in a header field value");
      return;
    }
  if (strcasecmp(name, "Content-Length") == 0)
    field_content_length(fr, value);
  else if (strcasecmp(name, "Transfer-Encoding") == 0)
    field_transfer_encoding(fr, value);
  else if (strcasecmp(name, "Host") == 0)
    fr->hosts++;
}

unsigned hf_framing_finish(hf_framing *fr, int http10) {
  if (fr->status) return fr->status;
  if (fr->transfer_codings && fr->content_lengths)
    refuse(fr, 400, "both Content-Length and Transfer-Encoding");
  else if (fr->transfer_codings && http10)
    refuse(fr, 400, "Transfer-Encoding in an HTTP/1.0 request");
  else if (fr->transfer_codings && !fr->chunked)
    refuse(fr, 400, "Transfer-Encoding without chunked last");
  else if (fr->hosts > 1)
    refuse(fr, 400, "more than one Host field");
  return fr->status;
}

int hf_framing_has_body(const hf_framing *fr) {
  return fr->chunked || fr->content_length > 0;
}
