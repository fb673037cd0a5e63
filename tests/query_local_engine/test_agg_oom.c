/* query_local's aggregates when memory for a new group runs out: the row cannot be counted
 * in its group (plain GROUP BY or one of its windows), so it is counted as dropped, the
 * query goes on, and the group is made for the next row. calloc is wrapped at link time
 * (-Wl,--wrap=calloc) so that the test can make it fail while one record is ingested. */
#include "../../plugins/query_local/ql_internal.h"
#include "test_support.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static uint64_t agg_dropped(ql_engine *e) {
  ql_stats st;
  ql_engine_stats(e, &st);
  return st.aggregate_rows_dropped;
}

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static int calloc_fails; /* set: every calloc returns NULL */
void *__wrap_calloc(size_t n, size_t size) {
  return calloc_fails ? NULL : __real_calloc(n, size);
}

static ql_engine *engine_with_stream(void) {
  ql_limits l = {.max_push_queries = 10, .default_topic = "t"};
  ql_engine *e = ql_engine_new(&l);
  char *r = ts_execute(e, "CREATE STREAM s (dev VARCHAR, x DOUBLE) WITH (KAFKA_TOPIC='t', "
                          "VALUE_FORMAT='JSON');");
  ck_assert_msg(strstr(r, "Stream created") != NULL, "%s", r);
  free(r);
  return e;
}

static ql_query *start(ql_engine *e, const char *sql, ts_rows *rows) {
  ql_error err = {0};
  ql_query_opts o = {.ad_hoc = 1};
  ql_query *q = ql_query_start(e, sql, &o, ts_on_row, ts_on_end, rows, &err);
  ck_assert_msg(q != NULL, "%s: %s", sql, err.message);
  return q;
}

/* One record; with fail set, every calloc made while it is ingested fails. */
static void reading(ql_engine *e, int64_t ms, const char *dev, double x, int fail) {
  ts_record r;
  ts_record_init(&r, ms * 1000000);
  ts_field_str(&r, "dev", dev);
  ts_field_double(&r, "x", x);
  calloc_fails = fail;
  ql_engine_ingest(e, "t", &r.view);
  calloc_fails = 0;
}

START_TEST(group_by_without_memory) {
  ql_engine *e = engine_with_stream();
  ts_rows rows = {0};
  ql_query *q = start(e, "SELECT dev, COUNT(*) AS n FROM s GROUP BY dev EMIT CHANGES;", &rows);
  reading(e, 1000, "a", 1, 0);
  reading(e, 1001, "b", 1, 1); /* no memory for group b: dropped, counted */
  ck_assert_uint_eq(rows.count, 1);
  ck_assert_uint_eq(agg_dropped(e), 1);
  reading(e, 1002, "a", 1, 1); /* an existing group needs no memory */
  reading(e, 1003, "b", 1, 0);
  ck_assert_uint_eq(agg_dropped(e), 1);
  ck_assert_uint_eq(rows.count, 3);
  ck_assert_str_eq(rows.lines[1], "[\"a\",2]");
  ck_assert_str_eq(rows.lines[2], "[\"b\",1]");
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(window_without_memory) {
  ql_engine *e = engine_with_stream();
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT dev, COUNT(*) AS n FROM s WINDOW HOPPING (SIZE 2 SECONDS, "
                      "ADVANCE BY 1 SECOND) GROUP BY dev EMIT CHANGES;",
                      &rows);
  reading(e, 1500, "a", 1, 0); /* windows [0,2000) and [1000,3000) */
  ck_assert_uint_eq(rows.count, 2);
  reading(e, 2500, "a", 1, 1); /* [1000,3000) exists, [2000,4000) cannot be made */
  ck_assert_uint_eq(agg_dropped(e), 1);
  ck_assert_uint_eq(rows.count, 3);
  ck_assert_str_eq(rows.lines[2], "[\"a\",2]");
  reading(e, 2600, "a", 1, 0);
  ck_assert_uint_eq(agg_dropped(e), 1);
  ck_assert_uint_eq(rows.count, 5); /* [1000,3000) with 3, the new [2000,4000) with 1 */
  ck_assert_str_eq(rows.lines[3], "[\"a\",3]");
  ck_assert_str_eq(rows.lines[4], "[\"a\",1]");
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("query_local_agg_oom");
  TCase *tc = tcase_create("oom");
  tcase_add_test(tc, group_by_without_memory);
  tcase_add_test(tc, window_without_memory);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
