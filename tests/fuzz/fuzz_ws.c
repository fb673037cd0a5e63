/* libFuzzer target over out_websocket's input path: the input is what a client sends after
 * the upgrade, handed to ws.c's own wslay callbacks and pump hooks (ws_recv_cb, ws_on_msg
 * with its {"last_event_id": N} resume message, ws_input, ws_control, ws_send_cb) part as
 * the bytes read past the HTTP request and the rest through a socket in uneven chunks. The
 * connection's hub client is real, so a resume replays events, which are then framed. ws.c
 * is compiled into this file (its callbacks are static) and is not changed for it. */
#include "../../plugins/out_websocket/ws.c"

#include <stdint.h>

/* ---- what the stage would have set up --------------------------------------------------- */

static int64_t fz_clock;
static int64_t fz_now(void) {
  return fz_clock += 1000000;
}
static void fz_metric_add(sd_metric *m, double d) {
  (void)m, (void)d;
}
static const sd_host_api fz_host = {.now_mono_ns = fz_now, .metric_add = fz_metric_add};

/* The pump's part of the hub protocol: nothing to schedule here. */
static void fz_park(hub_client *cl, void *tctx) {
  (void)cl, (void)tctx;
}
static const hub_transport_ops fz_hub_ops = {
    .park = fz_park, .notify = fz_park, .kill = fz_park};

static outs_state fz_state;
static hub *fz_hub;
static hub_topic *fz_topic;

static void fz_setup(void) {
  hub_limits lim = {.client_queue = 8,
                    .replay = 6,
                    .max_clients = 4,
                    .max_topics = 2,
                    .heartbeat_ns = 15000000000ll,
                    .chart_query = "accelerometer"};
  fz_hub = hub_new(&lim);
  fz_topic = fz_hub ? hub_topic_get(fz_hub, "accelerometer", 1) : NULL;
  if (!fz_topic) abort();
  /* Ten events, so ids 1..4 are gone from the replay window and 5..10 can be resumed. */
  for (int i = 0; i < 10; i++) {
    sd_field f[3] = {{.name = "DEVICEID", .name_len = 8, .value = {.type = SD_STRING}},
                     {.name = "TIME", .name_len = 4, .value = {.type = SD_INT}},
                     {.name = "X", .name_len = 1, .value = {.type = SD_DOUBLE}}};
    f[0].value.as.s.ptr = i & 1 ? "phone-a" : "phone-b";
    f[0].value.as.s.len = 7;
    f[1].value.as.i = 1700000000000ll + i;
    f[2].value.as.d = i * 0.5;
    sd_record_view r = {.timestamp_ns = 1, .field_count = 3, .fields = f};
    if (hub_publish(fz_topic, &r) != 0) abort();
  }
  hub_flush(fz_hub);
  fz_state.host = &fz_host;
  fz_state.hub = fz_hub;
  fz_state.heartbeat_ns = 15000000000ll;
}

/* What the server wrote to the client: read and dropped, so the socket never fills. */
static void fz_discard(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

/* The client's queued events, framed as the pump would send them. */
static void fz_fill(hub_client *cl) {
  char buf[2048];
  for (int i = 0; i < 64; i++) {
    size_t n = 0;
    hub_fill_result r = hub_fill_batch(cl, buf, sizeof buf, &n);
    if (n > sizeof buf) abort();
    if (r != HUB_MORE) break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!fz_hub) fz_setup();
  /* Two control bytes: the event format and the read pattern; the rest is the stream. */
  uint8_t ctl0 = size > 0 ? data[0] : 0, ctl1 = size > 1 ? data[1] : 0;
  const uint8_t *in = size > 2 ? data + 2 : data + size;
  size_t len = size > 2 ? size - 2 : 0;
  size_t extra_len = ctl1 % (len + 1);
  size_t chunk = (size_t)(ctl0 >> 2) * 7 + 1;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();

  ws_conn *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->s = &fz_state;
  c->fd = sv[0];
  c->last_pong_ns = c->last_ping_ns = ws_now(c);
  if (extra_len) {
    c->extra = malloc(extra_len);
    if (!c->extra) abort();
    memcpy(c->extra, in, extra_len);
    c->extra_len = extra_len;
  }
  if (wslay_event_context_server_init(&c->ctx, &ws_callbacks, c) != 0) abort();
  wslay_event_config_set_max_recv_msg_length(c->ctx, 4096); /* as ws_upgraded sets it */
  hub_sub_opts opts = {.format = ctl0 % 3, .wire = HUB_WIRE_WS};
  hub_sub_error err = HUB_SUB_OK;
  c->client = hub_subscribe(fz_hub, fz_topic, &opts, &fz_hub_ops, NULL, &err);
  if (!c->client) abort();

  /* The pump's order: control first (it drains the extra bytes), then input as it comes. */
  int alive = ws_control(NULL, c) >= 0;
  fz_discard(sv[1]);
  for (size_t off = extra_len; alive && off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    if (write(sv[1], in + off, n) != (ssize_t)n) abort();
    alive = ws_input(NULL, c) == 0 && ws_control(NULL, c) >= 0;
    fz_discard(sv[1]);
    fz_fill(c->client);
  }
  if (alive) {
    ws_control(NULL, c);
    fz_discard(sv[1]);
  }
  fz_fill(c->client);
  /* ws_finish without the libmicrohttpd handle this target has none of. */
  hub_unsubscribe(c->client);
  wslay_event_context_free(c->ctx);
  free(c->extra);
  free(c);
  close(sv[0]);
  close(sv[1]);
  return 0;
}
