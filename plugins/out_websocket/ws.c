/* out_websocket: the fan-out hub over WebSocket (RFC 6455). libmicrohttpd does the HTTP
 * upgrade; one epoll thread then drives every upgraded socket with wslay, streaming each
 * event straight from the hub's shared buffer as a text message (no per-client copy). */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../out_sse/outs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TRY_AGAIN 1013

typedef struct ws_conn ws_conn;

typedef struct ws_state {
  outs_state *outs;
  int epfd, evfd;
  pthread_t thread;
  int thread_started;
  atomic_int stopping;
  pthread_mutex_t ready_lock;
  ws_conn *ready; /* clients the hub woke or asked to drop */
  ws_conn *all;   /* every live connection (loop thread only) */
  int64_t next_ping_scan;
} ws_state;

/* Per-request parameters carried from the HTTP handler to the upgrade handler. */
typedef struct ws_request {
  hub_topic *topic;
  hub_sub_opts opts;
  char *device;
} ws_request;

struct ws_conn {
  ws_state *ws;
  hub_client *client;
  struct MHD_UpgradeResponseHandle *urh;
  int fd;
  wslay_event_context_ptr ctx;
  ws_conn *prev, *next; /* ws->all */
  ws_conn *next_ready;
  int in_ready;         /* ready_lock */
  atomic_int kill;      /* stalled past its queue: drop without a close handshake */
  int msg_active;       /* an event message is queued in wslay */
  int closing;          /* close frame queued */
  int64_t last_ping_ns, last_pong_ns;
  char *extra;          /* bytes read past the HTTP request */
  size_t extra_len, extra_off;
};

static int64_t ws_now(ws_state *ws) { return ws->outs->host->now_mono_ns(); }

/* ---- hub → loop thread ------------------------------------------------------------ */

static void ws_make_ready(ws_conn *c) {
  ws_state *ws = c->ws;
  int wake = 0;
  pthread_mutex_lock(&ws->ready_lock);
  if (!c->in_ready) {
    c->in_ready = 1;
    wake = ws->ready == NULL;
    c->next_ready = ws->ready;
    ws->ready = c;
  }
  pthread_mutex_unlock(&ws->ready_lock);
  if (wake) {
    uint64_t one = 1;
    ssize_t w = write(ws->evfd, &one, sizeof one);
    (void)w; /* a full eventfd counter still wakes the loop */
  }
}

static void ws_park(hub_client *client, void *tctx) {
  /* Nothing to do: the loop only services a connection when its socket or the hub asks. */
}

static void ws_notify(hub_client *client, void *tctx) { ws_make_ready(tctx); }

static void ws_kill(hub_client *client, void *tctx) {
  ws_conn *c = tctx;
  atomic_store(&c->kill, 1);
  ws_make_ready(c);
}

static const hub_transport_ops ws_ops = {ws_park, ws_notify, ws_kill};

/* ---- wslay callbacks ---------------------------------------------------------------- */

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
static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user) {
  ws_conn *c = user;
  if (arg->opcode == WSLAY_PONG) {
    c->last_pong_ns = ws_now(c->ws);
    return;
  }
  if (arg->opcode == WSLAY_BINARY_FRAME) {
    outs_state *s = c->ws->outs;
    if (s->m.ws_errors) s->host->metric_add(s->m.ws_errors, 1);
    ws_close_with(c, WS_CLOSE_UNSUPPORTED, "binary messages are not accepted");
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME) return;
  json_t *j = json_loadb((const char *)arg->msg, arg->msg_length, 0, NULL);
  json_t *v = j ? json_object_get(j, "last_event_id") : NULL;
  uint64_t id;
  if (json_is_integer(v) && json_integer_value(v) >= 0)
    hub_client_resume(c->client, (uint64_t)json_integer_value(v));
  else if (json_is_string(v) && hub_parse_id(json_string_value(v), &id) == 0)
    hub_client_resume(c->client, id);
  json_decref(j);
}

static ssize_t ws_read_event(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                             const union wslay_event_msg_source *source, int *eof, void *user) {
  ws_conn *c = source->data;
  size_t n = 0;
  if (hub_fill(c->client, (char *)buf, len, &n, 1) == HUB_BOUNDARY) {
    *eof = 1;
    c->msg_active = 0;
  }
  return (ssize_t)n;
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, ws_genmask_cb, NULL, NULL, NULL, ws_on_msg,
};

/* ---- connection lifetime (loop thread) ---------------------------------------------- */

static void ws_destroy(ws_conn *c) {
  ws_state *ws = c->ws;
  if (c->client) hub_unsubscribe(c->client); /* no hub callback for c after this */
  pthread_mutex_lock(&ws->ready_lock);
  if (c->in_ready) {
    for (ws_conn **p = &ws->ready; *p; p = &(*p)->next_ready)
      if (*p == c) {
        *p = c->next_ready;
        break;
      }
  }
  pthread_mutex_unlock(&ws->ready_lock);
  if (c->prev) c->prev->next = c->next;
  else if (ws->all == c) ws->all = c->next;
  if (c->next) c->next->prev = c->prev;
  epoll_ctl(ws->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  if (c->ctx) wslay_event_context_free(c->ctx);
  MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
  free(c->extra);
  free(c);
}

/* Reads what the peer sent, queues the next events, writes until the socket is full.
 * Returns -1 when the connection is finished and was freed. */
static int ws_service(ws_conn *c, uint32_t events) {
  if (c->prev == c) {
    ws_state *ws = c->ws;
    c->prev = NULL;
    c->next = ws->all;
    if (ws->all) ws->all->prev = c;
    ws->all = c;
  }
  if (atomic_load(&c->kill)) {
    ws_destroy(c);
    return -1;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP) || c->extra_off < c->extra_len) {
    if (wslay_event_recv(c->ctx) != 0) {
      ws_destroy(c);
      return -1;
    }
  }
  int rounds;
  for (rounds = 0; rounds < 64; rounds++) {
    if (!c->msg_active && !c->closing && !wslay_event_get_close_received(c->ctx)) {
      int r = hub_next_message(c->client);
      if (r == 1) {
        struct wslay_event_fragmented_msg msg = {.opcode = WSLAY_TEXT_FRAME,
                                                 .read_callback = ws_read_event};
        msg.source.data = c;
        if (wslay_event_queue_fragmented_msg(c->ctx, &msg) == 0) c->msg_active = 1;
      } else if (r < 0) {
        /* Ended by the hub: after an overflow message, or at shutdown. */
        if (atomic_load(&c->ws->stopping)) ws_close_with(c, WS_CLOSE_GOING_AWAY, "server stopping");
        else ws_close_with(c, WS_CLOSE_POLICY, "client queue overflow");
      }
    }
    if (!wslay_event_want_write(c->ctx)) break;
    if (wslay_event_send(c->ctx) != 0) {
      ws_destroy(c);
      return -1;
    }
    if (wslay_event_want_write(c->ctx) && !c->msg_active) break; /* socket full */
    if (c->msg_active) break; /* part of a message is waiting for room in the socket */
  }
  /* Yielded to other connections with events still to go: come back on the next turn. */
  if (rounds == 64) ws_make_ready(c);
  if (!wslay_event_want_read(c->ctx) && !wslay_event_want_write(c->ctx)) {
    ws_destroy(c);
    return -1;
  }
  return 0;
}

static void ws_ping_scan(ws_state *ws, int64_t now) {
  int64_t hb = ws->outs->heartbeat_ns;
  ws_conn *next;
  for (ws_conn *c = ws->all; c; c = next) {
    next = c->next;
    if (now - c->last_ping_ns < hb) continue;
    if (c->last_ping_ns > c->last_pong_ns && now - c->last_ping_ns >= 2 * hb) {
      /* Two heartbeats without a pong: the peer is gone. */
      ws_destroy(c);
      continue;
    }
    if (c->last_ping_ns <= c->last_pong_ns || c->last_ping_ns == 0) {
      struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"hb", 2};
      wslay_event_queue_msg(c->ctx, &ping);
      c->last_ping_ns = now;
      ws_service(c, 0);
    }
  }
}

static void *ws_loop(void *arg) {
  ws_state *ws = arg;
  struct epoll_event evs[256];
  while (!atomic_load(&ws->stopping)) {
    int n = epoll_wait(ws->epfd, evs, 256, 50);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        uint64_t v;
        ssize_t r = read(ws->evfd, &v, sizeof v);
        (void)r;
        continue;
      }
      ws_service(evs[i].data.ptr, evs[i].events);
    }
    pthread_mutex_lock(&ws->ready_lock);
    ws_conn *list = ws->ready;
    ws->ready = NULL;
    for (ws_conn *c = list; c; c = c->next_ready) c->in_ready = 0;
    pthread_mutex_unlock(&ws->ready_lock);
    ws_conn *next;
    for (ws_conn *c = list; c; c = next) {
      next = c->next_ready;
      ws_service(c, 0);
    }
    int64_t now = ws_now(ws);
    if (now >= ws->next_ping_scan) {
      ws->next_ping_scan = now + 100000000;
      ws_ping_scan(ws, now);
    }
  }
  /* Shutdown: say goodbye (best effort: the socket may be full) and release everything. */
  while (ws->all) {
    ws_conn *c = ws->all;
    ws_close_with(c, WS_CLOSE_GOING_AWAY, "server stopping");
    wslay_event_send(c->ctx);
    ws_destroy(c);
  }
  return NULL;
}

/* ---- HTTP side (libmicrohttpd threads) ---------------------------------------------- */

static void ws_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh) {
  outs_state *s = cls;
  ws_state *ws = s->transport_state;
  ws_request *req = con_cls;
  ws_conn *c = atomic_load(&ws->stopping) ? NULL : calloc(1, sizeof *c);
  if (!c || !req) {
    free(c);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  c->ws = ws;
  c->fd = sock;
  c->urh = urh;
  c->last_pong_ns = ws_now(ws);
  c->last_ping_ns = c->last_pong_ns;
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
  if (extra_in_size) {
    c->extra = malloc(extra_in_size);
    if (c->extra) {
      memcpy(c->extra, extra_in, extra_in_size);
      c->extra_len = extra_in_size;
    }
  }
  if (wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0) {
    free(c->extra);
    free(c);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  wslay_event_config_set_max_recv_msg_length(c->ctx, 4096);
  hub_sub_error err = HUB_SUB_OK;
  c->client = hub_subscribe(s->hub, req->topic, &req->opts, &ws_ops, c, &err);
  if (!c->client) ws_close_with(c, WS_CLOSE_TRY_AGAIN, "too many clients");
  /* From here on only the loop thread touches c; it links c into ws->all on first use. */
  c->next = NULL;
  c->prev = c; /* "not yet linked" */
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(ws->epfd, EPOLL_CTL_ADD, sock, &ev);
  ws_make_ready(c);
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

static enum MHD_Result ws_open(outs_state *s, struct MHD_Connection *conn, hub_topic *topic,
                               const hub_sub_opts *opts, const char *cors, void **con_cls) {
  const char *upgrade = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
  const char *connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection");
  const char *version =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
  const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !connection ||
      !header_has_token(connection, "upgrade")) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen("{\"error\":\"this stream is served over WebSocket\"}"),
        (void *)"{\"error\":\"this stream is served over WebSocket\"}", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Upgrade", "websocket");
    outs_add_cors(resp, cors);
    enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_UPGRADE_REQUIRED, resp);
    MHD_destroy_response(resp);
    return r;
  }
  if (!version || strcmp(version, "13") != 0 || !key || strlen(key) != 24) {
    if (s->m.ws_errors) s->host->metric_add(s->m.ws_errors, 1);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen("{\"error\":\"WebSocket version 13 with a Sec-WebSocket-Key is required\"}"),
        (void *)"{\"error\":\"WebSocket version 13 with a Sec-WebSocket-Key is required\"}",
        MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST, resp);
    MHD_destroy_response(resp);
    return r;
  }
  if (hub_client_count(s->hub) >= s->max_clients)
    return outs_reply_sub_error(s, conn, HUB_SUB_FULL, cors);
  ws_request *req = calloc(1, sizeof *req);
  if (!req) return outs_reply_sub_error(s, conn, HUB_SUB_NOMEM, cors);
  req->topic = topic;
  req->opts = *opts;
  req->opts.wire = HUB_WIRE_WS;
  if (opts->device) {
    req->device = strdup(opts->device);
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

/* ---- transport lifecycle ------------------------------------------------------------ */

static int ws_start(outs_state *s) {
  ws_state *ws = calloc(1, sizeof *ws);
  if (!ws) return -1;
  ws->outs = s;
  ws->epfd = epoll_create1(EPOLL_CLOEXEC);
  ws->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&ws->ready_lock, NULL);
  s->transport_state = ws;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (ws->epfd < 0 || ws->evfd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->evfd, &ev) != 0 ||
      pthread_create(&ws->thread, NULL, ws_loop, ws) != 0) {
    s->host->log(s->stage, SD_LOG_ERROR, "cannot start the WebSocket loop: %s",
                 strerror(errno));
    return -1;
  }
  ws->thread_started = 1;
  return 0;
}

static void ws_stop(outs_state *s) {
  ws_state *ws = s->transport_state;
  if (!ws || !ws->thread_started) return;
  atomic_store(&ws->stopping, 1);
  uint64_t one = 1;
  ssize_t w = write(ws->evfd, &one, sizeof one);
  (void)w;
  pthread_join(ws->thread, NULL);
  ws->thread_started = 0;
  /* Connections upgraded while the loop was ending never reached it. */
  for (;;) {
    pthread_mutex_lock(&ws->ready_lock);
    ws_conn *c = ws->ready;
    if (c) {
      ws->ready = c->next_ready;
      c->in_ready = 0;
    }
    pthread_mutex_unlock(&ws->ready_lock);
    if (!c) break;
    if (c->prev == c) c->prev = NULL;
    ws_destroy(c);
  }
}

static void ws_destroy_transport(outs_state *s) {
  ws_state *ws = s->transport_state;
  if (!ws) return;
  ws_stop(s);
  if (ws->epfd >= 0) close(ws->epfd);
  if (ws->evfd >= 0) close(ws->evfd);
  pthread_mutex_destroy(&ws->ready_lock);
  free(ws);
  s->transport_state = NULL;
}

static const outs_transport ws_transport = {
    .name = "websocket",
    .mhd_flags = MHD_ALLOW_UPGRADE,
    .open = ws_open,
    .completed = ws_completed,
    .start = ws_start,
    .stop = ws_stop,
    .destroy = ws_destroy_transport,
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
    .config_keys = outs_config_keys,
    .validate = outs_validate,
    .init = ws_init,
    .start = outs_start,
    .process = outs_process,
    .drain = outs_drain,
    .destroy = outs_destroy,
};

SD_PLUGIN_DEFINE(ws_descriptor)
