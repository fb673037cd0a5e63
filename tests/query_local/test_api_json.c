/* Byte-exact checks of the REST API's wire formats: Jackson-style doubles, string escapes,
 * TIMESTAMP text, Accept negotiation, and the header/row/error/final lines per format. */
#include "../../plugins/query_local/api_json.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dbl(double d) {
  static char out[64];
  api_buf b = {0};
  api_json_double(&b, d);
  snprintf(out, sizeof out, "%s", b.data);
  api_buf_free(&b);
  return out;
}

START_TEST(doubles_like_java) {
  ck_assert_str_eq(dbl(12.0), "12.0");
  ck_assert_str_eq(dbl(11.5), "11.5");
  ck_assert_str_eq(dbl(-0.25), "-0.25");
  ck_assert_str_eq(dbl(0.0), "0.0");
  ck_assert_str_eq(dbl(0.001), "0.001");
  ck_assert_str_eq(dbl(0.0001), "1.0E-4");
  ck_assert_str_eq(dbl(1234567.0), "1234567.0");
  ck_assert_str_eq(dbl(12345678.0), "1.2345678E7");
  ck_assert_str_eq(dbl(0.1 + 0.2), "0.30000000000000004");
  ck_assert_str_eq(dbl(0.993927001953125), "0.993927001953125");
  ck_assert_str_eq(dbl(1.0 / 0.0), "null");
}
END_TEST

START_TEST(values) {
  api_buf b = {0};
  sd_value v[6] = {{.type = SD_STRING, .as.s = {"a\"b\\c\n\x01", 7}},
                   {.type = SD_INT, .as.i = 1684615020438850600LL},
                   {.type = SD_NULL},
                   {.type = SD_BOOL, .as.i = 1},
                   {.type = SD_INT, .as.i = 1704164645678LL},
                   {.type = SD_DOUBLE, .as.d = 2}};
  const char *types[6] = {"STRING", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DOUBLE"};
  api_line_row(&b, API_FMT_DELIMITED, v, 6, types);
  ck_assert_str_eq(b.data, "[\"a\\\"b\\\\c\\n\\u0001\",1684615020438850600,null,true,"
                           "\"2024-01-02T03:04:05.678\",2.0]\n");
  api_buf_free(&b);
  api_line_row(&b, API_FMT_JSON, v + 5, 1, types + 5);
  ck_assert_str_eq(b.data, ",[2.0]");
  api_buf_free(&b);
  api_line_row(&b, API_FMT_V1, v + 5, 1, types + 5);
  ck_assert_str_eq(b.data, "{\"row\":{\"columns\":[2.0]}},\n");
  api_buf_free(&b);
}
END_TEST

START_TEST(headers) {
  const char *names[2] = {"ID", "PRICE"}, *types[2] = {"STRING", "DOUBLE"};
  api_buf b = {0};
  api_line_header(&b, API_FMT_DELIMITED, "transient_T_1", 2, names, types);
  ck_assert_str_eq(b.data, "{\"queryId\":\"transient_T_1\",\"columnNames\":[\"ID\",\"PRICE\"],"
                           "\"columnTypes\":[\"STRING\",\"DOUBLE\"]}\n");
  api_buf_free(&b);
  api_line_header(&b, API_FMT_JSON, "q", 1, names, types);
  ck_assert_str_eq(
      b.data, "[{\"queryId\":\"q\",\"columnNames\":[\"ID\"],\"columnTypes\":[\"STRING\"]}");
  api_buf_free(&b);
  api_line_header(&b, API_FMT_V1, "q", 2, names, types);
  ck_assert_str_eq(
      b.data,
      "[{\"header\":{\"queryId\":\"q\",\"schema\":\"`ID` STRING, `PRICE` DOUBLE\"}},\n");
  api_buf_free(&b);
}
END_TEST

START_TEST(errors_and_endings) {
  api_buf b = {0};
  api_line_error(&b, API_FMT_DELIMITED, 50000, "boom");
  ck_assert_str_eq(b.data,
                   "{\"@type\":\"generic_error\",\"error_code\":50000,\"message\":\"boom\"}\n");
  api_buf_free(&b);
  api_line_error(&b, API_FMT_V1, 50000, "boom");
  ck_assert_str_eq(b.data,
                   "{\"errorMessage\":{\"@type\":\"generic_error\",\"error_code\":50000,"
                   "\"message\":\"boom\"}},\n");
  api_buf_free(&b);
  api_line_final(&b, API_FMT_V1, "Limit Reached");
  ck_assert_str_eq(b.data, "{\"finalMessage\":\"Limit Reached\"}");
  api_buf_free(&b);
  api_line_final(&b, API_FMT_DELIMITED, "Limit Reached");
  ck_assert_ptr_null(b.data);
  ck_assert_str_eq(api_format_closer(API_FMT_JSON), "]");
  ck_assert_str_eq(api_format_closer(API_FMT_DELIMITED), "");
  api_error_body(&b, 40001, "bad", "SELECT 1;");
  ck_assert_str_eq(b.data,
                   "{\"@type\":\"statement_error\",\"error_code\":40001,\"message\":\"bad\","
                   "\"statementText\":\"SELECT 1;\",\"entities\":[]}");
  api_buf_free(&b);
}
END_TEST

/* A message quoting a client's broken bytes must still be valid JSON (UTF-8). */
START_TEST(strings_always_utf8) {
  api_buf b = {0};
  api_json_string(&b, "a\xff\xc3(z\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80", 14);
  ck_assert_str_eq(b.data, "\"a\xEF\xBF\xBD\xEF\xBF\xBD(z\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD"
                           "\xEF\xBF\xBD\xF0\x9F\x98\x80\"");
  api_buf_free(&b);
  api_json_string(&b, "\xe2\x82", 2); /* cut short at the end */
  ck_assert_str_eq(b.data, "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  api_buf_free(&b);
}
END_TEST

START_TEST(accept) {
  ck_assert_int_eq(api_format_from_accept(NULL), API_FMT_DELIMITED);
  ck_assert_int_eq(api_format_from_accept("*/*"), API_FMT_DELIMITED);
  ck_assert_int_eq(api_format_from_accept("application/json"), API_FMT_JSON);
  ck_assert_int_eq(api_format_from_accept("application/vnd.ksql.v1+json; charset=utf-8"),
                   API_FMT_V1);
  ck_assert_int_eq(api_format_from_accept("text/html, application/json;q=0.9"), API_FMT_JSON);
  ck_assert_int_eq(api_format_from_accept("application/vnd.ksqlapi.delimited.v1"),
                   API_FMT_DELIMITED);
  ck_assert_str_eq(api_format_content_type(API_FMT_V1), "application/vnd.ksql.v1+json");
}
END_TEST

int main(void) {
  Suite *s = suite_create("query_local_api");
  TCase *tc = tcase_create("wire");
  tcase_add_test(tc, doubles_like_java);
  tcase_add_test(tc, values);
  tcase_add_test(tc, headers);
  tcase_add_test(tc, errors_and_endings);
  tcase_add_test(tc, accept);
  tcase_add_test(tc, strings_always_utf8);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
