/* Listen addresses as every sensord listener writes them in the INI: "host:port",
 * "[v6]:port", ":port" or "*:port". One parser for source_http, out_sse, out_websocket and
 * query_local (their plugin.mk files compile this file), so they accept and word the same. */
#include "listen_addr.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int la_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *why, size_t why_len) {
  char host[256];
  const char *port;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host) {
      snprintf(why, why_len, "expected [ipv6]:port, host:port or :port");
      return -1;
    }
    memcpy(host, text + 1, (size_t)(close - text - 1));
    host[close - text - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host ||
        memchr(text, ':', (size_t)(colon - text))) {
      snprintf(why, why_len, "expected host:port, [ipv6]:port or :port");
      return -1;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    port = colon + 1;
  }
  char *end;
  long p = strtol(port, &end, 10);
  if (!*port || *end || p < 0 || p > 65535) {
    snprintf(why, why_len, "port must be a number from 0 to 65535");
    return -1;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  /* An empty host (":8000") or "*" means every interface. */
  int wildcard = !host[0] || !strcmp(host, "*");
  int rc = getaddrinfo(wildcard ? "0.0.0.0" : host, port, &hints, &res);
  if (rc || !res) {
    snprintf(why, why_len, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
    return -1;
  }
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  *addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}
