/* Unit tests of query_ksql's rows: header columns (name lengths and DOUBLE flags once per
 * header), typed values, key and time, and rows the host refuses (no batch, no record, a
 * value not taken): counted and logged, never a crash, never values in the wrong record.
 * The host is the core's own table with a few entries replaced to fail on demand. */
#include "../../plugins/query_ksql/ksql_rows.h"
#include "host.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sd_host_api host;
static int fail_batch_new, fail_record_begin, fail_double;
static double m_rows_value, m_failed_value;
static int log_lines;
static char last_log[512];
static sd_metric *const M_ROWS = (sd_metric *)&m_rows_value;
static sd_metric *const M_FAILED = (sd_metric *)&m_failed_value;

static void t_log(sd_stage *st, sd_log_level level, const char *fmt, ...) {
  (void)st;
  (void)level;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_log, sizeof last_log, fmt, ap);
  va_end(ap);
  log_lines++;
}
static void t_metric_add(sd_metric *m, double d) {
  *(double *)m += d;
}
static sd_batch *t_batch_new(sd_stage *st, size_t hint) {
  return fail_batch_new ? NULL : host_api()->batch_new(st, hint);
}
static sd_result t_record_begin(sd_batch *b, int64_t ts, const char *key, size_t key_len) {
  return fail_record_begin ? SD_ERR : host_api()->record_begin(b, ts, key, key_len);
}
static sd_result t_field_double(sd_batch *b, const char *name, size_t len, double v) {
  return fail_double ? SD_ERR : host_api()->field_double(b, name, len, v);
}
static int64_t t_now_wall(void) {
  return 42;
}

static void setup(void) {
  host = *host_api();
  host.log = t_log;
  host.metric_add = t_metric_add;
  host.batch_new = t_batch_new;
  host.record_begin = t_record_begin;
  host.field_double = t_field_double;
  host.now_wall_ns = t_now_wall;
  fail_batch_new = fail_record_begin = fail_double = 0;
  m_rows_value = m_failed_value = 0;
  log_lines = 0;
  last_log[0] = '\0';
}

static kq_rows new_rows(void) {
  kq_rows r = {.host = &host, .query = "accel", .m_rows = M_ROWS, .m_failed = M_FAILED};
  r.key_col = r.time_col = -1;
  return r;
}

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
  ck_assert_msg(v != NULL, "%s: %s", text, e.text);
  return v;
}

static void set_header(kq_rows *r) {
  json_t *h = parse("{\"queryId\":\"q1\",\"columnNames\":[\"DEVICEID\",\"TIME\",\"VALUES_X\","
                    "\"NOTE\",\"TAGS\"],\"columnTypes\":[\"STRING\",\"BIGINT\",\"DOUBLE\","
                    "\"STRING\",\"ARRAY<STRING>\"]}");
  ck_assert_int_eq(kq_rows_header(r, h), 0);
  json_decref(h);
}

static void add(kq_rows *r, const char *row_text) {
  json_t *row = parse(row_text);
  kq_rows_add(r, row);
  json_decref(row);
}

static void free_rows(kq_rows *r) {
  if (r->batch) host.batch_free(r->batch);
  r->batch = NULL;
  kq_rows_clear_header(r);
}

static const sd_field *field(const sd_record_view *v, const char *name) {
  for (uint64_t i = 0; i < v->field_count; i++)
    if (!strcmp(v->fields[i].name, name)) return &v->fields[i];
  return NULL;
}

START_TEST(header_columns_once) {
  kq_rows r = new_rows();
  set_header(&r);
  ck_assert_uint_eq(r.column_count, 5);
  ck_assert_int_eq(r.key_col, 0);
  ck_assert_int_eq(r.time_col, 1);
  for (size_t i = 0; i < r.column_count; i++)
    ck_assert_uint_eq(r.column_lens[i], strlen(r.columns[i]));
  ck_assert_int_eq(r.as_double[2], 1);
  ck_assert_int_eq(r.as_double[1], 0);
  sd_schema_view sv;
  host.schema_view(r.schema, &sv);
  ck_assert_str_eq(sv.name, "accel");
  ck_assert_str_eq(sv.columns[2], "VALUES_X");
  ck_assert_str_eq(sv.types[4], "ARRAY<STRING>");
  /* a second header replaces the first */
  json_t *h = parse("{\"columnNames\":[\"A\"],\"columnTypes\":[\"INTEGER\"]}");
  ck_assert_int_eq(kq_rows_header(&r, h), 0);
  json_decref(h);
  ck_assert_uint_eq(r.column_count, 1);
  ck_assert_int_eq(r.key_col, -1);
  ck_assert_int_eq(r.time_col, -1);
  h = parse("{\"columnNames\":[]}");
  ck_assert_int_eq(kq_rows_header(&r, h), -1);
  json_decref(h);
  ck_assert_uint_eq(r.column_count, 0);
  ck_assert_ptr_null(r.schema);
  free_rows(&r);
}
END_TEST

START_TEST(rows_typed_keyed_timed) {
  kq_rows r = new_rows();
  set_header(&r);
  add(&r, "[\"phone-1\",1700000000123,3,\"hi\",[\"a\",\"b\"]]");
  add(&r, "[null,null,2.5,null,null]");
  ck_assert_uint_eq(host.batch_count(r.batch), 2);
  ck_assert_double_eq(m_rows_value, 2);
  ck_assert_double_eq(m_failed_value, 0);
  ck_assert_int_eq(log_lines, 0);
  sd_record_view v;
  ck_assert_int_eq(host.batch_record(r.batch, 0, &v), SD_OK);
  ck_assert_int_eq(v.timestamp_ns, 1700000000123000000LL);
  ck_assert_uint_eq(v.key_len, 7);
  ck_assert_int_eq(memcmp(v.key, "phone-1", 7), 0);
  ck_assert_uint_eq(v.field_count, 5);
  ck_assert_int_eq(field(&v, "VALUES_X")->value.type, SD_DOUBLE); /* 3 in a DOUBLE column */
  ck_assert_double_eq(field(&v, "VALUES_X")->value.as.d, 3.0);
  ck_assert_int_eq(field(&v, "TIME")->value.type, SD_INT);
  ck_assert_int_eq(field(&v, "TAGS")->value.type, SD_STRING);
  ck_assert_int_eq(memcmp(field(&v, "TAGS")->value.as.s.ptr, "[\"a\",\"b\"]", 9), 0);
  ck_assert_int_eq(host.batch_record(r.batch, 1, &v), SD_OK);
  ck_assert_int_eq(v.timestamp_ns, 42); /* no TIME: the wall clock */
  ck_assert_ptr_null(v.key);
  ck_assert_int_eq(field(&v, "NOTE")->value.type, SD_NULL);
  ck_assert_ptr_eq(host.batch_schema(r.batch), r.schema);
  free_rows(&r);
}
END_TEST

START_TEST(no_batch_counted_and_logged) {
  kq_rows r = new_rows();
  set_header(&r);
  fail_batch_new = 1;
  add(&r, "[\"phone-1\",1,1.5,\"x\",null]");
  ck_assert_ptr_null(r.batch);
  ck_assert_double_eq(m_rows_value, 1);
  ck_assert_double_eq(m_failed_value, 1);
  ck_assert_int_eq(log_lines, 1);
  ck_assert_str_eq(last_log, "query accel: row dropped: no batch for it (out of memory)");
  fail_batch_new = 0;
  add(&r, "[\"phone-1\",2,1.5,\"x\",null]");
  ck_assert_uint_eq(host.batch_count(r.batch), 1);
  ck_assert_double_eq(m_failed_value, 1);
  free_rows(&r);
}
END_TEST

START_TEST(refused_record_adds_no_values) {
  kq_rows r = new_rows();
  set_header(&r);
  add(&r, "[\"phone-1\",1,1.5,\"x\",null]");
  fail_record_begin = 1;
  add(&r, "[\"phone-2\",2,2.5,\"y\",null]");
  ck_assert_double_eq(m_failed_value, 1);
  ck_assert_int_eq(log_lines, 1);
  ck_assert_str_eq(last_log, "query accel: row dropped: the batch refused a new record");
  /* the values of the refused row did not land in the previous record */
  sd_record_view v;
  ck_assert_uint_eq(host.batch_count(r.batch), 1);
  ck_assert_int_eq(host.batch_record(r.batch, 0, &v), SD_OK);
  ck_assert_uint_eq(v.field_count, 5);
  ck_assert_double_eq(field(&v, "VALUES_X")->value.as.d, 1.5);
  free_rows(&r);
}
END_TEST

START_TEST(refused_value_counted_once_per_row) {
  kq_rows r = new_rows();
  set_header(&r);
  fail_double = 1;
  add(&r, "[\"phone-1\",1,1.5,\"x\",null]");
  add(&r, "[\"phone-1\",2,7,\"y\",null]"); /* an integer into DOUBLE is refused too */
  ck_assert_double_eq(m_rows_value, 2);
  ck_assert_double_eq(m_failed_value, 2);
  ck_assert_int_eq(log_lines, 2);
  ck_assert_str_eq(last_log,
                   "query accel: row incomplete: the batch refused 1 of its 5 values (first "
                   "VALUES_X)");
  sd_record_view v;
  ck_assert_uint_eq(host.batch_count(r.batch), 2);
  ck_assert_int_eq(host.batch_record(r.batch, 1, &v), SD_OK);
  ck_assert_uint_eq(v.field_count, 4);
  ck_assert_ptr_null(field(&v, "VALUES_X"));
  free_rows(&r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ksql_rows");
  TCase *tc = tcase_create("rows");
  tcase_add_checked_fixture(tc, setup, NULL);
  tcase_add_test(tc, header_columns_once);
  tcase_add_test(tc, rows_typed_keyed_timed);
  tcase_add_test(tc, no_batch_counted_and_logged);
  tcase_add_test(tc, refused_record_adds_no_values);
  tcase_add_test(tc, refused_value_counted_once_per_row);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
