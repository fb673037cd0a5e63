/* Constant-time comparison of an Authorization header with the configured token,
 * accepting the bare token or the "Bearer " form (scheme name in any case, RFC 9110). */
#include "auth.h"

#include <string.h>

/* 0 when header[0..header_len) equals prefix + token, the prefix's letters matched in
 * either case (auth scheme names are case-insensitive) and the token exactly. Every header
 * byte is visited and the token is indexed modulo its length, so the time depends only on
 * the header length. */
static unsigned auth_diff(const char *header, size_t header_len, const char *prefix,
                          size_t prefix_len, const char *token, size_t token_len) {
  volatile unsigned diff = (header_len != prefix_len + token_len);
  for (size_t i = 0; i < header_len; i++) {
    unsigned char want, fold = 0;
    if (i < prefix_len) {
      want = (unsigned char)prefix[i];
      /* Setting bit 0x20 maps 'A'-'Z' onto 'a'-'z'; only letters of the prefix get it. */
      if ((want | 0x20) >= 'a' && (want | 0x20) <= 'z') fold = 0x20;
    } else {
      want = token_len ? (unsigned char)token[(i - prefix_len) % token_len] : 0;
    }
    diff |= ((unsigned char)header[i] | fold) ^ (want | fold);
  }
  return diff;
}

int auth_header_ok(const char *header, const char *token, size_t token_len) {
  if (!header || token_len == 0) return 0;
  size_t n = strlen(header);
  unsigned bare = auth_diff(header, n, "", 0, token, token_len);
  unsigned bearer = auth_diff(header, n, "Bearer ", 7, token, token_len);
  return (bare == 0) | (bearer == 0);
}
