/* State shared by the files of the source_http plugin: the configuration read at init,
 * the metric handles, and the list of requests waiting for a delivery acknowledgement.
 * plugin.c owns the lifecycle; server.c owns the libmicrohttpd side. */
#ifndef SOURCE_HTTP_STATE_H
#define SOURCE_HTTP_STATE_H

#include "body.h"
#include "http/budget.h"
#include "ingest.h"

#include <pthread.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <sys/socket.h>

struct MHD_Daemon;
typedef struct hs_request hs_request;

/* Statuses counted in sensord_http_requests_total{status="..."}; "closed" counts
 * requests that ended without an answer (client gone, timeout mid-body). */
enum { HS_STATUS_COUNT = 14 };
extern const int hs_statuses[HS_STATUS_COUNT]; /* 0 stands for "closed" */

/* Labels of sensord_http_parse_errors_total{class="..."}. */
typedef enum hs_error_class {
  HS_ERR_JSON,
  HS_ERR_SCHEMA,
  HS_ERR_ENCODING,
  HS_ERR_TOO_LARGE,
  HS_ERR_MEDIA_TYPE,
  HS_ERR_INTERNAL,
  HS_ERR_CLASS_COUNT
} hs_error_class;
extern const char *const hs_error_class_names[HS_ERR_CLASS_COUNT];

typedef struct hs_state {
  const sd_host_api *host;
  sd_stage *stage;

  /* configuration */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  const char *listen;
  const char **paths;
  size_t path_count;
  const char *records_path; /* NULL: /records disabled */
  size_t max_body;
  const char *token; /* NULL: no authentication */
  size_t token_len;
  const char **cors;
  size_t cors_count;
  unsigned max_connections;
  unsigned threads;
  int64_t request_timeout_ns;
  unsigned idle_timeout_s;
  int ack_delivered;
  int pass_test_push;
  int sensorlogger_errors;
  unsigned retry_after_s;
  int64_t header_timeout_ns;
  unsigned max_per_ip;
  ing_records_opts records_opts;
  hf_budget budget;        /* request_memory, shared by every worker */
  body_budget body_charge; /* the budget as body.c sees it */
  struct hf_front *front;  /* the hardened HTTP front end all workers run behind */

  /* metrics */
  sd_metric *requests[HS_STATUS_COUNT];
  sd_metric *parse_errors[HS_ERR_CLASS_COUNT];
  sd_metric *readings;
  sd_metric *bytes;
  sd_metric *test_pushes;
  sd_metric *fallbacks;
  sd_metric *duration;
  sd_metric *awaiting_ack;

  /* server */
  /* One single-threaded libmicrohttpd daemon per worker thread, each with its own
   * SO_REUSEPORT listening socket: the kernel spreads connections over them. */
  struct MHD_Daemon **daemons;
  unsigned daemon_count;
  pthread_mutex_t lock; /* guards waiting and draining */
  hs_request *waiting;  /* suspended until their batch is acknowledged */
  int draining;
  int shutdown_answers_due; /* resumed at shutdown, their 503 not yet queued */
  atomic_long pending_acks; /* emitted with an ack callback that has not fired yet */
} hs_state;

/* server.c */
int hs_server_start(hs_state *s);
/* The bound port (the configured one, or the one the kernel chose for port 0). */
unsigned hs_server_port(const hs_state *s);
/* Stops taking requests, waits (until deadline) for acknowledgements still awaited,
 * answers the rest 503 and stops the server. */
void hs_server_stop(hs_state *s, int64_t deadline_mono_ns);

#endif
