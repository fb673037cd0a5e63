/* libFuzzer target over lib/http/framing.c: the input is a request head without its method,
 * "TARGET[ HTTP/1.0]" then one "Name: value" per line up to a blank line (a line without ':'
 * is a name with no value), split the way libmicrohttpd hands them over (value without
 * surrounding blanks, a NUL ends a field). Every check runs, and the verdict is held against
 * invariants and a second, plain reading of the rules the verdict must agree with. */
#include "http/framing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void fz_fail(const hf_framing *fr, const char *what) {
  fprintf(stderr, "fuzz_framing: %s (status %u, why \"%s\")\n", what, fr->status, fr->why);
  abort();
}

/* The target rule read plainly: printable ASCII only (no control byte, space, DEL or byte
 * from 0x80), each '%' followed by two hex digits, never %00. 1 when acceptable. */
static int fz_target_ok(const char *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c <= ' ' || c >= 0x7f) return 0;
    if (c == '%') {
      if (i + 2 >= n) return 0; /* both digits inside the target */
      if (!strchr("0123456789abcdefABCDEF", t[i + 1]) ||
          !strchr("0123456789abcdefABCDEF", t[i + 2]))
        return 0;
      if (t[i + 1] == '0' && t[i + 2] == '0') return 0;
    }
  }
  return 1;
}

/* Content-Length read plainly: comma-separated decimal numbers, all equal. */
static int fz_content_length(const char *v, uint64_t *out) {
  int any = 0;
  uint64_t first = 0;
  const char *p = v;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    if (*p < '0' || *p > '9') return 0;
    uint64_t x = 0;
    while (*p >= '0' && *p <= '9') {
      if (x > (UINT64_MAX - 9) / 10) return 0;
      x = x * 10 + (uint64_t)(*p++ - '0');
    }
    if (any && x != first) return 0;
    first = x, any = 1;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    if (*p++ != ',') return 0;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break; /* a trailing comma is tolerated, as framing.c does */
  }
  *out = first;
  return any;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';

  hf_framing fr;
  hf_framing_init(&fr);
  if (fr.status || fr.content_lengths || fr.transfer_codings || fr.hosts || fr.chunked)
    fz_fail(&fr, "init left state");

  /* The request line: the target runs to the end of the line (a NUL inside it included). */
  char *eol = memchr(buf, '\n', size);
  size_t line_len = eol ? (size_t)(eol - buf) : size;
  if (line_len && buf[line_len - 1] == '\r') line_len--;
  int http10 = 0;
  size_t tlen = line_len;
  if (tlen >= 9 && memcmp(buf + tlen - 9, " HTTP/1.0", 9) == 0) http10 = 1, tlen -= 9;
  hf_framing_target(&fr, buf, tlen);
  int target_ok = memchr(buf, '\0', tlen) == NULL && fz_target_ok(buf, tlen);
  if (target_ok != (fr.status == 0)) fz_fail(&fr, "target verdict differs from the rule");
  hf_framing_target(&fr, NULL, 0); /* a missing target changes nothing */
  if (target_ok != (fr.status == 0)) fz_fail(&fr, "NULL target changed the verdict");

  /* Header fields, with a plain tally of what the verdict depends on. */
  unsigned cls = 0, tes = 0, hosts = 0;
  int fields_ok = 1, chunked_last = 0, te_bad_501 = 0;
  uint64_t cl_value = 0;
  char *p = eol ? eol + 1 : buf + size;
  while (p < buf + size) {
    char *nl = memchr(p, '\n', (size_t)(buf + size - p));
    char *end = nl ? nl : buf + size;
    *end = '\0';
    if (end > p && end[-1] == '\r') end[-1] = '\0';
    if (*p == '\0' && (end == p || end == p + 1)) break; /* the blank line ends the head */
    char *colon = strchr(p, ':');
    const char *name = p, *value = NULL;
    if (colon) {
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t vn = strlen(v);
      while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) v[--vn] = '\0';
      value = v;
    }
    unsigned before = fr.status;
    hf_framing_field(&fr, name, value);
    if (before && fr.status != before) fz_fail(&fr, "a later field replaced the first refusal");

    /* The plain reading, for fields that came before any refusal. */
    if (fields_ok && target_ok) {
      int name_ok = *name != '\0';
      for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (!((*c >= '0' && *c <= '9') || ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z') ||
              strchr("!#$%&'*+-.^_`|~", *c)))
          name_ok = 0;
      int value_ok = 1;
      for (const unsigned char *c = (const unsigned char *)(value ? value : ""); *c; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f) value_ok = 0;
      int this_ok = name_ok && value_ok;
      if (this_ok && strcasecmp(name, "Content-Length") == 0) {
        uint64_t v = 0;
        this_ok = fz_content_length(value ? value : "", &v) && (!cls || v == cl_value);
        cl_value = v;
        cls++;
      } else if (this_ok && strcasecmp(name, "Transfer-Encoding") == 0) {
        tes++;
        /* Only "chunked", once, last; another coding is 501, a malformed list 400. */
        const char *q = value ? value : "";
        for (;;) {
          while (*q == ' ' || *q == '\t') q++;
          size_t n = strcspn(q, ", \t;");
          if (!n || chunked_last) {
            this_ok = 0;
            break;
          }
          if (n != 7 || strncasecmp(q, "chunked", 7) != 0) {
            this_ok = 0, te_bad_501 = 1;
            break;
          }
          chunked_last = 1;
          q += n;
          while (*q == ' ' || *q == '\t') q++;
          if (!*q) break;
          if (*q != ',') {
            this_ok = 0;
            break;
          }
          q++;
        }
      } else if (this_ok && strcasecmp(name, "Host") == 0) {
        hosts++;
      }
      if (this_ok != (fr.status == 0)) fz_fail(&fr, "field verdict differs from the rule");
      if (!this_ok) {
        fields_ok = 0;
        if (te_bad_501 != (fr.status == 501)) fz_fail(&fr, "501 is for an unknown coding only");
      }
    }
    p = end + 1;
  }

  unsigned seen = fr.status;
  unsigned st = hf_framing_finish(&fr, http10);
  if (st != fr.status) fz_fail(&fr, "finish returned another status than it set");
  if (st != 0 && st != 400 && st != 501) fz_fail(&fr, "status is not 0, 400 or 501");
  if (seen && st != seen) fz_fail(&fr, "finish replaced an earlier refusal");
  if ((st != 0) != (fr.why[0] != '\0')) fz_fail(&fr, "why is set exactly when refused");
  if (!memchr(fr.why, '\0', sizeof fr.why)) fz_fail(&fr, "why is not terminated");
  if (hf_framing_finish(&fr, http10) != st) fz_fail(&fr, "finish is not idempotent");
  if (st == 0) {
    if (!target_ok || !fields_ok) fz_fail(&fr, "accepted what the rules refuse");
    if (fr.transfer_codings && fr.content_lengths) fz_fail(&fr, "accepted CL with TE");
    if (fr.transfer_codings && (http10 || !fr.chunked)) fz_fail(&fr, "accepted a bad TE");
    if (fr.hosts > 1) fz_fail(&fr, "accepted two Host fields");
    if (fr.content_lengths != cls || fr.transfer_codings != tes || fr.hosts != hosts)
      fz_fail(&fr, "field counts differ");
    if (cls && fr.content_length != cl_value) fz_fail(&fr, "Content-Length value differs");
    int body = hf_framing_has_body(&fr);
    if (body != (fr.chunked || (cls && cl_value > 0))) fz_fail(&fr, "has_body is wrong");
  } else if (target_ok && fields_ok) {
    /* Refused at finish: one of its four rules must hold. */
    if (!((tes && cls) || (tes && http10) || (tes && !chunked_last) || hosts > 1))
      fz_fail(&fr, "refused at finish for no rule");
    if (st != 400) fz_fail(&fr, "finish refuses with 400 only");
  }
  free(buf);
  return 0;
}
