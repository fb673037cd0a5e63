/* The hardened HTTP/1.1 front end every sensord server runs behind: libmicrohttpd daemons
 * wrapped with a header deadline, per-address and total connection caps, strict framing,
 * a lingering close and a count of every refusal. Shared layer, not part of the ABI. */
#ifndef SD_LIB_HTTP_FRONT_H
#define SD_LIB_HTTP_FRONT_H

#include <microhttpd.h>
#include <sensord/plugin.h>
#include <stdint.h>

/* Why a connection or request was refused; each has its own counter. */
typedef enum hf_refusal {
  HF_REFUSED_HEADER_TIMEOUT, /* request line and headers not complete in time */
  HF_REFUSED_IDLE_EVICTED,   /* idle or header-less connection closed to make room */
  HF_REFUSED_PER_IP,         /* this address already holds max_connections_per_ip */
  HF_REFUSED_TOTAL,          /* max_connections reached and nothing idle to close */
  HF_REFUSED_FRAMING,        /* contradictory or malformed framing (400/501) */
  HF_REFUSED_HOST,           /* Host not allowed (421/403) */
  HF_REFUSED_ORIGIN,         /* cross-origin request not allowed (403) */
  HF_REFUSED_MEMORY,         /* request memory budget exhausted (503) */
  HF_REFUSED_MEDIA_TYPE,     /* a body type the server does not take (415) */
  HF_REFUSAL_COUNT
} hf_refusal;

extern const char *const hf_refusal_names[HF_REFUSAL_COUNT];

/* How the front end counts and logs. Plugins fill it with hf_env_from_host; the core's
 * admin listener fills it from its own registry. */
typedef struct hf_env {
  void (*metric_add)(sd_metric *m, double delta);
  void (*log)(void *log_ctx, sd_log_level level, const char *msg);
  void *log_ctx;
  sd_metric *refused[HF_REFUSAL_COUNT]; /* NULL entries are not counted */
  sd_metric *lingering;                 /* gauge: sockets draining in a lingering close */
  /* The config key that sizes libmicrohttpd's per-connection memory, named in the log line
   * of a 431 (its own message names only its pool); NULL: none to name. */
  const char *header_memory_key;
} hf_env;

/* Registers sensord_http_refused_total{reason=...} and the lingering gauge for a stage. */
void hf_env_from_host(hf_env *env, const sd_host_api *host, sd_stage *stage);

typedef struct hf_limits {
  int64_t header_timeout_ns;    /* request line + headers must arrive within this */
  int64_t keepalive_timeout_ns; /* an idle kept-alive connection is closed after this */
  unsigned max_connections;     /* across every daemon of this front; 0 = 1024 */
  unsigned max_per_ip;          /* 0 = no per-address cap */
  int64_t linger_ns;            /* lingering close: at most this long draining input */
} hf_limits;

/* Default limits: 10 s header deadline, 75 s keep-alive, 1024 connections, 256 per
 * address, 5 s lingering close (docs/CONFIG.md explains each). */
void hf_limits_default(hf_limits *lim);

/* The body a refusal carries; NULL: a small JSON {"error":...} with the message. */
typedef struct MHD_Response *(*hf_error_body_fn)(void *cls, unsigned status,
                                                 const char *message);

typedef struct hf_front hf_front;

/* name appears in log lines ("ingest", "api", ...). Starts the reaper thread. */
hf_front *hf_front_new(const char *name, const hf_limits *limits, const hf_env *env);
/* After every daemon started on it has been stopped. */
void hf_front_free(hf_front *f);

typedef struct hf_daemon_opts {
  MHD_AccessHandlerCallback handler;
  void *handler_cls;
  MHD_RequestCompletedCallback completed; /* may be NULL */
  void *completed_cls;
  /* Called after the front end's own bookkeeping; may be NULL. */
  MHD_NotifyConnectionCallback on_connection;
  void *on_connection_cls;
  hf_error_body_fn error_body;
  void *error_body_cls;
} hf_daemon_opts;

/* MHD_start_daemon with the front end's protections. extra: more options, ending with
 * MHD_OPTION_END, that must not set NOTIFY_COMPLETED, NOTIFY_CONNECTION, URI_LOG_CALLBACK,
 * CONNECTION_LIMIT, EXTERNAL_LOGGER or the accept policy (the front end owns those; its
 * logger sends libmicrohttpd's messages to hf_env.log). */
struct MHD_Daemon *hf_start_daemon(hf_front *f, unsigned flags, const hf_daemon_opts *o,
                                   const struct MHD_OptionItem *extra);

/* Ask for a lingering close of this request's connection (an answer sent before the body
 * was read). The front end also lingers whenever unread input is left at close. */
void hf_request_linger(struct MHD_Connection *conn);
/* libmicrohttpd hands an upgrade handler (MHD_create_response_for_upgrade) its own request
 * context, which behind the front end is the front's: this gives back the server's
 * (what its access handler stored in *con_cls). */
void *hf_upgrade_context(void *con_cls);
/* This request's answer is a long-lived stream (SSE, or a WebSocket about to be upgraded):
 * the connection is exempt from the header and keep-alive deadlines and from eviction. */
void hf_request_stream(hf_front *f, struct MHD_Connection *conn);

/* Queues a refusal (status, message) with Connection: close and counts it. */
enum MHD_Result hf_refuse(hf_front *f, struct MHD_Connection *conn, hf_refusal why,
                          unsigned status, const char *message);

/* Counts a refusal the server itself made on the front end's behalf (e.g. memory). */
void hf_front_count(hf_front *f, hf_refusal why);

/* Current number of tracked connections (tests, metrics). */
unsigned hf_front_connections(hf_front *f);

#endif
