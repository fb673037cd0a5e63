/* The fan-out hub shared by out_sse and out_websocket: one topic per query with a ring of
 * events serialized once (refcounted), and clients that are only a cursor into that ring.
 * Owns routing, replay/resume, per-client queue bounds, overflow and heartbeat decisions. */
#ifndef OUTS_HUB_H
#define OUTS_HUB_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hub_format {
  HUB_FMT_ARRAY = 0,  /* data: [v0, v1, …] in column order */
  HUB_FMT_OBJECT = 1, /* data: {"COLUMN": v, …} */
  HUB_FMT_CHART = 2   /* the original's [deviceId, "YYYY-MM-DD HH:MM:SS.ffffff", x, y, z] */
} hub_format;

typedef enum hub_wire {
  HUB_WIRE_SSE = 0, /* id:/event:/data: lines, heartbeat comments */
  HUB_WIRE_WS = 1   /* one JSON text message per event: {"id":N,"data":…} */
} hub_wire;

typedef enum hub_overflow { HUB_OVERFLOW_DISCONNECT = 0, HUB_OVERFLOW_SKIP = 1 } hub_overflow;

typedef struct hub_limits {
  size_t client_queue;  /* events a client may lag behind the head */
  size_t replay;        /* events per topic a reconnecting client may resume from */
  size_t max_clients;   /* streaming clients over all topics */
  size_t max_topics;    /* streams a publisher made: never evicted */
  size_t max_waiting;   /* placeholders for streams no publisher made (yet); 0 = max_topics/4 */
  int overflow;         /* hub_overflow */
  int64_t heartbeat_ns; /* SSE comment on a connection idle this long */
  const char *chart_query; /* topic whose events also get the HUB_FMT_CHART payload */
} hub_limits;

typedef struct hub hub;
typedef struct hub_topic hub_topic;
typedef struct hub_client hub_client;

/* How the hub drives a transport's connection. Every call is made with the client's topic
 * lock held, so the transport must not call back into the hub from inside. */
typedef struct hub_transport_ops {
  void (*park)(hub_client *client, void *tctx);   /* nothing to send: stop polling it */
  void (*notify)(hub_client *client, void *tctx); /* a parked client has something now */
  void (*kill)(hub_client *client, void *tctx);   /* stalled past its queue: drop it */
} hub_transport_ops;

typedef struct hub_stats {
  uint64_t clients, topics, events_published, events_sent, bytes_sent, overflow_disconnects,
      skipped_events, resets, heartbeats, rejected_full, rows_dropped;
  uint64_t waiting_streams; /* placeholders now */
  uint64_t streams_refused; /* subscriptions refused: the placeholder table was in use */
} hub_stats;

hub *hub_new(const hub_limits *limits);
void hub_free(hub *h);
void hub_stats_get(hub *h, hub_stats *out);
size_t hub_client_count(hub *h);

/* The publisher's topic by name; create makes it (or promotes the subscribers' placeholder
 * of that name) and it then stays for the hub's life. NULL when absent (create=0) or over
 * max_topics. */
hub_topic *hub_topic_get(hub *h, const char *name, int create);

typedef enum hub_want_error {
  HUB_WANT_OK = 0,
  HUB_WANT_FULL = 1,
  HUB_WANT_NOMEM = 2
} hub_want_error;

/* The topic a subscriber names: a publisher's, or else a placeholder so the client can wait
 * for a query that has not produced rows yet. Placeholders have a table of their own
 * (max_waiting), so names no query produces never take a publisher's slot, and one that no
 * client uses and nobody pins is reclaimed when a new name needs the room. A placeholder is
 * pinned for key (a pointer unique to the request) until hub_release(h, key); while pinned,
 * or while a client is subscribed to it, the pointer stays valid. NULL when every
 * placeholder is in use (counted in streams_refused) or on OOM. Any thread. */
hub_topic *hub_topic_want(hub *h, const char *name, const void *key, hub_want_error *err);
/* Drops key's pin, if it has one (cheap when nothing is pinned). Any thread. */
void hub_release(hub *h, const void *key);
/* Columns and ksqlDB types of a topic's rows (replaces earlier ones). 0, or -1 on OOM. */
int hub_topic_set_schema(hub_topic *t, size_t count, const char *const *columns,
                         const char *const *types);
int hub_topic_has_schema(hub_topic *t);
/* Does the topic already have exactly these columns and types? */
int hub_topic_same_schema(hub_topic *t, size_t count, const char *const *columns,
                          const char *const *types);

/* Serializes one record as the next event of t (columns matched to fields by name, then
 * by position). A topic without schema takes the record's field names and value types.
 * Subscribers are told at hub_flush. 0, or -1 (allocation failed, counted). Publisher
 * thread only. */
int hub_publish(hub_topic *t, const sd_record_view *record);
void hub_flush(hub *h);

/* Visits every topic with a schema: for /streams. Called under the topic's lock. */
typedef void (*hub_topic_fn)(void *ctx, const char *name, size_t column_count,
                             const char *const *columns, const char *const *types,
                             uint64_t last_id, size_t clients);
void hub_each_topic(hub *h, hub_topic_fn fn, void *ctx);

typedef struct hub_sub_opts {
  int format;         /* hub_format */
  int wire;           /* hub_wire */
  const char *device; /* only events whose device equals this; NULL = all */
  int has_last_id;    /* resume requested */
  int last_id_valid;  /* it parsed as an id */
  uint64_t last_id;
} hub_sub_opts;

typedef enum hub_sub_error {
  HUB_SUB_OK = 0,
  HUB_SUB_FULL = 1,
  HUB_SUB_NOMEM = 2
} hub_sub_error;

hub_client *hub_subscribe(hub *h, hub_topic *t, const hub_sub_opts *opts,
                          const hub_transport_ops *ops, void *tctx, hub_sub_error *err);
/* Removes and frees; the transport guarantees no hub_fill runs concurrently. */
void hub_unsubscribe(hub_client *c);

typedef enum hub_fill_result {
  HUB_MORE = 0, /* wrote *n > 0 bytes; more may follow */
  HUB_IDLE = 1, /* nothing to send: the client was parked (ops->park) */
  HUB_END = 2   /* the stream is over (after a final overflow event): close it */
} hub_fill_result;

/* Copies the client's next bytes into buf (the reader form, used for a stream's first
 * chunk; hub_fill_batch is the writer threads' form). */
hub_fill_result hub_fill(hub_client *c, char *buf, size_t cap, size_t *n);
/* The writer-thread form: copies every whole message the client has pending (each preceded
 * by its WebSocket frame header when the client's wire is HUB_WIRE_WS; SSE bytes may stop
 * mid-message when buf is full) and, when nothing is left, parks the client in the same
 * call, so one lock and one socket write cover a whole backlog. HUB_MORE: buf is full, call
 * again after writing; HUB_IDLE: parked (ops->notify follows when there is more); HUB_END:
 * the stream is over after these bytes. *n may be > 0 with every result. A WebSocket message
 * larger than cap can never be framed: it is skipped and counted in rows_dropped. */
hub_fill_result hub_fill_batch(hub_client *c, char *buf, size_t cap, size_t *n);
/* Hands the client to another transport (same lock as every ops call, so after it returns
 * the old tctx is never called again). NULL ops detach it: nothing is called any more. */
void hub_client_set_transport(hub_client *c, const hub_transport_ops *ops, void *tctx);
/* Applies a resume request made after subscribing (WebSocket first message). */
void hub_client_resume(hub_client *c, uint64_t last_id);

/* Periodic: heartbeats for idle SSE clients, and disconnects clients that are stalled
 * past their queue bound under overflow=disconnect. now is CLOCK_MONOTONIC ns. */
void hub_tick(hub *h, int64_t now_mono_ns);

/* Shutdown: refuses new subscribers, ends every stream at its next message and wakes the
 * parked ones. Returns how many clients are still parked (the transport must see them
 * closed before stopping its server). */
size_t hub_close_all(hub *h);

/* Event id of the last published event of the topic (0 when none). */
uint64_t hub_topic_last_id(hub_topic *t);
const char *hub_topic_name(hub_topic *t);

/* Numeric event id from text (Last-Event-ID). 0 ok, -1 malformed. */
int hub_parse_id(const char *text, uint64_t *out);

#endif
