/* Parsing of listen addresses, shared by every plugin that opens a port (see listen_addr.c). */
#ifndef LA_LISTEN_ADDR_H
#define LA_LISTEN_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* "host:port", "[v6]:port", ":port" or "*:port" (all interfaces). Numeric hosts, or names
 * resolved once. Returns 0, or -1 with why filled. */
int la_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *why, size_t why_len);

#endif
