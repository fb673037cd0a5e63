/* Listen addresses as every sensord listener writes them in the INI: "host:port",
 * "[v6]:port", ":port" or "*:port". One parser for source_http, out_sse, out_websocket,
 * query_local and the core's admin_listen, so they accept and word the same; and the one
 * rule for when two listeners would collide (the core's config check uses it). */
#include "listen_addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
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
  /* No DNS name is made of digits and dots only, so "999.1.1.1" is a mistyped address, not
   * a name worth a resolver round trip (which may take seconds to fail). */
  if (host[0] && strspn(host, "0123456789.") == strlen(host)) {
    struct in_addr v4;
    if (!inet_aton(host, &v4)) {
      snprintf(why, why_len, "\"%s\" is not an IPv4 address (four numbers 0 to 255)", host);
      return -1;
    }
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

unsigned la_port(const struct sockaddr_storage *addr) {
  if (addr->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)addr)->sin_port);
  if (addr->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
  return 0;
}

/* Family and address bytes, with IPv4-mapped IPv6 folded to IPv4. */
static int la_key(const struct sockaddr_storage *addr, unsigned char out[16], int *wildcard) {
  if (addr->ss_family == AF_INET) {
    const struct in_addr *a = &((const struct sockaddr_in *)addr)->sin_addr;
    memcpy(out, a, 4);
    *wildcard = a->s_addr == htonl(INADDR_ANY);
    return AF_INET;
  }
  const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a)) {
    memcpy(out, a->s6_addr + 12, 4);
    *wildcard = !memcmp(out, "\0\0\0\0", 4);
    return AF_INET;
  }
  memcpy(out, a, 16);
  *wildcard = IN6_IS_ADDR_UNSPECIFIED(a);
  return AF_INET6;
}

int la_same_bind(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  unsigned pa = la_port(a), pb = la_port(b);
  if (pa == 0 || pa != pb) return 0;
  if ((a->ss_family != AF_INET && a->ss_family != AF_INET6) ||
      (b->ss_family != AF_INET && b->ss_family != AF_INET6))
    return 0;
  unsigned char ka[16], kb[16];
  int wa, wb;
  int fa = la_key(a, ka, &wa), fb = la_key(b, kb, &wb);
  /* [::] takes the IPv4 port too unless its server sets IPV6_V6ONLY, and not all do. */
  if (fa != fb) return (fa == AF_INET6 && wa) || (fb == AF_INET6 && wb);
  return wa || wb || !memcmp(ka, kb, fa == AF_INET ? 4 : 16);
}
