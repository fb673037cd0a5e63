/* The address a person types to reach a server: for one bound to every interface, this
 * host's first LAN IPv4 address rather than 0.0.0.0. Shared by source_http, out_sse and
 * out_websocket for their start-up lines. */
#ifndef SENSORD_LAN_URL_H
#define SENSORD_LAN_URL_H

#include <ifaddrs.h>
#include <stddef.h>
#include <sys/socket.h>

/* The first address in list that is IPv4, on an interface that is up and not loopback,
 * written as text into out; 0, or -1 when there is none. */
int lan_pick_ipv4(const struct ifaddrs *list, char *out, size_t cap);

/* URL host for a server bound to addr: the address itself (IPv6 in brackets), or for a
 * wildcard address (0.0.0.0, ::) lan_pick_ipv4 over getifaddrs, else "localhost". */
void lan_url_host(const struct sockaddr *addr, char *out, size_t cap);

/* 1 when addr is 0.0.0.0 or ::. */
int lan_is_wildcard(const struct sockaddr *addr);

#endif
