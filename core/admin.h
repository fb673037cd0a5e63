/* Admin HTTP listener (libmicrohttpd, its own thread): GET /metrics (Prometheus text),
 * GET /healthz, GET /stages (JSON graph, states, counters). Loopback by default. */
#ifndef SD_CORE_ADMIN_H
#define SD_CORE_ADMIN_H

#include "stage.h"

typedef struct admin_server admin_server;

/* listen is "HOST:PORT" ("[v6addr]:PORT" for IPv6; port 0 = any free port). Returns NULL
 * with *err set (fresh string) when the address is malformed or cannot be bound. */
admin_server *admin_start(pipeline *pl, const char *listen, char **err);
unsigned admin_port(const admin_server *srv);
void admin_stop(admin_server *srv);

/* Bodies, exposed for tests. Fresh strings. */
char *admin_stages_json(pipeline *pl);
int admin_healthy(pipeline *pl);

#endif
