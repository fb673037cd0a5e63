/* Unit tests of source_http's body parsers: flattening of every Sensor Logger sensor kind
 * (samples and inline bodies), int64 nanosecond times beyond 2^53, the 200 reply, every
 * error class with its status and message, and flat records (JSON array and NDJSON). */
#include "../../plugins/source_http/ingest.h"
#include "recorder.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_cases.inc"

static recorder rec;
static ing_summary sum;
static ing_error err;

static void setup(void) {
  recorder_init(&rec);
  memset(&sum, 0, sizeof sum);
  memset(&err, 0, sizeof err);
}

static void teardown(void) {
  recorder_free(&rec);
  ing_summary_free(&sum);
}

static int parse(const char *body) {
  return ing_parse_sensorlogger(body, strlen(body), 42, &rec.builder, &sum, &err);
}

static int parse_records(const char *body) {
  ing_records_opts opts = {.time_field = "time", .key_field = "deviceId"};
  return ing_parse_records(body, strlen(body), &opts, 42, &rec.builder, &sum, &err);
}

static char *read_sample(const char *name, size_t *len) {
  const char *root = getenv("SENSORD_ROOT");
  char path[512];
  snprintf(path, sizeof path, "%s/tests/data/sensorlogger/%s", root ? root : ".", name);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n);
  ck_assert(buf != NULL);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* ---- samples ---------------------------------------------------------------------- */

static const struct {
  const char *file;
  size_t count;
  size_t index;
  const char *line;
} samples[] = {
#include "sample_lines.inc"
};

START_TEST(sample_records_field_by_field) {
  size_t len;
  char *body = read_sample(samples[_i].file, &len);
  int rc = ing_parse_sensorlogger(body, len, 42, &rec.builder, &sum, &err);
  free(body);
  ck_assert_msg(rc == 0, "%s: %d %s", samples[_i].file, err.status, err.detail);
  ck_assert_uint_eq(rec.count, samples[_i].count);
  ck_assert_uint_eq(sum.records, samples[_i].count);
  ck_assert_str_eq(recorder_line(&rec, samples[_i].index), samples[_i].line);
  ck_assert_int_eq(sum.test_push, 0);
}
END_TEST

START_TEST(test_push_sample_is_flagged) {
  size_t len;
  char *body = read_sample("test-push.json", &len);
  ck_assert_int_eq(ing_parse_sensorlogger(body, len, 42, &rec.builder, &sum, &err), 0);
  free(body);
  ck_assert_int_eq(sum.test_push, 1);
  ck_assert_uint_eq(rec.count, 1);
  ck_assert_str_eq(recorder_line(&rec, 0),
                   "@1732435201000000007 key=cd613e30-d8f1-4adf-91b7-584a2265b1f5 | "
                   "name:s=test time:i=1732435201000000007 messageId:i=0 "
                   "sessionId:s=78e51061-7311-48a3-82ce-6f447ed4d57b "
                   "deviceId:s=cd613e30-d8f1-4adf-91b7-584a2265b1f5");
}
END_TEST

/* ---- sensors not in the samples ------------------------------------------------------ */

START_TEST(sensor_kind_flattens) {
  char body[2048];
  snprintf(body, sizeof body, HEAD "%s" TAIL, sensors[_i].reading);
  ck_assert_msg(parse(body) == 0, "%s: %s", sensors[_i].reading, err.detail);
  ck_assert_uint_eq(rec.count, 1);
  ck_assert_str_eq(recorder_line(&rec, 0), sensors[_i].line);
}
END_TEST

START_TEST(user_id_follows_device_id) {
  ck_assert_int_eq(
      parse("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"userId\":"
            "\"u7\",\"payload\":[{\"name\":\"a\",\"time\":1,\"values\":{\"x\":2}}]}"),
      0);
  ck_assert_str_eq(recorder_line(&rec, 0), "@1 key=d | name:s=a time:i=1 values_x:d=2 "
                                           "messageId:i=1 sessionId:s=s deviceId:s=d "
                                           "userId:s=u7");
}
END_TEST

START_TEST(null_user_id_is_absent) {
  ck_assert_int_eq(parse("{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"userId\":"
                         "null,\"payload\":[{\"name\":\"a\",\"time\":1,\"values\":{}}]}"),
                   0);
  ck_assert_str_eq(recorder_line(&rec, 0),
                   "@1 key=d | name:s=a time:i=1 messageId:i=1 sessionId:s=s deviceId:s=d");
}
END_TEST

START_TEST(reply_echoes_ids_and_timestamp) {
  ck_assert_int_eq(parse(HEAD "{\"name\":\"a\",\"time\":1,\"values\":{}}" TAIL), 0);
  ck_assert_str_eq(sum.reply, "{\"messageId\":5,\"sessionId\":\"s1\",\"deviceId\":\"" DEV
                              "\",\"timestamp\":42}");
  ck_assert_uint_eq(sum.reply_len, strlen(sum.reply));
}
END_TEST

START_TEST(empty_payload_is_fine) {
  ck_assert_int_eq(parse(HEAD TAIL), 0);
  ck_assert_uint_eq(sum.records, 0);
  ck_assert_uint_eq(rec.count, 0);
  ck_assert_ptr_nonnull(sum.reply);
}
END_TEST

START_TEST(test_push_needs_a_single_test_reading) {
  ck_assert_int_eq(parse(HEAD "{\"name\":\"test\",\"time\":1,\"values\":{}},"
                              "{\"name\":\"a\",\"time\":1,\"values\":{}}" TAIL),
                   0);
  ck_assert_int_eq(sum.test_push, 0);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(error_class_status_and_place) {
  ck_assert_int_eq(parse(errors[_i].body), -1);
  ck_assert_int_eq(err.status, errors[_i].status);
  ck_assert_str_eq(err.error, errors[_i].error);
  ck_assert_str_eq(err.class_name, errors[_i].cls);
  ck_assert_msg(strstr(err.detail, errors[_i].detail) != NULL, "detail [%s] lacks [%s]",
                err.detail, errors[_i].detail);
  ck_assert_ptr_null(sum.reply);
}
END_TEST

START_TEST(builder_failure_is_internal_error) {
  /* fail on each builder call in turn: every path must report 500 and not leak */
  const char *body = HEAD "{\"name\":\"a\",\"time\":1,\"values\":{\"x\":1,\"o\":{\"p\":[1]},"
                          "\"s\":\"t\",\"b\":true,\"n\":null},\"accuracy\":2}" TAIL;
  for (long k = 1; k <= 12; k++) {
    recorder_free(&rec);
    recorder_init(&rec);
    rec.fail_at = k;
    ck_assert_int_eq(parse(body), -1);
    ck_assert_int_eq(err.status, 500);
    ck_assert_str_eq(err.class_name, "internal");
  }
}
END_TEST

/* ---- flat records ------------------------------------------------------------------ */

START_TEST(records_array_keeps_types) {
  ck_assert_int_eq(parse_records("[{\"deviceId\":\"d1\",\"time\":1683555956851304201,"
                                 "\"n\":3,\"x\":0.5,\"s\":\"v\",\"b\":false,\"z\":null,"
                                 "\"o\":{\"k\":1},\"a\":[1,2]},{\"v\":1}]"),
                   0);
  ck_assert_uint_eq(sum.records, 2);
  ck_assert_str_eq(recorder_line(&rec, 0),
                   "@1683555956851304201 key=d1 | deviceId:s=d1 time:i=1683555956851304201 "
                   "n:i=3 x:d=0.5 s:s=v b:b=false z:n o_k:i=1 a:s=[1,2]");
  ck_assert_str_eq(recorder_line(&rec, 1), "@42 nokey | v:i=1");
  ck_assert_str_eq(sum.reply, "{\"accepted\":2}");
}
END_TEST

START_TEST(records_ndjson_lines) {
  ck_assert_int_eq(parse_records("{\"a\":1}\r\n\n  {\"time\":\"7\",\"deviceId\":\"k\"}\n"), 0);
  ck_assert_uint_eq(sum.records, 2);
  ck_assert_str_eq(recorder_line(&rec, 0), "@42 nokey | a:i=1");
  ck_assert_str_eq(recorder_line(&rec, 1), "@7 key=k | time:s=7 deviceId:s=k");
}
END_TEST

START_TEST(records_empty_body_accepts_nothing) {
  ck_assert_int_eq(parse_records(""), 0);
  ck_assert_uint_eq(sum.records, 0);
  ck_assert_str_eq(sum.reply, "{\"accepted\":0}");
}
END_TEST

START_TEST(records_errors_name_the_place) {
  ck_assert_int_eq(parse_records(record_errors[_i].body), -1);
  ck_assert_int_eq(err.status, record_errors[_i].status);
  ck_assert_msg(strstr(err.detail, record_errors[_i].detail) != NULL, "detail [%s] lacks [%s]",
                err.detail, record_errors[_i].detail);
}
END_TEST

START_TEST(records_without_time_or_key_fields) {
  ing_records_opts opts = {0};
  const char *body = "{\"time\":\"x\",\"deviceId\":3}";
  ck_assert_int_eq(ing_parse_records(body, strlen(body), &opts, 9, &rec.builder, &sum, &err),
                   0);
  ck_assert_str_eq(recorder_line(&rec, 0), "@9 nokey | time:s=x deviceId:i=3");
}
END_TEST

static Suite *ingest_suite(void) {
  Suite *s = suite_create("source_http_ingest");
  TCase *tc = tcase_create("sensorlogger");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, sample_records_field_by_field, 0,
                      (int)(sizeof samples / sizeof samples[0]));
  tcase_add_test(tc, test_push_sample_is_flagged);
  tcase_add_loop_test(tc, sensor_kind_flattens, 0, (int)(sizeof sensors / sizeof sensors[0]));
  tcase_add_test(tc, user_id_follows_device_id);
  tcase_add_test(tc, null_user_id_is_absent);
  tcase_add_test(tc, reply_echoes_ids_and_timestamp);
  tcase_add_test(tc, empty_payload_is_fine);
  tcase_add_test(tc, test_push_needs_a_single_test_reading);
  tcase_add_loop_test(tc, error_class_status_and_place, 0,
                      (int)(sizeof errors / sizeof errors[0]));
  tcase_add_test(tc, builder_failure_is_internal_error);
  suite_add_tcase(s, tc);
  TCase *tr = tcase_create("records");
  tcase_add_checked_fixture(tr, setup, teardown);
  tcase_add_test(tr, records_array_keeps_types);
  tcase_add_test(tr, records_ndjson_lines);
  tcase_add_test(tr, records_empty_body_accepts_nothing);
  tcase_add_loop_test(tr, records_errors_name_the_place, 0,
                      (int)(sizeof record_errors / sizeof record_errors[0]));
  tcase_add_test(tr, records_without_time_or_key_fields);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(ingest_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
