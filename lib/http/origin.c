/* Host, Origin and Content-Type rules (see origin.h). Comparisons are ASCII
 * case-insensitive, as host names and media types are. */
#include "origin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The host part of "host[:port]" or "[v6]:port" into out; 0, or -1 when malformed. */
static int host_part(const char *authority, char *out, size_t cap) {
  const char *end;
  if (authority[0] == '[') {
    end = strchr(authority, ']');
    if (!end) return -1;
    authority++;
  } else {
    end = strrchr(authority, ':');
    if (!end) end = authority + strlen(authority);
  }
  size_t n = (size_t)(end - authority);
  if (n == 0 || n >= cap) return -1;
  memcpy(out, authority, n);
  out[n] = '\0';
  return 0;
}

static int is_ip_literal(const char *h) {
  unsigned char buf[16];
  return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

int hf_host_allowed(const char *host, const char *const *names, size_t count) {
  char h[256];
  if (!host || !*host || host_part(host, h, sizeof h) != 0) return 0;
  size_t n = strlen(h);
  if (n && h[n - 1] == '.') h[--n] = '\0'; /* "localhost." is localhost */
  if (is_ip_literal(h) || strcasecmp(h, "localhost") == 0) return 1;
  if (n > 10 && strcasecmp(h + n - 10, ".localhost") == 0) return 1;
  for (size_t i = 0; i < count; i++)
    if (strcmp(names[i], "*") == 0 || strcasecmp(names[i], h) == 0) return 1;
  return 0;
}

int hf_origin_allowed(const char *origin, const char *host, const char *const *allowed,
                      size_t count) {
  if (!origin || !*origin) return 1;
  for (size_t i = 0; i < count; i++)
    if (strcmp(allowed[i], "*") == 0 || strcasecmp(allowed[i], origin) == 0) return 1;
  /* Same origin: the authority after the scheme is the Host the request was sent to. A
   * default port may be left out on either side only when both leave it out, as browsers
   * send both the same way. */
  const char *auth = strstr(origin, "://");
  if (!auth || !host) return 0;
  auth += 3;
  return strcasecmp(auth, host) == 0;
}

int hf_json_content_type(const char *ct, const char *const *extra, size_t count) {
  if (!ct) return 1;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = strcspn(ct, "; \t");
  if (n == 0) return 0;
  if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return 1;
  if (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
      strncasecmp(ct + n - 5, "+json", 5) == 0)
    return 1;
  for (size_t i = 0; i < count; i++)
    if (strlen(extra[i]) == n && strncasecmp(ct, extra[i], n) == 0) return 1;
  return 0;
}
