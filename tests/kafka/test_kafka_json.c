/* sink_kafka's record serializer: the exact bytes put on the topic (field order, exact
 * 19-digit times, shortest doubles, escaping, key choice). */
#include "../../plugins/sink_kafka/kafka_json.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STR(text)                                                                              \
  {                                                                                            \
    .type = SD_STRING, .as.s = { text, sizeof(text) - 1 }                                      \
  }
#define FIELD(n, ...)                                                                          \
  { .name = n, .name_len = sizeof(n) - 1, .value = __VA_ARGS__ }

static char *to_json(const sd_field *fields, size_t n, const char *key) {
  sd_record_view r = {.timestamp_ns = 1,
                      .key = key,
                      .key_len = key ? strlen(key) : 0,
                      .field_count = n,
                      .fields = fields};
  kj_buf b = {0};
  ck_assert_int_eq(kj_record_json(&b, &r), 0);
  return b.data;
}

START_TEST(original_reading) {
  sd_field f[] = {
      FIELD("name", STR("accelerometeruncalibrated")),
      FIELD("time", {.type = SD_INT, .as.i = 1683555956851304200LL}),
      FIELD("values_z", {.type = SD_DOUBLE, .as.d = -1.0012}),
      FIELD("values_y", {.type = SD_DOUBLE, .as.d = -0.4673}),
      FIELD("values_x", {.type = SD_DOUBLE, .as.d = -0.0049}),
      FIELD("messageId", {.type = SD_INT, .as.i = 35}),
      FIELD("sessionId", STR("c931")),
      FIELD("deviceId", STR("86a5")),
  };
  char *s = to_json(f, 8, "86a5");
  ck_assert_str_eq(s, "{\"name\":\"accelerometeruncalibrated\",\"time\":1683555956851304200,"
                      "\"values_z\":-1.0012,\"values_y\":-0.4673,\"values_x\":-0.0049,"
                      "\"messageId\":35,\"sessionId\":\"c931\",\"deviceId\":\"86a5\"}");
  free(s);
}
END_TEST

START_TEST(doubles_round_trip) {
  const double samples[] = {0.1,  -0.032632366764043644, 1e-300, 123456789.123456789, 5e22, 1.0,
                            -0.0, 4.219399196045729};
  for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
    kj_buf b = {0};
    ck_assert_int_eq(kj_append_double(&b, samples[i]), 0);
    json_t *v = json_loads(b.data, JSON_DECODE_ANY, NULL);
    ck_assert_msg(json_is_real(v), "%s is not read back as a double", b.data);
    ck_assert_msg(json_real_value(v) == samples[i], "%s != %.17g", b.data, samples[i]);
    json_decref(v);
    kj_buf_free(&b);
  }
  kj_buf b = {0};
  kj_append_double(&b, NAN);
  ck_assert_str_eq(b.data, "null");
  kj_buf_reset(&b);
  kj_append_double(&b, 0.1);
  ck_assert_str_eq(b.data, "0.1");
  kj_buf_free(&b);
}
END_TEST

START_TEST(strings_escaped_and_time_string_becomes_integer) {
  sd_field f[] = {
      FIELD("text", STR("a\"b\\c\n\x01\xc3\xa9")),
      FIELD("time", STR("1683555956851304200")),
      FIELD("ok", {.type = SD_BOOL, .as.i = 1}),
      FIELD("none", {.type = SD_NULL}),
  };
  char *s = to_json(f, 4, NULL);
  ck_assert_str_eq(s,
                   "{\"text\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"time\":1683555956851304200,"
                   "\"ok\":true,\"none\":null}");
  json_t *v = json_loads(s, 0, NULL);
  ck_assert_ptr_nonnull(v);
  json_decref(v);
  free(s);
}
END_TEST

START_TEST(key_is_record_key_else_device_id) {
  sd_field f[] = {FIELD("deviceId", STR("dev-7"))};
  sd_record_view r = {.field_count = 1, .fields = f};
  size_t len;
  const char *k = kj_record_key(&r, &len);
  ck_assert_int_eq(len, 5);
  ck_assert(memcmp(k, "dev-7", 5) == 0);
  r.key = "abc", r.key_len = 3;
  k = kj_record_key(&r, &len);
  ck_assert_int_eq(len, 3);
  r.key = NULL, r.field_count = 0;
  ck_assert_ptr_null(kj_record_key(&r, &len));
}
END_TEST

int main(void) {
  Suite *s = suite_create("kafka_json");
  TCase *tc = tcase_create("serialize");
  tcase_add_test(tc, original_reading);
  tcase_add_test(tc, doubles_round_trip);
  tcase_add_test(tc, strings_escaped_and_time_string_becomes_integer);
  tcase_add_test(tc, key_is_record_key_else_device_id);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
