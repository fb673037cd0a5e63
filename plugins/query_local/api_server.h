/* query_local's ksqlDB-compatible REST API: the server object shared by the listener, the
 * HTTP/1.1 (libmicrohttpd) and HTTP/2 (nghttp2) transports, the routes and the push-query
 * sessions. Internal to the plugin. */
#ifndef QL_API_SERVER_H
#define QL_API_SERVER_H

#include "api_json.h"
#include "engine.h"

#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct api_server api_server;
typedef struct api_push api_push;

typedef struct api_config {
  const char *listen;      /* host:port */
  size_t max_body;         /* request bodies above this get 413 */
  size_t client_buffer;    /* bytes queued for one push query before it ends as too slow */
  int64_t idle_timeout_ns; /* idle HTTP/1.1 keep-alive connections (0 = never) */
  size_t max_connections;
  int64_t header_timeout_ns; /* request line and headers, and an HTTP/2 preface, in time */
  unsigned max_per_ip;       /* connections one address may hold; 0 = no cap */
} api_config;

/* Starts the listener and its threads. NULL on failure (logged). */
api_server *api_server_start(const sd_host_api *host, sd_stage *stage, ql_engine *engine,
                             const api_config *cfg);
/* Ends every push query, closes every connection and joins every thread. */
void api_server_stop(api_server *srv);
size_t api_server_push_count(api_server *srv);

/* ---- shared internals -------------------------------------------------------------- */
typedef struct h2_conn h2_conn;

struct api_server {
  const sd_host_api *host;
  sd_stage *stage;
  ql_engine *engine;
  api_config cfg;
  atomic_int stopping;

  int listen_fd;
  int wake_fd; /* eventfd: wakes the accept and watch threads on stop */
  pthread_t accept_thread, watch_thread;
  int accept_started, watch_started;
  struct MHD_Daemon *mhd;
  atomic_int mhd_suspended; /* connections MHD holds suspended (must be 0 to stop it) */

  pthread_mutex_t mu; /* pushes, h2 connections, metric cache */
  api_push *pushes;   /* every live push session */
  size_t push_count;
  h2_conn *h2_conns;

  /* Who may call (api_policy.c): Host names besides loopback and IP literals, and origins
   * of cross-site pages allowed to (CORS). Read from the stage's config at start. */
  const char **allowed_hosts, **cors_origins;
  size_t allowed_host_count, cors_origin_count;
  struct hf_front *front; /* HTTP/1.1's: header deadline, caps, framing; counts refusals */

  /* metrics */
  sd_metric *m_push_running, *m_slow_clients, *m_push_wakes, *m_connections_h1,
      *m_connections_h2;
  struct api_metric_slot {
    char key[64];
    sd_metric *metric;
  } req_metrics[64];
  size_t req_metric_count;
};

/* Counts one request in sensord_query_api_requests_total{endpoint,status}. */
void api_count_request(api_server *srv, const char *endpoint, int status);

/* ---- push-query sessions ----------------------------------------------------------- */
typedef struct api_push_opts {
  const char *sql;
  api_format fmt;
  int earliest;
} api_push_opts;

/* Starts an ad-hoc push query and queues its header line. NULL + err on failure. The
 * caller (a transport) owns one reference, given back with api_push_release. */
api_push *api_push_start(api_server *srv, const api_push_opts *opts, ql_error *err);
/* The transport calls wake(ctx) (under the session's lock) when a line arrives after a
 * read found nothing. */
void api_push_set_wake(api_push *push, void (*wake)(void *ctx), void *ctx);
/* Copies the next bytes of the current line into buf. Returns bytes copied (> 0; *last
 * set when that ends the body), 0 when nothing is queued (then on_wait(ctx) runs under the
 * lock and wake comes later), -1 when the body is complete, -2 when whole is set and the
 * rest of the current line does not fit in cap. *left (when not NULL) gets the bytes still
 * queued after this read. */
ssize_t api_push_read(api_push *push, char *buf, size_t cap, int whole, int *last, size_t *left,
                      void (*on_wait)(void *ctx), void *ctx);
/* Between begin and end on one thread (the ingest thread, around one input batch), new
 * rows do not wake their transport at once; end wakes each waiting transport once. */
void api_push_defer_begin(void);
void api_push_defer_end(void);
/* Did the client vanish (noticed by the watch thread)? */
int api_push_client_gone(api_push *push);
/* HTTP/1.1 only: the socket to watch for a vanished client while suspended (-1 = none). */
void api_push_watch_fd(api_push *push, int fd);
/* The transport is done (stream ended or client gone): stops the query, frees. */
void api_push_release(api_push *push);
/* /close-query: ends the query with its format's final lines. 0 ok, -1 unknown id. */
int api_push_close(api_server *srv, const char *query_id);
/* Shutdown: ends every session's body so the transports can finish. */
void api_push_end_all(api_server *srv, const char *message);
/* Watch-thread work: stops queries that ended by themselves, and notices clients of
 * suspended HTTP/1.1 streams that went away within timeout_ms. */
void api_push_watch(api_server *srv, int timeout_ms);

/* ---- routes ------------------------------------------------------------------------ */
typedef struct api_request {
  const char *method;
  const char *target; /* origin-form or absolute-form */
  const char *accept;
  const char *content_type, *host, *origin; /* NULL when absent */
  const char *cors_request_method;          /* Access-Control-Request-Method (preflight) */
  const char *body;
  size_t body_len;
  int body_too_big;
} api_request;

typedef struct api_reply {
  int status;
  const char *content_type; /* NULL = no body */
  const char *location;
  int chunked; /* HTTP/1.1: chunked instead of content-length */
  char *body;
  size_t body_len;
  api_push *push;          /* streaming body (then body is NULL) */
  const char *cors_origin; /* echo as Access-Control-Allow-Origin (a cross-origin caller) */
  int preflight;           /* also the preflight's Allow-Methods/-Headers/Max-Age */
} api_reply;

/* Refuses what a browser page must not do (api_policy.c): a Host that is not this server
 * (DNS rebinding), a cross-origin caller cors_origins does not list, a body type other
 * than JSON or ksqlDB's (a form or text/plain is what a page can send anywhere without
 * asking). Answers CORS preflights. 1 when it filled r (then api_route is not called). */
int api_policy_check(api_server *srv, const api_request *req, api_reply *r);
void api_policy_load(api_server *srv);
void api_policy_free(api_server *srv);
#define API_PREFLIGHT_METHODS "GET, POST, OPTIONS"
#define API_PREFLIGHT_HEADERS "Accept, Authorization, Content-Type"

void api_route(api_server *srv, const api_request *req, api_reply *reply);
void api_reply_clear(api_reply *reply);

/* ---- transports ---------------------------------------------------------------------- */
int api_h1_start(api_server *srv);
int api_h1_add(api_server *srv, int fd, const void *addr, unsigned addrlen);
void api_h1_stop(api_server *srv);
/* Serves one HTTP/2 connection on its own thread; takes the fd. */
int api_h2_spawn(api_server *srv, int fd);
void api_h2_stop_all(api_server *srv);

#endif
