/* out_sse: the fan-out hub served as Server-Sent Events. libmicrohttpd parses the request
 * and sends the headers and the first chunk of a chunked reply; the connection is then
 * suspended for good and the pump writes the stream's chunks straight to its socket. */
#include <sys/socket.h>
#include <sys/types.h>

#include "stream/outs.h"
#include "stream/pump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Why the pump and not libmicrohttpd's content reader for every event: a suspended reader is
 * resumed per client per event (a lock and an eventfd write each) and asked twice per event,
 * under the topic lock both times; with 10,000 clients at 50 events/s that overhead, not the
 * socket writes, kept the backlog growing. libmicrohttpd never touches a suspended
 * connection's socket, and it is only suspended between whole chunks (the reader is called
 * once the previous chunk is fully sent), so taking the socket over at that point keeps the
 * chunked framing intact; resuming it later lets libmicrohttpd end the reply and close. */
typedef struct sse_stream {
  outs_state *s;
  struct MHD_Connection *conn;
  hub_client *client;
  int phase;     /* 0 first chunk through libmicrohttpd, 1 handed over, 2 over */
  int cut_short; /* phase 2: a chunk was cut short, so the reply can only be aborted */
} sse_stream;

static void sse_park(hub_client *client, void *tctx) {
  MHD_suspend_connection(((sse_stream *)tctx)->conn);
}

static void sse_notify(hub_client *client, void *tctx) {
  MHD_resume_connection(((sse_stream *)tctx)->conn);
}

/* A stalled client's socket is full, so nothing more can be written to it: shutting it
 * down makes libmicrohttpd see the error, close it and free the client. */
static void sse_kill(hub_client *client, void *tctx) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(((sse_stream *)tctx)->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
}

/* Used only until the hand-over. */
static const hub_transport_ops sse_mhd_ops = {sse_park, sse_notify, sse_kill};

/* EventSource clients send nothing after the request: read to notice the peer leaving. */
static int sse_input(pump_conn *pc, void *user) {
  char buf[512];
  for (;;) {
    ssize_t r = recv(pump_conn_fd(pc), buf, sizeof buf, 0);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
  }
}

/* Back to libmicrohttpd, which asks the reader once more and ends the reply. A stream that
 * did not end cleanly (the client left, or the server is draining) still ends with the last
 * chunk when the framing is whole: for the browser that is a normal end of stream. Only a
 * chunk cut short (a client that stopped reading) leaves no valid way to end the reply. */
static void sse_finish(pump_conn *pc, void *user, int clean) {
  sse_stream *st = user;
  st->phase = 2;
  st->cut_short = !clean && pump_conn_mid_write(pc);
  if (st->cut_short)
    st->s->host->log(st->s->stage, SD_LOG_INFO,
                     "stream closed mid-event: the client stopped reading (or the server is "
                     "stopping)");
  MHD_resume_connection(st->conn);
}

static const pump_conn_ops sse_pump_ops = {
    .input = sse_input,
    .finish = sse_finish,
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  sse_stream *st = cls;
  if (st->phase == 2)
    return st->cut_short ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
  if (st->phase == 0) {
    /* The hub's first message (retry hint) goes out with the headers. */
    size_t n = 0;
    if (hub_fill(st->client, buf, max, &n) == HUB_END && n == 0)
      return MHD_CONTENT_READER_END_OF_STREAM;
    st->phase = 1;
    return (ssize_t)n;
  }
  /* Everything before is sent: hand the socket to the pump. */
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  pump_conn *pc =
      ci ? pump_conn_new(st->s->pump, ci->connect_fd, PUMP_CHUNKED, &sse_pump_ops, st) : NULL;
  if (!pc) {
    st->s->host->log(st->s->stage, SD_LOG_ERROR, "stream closed: out of memory");
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  MHD_suspend_connection(st->conn);
  pump_conn_set_client(pc, st->client);
  hub_client_set_transport(st->client, &pump_hub_ops, pc);
  pump_conn_start(pc);
  return 0;
}

static void sse_free(void *cls) {
  sse_stream *st = cls;
  hub_unsubscribe(st->client);
  free(st);
}

static enum MHD_Result sse_open(outs_state *s, struct MHD_Connection *conn, hub_topic *topic,
                                const hub_sub_opts *opts, const char *cors, void **con_cls) {
  hub_sub_opts o = *opts;
  o.wire = HUB_WIRE_SSE;
  sse_stream *st = calloc(1, sizeof *st);
  if (!st) return outs_reply_sub_error(s, conn, HUB_SUB_NOMEM, cors);
  st->s = s;
  st->conn = conn;
  hub_sub_error err;
  st->client = hub_subscribe(s->hub, topic, &o, &sse_mhd_ops, st, &err);
  if (!st->client) {
    free(st);
    return outs_reply_sub_error(s, conn, err, cors);
  }
  /* The block size only sizes libmicrohttpd's per-response buffer, which chunked replies
   * do not use: keep it small, it is allocated per client. */
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, sse_read, st, sse_free);
  if (!resp) {
    hub_unsubscribe(st->client);
    free(st);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  outs_add_cors(resp, cors);
  enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp); /* the stream is freed with the response (sse_free) */
  return r;
}

static const outs_transport sse_transport = {
    .name = "sse",
    .mhd_flags = 0,
    .open = sse_open,
};

static sd_result sse_init(const sd_host_api *host, sd_stage *stage, void **state) {
  return outs_init(host, stage, state, &sse_transport);
}

static const sd_plugin_descriptor sse_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "out_sse",
    .version = SENSORD_VERSION,
    .description = "query rows to browsers as Server-Sent Events, with the live dashboard",
    .kind = SD_KIND_SINK,
    .flags = SD_PLUGIN_PROCESS_ON_CALLER,
    .config_keys = outs_config_keys,
    .validate = outs_validate,
    .init = sse_init,
    .start = outs_start,
    .process = outs_process,
    .drain = outs_drain,
    .destroy = outs_destroy,
};

SD_PLUGIN_DEFINE(sse_descriptor)
