/* out_websocket: the fan-out hub over WebSocket (RFC 6455). libmicrohttpd does the HTTP
 * upgrade; the shared pump threads then own the sockets: wslay parses what clients send and
 * writes control frames, the pump writes the event frames the hub built, several per send. */
#include <sys/socket.h>
#include <sys/types.h>

#include "http/front.h"
#include "stream/outs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID              "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CLOSE_NORMAL      1000
#define WS_CLOSE_GOING_AWAY  1001
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_POLICY      1008
#define WS_CLOSE_INTERNAL    1011
#define WS_CLOSE_TRY_AGAIN   1013

/* Why event frames bypass wslay: wslay writes one frame per send callback and copies every
 * message through its own per-connection queue, so 10,000 clients at 50 events/s meant
 * 500,000 sends a second from per-client copies (122,000 events/s was the most it
 * delivered). Every client gets the same unmasked server frame, so the hub frames each
 * message once per client batch (hub_fill_batch) and the pump sends a client's whole
 * backlog at once. wslay still owns everything else on the connection: parsing client
 * frames, pings, pongs, the close handshake. The two never interleave: the pump writes
 * event frames only when wslay has nothing queued (ws_control) and wslay sends only after the
 * pump's unsent bytes are out. */

/* Per-request parameters carried from the HTTP handler to the upgrade handler. */
typedef struct ws_request {
  hub_topic *topic;
  hub_sub_opts opts;
  char *device;
} ws_request;

typedef struct ws_conn {
  outs_state *s;
  hub_client *client;
  pump_conn *pc;
  struct MHD_UpgradeResponseHandle *urh;
  int fd;
  wslay_event_context_ptr ctx;
  int closing; /* close frame queued */
  int64_t last_ping_ns, last_pong_ns;
  char *extra; /* bytes read past the HTTP request */
  size_t extra_len, extra_off;
} ws_conn;

static int64_t ws_now(ws_conn *c) {
  return c->s->host->now_mono_ns();
}

/* ---- wslay callbacks (pump thread) ------------------------------------------------------ */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user) {
  ws_conn *c = user;
  if (c->extra_off < c->extra_len) {
    size_t n = c->extra_len - c->extra_off < len ? c->extra_len - c->extra_off : len;
    memcpy(buf, c->extra + c->extra_off, n);
    c->extra_off += n;
    return (ssize_t)n;
  }
  ssize_t r;
  do r = recv(c->fd, buf, len, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  if (r == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return r;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *user) {
  ws_conn *c = user;
  ssize_t r;
  do r = send(c->fd, data, len, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    wslay_event_set_error(ctx, errno == EAGAIN || errno == EWOULDBLOCK
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return r;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user) {
  /* Servers do not mask; wslay only asks clients. */
  memset(buf, 0, len);
  return 0;
}

static void ws_close_with(ws_conn *c, uint16_t code, const char *reason) {
  if (c->closing) return;
  c->closing = 1;
  wslay_event_queue_close(c->ctx, code, (const uint8_t *)reason, strlen(reason));
}

/* A client may send {"last_event_id": N} (number or string) as its first message. */
static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *user) {
  ws_conn *c = user;
  if (arg->opcode == WSLAY_PONG) {
    c->last_pong_ns = ws_now(c);
    return;
  }
  if (arg->opcode == WSLAY_BINARY_FRAME) {
    outs_state *s = c->s;
    if (s->m.ws_errors) s->host->metric_add(s->m.ws_errors, 1);
    ws_close_with(c, WS_CLOSE_UNSUPPORTED, "binary messages are not accepted");
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME || !c->client) return;
  json_t *j = json_loadb((const char *)arg->msg, arg->msg_length, 0, NULL);
  json_t *v = j ? json_object_get(j, "last_event_id") : NULL;
  uint64_t id;
  if (json_is_integer(v) && json_integer_value(v) >= 0)
    hub_client_resume(c->client, (uint64_t)json_integer_value(v));
  else if (json_is_string(v) && hub_parse_id(json_string_value(v), &id) == 0)
    hub_client_resume(c->client, id);
  json_decref(j);
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, ws_genmask_cb, NULL, NULL, NULL, ws_on_msg,
};

/* ---- pump hooks (pump thread) ------------------------------------------------------------ */

static int ws_input(pump_conn *pc, void *user) {
  ws_conn *c = user;
  return wslay_event_recv(c->ctx) == 0 ? 0 : -1;
}

/* wslay's own frames first; event frames only while no close is under way. */
static int ws_control(pump_conn *pc, void *user) {
  ws_conn *c = user;
  if (c->extra_off < c->extra_len && wslay_event_recv(c->ctx) != 0) return -1;
  if (wslay_event_want_write(c->ctx)) {
    if (wslay_event_send(c->ctx) != 0) return -1;
    if (wslay_event_want_write(c->ctx)) return 1; /* socket full: EPOLLOUT brings us back */
  }
  if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx)) return -1;
  if (c->closing || wslay_event_get_close_received(c->ctx) || !c->client) return 1;
  return 0;
}

/* The hub ended the stream: after an overflow message, or at shutdown. */
static int ws_stream_end(pump_conn *pc, void *user) {
  ws_conn *c = user;
  if (atomic_load(&c->s->closed))
    ws_close_with(c, WS_CLOSE_GOING_AWAY, "server stopping");
  else
    ws_close_with(c, WS_CLOSE_POLICY, "client queue overflow");
  return 0;
}

static int ws_tick(pump_conn *pc, void *user, int64_t now) {
  ws_conn *c = user;
  int64_t hb = c->s->heartbeat_ns;
  if (now - c->last_ping_ns < hb) return 0;
  if (c->last_ping_ns > c->last_pong_ns && now - c->last_ping_ns >= 2 * hb)
    return -1; /* two heartbeats without a pong: the peer is gone */
  if (c->last_ping_ns <= c->last_pong_ns || c->last_ping_ns == 0) {
    struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"hb", 2};
    wslay_event_queue_msg(c->ctx, &ping);
    c->last_ping_ns = now;
    pump_conn_wake(pc);
  }
  return 0;
}

static void ws_finish(pump_conn *pc, void *user, int clean) {
  ws_conn *c = user;
  if (c->client) hub_unsubscribe(c->client);
  if (c->closing == 0 && atomic_load(&c->s->closed)) {
    /* Shutdown with the socket still open: say goodbye, best effort. */
    ws_close_with(c, WS_CLOSE_GOING_AWAY, "server stopping");
    wslay_event_send(c->ctx);
  }
  wslay_event_context_free(c->ctx);
  MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
  free(c->extra);
  free(c);
}

static const pump_conn_ops ws_pump_ops = {
    .input = ws_input,
    .control = ws_control,
    .stream_end = ws_stream_end,
    .tick = ws_tick,
    .finish = ws_finish,
};

/* ---- HTTP side (libmicrohttpd threads) ---------------------------------------------- */

static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh) {
  outs_state *s = cls;
  ws_request *req = hf_upgrade_context(con_cls);
  ws_conn *c = atomic_load(&s->closed) || !req ? NULL : calloc(1, sizeof *c);
  if (!c) {
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  c->s = s;
  c->fd = sock;
  c->urh = urh;
  c->last_pong_ns = ws_now(c);
  c->last_ping_ns = c->last_pong_ns;
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  /* Bytes the client sent right after the request (its resume message) must not be lost:
   * without room for them the connection is refused like any other allocation failure. */
  c->extra = extra_in_size ? malloc(extra_in_size) : NULL;
  if (c->extra) {
    memcpy(c->extra, extra_in, extra_in_size);
    c->extra_len = extra_in_size;
  }
  c->pc = pump_conn_new(s->pump, sock, PUMP_RAW, &ws_pump_ops, c);
  if ((extra_in_size && !c->extra) || !c->pc ||
      wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0) {
    s->host->log(s->stage, SD_LOG_ERROR, "WebSocket closed: out of memory");
    free(c->pc);
    free(c->extra);
    free(c);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  wslay_event_config_set_max_recv_msg_length(c->ctx, 4096);
  hub_sub_error err = HUB_SUB_OK;
  c->client = hub_subscribe(s->hub, req->topic, &req->opts, &pump_hub_ops, c->pc, &err);
  if (!c->client && err == HUB_SUB_NOMEM) {
    s->host->log(s->stage, SD_LOG_ERROR, "WebSocket closed: out of memory");
    ws_close_with(c, WS_CLOSE_INTERNAL, "out of memory");
  } else if (!c->client) {
    ws_close_with(c, WS_CLOSE_TRY_AGAIN, "too many clients");
  }
  pump_conn_set_client(c->pc, c->client);
  pump_conn_start(c->pc); /* from here on only the pump thread touches c */
}

static int header_has_token(const char *value, const char *token) {
  size_t n = strlen(token);
  for (const char *p = value; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    const char *e = end;
    while (e > p && e[-1] == ' ') e--;
    if ((size_t)(e - p) == n && strncasecmp(p, token, n) == 0) return 1;
    p = end;
  }
  return 0;
}

/* A handshake refused before the upgrade: a JSON error (a static string) plus the header
 * telling the client what would have worked. */
static enum MHD_Result ws_refuse(struct MHD_Connection *conn, unsigned status, const char *json,
                                 const char *header, const char *value, const char *cors) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "application/json");
  MHD_add_response_header(resp, header, value);
  outs_add_cors(resp, cors);
  enum MHD_Result r = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return r;
}

static enum MHD_Result ws_open(outs_state *s, struct MHD_Connection *conn, hub_topic *topic,
                               const hub_sub_opts *opts, const char *cors, void **con_cls) {
  const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
  const char *connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection");
  const char *version =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
  const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !connection ||
      !header_has_token(connection, "upgrade")) {
    return ws_refuse(conn, MHD_HTTP_UPGRADE_REQUIRED,
                     "{\"error\":\"this stream is served over WebSocket\"}", "Upgrade",
                     "websocket", cors);
  }
  if (!version || strcmp(version, "13") != 0 || !key || strlen(key) != 24) {
    if (s->m.ws_errors) s->host->metric_add(s->m.ws_errors, 1);
    return ws_refuse(
        conn, MHD_HTTP_BAD_REQUEST,
        "{\"error\":\"WebSocket version 13 with a Sec-WebSocket-Key is required\"}",
        "Sec-WebSocket-Version", "13", NULL);
  }
  if (hub_client_count(s->hub) >= s->max_clients)
    return outs_reply_sub_error(s, conn, HUB_SUB_FULL, cors);
  ws_request *req = calloc(1, sizeof *req);
  if (!req) return outs_reply_sub_error(s, conn, HUB_SUB_NOMEM, cors);
  req->topic = topic;
  req->opts = *opts;
  req->opts.wire = HUB_WIRE_WS;
  if (opts->device) {
    /* Without its copy the client would silently get every device's rows. */
    req->device = strdup(opts->device);
    if (!req->device) {
      free(req);
      return outs_reply_sub_error(s, conn, HUB_SUB_NOMEM, cors);
    }
    req->opts.device = req->device;
  }
  *con_cls = req;
  struct sha1_ctx sha;
  uint8_t digest[SHA1_DIGEST_SIZE];
  char accept[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) + 1];
  sha1_init(&sha);
  sha1_update(&sha, strlen(key), (const uint8_t *)key);
  sha1_update(&sha, strlen(WS_GUID), (const uint8_t *)WS_GUID);
  sha1_digest(&sha, SHA1_DIGEST_SIZE, digest);
  base64_encode_raw(accept, SHA1_DIGEST_SIZE, digest);
  accept[sizeof accept - 1] = '\0';
  struct MHD_Response *resp = MHD_create_response_for_upgrade(ws_upgraded, s);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
  MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
  outs_add_cors(resp, cors);
  enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
  MHD_destroy_response(resp);
  return r;
}

static void ws_completed(outs_state *s, void *con_cls) {
  ws_request *req = con_cls;
  free(req->device);
  free(req);
}

static const outs_transport ws_transport = {
    .name = "websocket",
    .mhd_flags = MHD_ALLOW_UPGRADE,
    .open = ws_open,
    .completed = ws_completed,
};

static sd_result ws_init(const sd_host_api *host, sd_stage *stage, void **state) {
  return outs_init(host, stage, state, &ws_transport);
}

static const sd_plugin_descriptor ws_descriptor = {
    SD_DESCRIPTOR_HEADER,
    .name = "out_websocket",
    .version = SENSORD_VERSION,
    .description = "query rows to browsers over WebSocket, with the live dashboard",
    .kind = SD_KIND_SINK,
    .flags = SD_PLUGIN_PROCESS_ON_CALLER,
    .config_keys = outs_config_keys,
    .validate = outs_validate,
    .init = ws_init,
    .start = outs_start,
    .process = outs_process,
    .drain = outs_drain,
    .destroy = outs_destroy,
};

SD_PLUGIN_DEFINE(ws_descriptor)
