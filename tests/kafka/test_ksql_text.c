/* query_ksql's text helpers: delimited lines split across chunks, identifier checks,
 * CREATE STREAM with escaped values, push-query validation, backoff bounds. */
#include "../../plugins/query_ksql/ksql_text.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen {
  char lines[8][128];
  int count;
} seen;

static void on_line(void *ctx, const char *line, size_t len) {
  seen *s = ctx;
  ck_assert_int_lt(s->count, 8);
  memcpy(s->lines[s->count], line, len);
  s->lines[s->count++][len] = '\0';
}

START_TEST(lines_across_chunks) {
  kq_lines l = {.max_line = 64};
  seen s = {0};
  const char *stream = "{\"queryId\":\"q\"}\n[\"a\",1]\r\n\n[\"b\",2]\n[\"c\"";
  for (size_t i = 0; i < strlen(stream); i++) /* one byte per chunk: the worst case */
    ck_assert_int_eq(kq_lines_feed(&l, stream + i, 1, on_line, &s), 0);
  ck_assert_int_eq(s.count, 3);
  ck_assert_str_eq(s.lines[0], "{\"queryId\":\"q\"}");
  ck_assert_str_eq(s.lines[1], "[\"a\",1]");
  ck_assert_str_eq(s.lines[2], "[\"b\",2]");
  ck_assert_int_eq(kq_lines_feed(&l, ",3]\n", 4, on_line, &s), 0);
  ck_assert_str_eq(s.lines[3], "[\"c\",3]");
  char big[100];
  memset(big, 'x', sizeof big);
  ck_assert_int_eq(kq_lines_feed(&l, big, sizeof big, on_line, &s), -1);
  kq_lines_free(&l);
}
END_TEST

START_TEST(identifiers) {
  ck_assert(kq_ident_valid("smartphone_sensor_stream", 24));
  ck_assert(kq_ident_valid("_x9", 3));
  ck_assert(!kq_ident_valid("9x", 2));
  ck_assert(!kq_ident_valid("a b", 3));
  ck_assert(!kq_ident_valid("a;", 2));
  ck_assert(!kq_ident_valid("", 0));
}
END_TEST

START_TEST(create_stream) {
  char why[200];
  char *sql = kq_create_stream_sql("s", "name VARCHAR, d DECIMAL(4, 2), m MAP<STRING, INT>",
                                   "it's", "JSON", why, sizeof why);
  ck_assert_ptr_nonnull(sql);
  ck_assert_str_eq(sql, "CREATE STREAM s (name VARCHAR, d DECIMAL(4, 2), m MAP<STRING, INT>) "
                        "WITH (KAFKA_TOPIC='it''s', VALUE_FORMAT='JSON');");
  free(sql);
  ck_assert_ptr_null(
      kq_create_stream_sql("s", "x VARCHAR); DROP STREAM t; --", "t", "JSON", why, sizeof why));
  ck_assert_ptr_null(kq_create_stream_sql("s", "x NOTATYPE", "t", "JSON", why, sizeof why));
  ck_assert_ptr_null(kq_create_stream_sql("s t", "x INT", "t", "JSON", why, sizeof why));
  ck_assert_ptr_null(kq_create_stream_sql("s", "x INT", "t", "JSON'", why, sizeof why));
  ck_assert_ptr_null(kq_create_stream_sql("s", "", "t", "JSON", why, sizeof why));
}
END_TEST

START_TEST(push_queries) {
  char why[200];
  char *sql = kq_push_query_sql("  select a FROM s WHERE n = 'x;y' EMIT   changes ;; ", why,
                                sizeof why);
  ck_assert_ptr_nonnull(sql);
  ck_assert_str_eq(sql, "select a FROM s WHERE n = 'x;y' EMIT   changes;");
  free(sql);
  sql = kq_push_query_sql("SELECT a FROM s WHERE n = 'it''s' EMIT CHANGES", why, sizeof why);
  ck_assert_ptr_nonnull(sql);
  free(sql);
  ck_assert_ptr_null(
      kq_push_query_sql("SELECT a FROM s EMIT CHANGES; DROP STREAM s", why, sizeof why));
  ck_assert_str_eq(why, "only one statement is allowed");
  ck_assert_ptr_null(kq_push_query_sql("DROP STREAM s EMIT CHANGES", why, sizeof why));
  ck_assert_ptr_null(kq_push_query_sql("SELECT a FROM s", why, sizeof why));
  ck_assert_ptr_null(
      kq_push_query_sql("SELECT a FROM s WHERE n = 'EMIT CHANGES'", why, sizeof why));
  ck_assert_ptr_null(
      kq_push_query_sql("SELECT a FROM s WHERE n = 'open EMIT CHANGES", why, sizeof why));
  ck_assert_ptr_null(kq_push_query_sql("SELECT a FROM s -- EMIT CHANGES", why, sizeof why));
}
END_TEST

START_TEST(backoff) {
  ck_assert_int_eq(kq_backoff_ms(0, 200, 10000, 0.0), 100);
  ck_assert_int_eq(kq_backoff_ms(0, 200, 10000, 0.9999), 199);
  ck_assert_int_eq(kq_backoff_ms(3, 200, 10000, 0.0), 800);
  ck_assert_int_eq(kq_backoff_ms(40, 200, 10000, 0.0), 5000);
  ck_assert_int_le(kq_backoff_ms(40, 200, 10000, 0.9999), 10000);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ksql_text");
  TCase *tc = tcase_create("text");
  tcase_add_test(tc, lines_across_chunks);
  tcase_add_test(tc, identifiers);
  tcase_add_test(tc, create_stream);
  tcase_add_test(tc, push_queries);
  tcase_add_test(tc, backoff);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
