/* Parsing of listen addresses, shared by every plugin that opens a port (see listen_addr.c). */
#ifndef LA_LISTEN_ADDR_H
#define LA_LISTEN_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "host:port", "[v6]:port", ":port" or "*:port" (all interfaces). Numeric hosts, or names
 * resolved once; a host of only digits and dots must be an IPv4 address (it is never
 * looked up as a name). Port 0 = any free port. Returns 0, or -1 with why filled. */
int la_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *why, size_t why_len);

/* The port of a parsed address (host order). */
unsigned la_port(const struct sockaddr_storage *addr);
/* 1 when listeners on a and b could not both bind: the same port (not 0) and the same
 * address, or a wildcard on one side, in one family (an IPv4-mapped IPv6 address counts as
 * IPv4); and [::] against any IPv4 address, which it also takes on Linux by default. */
int la_same_bind(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
