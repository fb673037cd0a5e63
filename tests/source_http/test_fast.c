/* Differential unit tests of source_http's simdjson fast path: on every Sensor Logger
 * sample, every sensor kind, every error case and a set of JSON corners, the fast path
 * either builds exactly the records and reply the jansson parser builds, or declines. */
#include "../../plugins/source_http/ingest.h"
#include "../../plugins/source_http/ingest_fast.h"
#include "recorder.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_cases.inc"

typedef enum fast_route { PHONE, RECORDS } fast_route;
typedef enum fast_expect { MAY_DECLINE, ACCEPTS, DECLINES } fast_expect;

/* A copy of body with ING_FAST_PADDING bytes of garbage after it (padded) or none. */
static char *copy_body(const char *body, size_t len, int padded) {
  char *p = malloc(len + (padded ? ING_FAST_PADDING : 0) + 1);
  ck_assert_ptr_nonnull(p);
  memcpy(p, body, len);
  if (padded) memset(p + len, '"', ING_FAST_PADDING);
  return p;
}

/* Runs both parsers over body (padded and not); fails unless the fast path declined or
 * built the same records and reply. Returns 1 when the fast path accepted. */
static int compare(const char *body, size_t len, fast_route route, fast_expect expect) {
  ing_records_opts opts = {.time_field = "time", .key_field = "deviceId"};
  recorder slow;
  recorder_init(&slow);
  ing_summary slow_sum, fast_sum;
  ing_error err;
  int slow_rc = route == PHONE
                    ? ing_parse_sensorlogger(body, len, 42, &slow.builder, &slow_sum, &err)
                    : ing_parse_records(body, len, &opts, 42, &slow.builder, &slow_sum, &err);
  int accepted = -1;
  for (int padded = 0; padded < 2; padded++) {
    recorder fast;
    recorder_init(&fast);
    char *copy = copy_body(body, len, padded);
    int fast_rc =
        route == PHONE
            ? ing_fast_sensorlogger(copy, len, padded, 42, &fast.builder, &fast_sum)
            : ing_fast_records(copy, len, padded, &opts, 42, &fast.builder, &fast_sum);
    free(copy);
    ck_assert(fast_rc == ING_FAST_OK || fast_rc == ING_FAST_DECLINED);
    if (accepted >= 0) ck_assert_int_eq(accepted, fast_rc == ING_FAST_OK);
    accepted = fast_rc == ING_FAST_OK;
    if (fast_rc == ING_FAST_OK) {
      ck_assert_msg(slow_rc == 0, "fast path accepted what jansson refused (%d %s): %.*s",
                    err.status, err.detail, (int)(len < 200 ? len : 200), body);
      ck_assert_uint_eq(fast_sum.records, slow_sum.records);
      ck_assert_uint_eq(fast.count, slow.count);
      ck_assert_int_eq(fast_sum.test_push, slow_sum.test_push);
      for (size_t i = 0; i < slow.count; i++)
        ck_assert_str_eq(recorder_line(&fast, i), recorder_line(&slow, i));
      ck_assert_uint_eq(fast_sum.reply_len, slow_sum.reply_len);
      ck_assert_str_eq(fast_sum.reply, slow_sum.reply);
      ing_summary_free(&fast_sum);
    } else {
      ck_assert_ptr_null(fast_sum.reply);
    }
    recorder_free(&fast);
  }
  if (slow_rc == 0) ing_summary_free(&slow_sum);
  recorder_free(&slow);
  if (expect == ACCEPTS) ck_assert_msg(accepted, "fast path declined: %s", body);
  if (expect == DECLINES) ck_assert_msg(!accepted, "fast path accepted: %s", body);
  return accepted;
}

static int compare_str(const char *body, fast_route route, fast_expect expect) {
  return compare(body, strlen(body), route, expect);
}

/* ---- every sample, whole -------------------------------------------------------------- */

START_TEST(every_sample_same_records) {
  const char *root = getenv("SENSORD_ROOT");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/tests/data/sensorlogger", root ? root : ".");
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *body = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(fread(body, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    compare(body, (size_t)size, PHONE, ACCEPTS);
    free(body);
    files++;
  }
  closedir(d);
  ck_assert_int_ge(files, 5);
}
END_TEST

/* ---- the jansson parser's own cases ---------------------------------------------------- */

START_TEST(every_sensor_kind_same_record) {
  char body[2048];
  snprintf(body, sizeof body, HEAD "%s" TAIL, sensors[_i].reading);
  compare_str(body, PHONE, ACCEPTS);
}
END_TEST

START_TEST(every_error_declined) {
  compare_str(errors[_i].body, PHONE, DECLINES);
}
END_TEST

START_TEST(every_records_error_declined) {
  compare_str(record_errors[_i].body, RECORDS, DECLINES);
}
END_TEST

/* ---- JSON corners ---------------------------------------------------------------------- */

#define ONE(values) HEAD "{\"name\":\"a\",\"time\":1,\"values\":" values "}" TAIL

static const struct {
  const char *body;
  fast_route route;
  fast_expect expect;
} corners[] = {
    /* numbers: -0, underflow, subnormals, exponents, int64 limits */
    {ONE("{\"a\":-0,\"b\":-0.0,\"c\":1e-400,\"d\":-1e-400,\"e\":4.9406564584124654e-324}"),
     PHONE, ACCEPTS},
    {ONE("{\"a\":1E2,\"b\":1e+2,\"c\":-9223372036854775808,\"d\":0.1,\"e\":"
         "123456789012345678}"),
     PHONE, ACCEPTS},
    {ONE("{\"a\":2.2250738585072011e-308,\"b\":1.7976931348623157e308}"), PHONE, ACCEPTS},
    {ONE("{\"a\":9223372036854775808}"), PHONE, MAY_DECLINE},
    {ONE("{\"a\":1e400}"), PHONE, DECLINES},
    {HEAD "{\"name\":\"a\",\"time\":9223372036854775808,\"values\":{}}" TAIL, PHONE, DECLINES},
    /* arrays keep jansson's JSON text: reals at 17 digits, escapes, nested objects */
    {ONE("{\"a\":[0.1,1.0,-0.0,1e21,1e-7,-3,true,null,\"q\\\"\\\\\\/"
         "\\b\\f\\n\\r\\t\\u0001\\u001f"
         "\\u00e9\\ud83d\\ude00\"],\"b\":[],\"c\":[{}],\"d\":[{\"k\":[1,{\"z\":\"\"}]}]}"),
     PHONE, ACCEPTS},
    {ONE("{\"a\":[{\"k\":1,\"k\":2}]}"), PHONE, DECLINES},
    /* strings: escapes, UTF-8, the NUL jansson refuses, lone surrogates */
    {ONE("{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\",\"t\":\"\"}"), PHONE, ACCEPTS},
    {ONE("{\"s\":\"a\\u0000b\"}"), PHONE, DECLINES},
    {ONE("{\"s\":\"a\\\\\\u0000b\"}"), PHONE, DECLINES},
    {ONE("{\"s\":\"a\\\\u0000b\\\\\",\"t\":\"\\\"\\\\\"}"), PHONE, ACCEPTS},
    {ONE("{\"s\":\"\\ud800\"}"), PHONE, DECLINES},
    {ONE("{\"s\":\"\\udc00\"}"), PHONE, DECLINES},
    {ONE("{\"s\":\"\xff\"}"), PHONE, DECLINES},
    /* repeated keys (jansson keeps the last value at the first place): declined */
    {ONE("{\"x\":1,\"x\":2}"), PHONE, DECLINES},
    {HEAD "{\"name\":\"a\",\"name\":\"b\",\"time\":1,\"values\":{}}" TAIL, PHONE, DECLINES},
    {"{\"messageId\":1,\"messageId\":2,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":[]}",
     PHONE, DECLINES},
    {ONE("{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
         "\"k9\":9,\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,"
         "\"k17\":7,\"k18\":8,\"k19\":9,\"k20\":0,\"k21\":1,\"k22\":2,\"k23\":3,\"k24\":4,"
         "\"k25\":5,\"k26\":6,\"k27\":7,\"k28\":8,\"k29\":9}"),
     PHONE, ACCEPTS},
    {ONE("{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
         "\"k9\":9,\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,"
         "\"k17\":7,\"k18\":8,\"k19\":9,\"k20\":0,\"k21\":1,\"k22\":2,\"k23\":3,\"k24\":4,"
         "\"k25\":5,\"k26\":6,\"k27\":7,\"k28\":8,\"k3\":9}"),
     PHONE, DECLINES},
    /* whole-document shape: whitespace around, trailing bytes, byte-order mark */
    {" \r\n\t" ONE("{}") " \n", PHONE, ACCEPTS},
    {ONE("{}") "x", PHONE, DECLINES},
    {"\xef\xbb\xbf" ONE("{}"), PHONE, DECLINES},
    /* unknown keys at the top are ignored, in a reading passed through after accuracy */
    {"{\"x\":[1,{\"y\":null}],\"messageId\":3,\"sessionId\":\"s\",\"deviceId\":\"d\","
     "\"payload\":"
     "[{\"z\":{\"q\":[true]},\"accuracy\":{\"h\":1,\"v\":2.5},\"values\":{\"w\":1},\"name\":"
     "\"n\","
     "\"time\":\"0\"}],\"userId\":\"u\"}",
     PHONE, ACCEPTS},
    {"{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"userId\":null,\"payload\":"
     "[{\"name\":\"a\",\"time\":1,\"values\":{}}]}",
     PHONE, ACCEPTS},
    {"{\"messageId\":1,\"sessionId\":\"s\",\"deviceId\":\"d\",\"userId\":null,\"payload\":"
     "[{\"name\":\"a\",\"time\":1,\"values\":{}}]}",
     PHONE, ACCEPTS},
    {"{\"messageId\":3,\"sessionId\":\"s\",\"deviceId\":\"d\",\"payload\":[{\"name\":\"test\","
     "\"time\":5,\"values\":{}}]}",
     PHONE, ACCEPTS},
    /* /records: array, NDJSON with blank and CRLF lines, keys and times of every kind */
    {"[{\"deviceId\":\"d\",\"time\":\"12\",\"a\":[1.5],\"o\":{\"p\":{\"q\":-1}}},{}]", RECORDS,
     ACCEPTS},
    {"\n\n{\"time\":3}\r\n  \t\n{\"deviceId\":\"k\",\"v\":0.25}\n{\"n\":null}", RECORDS,
     ACCEPTS},
    {"", RECORDS, ACCEPTS},
    {"  [ ]  ", RECORDS, ACCEPTS},
    {"{\"a\":1} {\"b\":2}\n", RECORDS, DECLINES},
    {"[{\"a\":1}] x", RECORDS, DECLINES},
    {"{\"time\":-5}\n", RECORDS, DECLINES},
    {"{\"deviceId\":null}\n", RECORDS, DECLINES},
    {"[1]\n", RECORDS, DECLINES},
};

START_TEST(json_corner) {
  compare_str(corners[_i].body, corners[_i].route, corners[_i].expect);
}
END_TEST

/* A builder that fails makes the fast path decline, leaving the 500 to the jansson path. */
START_TEST(builder_failure_declines) {
  const char *body = HEAD "{\"name\":\"a\",\"time\":1,\"values\":{\"x\":1,\"o\":{\"p\":[1]},"
                          "\"s\":\"t\",\"b\":true,\"n\":null},\"accuracy\":2}" TAIL;
  for (long k = 1; k <= 12; k++) {
    recorder rec;
    recorder_init(&rec);
    rec.fail_at = k;
    ing_summary sum;
    ck_assert_int_eq(ing_fast_sensorlogger(body, strlen(body), 0, 42, &rec.builder, &sum),
                     ING_FAST_DECLINED);
    ck_assert_ptr_null(sum.reply);
    recorder_free(&rec);
  }
}
END_TEST

/* Bodies past the size at which a worker keeps its parser go through a one-off parser. */
START_TEST(large_body_same_records) {
  const char *reading = "{\"name\":\"accelerometer\",\"time\":1732435201000000007,"
                        "\"values\":{\"z\":0.123456789,\"y\":-9.81,\"x\":1e-3}}";
  size_t rlen = strlen(reading), n = (1u << 20) / rlen + 10;
  size_t cap = strlen(HEAD) + n * (rlen + 1) + strlen(TAIL) + 1;
  char *body = malloc(cap);
  ck_assert_ptr_nonnull(body);
  size_t len = (size_t)snprintf(body, cap, "%s", HEAD);
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(body + len, cap - len, "%s%s", i ? "," : "", reading);
  len += (size_t)snprintf(body + len, cap - len, "%s", TAIL);
  ck_assert_uint_gt(len, 1u << 20);
  compare(body, len, PHONE, ACCEPTS);
  free(body);
}
END_TEST

static Suite *fast_suite(void) {
  Suite *s = suite_create("source_http_fast");
  TCase *tc = tcase_create("differential");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, every_sample_same_records);
  tcase_add_loop_test(tc, every_sensor_kind_same_record, 0,
                      (int)(sizeof sensors / sizeof sensors[0]));
  tcase_add_loop_test(tc, every_error_declined, 0, (int)(sizeof errors / sizeof errors[0]));
  tcase_add_loop_test(tc, every_records_error_declined, 0,
                      (int)(sizeof record_errors / sizeof record_errors[0]));
  tcase_add_loop_test(tc, json_corner, 0, (int)(sizeof corners / sizeof corners[0]));
  tcase_add_test(tc, builder_failure_declines);
  tcase_add_test(tc, large_body_same_records);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(fast_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
