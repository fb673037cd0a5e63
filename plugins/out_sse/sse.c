/* out_sse: the fan-out hub served as Server-Sent Events. Each stream is a libmicrohttpd
 * callback response whose reader copies from the hub and suspends the connection when the
 * client is caught up; the hub resumes it when an event or a heartbeat is due. */
#include <sys/socket.h>
#include <sys/types.h>

#include "outs.h"

#include <stdlib.h>
#include <string.h>

static void sse_park(hub_client *client, void *tctx) {
  MHD_suspend_connection((struct MHD_Connection *)tctx);
}

static void sse_notify(hub_client *client, void *tctx) {
  MHD_resume_connection((struct MHD_Connection *)tctx);
}

/* A stalled client's socket is full, so nothing more can be written to it: shutting it
 * down makes libmicrohttpd see the error, close it and free the client. */
static void sse_kill(hub_client *client, void *tctx) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info((struct MHD_Connection *)tctx, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) shutdown(ci->connect_fd, SHUT_RDWR);
}

static const hub_transport_ops sse_ops = {sse_park, sse_notify, sse_kill};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  size_t n = 0;
  if (hub_fill(cls, buf, max, &n, 0) == HUB_END) return MHD_CONTENT_READER_END_OF_STREAM;
  return (ssize_t)n; /* 0 only when hub_fill suspended the connection */
}

static void sse_free(void *cls) { hub_unsubscribe(cls); }

static enum MHD_Result sse_open(outs_state *s, struct MHD_Connection *conn, hub_topic *topic,
                                const hub_sub_opts *opts, const char *cors, void **con_cls) {
  hub_sub_opts o = *opts;
  o.wire = HUB_WIRE_SSE;
  hub_sub_error err;
  hub_client *c = hub_subscribe(s->hub, topic, &o, &sse_ops, conn, &err);
  if (!c) return outs_reply_sub_error(s, conn, err, cors);
  /* The block size only sizes libmicrohttpd's per-response buffer, which chunked replies
   * do not use: keep it small, it is allocated per client. */
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, sse_read, c, sse_free);
  if (!resp) {
    hub_unsubscribe(c);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
  MHD_add_response_header(resp, "Cache-Control", "no-cache");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  outs_add_cors(resp, cors);
  enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp); /* the client is freed with the response (sse_free) */
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
    .config_keys = outs_config_keys,
    .validate = outs_validate,
    .init = sse_init,
    .start = outs_start,
    .process = outs_process,
    .drain = outs_drain,
    .destroy = outs_destroy,
};

SD_PLUGIN_DEFINE(sse_descriptor)
