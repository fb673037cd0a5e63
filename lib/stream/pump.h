/* The stream writer shared by out_sse and out_websocket: a few epoll threads that own the
 * streaming sockets once the HTTP exchange is over and write each client's whole backlog
 * with one send per round (hub_fill_batch), instead of one library callback per event. */
#ifndef OUTS_PUMP_H
#define OUTS_PUMP_H

#include "hub.h"

#include <stdint.h>

typedef struct pump pump;
typedef struct pump_conn pump_conn;

/* SSE bytes go out as HTTP/1.1 chunks (libmicrohttpd sent the headers of a chunked reply);
 * WebSocket bytes are already framed by the hub. */
typedef enum pump_wire { PUMP_CHUNKED = 0, PUMP_RAW = 1 } pump_wire;

/* A transport's hooks, all called on the connection's loop thread. Optional ones may be NULL.
 */
typedef struct pump_conn_ops {
  /* The socket is readable or hung up. 0 goes on, -1 ends the connection. */
  int (*input)(pump_conn *pc, void *user);
  /* Writes the transport's own queued bytes (WebSocket control frames) before stream data.
   * 0 done, 1 the socket is full or stream data must wait, -1 ends the connection. */
  int (*control)(pump_conn *pc, void *user);
  /* The hub ended the stream. 0 keeps servicing (a close frame was queued), -1 ends now. */
  int (*stream_end)(pump_conn *pc, void *user);
  /* About every 100 ms. -1 ends the connection. */
  int (*tick)(pump_conn *pc, void *user, int64_t now_mono_ns);
  /* The connection is over (clean: the stream ended normally, else an error or a dead
   * peer). The hub client is already detached from the pump; release the transport's side.
   * The pump frees pc afterwards. */
  void (*finish)(pump_conn *pc, void *user, int clean);
} pump_conn_ops;

pump *pump_new(unsigned threads);
int pump_start(pump *p); /* 0, or -1 with errno */
/* Joins the threads and finishes (clean = 0) every connection still open. */
void pump_stop(pump *p);
void pump_free(pump *p);

/* A connection for fd (non-blocking), serviced by one of the loop threads. The hub client
 * must use pump_hub_ops with tctx = the returned pc (hub_subscribe or
 * hub_client_set_transport) before pump_conn_start. NULL when out of memory. */
pump_conn *pump_conn_new(pump *p, int fd, pump_wire wire, const pump_conn_ops *ops, void *user);
void pump_conn_set_client(pump_conn *pc, hub_client *client);
/* Hands the connection to its loop thread, which registers the socket and services it.
 * From any thread, once; pc belongs to the loop from then on and may be finished and freed
 * before this returns, so the caller must not touch it (nor anything ops->finish frees)
 * afterwards. */
void pump_conn_start(pump_conn *pc);
/* Services it soon (e.g. the transport queued a control frame). Any thread that knows pc is
 * alive: the loop thread, or a hub callback (pc still attached as the client's transport). A
 * wake before pump_conn_start is kept until the loop adopts pc. */
void pump_conn_wake(pump_conn *pc);
int pump_conn_fd(const pump_conn *pc);
/* 1 while part of a write is still waiting for the socket (ending now cuts a chunk short).
 * Meaningful inside ops->finish. */
int pump_conn_mid_write(const pump_conn *pc);

extern const hub_transport_ops pump_hub_ops;

#endif
