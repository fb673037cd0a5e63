/* Unit tests of the streaming outputs' hub and row serializer: event payloads, ids,
 * resume and reset, queue bounds with both overflow policies, device filters, heartbeats
 * and the WebSocket framing, all without sockets. */
#include "stream/hub.h"
#include "stream/rowjson.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_conn {
  int parked, notified, killed;
} fake_conn;

static void f_park(hub_client *c, void *t) {
  ((fake_conn *)t)->parked++;
}
static void f_notify(hub_client *c, void *t) {
  ((fake_conn *)t)->notified++;
}
static void f_kill(hub_client *c, void *t) {
  ((fake_conn *)t)->killed++;
}
static const hub_transport_ops f_ops = {f_park, f_notify, f_kill};

static const char *const COLS[] = {"DEVICEID", "TIME", "VALUES_X", "VALUES_Y", "VALUES_Z"};
static const char *const TYPES[] = {"STRING", "BIGINT", "DOUBLE", "DOUBLE", "DOUBLE"};

static hub *make_hub(size_t queue, size_t replay, int overflow) {
  hub_limits l = {.client_queue = queue,
                  .replay = replay,
                  .max_clients = 3,
                  .max_topics = 4,
                  .overflow = overflow,
                  .heartbeat_ns = 1000,
                  .chart_query = "accelerometer"};
  return hub_new(&l);
}

static void publish(hub_topic *t, const char *device, int64_t time_ns, double x) {
  sd_field f[5];
  memset(f, 0, sizeof f);
  for (int i = 0; i < 5; i++) {
    f[i].name = COLS[i];
    f[i].name_len = strlen(COLS[i]);
  }
  f[0].value.type = SD_STRING;
  f[0].value.as.s.ptr = device;
  f[0].value.as.s.len = strlen(device);
  f[1].value.type = SD_INT;
  f[1].value.as.i = time_ns;
  f[2].value.type = SD_DOUBLE;
  f[2].value.as.d = x;
  f[3].value.type = SD_DOUBLE;
  f[3].value.as.d = -0.0049;
  f[4].value.type = SD_NULL;
  sd_record_view r = {.timestamp_ns = time_ns, .field_count = 5, .fields = f};
  ck_assert_int_eq(hub_publish(t, &r), 0);
}

/* Everything the client would be sent now. */
static char *drain(hub_client *c, hub_fill_result *last) {
  static char out[1 << 16];
  size_t total = 0, n;
  hub_fill_result r;
  do {
    r = hub_fill(c, out + total, 7, &n); /* tiny buffer: exercises partial writes */
    total += n;
  } while (r == HUB_MORE && total < sizeof out - 8);
  out[total] = '\0';
  if (last) *last = r;
  return out;
}

START_TEST(test_rowjson) {
  rj_buf b;
  rj_init(&b);
  rj_double(&b, -0.0049);
  rj_put(&b, " ", 1);
  rj_double(&b, 0.1 + 0.2);
  rj_put(&b, " ", 1);
  rj_double(&b, 3);
  rj_put(&b, " ", 1);
  rj_double(&b, 1.0 / 0.0);
  rj_put(&b, " ", 1);
  rj_string(&b, "a\"b\\c\n\x01", 7);
  ck_assert_str_eq(b.data, "-0.0049 0.30000000000000004 3.0 null \"a\\\"b\\\\c\\n\\u0001\"");
  rj_free(&b);
  char when[40];
  rj_chart_time(when, sizeof when, 1683555956851304200LL);
  ck_assert_str_eq(when, "2023-05-08 14:25:56.851304");
  rj_chart_time(when, sizeof when, -1);
  ck_assert_str_eq(when, "1969-12-31 23:59:59.999999");
}
END_TEST

START_TEST(test_sse_format_and_ids) {
  hub *h = make_hub(100, 100, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  ck_assert_int_eq(hub_topic_set_schema(t, 5, COLS, TYPES), 0);
  fake_conn fc = {0}, fo = {0};
  hub_sub_opts chart = {.format = HUB_FMT_CHART, .wire = HUB_WIRE_SSE};
  hub_sub_opts obj = {.format = HUB_FMT_OBJECT, .wire = HUB_WIRE_SSE};
  hub_sub_error err;
  hub_client *c = hub_subscribe(h, t, &chart, &f_ops, &fc, &err);
  hub_client *o = hub_subscribe(h, t, &obj, &f_ops, &fo, &err);
  ck_assert_ptr_nonnull(c);
  hub_fill_result r;
  ck_assert_str_eq(drain(c, &r), "retry: 2000\n\n");
  ck_assert_int_eq(r, HUB_IDLE); /* written, then parked on the next call */
  ck_assert_int_eq(fc.parked, 1);
  drain(o, NULL);
  publish(t, "86a5b0e3", 1683555956851304200LL, 1.5);
  publish(t, "86a5b0e3", 1683555956861304200LL, 2.5);
  hub_flush(h);
  ck_assert_int_eq(fc.notified, 1);
  uint64_t last = hub_topic_last_id(t);
  char want[512];
  snprintf(
      want, sizeof want,
      "id: %llu\nevent: new_message\ndata: [\"86a5b0e3\",\"2023-05-08 14:25:56.851304\",1.5,"
      "-0.0049,null]\n\nid: %llu\nevent: new_message\ndata: [\"86a5b0e3\","
      "\"2023-05-08 14:25:56.861304\",2.5,-0.0049,null]\n\n",
      (unsigned long long)last - 1, (unsigned long long)last);
  ck_assert_str_eq(drain(c, NULL), want);
  snprintf(want, sizeof want,
           "id: %llu\ndata: {\"DEVICEID\":\"86a5b0e3\",\"TIME\":1683555956851304200,"
           "\"VALUES_X\":1.5,\"VALUES_Y\":-0.0049,\"VALUES_Z\":null}\n\n",
           (unsigned long long)last - 1);
  ck_assert_int_eq(strncmp(drain(o, NULL), want, strlen(want)), 0);
  hub_stats st;
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.events_published, 2);
  ck_assert_int_eq(st.events_sent, 4);
  ck_assert_int_eq(st.clients, 2);
  hub_unsubscribe(c);
  hub_unsubscribe(o);
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.clients, 0);
  hub_free(h);
}
END_TEST

START_TEST(test_resume_and_reset) {
  hub *h = make_hub(10, 5, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  for (int i = 0; i < 8; i++) publish(t, "d", i, i);
  uint64_t last = hub_topic_last_id(t);
  fake_conn f = {0};
  hub_sub_error err;
  /* Resume after the 6th event: events 7 and 8 follow. */
  hub_sub_opts o = {.format = HUB_FMT_ARRAY,
                    .wire = HUB_WIRE_SSE,
                    .has_last_id = 1,
                    .last_id_valid = 1,
                    .last_id = last - 2};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  char *out = drain(c, NULL);
  char want[128];
  snprintf(want, sizeof want, "id: %llu\n", (unsigned long long)last - 1);
  ck_assert_ptr_nonnull(strstr(out, want));
  ck_assert_ptr_null(strstr(out, "event: reset"));
  hub_unsubscribe(c);
  /* Older than the replay window (5): reset, then live. */
  o.last_id = last - 6;
  c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  out = drain(c, NULL);
  ck_assert_ptr_nonnull(strstr(out, "event: reset\n"));
  ck_assert_ptr_null(strstr(out, "data: [\"d\""));
  hub_unsubscribe(c);
  /* Unparseable and future ids: reset. */
  o.last_id_valid = 0;
  c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  ck_assert_ptr_nonnull(strstr(drain(c, NULL), "event: reset\n"));
  hub_unsubscribe(c);
  o.last_id_valid = 1;
  o.last_id = last + 5;
  c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  ck_assert_ptr_nonnull(strstr(drain(c, NULL), "event: reset\n"));
  hub_unsubscribe(c);
  /* Caught up exactly: nothing missed, no reset. */
  o.last_id = last;
  c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  ck_assert_str_eq(drain(c, NULL), "retry: 2000\n\n");
  hub_unsubscribe(c);
  hub_stats st;
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.resets, 3);
  hub_free(h);
}
END_TEST

START_TEST(test_overflow_disconnect) {
  hub *h = make_hub(4, 4, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn f = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_SSE};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  drain(c, NULL);
  for (int i = 0; i < 10; i++) publish(t, "d", i, i);
  hub_fill_result r;
  char *out = drain(c, &r);
  ck_assert_ptr_nonnull(strstr(out, "event: overflow\n"));
  ck_assert_ptr_null(strstr(out, "data: [\"d\""));
  size_t n;
  char buf[64];
  ck_assert_int_eq(hub_fill(c, buf, sizeof buf, &n), HUB_END);
  hub_stats st;
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.overflow_disconnects, 1);
  hub_unsubscribe(c);
  /* A client that takes nothing is dropped by the tick once it is past its queue. */
  fake_conn g = {0};
  c = hub_subscribe(h, t, &o, &f_ops, &g, &err);
  ck_assert_int_eq(hub_fill(c, buf, 4, &n), HUB_MORE); /* mid-message, not parked */
  for (int i = 0; i < 10; i++) publish(t, "d", i, i);
  hub_tick(h, 0);
  hub_tick(h, 0);
  ck_assert_int_eq(g.killed, 1);
  hub_tick(h, 0);
  ck_assert_int_eq(g.killed, 1);
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

START_TEST(test_overflow_skip_and_filter) {
  hub *h = make_hub(4, 4, HUB_OVERFLOW_SKIP);
  hub_topic *t = hub_topic_get(h, "other", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn f = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_SSE, .device = "b"};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  drain(c, NULL);
  for (int i = 0; i < 10; i++) publish(t, "a", i, i);
  publish(t, "b", 1, 42);
  hub_fill_result r;
  char *out = drain(c, &r);
  ck_assert_str_eq(out, ""); /* skipped ahead past everything */
  ck_assert_int_eq(r, HUB_IDLE);
  publish(t, "a", 2, 1);
  publish(t, "b", 2, 43);
  out = drain(c, NULL);
  ck_assert_ptr_nonnull(strstr(out, "[\"b\",2,43.0,"));
  ck_assert_ptr_null(strstr(out, "\"a\""));
  hub_stats st;
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.skipped_events, 11);
  ck_assert_int_eq(st.overflow_disconnects, 0);
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

static int ws_frames(const unsigned char *p, size_t n, char msgs[][600], int max);

START_TEST(test_heartbeat_limits_ws) {
  hub *h = make_hub(8, 8, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn f = {0}, w = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_SSE};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  drain(c, NULL);
  drain(c, NULL); /* parked */
  hub_tick(h, (int64_t)1 << 62);
  ck_assert_int_eq(f.notified, 1);
  ck_assert_str_eq(drain(c, NULL), ": hb\n\n");
  /* WebSocket framing: one message at a time, with the id inside. */
  hub_sub_opts wo = {.format = HUB_FMT_CHART, .wire = HUB_WIRE_WS};
  hub_client *ws = hub_subscribe(h, t, &wo, &f_ops, &w, &err);
  unsigned char buf[512];
  size_t n;
  ck_assert_int_eq(hub_fill_batch(ws, (char *)buf, sizeof buf, &n), HUB_IDLE); /* parked */
  publish(t, "d", 5, 1);
  publish(t, "d", 6, 2);
  hub_flush(h);
  ck_assert_int_eq(hub_fill_batch(ws, (char *)buf, sizeof buf, &n), HUB_IDLE);
  static char msgs[4][600];
  ck_assert_int_eq(ws_frames(buf, n, msgs, 4), 2);
  char want[256];
  snprintf(
      want, sizeof want,
      "{\"id\":%llu,\"event\":\"new_message\",\"data\":[\"d\",\"1970-01-01 00:00:00.000000\","
      "1.0,-0.0049,null]}",
      (unsigned long long)hub_topic_last_id(t) - 1);
  ck_assert_str_eq(msgs[0], want);
  /* max_clients = 3 */
  hub_client *c3 = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  ck_assert_ptr_nonnull(c3);
  ck_assert_ptr_null(hub_subscribe(h, t, &o, &f_ops, &f, &err));
  ck_assert_int_eq(err, HUB_SUB_FULL);
  hub_unsubscribe(c3);
  hub_unsubscribe(ws);
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

/* The pump's batch fill: a whole SSE backlog in one call, parked in the same call. */
START_TEST(test_batch_sse) {
  hub *h = make_hub(100, 100, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn f = {0}, g = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_SSE};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  hub_client *ref = hub_subscribe(h, t, &o, &f_ops, &g, &err);
  char buf[4096];
  size_t n;
  ck_assert_int_eq(hub_fill_batch(c, buf, sizeof buf, &n), HUB_IDLE);
  buf[n] = '\0';
  ck_assert_str_eq(buf, "retry: 2000\n\n");
  ck_assert_int_eq(f.parked, 1);
  drain(ref, NULL);
  for (int i = 0; i < 5; i++) publish(t, "dev", 1000 + i, i);
  hub_flush(h);
  ck_assert_int_eq(f.notified, 1);
  ck_assert_int_eq(hub_fill_batch(c, buf, sizeof buf, &n), HUB_IDLE);
  buf[n] = '\0';
  ck_assert_int_eq(f.parked, 2);
  /* Same bytes as the one-at-a-time reader. */
  ck_assert_str_eq(buf, drain(ref, NULL));
  ck_assert_ptr_nonnull(strstr(buf, "data: [\"dev\",1004,4.0,-0.0049,null]\n\n"));
  /* A small buffer: SSE bytes continue exactly where the last call stopped. */
  for (int i = 0; i < 5; i++) publish(t, "dev", 2000 + i, i);
  hub_flush(h);
  char out[4096];
  size_t total = 0;
  hub_fill_result r;
  do {
    r = hub_fill_batch(c, out + total, 13, &n);
    total += n;
  } while (r == HUB_MORE);
  out[total] = '\0';
  ck_assert_int_eq(r, HUB_IDLE);
  ck_assert_str_eq(out, drain(ref, NULL));
  hub_unsubscribe(c);
  hub_unsubscribe(ref);
  hub_free(h);
}
END_TEST

/* Splits WebSocket frames; returns how many, checks each is a final unmasked text frame. */
static int ws_frames(const unsigned char *p, size_t n, char msgs[][600], int max) {
  int count = 0;
  size_t i = 0;
  while (i < n && count < max) {
    ck_assert_int_eq(p[i], 0x81);
    uint64_t len = p[i + 1];
    ck_assert_int_lt(len, 128); /* no mask bit */
    i += 2;
    if (len == 126) {
      len = ((uint64_t)p[i] << 8) | p[i + 1];
      i += 2;
    }
    ck_assert_uint_le(i + len, n);
    ck_assert_uint_lt(len, 600);
    memcpy(msgs[count], p + i, len);
    msgs[count][len] = '\0';
    count++;
    i += len;
  }
  ck_assert_uint_eq(i, n);
  return count;
}

START_TEST(test_batch_ws_frames) {
  hub *h = make_hub(100, 100, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn f = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_WS};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &f, &err);
  unsigned char buf[8192];
  size_t n;
  ck_assert_int_eq(hub_fill_batch(c, (char *)buf, sizeof buf, &n), HUB_IDLE);
  ck_assert_uint_eq(n, 0);
  char longdev[200];
  memset(longdev, 'x', sizeof longdev - 1);
  longdev[sizeof longdev - 1] = '\0';
  publish(t, "a", 1, 1);
  publish(t, longdev, 2, 2); /* > 125 bytes: 16-bit length */
  publish(t, "b", 3, 3);
  hub_flush(h);
  ck_assert_int_eq(hub_fill_batch(c, (char *)buf, sizeof buf, &n), HUB_IDLE);
  static char msgs[8][600];
  ck_assert_int_eq(ws_frames(buf, n, msgs, 8), 3);
  uint64_t last = hub_topic_last_id(t);
  char want[400];
  snprintf(want, sizeof want, "{\"id\":%llu,\"data\":[\"a\",1,1.0,-0.0049,null]}",
           (unsigned long long)last - 2);
  ck_assert_str_eq(msgs[0], want);
  ck_assert_uint_gt(strlen(msgs[1]), 125);
  snprintf(want, sizeof want, "{\"id\":%llu,\"data\":[\"b\",3,3.0,-0.0049,null]}",
           (unsigned long long)last);
  ck_assert_str_eq(msgs[2], want);
  /* Only whole frames: a buffer with room for one and a half takes one, then the next. */
  publish(t, "a", 4, 4);
  publish(t, "a", 5, 5);
  hub_flush(h);
  size_t one = 2 + strlen(msgs[0]);
  ck_assert_int_eq(hub_fill_batch(c, (char *)buf, one + one / 2, &n), HUB_MORE);
  ck_assert_uint_eq(n, one);
  ck_assert_int_eq(ws_frames(buf, n, msgs, 8), 1);
  ck_assert_int_eq(hub_fill_batch(c, (char *)buf, one + one / 2, &n), HUB_IDLE);
  ck_assert_int_eq(ws_frames(buf, n, msgs, 8), 1);
  /* A message that can never fit is skipped and counted, the next one still goes out. */
  publish(t, longdev, 6, 6);
  publish(t, "a", 7, 7);
  hub_flush(h);
  ck_assert_int_eq(hub_fill_batch(c, (char *)buf, 100, &n), HUB_IDLE);
  ck_assert_int_eq(ws_frames(buf, n, msgs, 8), 1);
  ck_assert_ptr_nonnull(strstr(msgs[0], "[\"a\",7,"));
  hub_stats st;
  hub_stats_get(h, &st);
  ck_assert_int_eq(st.rows_dropped, 1);
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

/* Hand-over to another transport, and detaching. */
START_TEST(test_set_transport) {
  hub *h = make_hub(100, 100, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "accelerometer", 1);
  hub_topic_set_schema(t, 5, COLS, TYPES);
  fake_conn a = {0}, b = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_ARRAY, .wire = HUB_WIRE_SSE};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &a, &err);
  char buf[512];
  size_t n;
  ck_assert_int_eq(hub_fill_batch(c, buf, sizeof buf, &n), HUB_IDLE);
  hub_client_set_transport(c, &f_ops, &b); /* parked: the new owner is told to look */
  ck_assert_int_eq(b.notified, 1);
  ck_assert_int_eq(hub_fill_batch(c, buf, sizeof buf, &n), HUB_IDLE);
  ck_assert_int_eq(b.parked, 1);
  hub_client_set_transport(c, NULL, NULL);
  publish(t, "a", 1, 1);
  hub_flush(h);
  hub_tick(h, (int64_t)1 << 62);
  ck_assert_int_eq(a.notified + b.notified, 1);
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

START_TEST(test_schemaless_rows) {
  hub *h = make_hub(8, 8, HUB_OVERFLOW_DISCONNECT);
  hub_topic *t = hub_topic_get(h, "records", 1);
  ck_assert(!hub_topic_has_schema(t));
  sd_field f[2] = {{.name = "name", .name_len = 4}, {.name = "n", .name_len = 1}};
  f[0].value.type = SD_STRING;
  f[0].value.as.s.ptr = "x";
  f[0].value.as.s.len = 1;
  f[1].value.type = SD_BOOL;
  f[1].value.as.i = 1;
  sd_record_view r = {.key = "dev", .key_len = 3, .field_count = 2, .fields = f};
  fake_conn fc = {0};
  hub_sub_error err;
  hub_sub_opts o = {.format = HUB_FMT_OBJECT, .wire = HUB_WIRE_SSE, .device = "dev"};
  hub_client *c = hub_subscribe(h, t, &o, &f_ops, &fc, &err);
  drain(c, NULL);
  ck_assert_int_eq(hub_publish(t, &r), 0);
  ck_assert(hub_topic_has_schema(t));
  ck_assert_ptr_nonnull(strstr(drain(c, NULL), "data: {\"name\":\"x\",\"n\":true}\n\n"));
  static const char *const types[] = {"STRING", "BOOLEAN"};
  static const char *const cols[] = {"name", "n"};
  ck_assert(hub_topic_same_schema(t, 2, cols, types));
  hub_unsubscribe(c);
  hub_free(h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("out_hub");
  TCase *tc = tcase_create("hub");
  tcase_add_test(tc, test_rowjson);
  tcase_add_test(tc, test_sse_format_and_ids);
  tcase_add_test(tc, test_resume_and_reset);
  tcase_add_test(tc, test_overflow_disconnect);
  tcase_add_test(tc, test_overflow_skip_and_filter);
  tcase_add_test(tc, test_heartbeat_limits_ws);
  tcase_add_test(tc, test_schemaless_rows);
  tcase_add_test(tc, test_batch_sse);
  tcase_add_test(tc, test_batch_ws_frames);
  tcase_add_test(tc, test_set_transport);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
