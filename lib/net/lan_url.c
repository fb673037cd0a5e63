/* Picking the address to print in "phones push to http://…" and "dashboard at http://…":
 * the bound address, or for a wildcard bind the first LAN IPv4 address of this host. */
#include "lan_url.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int lan_is_wildcard(const struct sockaddr *addr) {
  if (addr->sa_family == AF_INET)
    return ((const struct sockaddr_in *)addr)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (addr->sa_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)addr)->sin6_addr);
  return 0;
}

int lan_pick_ipv4(const struct ifaddrs *list, char *out, size_t cap) {
  for (const struct ifaddrs *i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    const struct in_addr *a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
    /* 127/8 counts as loopback even on an interface not flagged so */
    if ((ntohl(a->s_addr) >> 24) == 127) continue;
    if (inet_ntop(AF_INET, a, out, (socklen_t)cap)) return 0;
  }
  return -1;
}

void lan_url_host(const struct sockaddr *addr, char *out, size_t cap) {
  char text[INET6_ADDRSTRLEN];
  if (lan_is_wildcard(addr)) {
    struct ifaddrs *list = NULL;
    int found = getifaddrs(&list) == 0 && lan_pick_ipv4(list, out, cap) == 0;
    if (list) freeifaddrs(list);
    if (!found) snprintf(out, cap, "localhost");
    return;
  }
  if (addr->sa_family == AF_INET6 &&
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, text, sizeof text))
    snprintf(out, cap, "[%s]", text);
  else if (addr->sa_family == AF_INET &&
           inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, text, sizeof text))
    snprintf(out, cap, "%s", text);
  else
    snprintf(out, cap, "localhost");
}
