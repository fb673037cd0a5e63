/* The stage shared by out_sse and out_websocket: config keys, the HTTP daemon and its
 * routes (dashboard, /streams, /healthz, /config.json), publishing batches into the hub,
 * metrics. Only the streaming transport differs; it plugs in through outs_transport. */
#ifndef OUTS_OUTS_H
#define OUTS_OUTS_H

#include "hub.h"
#include "pump.h"

#include <microhttpd.h>
#include <sensord/plugin.h>
#include <stdatomic.h>

typedef struct outs_state outs_state;

typedef struct outs_transport {
  const char *name;   /* reported by /config.json: "sse" or "websocket" */
  unsigned mhd_flags; /* extra daemon flags, e.g. MHD_ALLOW_UPGRADE */
  /* Answers a GET on a stream route (/events/{q}, /chart-data/{id}); cors_origin is the
   * Access-Control-Allow-Origin value to add, or NULL. */
  enum MHD_Result (*open)(outs_state *s, struct MHD_Connection *conn, hub_topic *topic,
                          const hub_sub_opts *opts, const char *cors_origin, void **con_cls);
  /* The request whose *con_cls open() set is over (libmicrohttpd's completion notice). */
  void (*completed)(outs_state *s, void *con_cls);
  int (*start)(outs_state *s); /* before the daemon listens; 0 or -1 */
  void (*stop)(outs_state *s); /* before the daemon stops: close this transport's clients */
  void (*tick)(outs_state *s, int64_t now_mono_ns);
  void (*destroy)(outs_state *s);
} outs_transport;

struct outs_state {
  const sd_host_api *host;
  sd_stage *stage;
  const outs_transport *transport;
  void *transport_state;
  hub *hub;
  pump *pump; /* writes the streams once the HTTP exchange is done (http_threads threads) */
  struct MHD_Daemon *daemon;
  struct hf_front *front; /* header deadline, caps, framing, refusal counts (lib/http) */
  int64_t header_timeout_ns;
  unsigned max_per_ip;
  char *listen;
  char *chart_query;
  char **cors;
  size_t cors_count;
  int cors_any;
  int64_t ingest_port;
  char *ingest_url_hint;
  int64_t heartbeat_ns;
  size_t max_clients;
  unsigned http_threads;
  size_t connection_memory; /* libmicrohttpd's pool per connection */
  char *asset_dir;
  sd_timer *timer;
  /* Streams ended for shutdown. Set once on the stage thread (drain) and read by the
   * HTTP threads and the pump threads (out_websocket says goodbye by it), hence atomic. */
  atomic_int closed;
  hub_stats last; /* counters already added to the host metrics */
  struct {
    sd_metric *clients, *published, *sent, *bytes, *overflows, *skipped, *resets, *heartbeats,
        *rejected, *refused_streams, *dropped, *requests_404, *ws_errors;
  } m;
};

extern const sd_config_key outs_config_keys[];

sd_result outs_validate(const sd_host_api *host, sd_stage *stage);
sd_result outs_init(const sd_host_api *host, sd_stage *stage, void **state,
                    const outs_transport *transport);
sd_result outs_start(void *state);
sd_result outs_process(void *state, sd_delivery *delivery);
int64_t outs_drain(void *state, int64_t deadline_mono_ns);
void outs_destroy(void *state);

/* Helpers for transports. */
enum MHD_Result outs_reply_json(struct MHD_Connection *conn, unsigned status, const char *json,
                                const char *cors_origin);
/* 503 when max_clients is reached, 500 when out of memory. */
enum MHD_Result outs_reply_sub_error(outs_state *s, struct MHD_Connection *conn,
                                     hub_sub_error err, const char *cors_origin);
void outs_add_cors(struct MHD_Response *resp, const char *cors_origin);

#endif
