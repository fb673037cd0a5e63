/* Unit tests of query_local's SQL engine: parser messages, evaluation semantics, /ksql
 * entities, deserialization, push queries, windows, the original project's query over the
 * sample payloads, and a start/stop loop for leaks. */
#include "test_support.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SAMPLES_DIR
#define SAMPLES_DIR "tests/data/sensorlogger"
#endif

static const char *const sensor_ddl =
    "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "
    "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "
    "WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON');";

static ql_engine *new_engine(size_t retain) {
  ql_limits l = {.max_push_queries = 100,
                 .retain_records = retain,
                 .retain_bytes = 0,
                 .default_topic = "smartphone-sensor-data"};
  return ql_engine_new(&l);
}

/* An engine with the sensor stream, checking the CREATE answer. */
static ql_engine *sensor_engine(size_t retain) {
  ql_engine *e = new_engine(retain);
  char *r = ts_execute(e, sensor_ddl);
  ck_assert_msg(strstr(r, "\"Stream created\"") != NULL, "%s", r);
  free(r);
  return e;
}

static ql_query *start(ql_engine *e, const char *sql, ts_rows *rows) {
  ql_error err = {0};
  ql_query_opts o = {.ad_hoc = 1};
  ql_query *q = ql_query_start(e, sql, &o, ts_on_row, ts_on_end, rows, &err);
  ck_assert_msg(q != NULL, "%s: %d %s", sql, err.code, err.message);
  return q;
}

/* Starts sql expecting failure; returns "code: message" (static). */
static const char *start_error(ql_engine *e, const char *sql) {
  static char buf[1200];
  ql_error err = {0};
  ql_query_opts o = {.ad_hoc = 1};
  ts_rows rows = {0};
  ql_query *q = ql_query_start(e, sql, &o, ts_on_row, ts_on_end, &rows, &err);
  ck_assert_msg(q == NULL, "expected %s to fail", sql);
  snprintf(buf, sizeof buf, "%d: %s", err.code, err.message);
  return buf;
}

/* The wall clock the engine reads at ingest (retain_age ages by arrival): each reading
 * "arrives" at its own event time, so ageing in these tests is deterministic. */
static int64_t fake_wall_ns;
static int64_t fake_wall(void) {
  return fake_wall_ns;
}

static void reading(ql_engine *e, int64_t ts_ns, const char *name, const char *device,
                    double x) {
  fake_wall_ns = ts_ns;
  ts_record r;
  ts_record_init(&r, ts_ns);
  ts_field_str(&r, "name", name);
  ts_field_int(&r, "time", ts_ns);
  ts_field_double(&r, "values_x", x);
  ts_field_double(&r, "values_y", x * 2);
  ts_field_double(&r, "values_z", -x);
  ts_field_int(&r, "messageId", 1);
  ts_field_str(&r, "sessionId", "s1");
  ts_field_str(&r, "deviceId", device);
  ql_engine_ingest(e, NULL, &r.view);
}

/* ---- The first vertical slice ----------------------------------------------------------- */
START_TEST(slice_filter_project_limit) {
  ql_engine *e = sensor_engine(0);
  ts_rows rows = {0};
  ql_query *q =
      start(e,
            "SELECT deviceId, values_x FROM smartphone_sensor_stream WHERE name = 'acc' "
            "EMIT CHANGES LIMIT 2;",
            &rows);
  ck_assert_str_eq(ql_query_column_name(q, 0), "DEVICEID");
  ck_assert_str_eq(ql_query_column_type(q, 0), "STRING");
  ck_assert_str_eq(ql_query_column_name(q, 1), "VALUES_X");
  ck_assert_str_eq(ql_query_column_type(q, 1), "DOUBLE");
  ck_assert_str_eq(ql_query_source(q), "SMARTPHONE_SENSOR_STREAM");
  ck_assert_int_eq(ql_query_limit(q), 2);
  ck_assert(strncmp(ql_query_id(q), "transient_SMARTPHONE_SENSOR_STREAM_", 35) == 0);
  reading(e, 1000000, "acc", "d1", 0.5);
  reading(e, 2000000, "gyro", "d1", 1.5);
  reading(e, 3000000, "acc", "d2", 2.5);
  reading(e, 4000000, "acc", "d3", 3.5);
  ck_assert_int_eq(rows.count, 2);
  ck_assert_str_eq(rows.lines[0], "[\"d1\",0.5]");
  ck_assert_str_eq(rows.lines[1], "[\"d2\",2.5]");
  ck_assert_int_eq(rows.rowtime_ns[1], 3000000);
  ck_assert_int_eq(rows.ended, 1);
  ck_assert_str_eq(rows.reason, "Limit Reached");
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.records_in, 4);
  ck_assert_int_eq(st.rows_out, 2);
  ck_assert_int_eq(st.queries_running, 0);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(slice_show_streams) {
  ql_engine *e = sensor_engine(0);
  char *r = ts_execute(e, "SHOW STREAMS;");
  ck_assert_str_eq(r, "[{\"@type\":\"streams\",\"statementText\":\"SHOW STREAMS;\",\"streams\":"
                      "[{\"type\":\"STREAM\",\"name\":\"SMARTPHONE_SENSOR_STREAM\",\"topic\":"
                      "\"smartphone-sensor-data\",\"keyFormat\":\"KAFKA\",\"valueFormat\":"
                      "\"JSON\",\"isWindowed\":false}],\"warnings\":[]}]");
  free(r);
  r = ts_execute(e, "list streams");
  ck_assert(strstr(r, "\"statementText\":\"list streams;\"") != NULL);
  free(r);
  ql_engine_free(e);
}
END_TEST

START_TEST(slice_unknown_stream) {
  ql_engine *e = sensor_engine(0);
  ck_assert_str_eq(start_error(e, "SELECT * FROM nope EMIT CHANGES;"),
                   "40001: Line: 1, Col: 15: NOPE does not exist.");
  ql_engine_free(e);
}
END_TEST

/* ---- Parser: good and bad statements, with their exact messages ---------------------------
 */
static const char *parse_error(const char *sql) {
  static char buf[1200];
  ql_engine *e = sensor_engine(0);
  ql_error err = {0};
  json_t *r = ql_execute(e, sql, &err);
  ck_assert_msg(r == NULL, "expected %s to fail", sql);
  snprintf(buf, sizeof buf, "%d: %s", err.code, err.message);
  ql_engine_free(e);
  return buf;
}

START_TEST(parser_errors) {
  ck_assert_str_eq(
      parse_error("SLECTT * FROM s;"),
      "40001: line 1:1: Syntax Error\nUnknown statement 'SLECTT'\nDid you mean 'SELECT'?");
  ck_assert_str_eq(parse_error("SHOW STRAEMS;"),
                   "40001: line 1:6: Syntax Error\nExpecting {'STREAMS', 'TABLES', 'QUERIES'}");
  ck_assert_str_eq(parse_error("DROP STREAM;"),
                   "40001: line 1:12: Syntax Error\nExpecting {'IF', an identifier}");
  ck_assert_str_eq(parse_error("CREATE STREAM s (a FOO) WITH (KAFKA_TOPIC='t');"),
                   "40001: line 1:20: Syntax Error\nUnknown type: FOO");
  ck_assert_str_eq(
      parse_error("CREATE STREAM s (a INT, b DECIMAL(4,2)) WITH (KAFKA_TOPIC='t');"),
      "40001: line 1:27: Syntax Error\nType DECIMAL is not supported by sensord's "
      "query engine (supported: BOOLEAN, INTEGER, BIGINT, DOUBLE, STRING, VARCHAR, "
      "TIMESTAMP)");
  ck_assert_str_eq(parse_error("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t', COLOR='red');"),
                   "40001: line 1:48: Syntax Error\nInvalid config variable(s) in the WITH "
                   "clause: COLOR");
  ck_assert_str_eq(parse_error("CREATE STREAM s (a INT, a BIGINT) WITH (KAFKA_TOPIC='t');"),
                   "40001: line 1:25: Syntax Error\nDuplicate column names: A");
  ck_assert_str_eq(
      parse_error("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t'"),
      "40001: line 1:46: Syntax Error\nSyntax error at or near \";\"\n'}', ']', or "
      "')' is missing");
  ck_assert_str_eq(parse_error("CREATE STREAM s (a INT) (KAFKA_TOPIC='t');"),
                   "40001: line 1:25: Syntax Error\nExpecting 'WITH'");
  ck_assert_str_eq(
      parse_error("CREATE STREAM select (a INT) WITH (KAFKA_TOPIC='t');"),
      "40001: line 1:15: Syntax Error\n\"SELECT\" is a reserved keyword and it can't "
      "be used as an identifier. You can use it as an identifier by escaping it as "
      "`SELECT`");
  ck_assert_str_eq(parse_error("SHOW STREAMS; SELECT 'x' 'y' FROM s;"),
                   "40001: line 1:26: Syntax Error\nExpecting {'AS', ',', 'FROM'}");
  ck_assert_str_eq(parse_error("SHOW STREAMS; SELECT * FROM s 5;"),
                   "40001: line 1:31: Syntax Error\nSyntax error at or near '5' at line 1:31");
  ck_assert_str_eq(parse_error("SHOW STREAMS # x"),
                   "40001: line 1:14: Syntax Error\nSyntax error at or near '#' at line 1:14");
  ck_assert_str_eq(
      parse_error("DESCRIBE 'abc"),
      "40001: line 1:10: Syntax Error\nSyntax error at or near unterminated string "
      "literal at line 1:10");
  ck_assert_str_eq(parse_error("INSERT INTO s VALUES (1);"),
                   "40001: line 1:1: Syntax Error\nINSERT statements are not supported by "
                   "sensord's query engine");
  ck_assert_str_eq(parse_error("CREATE TABLE t (a INT) WITH (KAFKA_TOPIC='t');"),
                   "40001: line 1:8: Syntax Error\nTables are not supported by sensord's query "
                   "engine: use CREATE STREAM");
  /* statements on later lines report their own line and column */
  ck_assert_str_eq(parse_error("SHOW STREAMS;\n  DESCRIBE ;"),
                   "40001: line 2:12: Syntax Error\nExpecting {'EXTENDED', 'STREAMS', an "
                   "identifier}");
}
END_TEST

START_TEST(parser_select_errors) {
  ql_engine *e = sensor_engine(0);
  ck_assert_str_eq(start_error(e, "SELECT * FROM;"),
                   "40001: line 1:14: Syntax Error\nExpecting an identifier");
  ck_assert_str_eq(start_error(e, "SELECT deviceId FRM smartphone_sensor_stream EMIT CHANGES;"),
                   "40001: line 1:21: Syntax Error\nExpecting {',', 'FROM'}");
  ck_assert_str_eq(start_error(e, "SELECT * FROM smartphone_sensor_stream WHERE name = EMIT "
                                  "CHANGES;"),
                   "40001: line 1:53: Syntax Error\nExpecting an expression");
  ck_assert_str_eq(start_error(e, "SELECT * FROM smartphone_sensor_stream WHERE (name = 'a' "
                                  "EMIT CHANGES;"),
                   "40001: line 1:58: Syntax Error\nExpecting ')'");
  ck_assert_str_eq(
      start_error(e, "SELECT * FROM smartphone_sensor_stream EMIT CHANGES LIMIT x;"),
      "40001: line 1:59: Syntax Error\nExpecting a number");
  ck_assert_str_eq(start_error(e, "SELECT * FROM smartphone_sensor_stream EMIT FINAL;"),
                   "40001: line 1:45: Syntax Error\nEMIT FINAL is not supported by sensord's "
                   "query engine");
  ck_assert_str_eq(start_error(e, "SELECT * FROM smartphone_sensor_stream WINDOW SESSION (5 "
                                  "SECONDS) GROUP BY name EMIT CHANGES;"),
                   "40001: line 1:47: Syntax Error\nSESSION windows are not supported by "
                   "sensord's query engine");
  ck_assert_str_eq(start_error(e, "SELECT foo FROM smartphone_sensor_stream EMIT CHANGES;"),
                   "40001: Line: 1, Col: 8: SELECT column 'FOO' cannot be resolved.");
  ck_assert_str_eq(start_error(e,
                               "SELECT name FROM smartphone_sensor_stream WHERE bar > 1 EMIT "
                               "CHANGES;"),
                   "40001: Line: 1, Col: 49: WHERE column 'BAR' cannot be resolved.");
  ck_assert_str_eq(start_error(e, "SELECT x.name FROM smartphone_sensor_stream EMIT CHANGES;"),
                   "40001: Line: 1, Col: 8: SELECT column 'X.NAME' cannot be resolved.");
  ck_assert_str_eq(start_error(e,
                               "SELECT name FROM smartphone_sensor_stream WHERE name = 5 EMIT "
                               "CHANGES;"),
                   "40001: Line: 1, Col: 49: Cannot compare name (STRING) to 5 (INTEGER) with "
                   "EQUAL.");
  ck_assert_str_eq(
      start_error(e, "SELECT name + 1 FROM smartphone_sensor_stream EMIT CHANGES;"),
      "40001: Line: 1, Col: 8: Error processing expression: name + 1. Unsupported "
      "arithmetic types. STRING INTEGER");
  ck_assert_str_eq(start_error(e,
                               "SELECT name FROM smartphone_sensor_stream WHERE values_x EMIT "
                               "CHANGES;"),
                   "40001: Line: 1, Col: 49: WHERE expects a BOOLEAN value, but values_x is "
                   "DOUBLE");
  ck_assert_str_eq(
      start_error(e, "SELECT FOO(name) FROM smartphone_sensor_stream EMIT CHANGES;"),
      "40001: Line: 1, Col: 8: Can't find any functions with the name 'FOO'");
  ck_assert_str_eq(start_error(e, "SELECT UCASE(values_x) FROM smartphone_sensor_stream EMIT "
                                  "CHANGES;"),
                   "40001: Line: 1, Col: 8: Function 'UCASE' does not accept parameters "
                   "(DOUBLE): argument 1 must be STRING");
  ck_assert_str_eq(
      start_error(e, "SELECT ABS(1, 2) FROM smartphone_sensor_stream EMIT CHANGES;"),
      "40001: Line: 1, Col: 8: Function 'ABS' does not accept parameters "
      "(INTEGER, INTEGER).");
  ck_assert_str_eq(
      start_error(e, "SELECT COUNT(*) FROM smartphone_sensor_stream EMIT CHANGES;"),
      "40001: Aggregate query needs GROUP BY clause.");
  ck_assert_str_eq(start_error(e,
                               "SELECT name, COUNT(*) FROM smartphone_sensor_stream GROUP BY "
                               "deviceId EMIT CHANGES;"),
                   "40001: Line: 1, Col: 8: Non-aggregate SELECT expression(s) not part of "
                   "GROUP BY: name");
  ck_assert_str_eq(start_error(e,
                               "SELECT name FROM smartphone_sensor_stream WHERE COUNT(*) > 1 "
                               "EMIT CHANGES;"),
                   "40001: Line: 1, Col: 49: Aggregate functions can not be used in WHERE: "
                   "COUNT(*)");
  ck_assert_str_eq(start_error(e, "SELECT WINDOWSTART FROM smartphone_sensor_stream EMIT "
                                  "CHANGES;"),
                   "40001: Line: 1, Col: 8: WINDOWSTART can only be used in the SELECT or "
                   "HAVING of a windowed aggregation.");
  ck_assert_str_eq(
      start_error(e, "SELECT name, COUNT(*) FROM smartphone_sensor_stream WINDOW "
                     "HOPPING (SIZE 1 SECOND, ADVANCE BY 2 SECONDS) GROUP BY name "
                     "EMIT CHANGES;"),
      "40001: Window advance (2000 ms) must not be greater than its size (1000 ms).");
  ck_assert_str_eq(start_error(e, "CREATE STREAM x (a INT) WITH (KAFKA_TOPIC='x');"),
                   "40001: Neither a query nor a print statement");
  ck_assert_str_eq(start_error(e, "SELECT * FROM smartphone_sensor_stream EMIT CHANGES; SHOW "
                                  "STREAMS;"),
                   "40001: Expected exactly one KSQL statement; found 2 instead");
  ck_assert_str_eq(start_error(e, ""),
                   "40001: Expected exactly one KSQL statement; found 0 instead");
  ql_engine_free(e);
}
END_TEST

START_TEST(parser_good_statements) {
  ql_engine *e = sensor_engine(0);
  static const char *const good[] = {
      "SELECT * FROM smartphone_sensor_stream EMIT CHANGES",
      "select deviceid, values_x from SMARTPHONE_SENSOR_STREAM emit changes limit 5;",
      "SELECT s.deviceId AS d, -values_x * 2.5e1 + 1 FROM smartphone_sensor_stream s WHERE "
      "NOT (name <> 'x') OR name IN ('a', 'b') AND values_x BETWEEN -1 AND 1 EMIT CHANGES;",
      "SELECT CASE WHEN values_x > 0 THEN 'pos' WHEN values_x < 0 THEN 'neg' ELSE 'zero' END "
      "FROM smartphone_sensor_stream EMIT CHANGES;",
      "SELECT CASE name WHEN 'a' THEN 1 ELSE 2.5 END, CAST(values_x AS STRING), ROWTIME FROM "
      "smartphone_sensor_stream WHERE name LIKE 'acc%' AND name NOT LIKE '%x' AND deviceId IS "
      "NOT NULL -- trailing comment\n EMIT CHANGES;",
      "SELECT deviceId, COUNT(*), AVG(values_x) AS ax, WINDOWSTART, WINDOWEND FROM "
      "smartphone_sensor_stream WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS, GRACE "
      "PERIOD 1 MINUTE) WHERE /* block */ name = 'a' GROUP BY deviceId HAVING COUNT(*) > 1 "
      "EMIT "
      "CHANGES;",
      "SELECT deviceId, SUM(messageId), MIN(values_x), MAX(values_x), LATEST_BY_OFFSET(name), "
      "EARLIEST_BY_OFFSET(name) FROM smartphone_sensor_stream GROUP BY deviceId EMIT CHANGES;",
      "SELECT * FROM smartphone_sensor_stream;",
      NULL};
  for (int k = 0; good[k]; k++) {
    ql_error err = {0};
    ck_assert_msg(ql_check_statement(e, good[k], &err) == 0, "%s: %s", good[k], err.message);
  }
  ql_error err = {0};
  ck_assert_int_eq(ql_check_statement(e, "SELECT nope FROM smartphone_sensor_stream;", &err),
                   -1);
  ck_assert_str_eq(err.message, "Line: 1, Col: 8: SELECT column 'NOPE' cannot be resolved.");
  ck_assert_int_eq(
      ql_check_statement(e, "CREATE STREAM q (a INT) WITH (VALUE_FORMAT='JSON');", &err), -1);
  ck_assert_str_eq(err.message,
                   "Missing required property \"KAFKA_TOPIC\" which has no default value.");
  ck_assert_int_eq(ql_check_statement(e,
                                      "CREATE STREAM q (a INT) WITH (KAFKA_TOPIC='q', "
                                      "VALUE_FORMAT='AVRO');",
                                      &err),
                   -1);
  ck_assert_int_eq(
      ql_check_statement(e, "CREATE STREAM q (a INT) WITH (KAFKA_TOPIC='q');", &err), 0);

  ql_engine_free(e);
}
END_TEST

/* ---- Evaluation: NULL semantics, types, int64 vs double, strings, LIKE, functions ------- */
static ql_engine *typed_engine(void) {
  ql_engine *e = new_engine(0);
  char *r =
      ts_execute(e, "CREATE STREAM t (s VARCHAR, i INT, b BIGINT, d DOUBLE, f BOOLEAN, ts "
                    "TIMESTAMP, n INT) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');");
  ck_assert_msg(strstr(r, "Stream created") != NULL, "%s", r);
  free(r);
  return e;
}

static void typed_record(ts_record *r) {
  ts_record_init(r, 1704164645678123456LL);
  ts_field_str(r, "s", "hello");
  ts_field_int(r, "i", 7);
  ts_field_int(r, "b", 9007199254740993LL);
  ts_field_double(r, "d", 2.5);
  ts_field_bool(r, "f", 1);
  ts_field_str(r, "ts", "2024-01-02T03:04:05.678");
}

/* The value of one expression over the typed record, rendered. */
static char *eval1(ql_engine *e, const char *expr) {
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT %s FROM t EMIT CHANGES LIMIT 1;", expr);
  ts_rows rows = {0};
  ql_query *q = start(e, sql, &rows);
  ts_record r;
  typed_record(&r);
  ql_engine_ingest(e, "t", &r.view);
  ck_assert_int_eq(rows.count, 1);
  char *out = strdup(rows.lines[0]);
  ql_query_stop(q);
  ts_rows_free(&rows);
  /* strip the brackets of the one-column row */
  size_t n = strlen(out);
  memmove(out, out + 1, n - 2);
  out[n - 2] = 0;
  return out;
}

static const char *type_of(ql_engine *e, const char *expr) {
  static char buf[32];
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT %s FROM t EMIT CHANGES;", expr);
  ts_rows rows = {0};
  ql_query *q = start(e, sql, &rows);
  snprintf(buf, sizeof buf, "%s", ql_query_column_type(q, 0));
  ql_query_stop(q);
  return buf;
}

#define EVAL(expr, expected)                                                                   \
  do {                                                                                         \
    char *got_ = eval1(e, expr);                                                               \
    ck_assert_msg(strcmp(got_, expected) == 0, "%s: expected %s, got %s", expr, expected,      \
                  got_);                                                                       \
    free(got_);                                                                                \
  } while (0)

START_TEST(eval_null_semantics) {
  ql_engine *e = typed_engine();
  EVAL("n", "null");
  EVAL("n IS NULL", "true");
  EVAL("s IS NOT NULL", "true");
  EVAL("i + n", "null");
  EVAL("n = 1", "null");
  EVAL("n <> 1", "null");
  EVAL("NOT (n = 1)", "null");
  EVAL("n = 1 AND FALSE", "false");
  EVAL("n = 1 AND TRUE", "null");
  EVAL("n = 1 OR TRUE", "true");
  EVAL("n = 1 OR FALSE", "null");
  EVAL("n IN (1, 2)", "null");
  EVAL("4 IN (1, NULL)", "null");
  EVAL("1 IN (1, NULL)", "true");
  EVAL("4 NOT IN (1, 2)", "true");
  EVAL("n BETWEEN 1 AND 2", "null");
  EVAL("5 BETWEEN 1 AND n", "null");
  EVAL("0 BETWEEN 1 AND n", "false");
  EVAL("CASE WHEN n = 1 THEN 'a' ELSE 'b' END", "\"b\"");
  EVAL("CASE n WHEN 1 THEN 'a' END", "null");
  EVAL("COALESCE(n, i, 3)", "7");
  EVAL("IFNULL(n, 5)", "5");
  EVAL("CONCAT('a', CAST(n AS STRING), 'b')", "\"ab\"");
  EVAL("UCASE(CAST(n AS STRING))", "null");
  EVAL("ABS(n)", "null");
  ql_engine_free(e);
}
END_TEST

START_TEST(eval_numbers) {
  ql_engine *e = typed_engine();
  EVAL("i / 0", "null");
  EVAL("d / 0", "null");
  EVAL("i % 0", "null");
  EVAL("7 / 2", "3");
  EVAL("-7 / 2", "-3");
  EVAL("-7 % 3", "-1");
  EVAL("7.0 / 2", "3.5");
  EVAL("d * i", "17.5");
  EVAL("2147483647 + 1", "-2147483648");
  EVAL("CAST(2147483647 AS BIGINT) + 1", "2147483648");
  EVAL("9223372036854775807 + 1", "-9223372036854775808");
  EVAL("-9223372036854775808 / -1", "-9223372036854775808");
  /* BIGINT stays exact: 2^53 + 1 is not a double */
  EVAL("b", "9007199254740993");
  EVAL("b = 9007199254740993", "true");
  EVAL("b = 9007199254740992", "false");
  EVAL("b + 1", "9007199254740994");
  EVAL("i = 7.0", "true");
  EVAL("i < 7.5", "true");
  EVAL("0.1 + 0.2", "0.30000000000000004");
  EVAL("1e10 * 1.0", "1.0E10");
  EVAL("0.0001 * 1", "1.0E-4");
  EVAL("-d", "-2.5");
  EVAL("-i", "-7");
  ck_assert_str_eq(type_of(e, "i + i"), "INTEGER");
  ck_assert_str_eq(type_of(e, "i + b"), "BIGINT");
  ck_assert_str_eq(type_of(e, "i + d"), "DOUBLE");
  ck_assert_str_eq(type_of(e, "i / 2"), "INTEGER");
  ck_assert_str_eq(type_of(e, "ROUND(d)"), "BIGINT");
  ck_assert_str_eq(type_of(e, "ROUND(d, 1)"), "DOUBLE");
  ck_assert_str_eq(type_of(e, "ROWTIME"), "BIGINT");
  ck_assert_str_eq(type_of(e, "ts"), "TIMESTAMP");
  ck_assert_str_eq(type_of(e, "f"), "BOOLEAN");
  ck_assert_str_eq(type_of(e, "LEN(s)"), "INTEGER");
  ck_assert_str_eq(type_of(e, "CASE WHEN f THEN 1 ELSE 2.5 END"), "DOUBLE");
  ck_assert_str_eq(type_of(e, "COALESCE(i, b)"), "BIGINT");
  ql_engine_free(e);
}
END_TEST

START_TEST(eval_strings_and_functions) {
  ql_engine *e = typed_engine();
  EVAL("s = 'hello'", "true");
  EVAL("s = 'Hello'", "false");
  EVAL("'abc' < 'abd'", "true");
  EVAL("'B' < 'a'", "true");
  EVAL("'ab' < 'abc'", "true");
  EVAL("'' < 'a'", "true");
  EVAL("s BETWEEN 'a' AND 'z'", "true");
  EVAL("s IN ('x', 'hello')", "true");
  EVAL("s LIKE 'h%o'", "true");
  EVAL("s LIKE 'h_llo'", "true");
  EVAL("s LIKE 'H%'", "false");
  EVAL("s LIKE '%'", "true");
  EVAL("s LIKE 'hello_'", "false");
  EVAL("s LIKE '%l%l%'", "true");
  EVAL("s NOT LIKE '%z%'", "true");
  EVAL("'h\xc3\xa9llo' LIKE 'h_llo'", "true");
  EVAL("'it''s'", "\"it's\"");
  EVAL("UCASE(s)", "\"HELLO\"");
  EVAL("LCASE('AbC')", "\"abc\"");
  EVAL("LEN('h\xc3\xa9llo')", "5");
  EVAL("SUBSTRING(s, 2, 3)", "\"ell\"");
  EVAL("SUBSTRING(s, 2)", "\"ello\"");
  EVAL("SUBSTRING(s, -3)", "\"llo\"");
  EVAL("SUBSTRING(s, 10)", "\"\"");
  EVAL("CONCAT(s, ' ', 'world')", "\"hello world\"");
  EVAL("TRIM('  x  ')", "\"x\"");
  EVAL("REPLACE(s, 'l', 'L')", "\"heLLo\"");
  EVAL("INSTR(s, 'll')", "3");
  EVAL("ABS(-3)", "3");
  EVAL("ABS(-2.5)", "2.5");
  EVAL("ROUND(2.5)", "3");
  EVAL("ROUND(-2.5)", "-3");
  EVAL("ROUND(1.2345, 2)", "1.23");
  EVAL("ROUND(i)", "7");
  EVAL("SQRT(16)", "4.0");
  EVAL("SQRT(-1)", "null");
  EVAL("FLOOR(2.7)", "2.0");
  EVAL("CEIL(2.1)", "3.0");
  EVAL("FLOOR(i)", "7");
  EVAL("SIGN(-d)", "-1");
  EVAL("POWER(2, 10)", "1024.0");
  EVAL("GREATEST(1, 5, 3)", "5");
  EVAL("LEAST(2.5, i)", "2.5");
  EVAL("CAST(3.9 AS INT)", "3");
  EVAL("CAST(-3.9 AS BIGINT)", "-3");
  EVAL("CAST(12 AS STRING)", "\"12\"");
  EVAL("CAST(1.0 AS STRING)", "\"1.0\"");
  EVAL("CAST('12' AS BIGINT)", "12");
  EVAL("CAST('x12' AS BIGINT)", "null");
  EVAL("CAST('2.5' AS DOUBLE)", "2.5");
  EVAL("CAST(f AS STRING)", "\"true\"");
  EVAL("CAST(ts AS STRING)", "\"2024-01-02T03:04:05.678\"");
  EVAL("ts", "1704164645678");
  EVAL("ROWTIME", "1704164645678");
  EVAL("CASE s WHEN 'hello' THEN 1 WHEN 'x' THEN 2 END", "1");
  EVAL("CASE WHEN i > 5 THEN 'big' ELSE 'small' END", "\"big\"");
  ql_engine_free(e);
}
END_TEST

/* Text of any length: CAST to and from STRING never cuts a value (300 characters here). */
START_TEST(eval_long_strings) {
  ql_engine *e = typed_engine();
  char text[301], expr[400], want[400];
  for (int k = 0; k < 300; k++) text[k] = (char)('a' + k % 26);
  text[300] = 0;
  snprintf(expr, sizeof expr, "CAST('%s' AS STRING)", text);
  snprintf(want, sizeof want, "\"%s\"", text);
  EVAL(expr, want);
  snprintf(expr, sizeof expr, "LEN(CAST(CONCAT('%s', s) AS STRING))", text);
  EVAL(expr, "305");
  memset(text, '0', 300); /* 000…0012: leading zeros past any fixed buffer */
  memcpy(text + 298, "12", 2);
  snprintf(expr, sizeof expr, "CAST('%s' AS BIGINT)", text);
  EVAL(expr, "12");
  snprintf(expr, sizeof expr, "CAST('%s' AS DOUBLE)", text);
  EVAL(expr, "12.0");
  text[0] = '1'; /* 1 and 299 more digits */
  snprintf(expr, sizeof expr, "CAST('%s' AS DOUBLE)", text);
  EVAL(expr, "1.0E299");
  memset(text, '1', 300); /* digits, then something that is no number far to the right */
  text[250] = 'x';
  snprintf(expr, sizeof expr, "CAST('%s' AS DOUBLE)", text);
  EVAL(expr, "null");
  memset(text, '0', 300);
  text[250] = 'x';
  snprintf(expr, sizeof expr, "CAST('%s' AS INT)", text);
  EVAL(expr, "null");
  ql_engine_free(e);
}
END_TEST

/* ---- /ksql statements ------------------------------------------------------------------ */
START_TEST(ddl_entities) {
  ql_engine *e = new_engine(0);
  char *r = ts_execute(e, "CREATE STREAM s1 (id VARCHAR KEY, v DOUBLE, \"lower\" STRING) WITH "
                          "(kafka_topic='t1', value_format='json', partitions=3);");
  ck_assert_str_eq(r,
                   "[{\"@type\":\"currentStatus\",\"statementText\":\"CREATE STREAM s1 (id "
                   "VARCHAR KEY, v DOUBLE, \\\"lower\\\" STRING) WITH (kafka_topic='t1', "
                   "value_format='json', partitions=3);\",\"commandId\":\"stream/`S1`/create\","
                   "\"commandStatus\":{\"status\":\"SUCCESS\",\"message\":\"Stream created\","
                   "\"queryId\":null},\"commandSequenceNumber\":1,\"warnings\":[]}]");
  free(r);
  r = ts_execute(e, "CREATE STREAM s1 (v DOUBLE) WITH (KAFKA_TOPIC='t1');");
  ck_assert_str_eq(r, "ERR 40001: Cannot add stream 'S1': A stream with the same name already "
                      "exists");
  free(r);
  r = ts_execute(e, "CREATE STREAM IF NOT EXISTS s1 (v DOUBLE) WITH (KAFKA_TOPIC='t1');");
  ck_assert(strstr(r, "\"status\":\"SUCCESS\"") && strstr(r, "already exists"));
  free(r);
  r = ts_execute(e, "DESCRIBE s1;");
  ck_assert_str_eq(
      r,
      "[{\"@type\":\"sourceDescription\",\"statementText\":\"DESCRIBE s1;\","
      "\"sourceDescription\":{\"name\":\"S1\",\"windowType\":null,\"readQueries\":[],"
      "\"writeQueries\":[],\"fields\":[{\"name\":\"ID\",\"schema\":{\"type\":\"STRING\","
      "\"fields\":null,\"memberSchema\":null},\"type\":\"KEY\"},{\"name\":\"V\",\"schema\":{"
      "\"type\":\"DOUBLE\",\"fields\":null,\"memberSchema\":null}},{\"name\":\"lower\","
      "\"schema\":{\"type\":\"STRING\",\"fields\":null,\"memberSchema\":null}}],\"type\":"
      "\"STREAM\",\"timestamp\":\"\",\"statistics\":\"\",\"errorStats\":\"\",\"extended\":"
      "false,\"keyFormat\":\"KAFKA\",\"valueFormat\":\"JSON\",\"topic\":\"t1\",\"partitions\":"
      "3,\"replication\":1,\"sourceConstraints\":[],\"clusterStatistics\":[],"
      "\"clusterErrorStats\":[]},\"warnings\":[]}]");
  free(r);
  r = ts_execute(e, "DESCRIBE nope;");
  ck_assert_str_eq(r, "ERR 40001: Could not find STREAM/TABLE 'NOPE' in the Metastore");
  free(r);
  r = ts_execute(e, "SHOW TABLES;");
  ck_assert_str_eq(r, "[{\"@type\":\"tables\",\"statementText\":\"SHOW TABLES;\",\"tables\":[],"
                      "\"warnings\":[]}]");
  free(r);
  r = ts_execute(e, "SELECT * FROM s1 EMIT CHANGES;");
  ck_assert_str_eq(r, "ERR 40002: The following statement types should be issued to the "
                      "websocket endpoint '/query':\n\t* PRINT\n\t* SELECT");
  free(r);
  /* queries: ad hoc ones are PUSH, named ones PERSISTENT and block DROP */
  ts_rows a = {0}, b = {0};
  ql_query *qa = start(e, "SELECT v FROM s1 EMIT CHANGES;", &a);
  ql_error err = {0};
  ql_query_opts named = {.name = "ACCEL"};
  ql_query *qb = ql_query_start(e, "SELECT v FROM s1 EMIT CHANGES;", &named, ts_on_row,
                                ts_on_end, &b, &err);
  ck_assert_ptr_nonnull(qb);
  ck_assert_str_eq(ql_query_id(qb), "ACCEL");
  ck_assert_ptr_null(ql_query_start(e, "SELECT v FROM s1 EMIT CHANGES;", &named, ts_on_row,
                                    ts_on_end, &b, &err));
  ck_assert_str_eq(err.message, "Query ID 'ACCEL' already exists.");
  r = ts_execute(e, "SHOW QUERIES;");
  char expect[1024];
  snprintf(
      expect, sizeof expect,
      "[{\"@type\":\"queries\",\"statementText\":\"SHOW QUERIES;\",\"queries\":[{"
      "\"queryString\":\"SELECT v FROM s1 EMIT CHANGES;\",\"sinks\":[],\"sinkKafkaTopics\":"
      "[],\"id\":\"ACCEL\",\"statusCount\":{\"RUNNING\":1},\"queryType\":\"PERSISTENT\","
      "\"state\":\"RUNNING\"},{\"queryString\":\"SELECT v FROM s1 EMIT CHANGES;\",\"sinks\":"
      "[],\"sinkKafkaTopics\":[],\"id\":\"%s\",\"statusCount\":{\"RUNNING\":1},"
      "\"queryType\":\"PUSH\",\"state\":\"RUNNING\"}],\"warnings\":[]}]",
      ql_query_id(qa));
  ck_assert_str_eq(r, expect);
  free(r);
  r = ts_execute(e, "DROP STREAM s1;");
  ck_assert_str_eq(r,
                   "ERR 40001: Cannot drop S1.\nThe following queries read from this source: "
                   "[ACCEL].\nYou need to terminate them before dropping S1.");
  free(r);
  r = ts_execute(e, "TERMINATE accel;");
  ck_assert(strstr(r, "\"commandId\":\"terminate/ACCEL/execute\"") &&
            strstr(r, "\"Query terminated.\""));
  free(r);
  ck_assert_int_eq(b.ended, 1);
  r = ts_execute(e, "TERMINATE accel;");
  ck_assert_str_eq(r, "ERR 40001: Unknown queryId: accel");
  free(r);
  r = ts_execute(e, "DROP STREAM s1 DELETE TOPIC; DROP STREAM IF EXISTS s1;");
  ck_assert(strstr(r, "\"message\":\"Source `S1` (topic: t1) was dropped.\"") &&
            strstr(r, "\"message\":\"Source `S1` does not exist.\""));
  free(r);
  ck_assert_int_eq(a.ended, 1); /* the push query on the dropped stream ended */
  ck_assert_str_eq(a.reason, "Query Completed");
  r = ts_execute(e, "DROP STREAM s1;");
  ck_assert_str_eq(r, "ERR 40001: Source S1 does not exist.");
  free(r);
  r = ts_execute(e, "SHOW STREAMS; ;");
  ck_assert_str_eq(r,
                   "[{\"@type\":\"streams\",\"statementText\":\"SHOW STREAMS;\",\"streams\":[],"
                   "\"warnings\":[]}]");
  free(r);
  r = ts_execute(e, "  ");
  ck_assert_str_eq(r, "[]");
  free(r);
  ql_query_stop(qa);
  ql_query_stop(qb);
  ts_rows_free(&a);
  ts_rows_free(&b);
  ql_engine_free(e);
}
END_TEST

START_TEST(push_query_limit_40003) {
  ql_limits l = {.max_push_queries = 2};
  ql_engine *e = ql_engine_new(&l);
  free(ts_execute(e, "CREATE STREAM s (v INT) WITH (KAFKA_TOPIC='t');"));
  ts_rows r = {0};
  ql_query *a = start(e, "SELECT v FROM s EMIT CHANGES;", &r);
  ql_query *b = start(e, "SELECT v FROM s EMIT CHANGES;", &r);
  ck_assert_str_eq(
      start_error(e, "SELECT v FROM s EMIT CHANGES;"),
      "40003: Not executing query as it would cause the number of active push "
      "queries to exceed the configured limit. Terminate existing push queries, or "
      "increase the limit of push queries. Current push query count: 2. Configured "
      "limit: 2.");
  /* named queries do not count against the ad-hoc limit */
  ql_error err = {0};
  ql_query_opts named = {.name = "n1"};
  ql_query *n =
      ql_query_start(e, "SELECT v FROM s EMIT CHANGES;", &named, ts_on_row, NULL, &r, &err);
  ck_assert_ptr_nonnull(n);
  ql_query_stop(a);
  ql_query *c = start(e, "SELECT v FROM s EMIT CHANGES;", &r);
  ql_query_stop(b);
  ql_query_stop(c);
  ql_query_stop(n);
  ql_engine_free(e);
}
END_TEST

/* ---- Records into stream rows ------------------------------------------------------------ */
START_TEST(deserialization) {
  ql_engine *e = typed_engine();
  ts_rows rows = {0};
  ql_query *q = start(e, "SELECT s, i, b, d, f, ts FROM t EMIT CHANGES;", &rows);
  ts_record r;
  /* field names match case-insensitively; missing fields are NULL */
  ts_record_init(&r, 5000000);
  ts_field_str(&r, "S", "x");
  ts_field_int(&r, "I", 1);
  ql_engine_ingest(e, "t", &r.view);
  /* coercions ksqlDB's JSON reader makes */
  ts_record_init(&r, 5000000);
  ts_field_int(&r, "s", 12);
  ts_field_str(&r, "i", "42");
  ts_field_double(&r, "b", 3.9);
  ts_field_int(&r, "d", 2);
  ts_field_str(&r, "f", "TRUE");
  ts_field_int(&r, "ts", 1000);
  ql_engine_ingest(e, "t", &r.view);
  /* wrong types: NULL, each one counted */
  ts_record_init(&r, 5000000);
  ts_field_bool(&r, "i", 1);
  ts_field_str(&r, "b", "abc");
  ts_field_bool(&r, "d", 0);
  ts_field_int(&r, "f", 1);
  ts_field_str(&r, "ts", "yesterday");
  ts_field_str(&r, "s", "ok");
  ql_engine_ingest(e, "t", &r.view);
  /* out of INTEGER range */
  ts_record_init(&r, 5000000);
  ts_field_int(&r, "i", 3000000000LL);
  ts_field_double(&r, "d", 1.5);
  ts_field_str(&r, "extra", "ignored");
  ql_engine_ingest(e, "t", &r.view);
  /* another topic: not this stream */
  ql_engine_ingest(e, "other", &r.view);
  /* numbers as text of any length (leading zeros, a long decimal) */
  char long_int[64], long_double[128];
  memset(long_int, '0', 40);
  strcpy(long_int + 40, "42");
  strcpy(long_double, "2.5");
  memset(long_double + 3, '0', 100);
  long_double[103] = 0;
  ts_record_init(&r, 5000000);
  ts_field_str(&r, "i", long_int);
  ts_field_str(&r, "d", long_double);
  ql_engine_ingest(e, "t", &r.view);
  ck_assert_int_eq(rows.count, 5);
  ck_assert_str_eq(rows.lines[4], "[null,42,null,2.5,null,null]");
  ck_assert_str_eq(rows.lines[0], "[\"x\",1,null,null,null,null]");
  ck_assert_str_eq(rows.lines[1], "[\"12\",42,3,2.0,true,1000]");
  ck_assert_str_eq(rows.lines[2], "[\"ok\",null,null,null,null,null]");
  ck_assert_str_eq(rows.lines[3], "[null,null,null,1.5,null,null]");
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.deserialization_errors, 6);
  ck_assert_int_eq(st.records_in, 6);
  char *d = ts_execute(e, "DESCRIBE EXTENDED t;");
  ck_assert_msg(strstr(d, "\"statistics\":\"total-messages: 5, retained-messages: 0\"") &&
                    strstr(d, "\"errorStats\":\"deserialization-errors: 6\""),
                "%s", d);
  free(d);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

/* Records of different shapes alternate (as sensors do); the layout cache keeps them apart. */
START_TEST(layout_cache_shapes) {
  ql_engine *e = sensor_engine(0);
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT name, values_x, deviceId FROM smartphone_sensor_stream EMIT "
                      "CHANGES;",
                      &rows);
  for (int k = 0; k < 40; k++) {
    ts_record r;
    ts_record_init(&r, 1000000 * (k + 1));
    ts_field_str(&r, "name", k % 2 ? "a" : "b");
    if (k % 2)
      ts_field_double(&r, "values_x", k);
    else
      ts_field_double(&r, "values_qx", k); /* same field count, another name */
    ts_field_str(&r, "deviceId", k % 3 ? "d" : "e");
    if (k % 5 == 0) ts_field_int(&r, "shape_extra", k);
    ql_engine_ingest(e, NULL, &r.view);
  }
  ck_assert_int_eq(rows.count, 40);
  for (int k = 0; k < 40; k++) {
    char want[64];
    if (k % 2)
      snprintf(want, sizeof want, "[\"a\",%d.0,\"%s\"]", k, k % 3 ? "d" : "e");
    else
      snprintf(want, sizeof want, "[\"b\",null,\"%s\"]", k % 3 ? "d" : "e");
    ck_assert_str_eq(rows.lines[k], want);
  }
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(quoted_identifiers_and_keys) {
  ql_engine *e = new_engine(0);
  free(ts_execute(e, "CREATE STREAM `Quoted` (`lower` VARCHAR, \"Mixed\" INT, ID STRING KEY) "
                     "WITH (KAFKA_TOPIC='q');"));
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT `lower`, \"Mixed\" AS `m`, id, `lower` = 'a' FROM `Quoted` EMIT "
                      "CHANGES;",
                      &rows);
  ck_assert_str_eq(ql_query_column_name(q, 0), "lower");
  ck_assert_str_eq(ql_query_column_name(q, 1), "m");
  ck_assert_str_eq(ql_query_column_name(q, 2), "ID");
  ck_assert_str_eq(ql_query_column_name(q, 3), "KSQL_COL_0");
  ck_assert_str_eq(ql_query_source(q), "Quoted");
  ck_assert(strncmp(ql_query_id(q), "transient_Quoted_", 17) == 0);
  ts_record r;
  ts_record_init(&r, 1);
  r.view.key = "dev-1";
  r.view.key_len = 5;
  ts_field_str(&r, "LOWER", "a");
  ts_field_int(&r, "mixed", 3);
  ts_field_str(&r, "id", "from-value-ignored");
  ql_engine_ingest(e, "q", &r.view);
  ck_assert_int_eq(rows.count, 1);
  ck_assert_str_eq(rows.lines[0], "[\"a\",3,\"dev-1\",true]");
  ck_assert_str_eq(start_error(e, "SELECT lower FROM `Quoted` EMIT CHANGES;"),
                   "40001: Line: 1, Col: 8: SELECT column 'LOWER' cannot be resolved.");
  ck_assert_str_eq(start_error(e, "SELECT * FROM quoted EMIT CHANGES;"),
                   "40001: Line: 1, Col: 15: QUOTED does not exist.");
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

/* ---- Windows: boundaries, hopping overlap, late rows, grace, emit interval ----------------
 */
static ql_engine *window_engine(int64_t emit_interval_ns, int64_t grace_ns) {
  ql_limits l = {.max_push_queries = 100,
                 .emit_interval_ns = emit_interval_ns,
                 .grace_ns = grace_ns,
                 .default_topic = "smartphone-sensor-data"};
  ql_engine *e = ql_engine_new(&l);
  free(ts_execute(e, sensor_ddl));
  return e;
}

#define MS 1000000LL

START_TEST(window_tumbling_boundaries) {
  ql_engine *e = window_engine(0, 0);
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, COUNT(*) AS n, SUM(values_x) AS sx, AVG(values_x), "
                      "MIN(values_x), MAX(values_x), LATEST_BY_OFFSET(name), "
                      "EARLIEST_BY_OFFSET(name), WINDOWSTART, WINDOWEND FROM "
                      "smartphone_sensor_stream WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY "
                      "deviceId EMIT CHANGES;",
                      &rows);
  ck_assert_str_eq(ql_query_column_name(q, 1), "N");
  ck_assert_str_eq(ql_query_column_type(q, 1), "BIGINT");
  ck_assert_str_eq(ql_query_column_name(q, 3), "KSQL_COL_0");
  ck_assert_str_eq(ql_query_column_type(q, 3), "DOUBLE");
  ck_assert_str_eq(ql_query_column_name(q, 8), "WINDOWSTART");
  reading(e, 1000 * MS, "a", "d1", 1.0);  /* first instant of [1000,2000) */
  reading(e, 1999 * MS, "b", "d1", 3.0);  /* last instant of it */
  reading(e, 2000 * MS, "c", "d1", 10.0); /* the next window */
  reading(e, 2500 * MS, "d", "d2", 5.0);  /* another key */
  ck_assert_int_eq(rows.count, 4);
  ck_assert_str_eq(rows.lines[0], "[\"d1\",1,1.0,1.0,1.0,1.0,\"a\",\"a\",1000,2000]");
  ck_assert_str_eq(rows.lines[1], "[\"d1\",2,4.0,2.0,1.0,3.0,\"b\",\"a\",1000,2000]");
  ck_assert_str_eq(rows.lines[2], "[\"d1\",1,10.0,10.0,10.0,10.0,\"c\",\"c\",2000,3000]");
  ck_assert_str_eq(rows.lines[3], "[\"d2\",1,5.0,5.0,5.0,5.0,\"d\",\"d\",2000,3000]");
  ck_assert_int_eq(rows.rowtime_ns[1], 1999 * MS);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(window_hopping_overlap) {
  ql_engine *e = window_engine(0, 0);
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, COUNT(*), WINDOWSTART AS ws, WINDOWEND AS we FROM "
                      "smartphone_sensor_stream WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 "
                      "SECONDS, GRACE PERIOD 1 SECOND) GROUP BY deviceId EMIT CHANGES;",
                      &rows);
  reading(e, 7000 * MS, "a", "d1", 1);  /* in [0,10) and [5,15) */
  reading(e, 10000 * MS, "a", "d1", 1); /* in [5,15) and [10,20) */
  reading(e, 4999 * MS, "a", "d1", 1);  /* [0,10) is in grace; [-5,5) closed at 6 s */
  ck_assert_int_eq(rows.count, 5);
  ck_assert_str_eq(rows.lines[0], "[\"d1\",1,0,10000]");
  ck_assert_str_eq(rows.lines[1], "[\"d1\",1,5000,15000]");
  ck_assert_str_eq(rows.lines[2], "[\"d1\",2,5000,15000]");
  ck_assert_str_eq(rows.lines[3], "[\"d1\",1,10000,20000]");
  ck_assert_str_eq(rows.lines[4], "[\"d1\",2,0,10000]");
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.late_records, 1);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(window_late_rows_and_grace) {
  ql_engine *e = window_engine(0, 0);
  ts_rows rows = {0}, g = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, COUNT(*), WINDOWSTART FROM smartphone_sensor_stream "
                      "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY deviceId EMIT CHANGES;",
                      &rows);
  ql_query *qg = start(e,
                       "SELECT deviceId, COUNT(*), WINDOWSTART FROM smartphone_sensor_stream "
                       "WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 2 SECONDS) GROUP BY "
                       "deviceId EMIT CHANGES;",
                       &g);
  reading(e, 500 * MS, "a", "d1", 1);
  reading(e, 1000 * MS, "a", "d1", 1); /* stream time 1000: [0,1000) closes without grace */
  reading(e, 999 * MS, "a", "d1", 1);  /* late for no grace; within the 2 s grace */
  reading(e, 3000 * MS, "a", "d1", 1); /* stream time 3000: [0,1000) closes with grace too */
  reading(e, 998 * MS, "a", "d1", 1);  /* late for both */
  reading(e, 2999 * MS, "a", "d1", 1); /* [2000,3000) closed at 3000 without grace */
  ck_assert_int_eq(rows.count, 3);
  ck_assert_str_eq(rows.lines[0], "[\"d1\",1,0]");
  ck_assert_str_eq(rows.lines[1], "[\"d1\",1,1000]");
  ck_assert_str_eq(rows.lines[2], "[\"d1\",1,3000]");
  ck_assert_int_eq(g.count, 5);
  ck_assert_str_eq(g.lines[0], "[\"d1\",1,0]");
  ck_assert_str_eq(g.lines[1], "[\"d1\",1,1000]");
  ck_assert_str_eq(g.lines[2], "[\"d1\",2,0]");
  ck_assert_str_eq(g.lines[3], "[\"d1\",1,3000]");
  ck_assert_str_eq(g.lines[4], "[\"d1\",1,2000]");
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.late_records, 4); /* 999, 998, 2999 without grace; 998 with it */
  ql_query_stop(q);
  ql_query_stop(qg);
  ts_rows_free(&rows);
  ts_rows_free(&g);
  ql_engine_free(e);
}
END_TEST

START_TEST(window_emit_interval_having_groupby) {
  ql_engine *e = window_engine(1000 * MS, 60000 * MS);
  ts_rows rows = {0}, plain = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, COUNT(*) AS n, AVG(values_x) * 2 AS ax2 FROM "
                      "smartphone_sensor_stream WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY "
                      "deviceId HAVING COUNT(*) >= 2 EMIT CHANGES;",
                      &rows);
  ql_query *p = start(e,
                      "SELECT UCASE(name) AS nm, COUNT(*) FROM smartphone_sensor_stream GROUP "
                      "BY UCASE(name) EMIT CHANGES;",
                      &plain);
  reading(e, 1000 * MS, "a", "d1", 1);
  reading(e, 2000 * MS, "a", "d1", 2);
  reading(e, 3000 * MS, "b", "d1", 3);
  reading(e, 3000 * MS, "b", "d2", 3);
  ck_assert_int_eq(rows.count, 0); /* nothing before the emit interval */
  ql_engine_tick(e, 5000 * MS);
  ck_assert_int_eq(rows.count, 1); /* d2 has one row: HAVING filters it */
  ck_assert_str_eq(rows.lines[0], "[\"d1\",3,4.0]");
  ck_assert_int_eq(plain.count, 2);
  ck_assert_str_eq(plain.lines[0], "[\"A\",2]");
  ck_assert_str_eq(plain.lines[1], "[\"B\",2]");
  reading(e, 4000 * MS, "a", "d1", 6);
  ql_engine_tick(e, 5500 * MS); /* interval not yet over */
  ck_assert_int_eq(rows.count, 1);
  ql_engine_tick(e, 6000 * MS);
  ck_assert_int_eq(rows.count, 2);
  ck_assert_str_eq(rows.lines[1], "[\"d1\",4,6.0]");
  ql_engine_tick(e, 9000 * MS); /* nothing changed: nothing sent */
  ck_assert_int_eq(rows.count, 2);
  ql_query_stop(q);
  ql_query_stop(p);
  ts_rows_free(&rows);
  ts_rows_free(&plain);
  ql_engine_free(e);
}
END_TEST

/* ---- Retention and earliest ------------------------------------------------------------ */
static int notified;
static void on_notify(void *ctx) {
  (void)ctx;
  notified++;
}

START_TEST(retention_earliest_and_pull) {
  ql_limits l = {.max_push_queries = 10,
                 .retain_records = 3,
                 .retain_age_ns = 10000 * MS,
                 .now_wall_ns = fake_wall};
  ql_engine *e = ql_engine_new(&l);
  ql_engine_set_notify(e, on_notify, NULL);
  free(ts_execute(e, sensor_ddl));
  for (int k = 1; k <= 5; k++) reading(e, k * 1000 * MS, "a", "d", k);
  ts_rows rows = {0}, pull = {0}, latest = {0};
  ql_error err = {0};
  ql_query_opts earliest = {.earliest = 1, .ad_hoc = 1};
  notified = 0;
  ql_query *q = ql_query_start(e, "SELECT values_x FROM smartphone_sensor_stream EMIT CHANGES;",
                               &earliest, ts_on_row, ts_on_end, &rows, &err);
  ck_assert_ptr_nonnull(q);
  ql_query *l2 =
      start(e, "SELECT values_x FROM smartphone_sensor_stream EMIT CHANGES;", &latest);
  ck_assert_int_eq(notified, 1);
  ck_assert_int_eq(rows.count, 0); /* never from inside ql_query_start */
  ql_engine_tick(e, 6000 * MS);
  ck_assert_int_eq(rows.count, 3);
  ck_assert_str_eq(rows.lines[0], "[3.0]");
  ck_assert_str_eq(rows.lines[2], "[5.0]");
  reading(e, 6000 * MS, "a", "d", 6);
  ck_assert_int_eq(rows.count, 4);
  ck_assert_str_eq(rows.lines[3], "[6.0]");
  ck_assert_int_eq(latest.count, 1);
  /* a pull query (no EMIT CHANGES) replays what is retained and ends */
  ql_query *p =
      start(e, "SELECT values_x FROM smartphone_sensor_stream WHERE values_x > 4;", &pull);
  ck_assert(ql_query_is_pull(p));
  ck_assert_str_eq(ql_query_sql(p), "SELECT values_x FROM smartphone_sensor_stream WHERE "
                                    "values_x > 4;");
  reading(e, 7000 * MS, "a", "d", 7); /* replay happens first, live rows are not its business */
  ck_assert_int_eq(pull.count, 2);
  ck_assert_str_eq(pull.lines[0], "[5.0]");
  ck_assert_str_eq(pull.lines[1], "[6.0]");
  ck_assert_int_eq(pull.ended, 1);
  ck_assert_str_eq(pull.reason, "Query Completed");
  /* earliest replay started before a live record arrives: replay first, then live */
  ts_rows r2 = {0};
  ql_query *q2 =
      ql_query_start(e, "SELECT values_x FROM smartphone_sensor_stream EMIT CHANGES;",
                     &earliest, ts_on_row, ts_on_end, &r2, &err);
  reading(e, 8000 * MS, "a", "d", 8);
  ck_assert_int_eq(r2.count, 4);
  ck_assert_str_eq(r2.lines[0], "[5.0]");
  ck_assert_str_eq(r2.lines[3], "[8.0]");
  /* age: everything older than now - 10 s goes */
  ql_engine_tick(e, 16500 * MS);
  ts_rows r3 = {0};
  ql_query *q3 =
      ql_query_start(e, "SELECT values_x FROM smartphone_sensor_stream EMIT CHANGES;",
                     &earliest, ts_on_row, ts_on_end, &r3, &err);
  ql_engine_tick(e, 16500 * MS);
  ck_assert_int_eq(r3.count, 2);
  ck_assert_str_eq(r3.lines[0], "[7.0]");
  /* LIMIT 0 ends without rows */
  ts_rows z = {0};
  ql_query *qz =
      start(e, "SELECT values_x FROM smartphone_sensor_stream EMIT CHANGES LIMIT 0;", &z);
  ql_engine_tick(e, 16500 * MS);
  ck_assert_int_eq(z.count, 0);
  ck_assert_str_eq(z.reason, "Limit Reached");
  ql_query_stop(q);
  ql_query_stop(q2);
  ql_query_stop(q3);
  ql_query_stop(qz);
  ql_query_stop(l2);
  ql_query_stop(p);
  ts_rows_free(&rows);
  ts_rows_free(&latest);
  ts_rows_free(&pull);
  ts_rows_free(&r2);
  ts_rows_free(&r3);
  ts_rows_free(&z);
  ql_engine_free(e);
}
END_TEST

START_TEST(retention_bytes) {
  ql_limits l = {.retain_records = 100, .retain_bytes = 8 * 24 * 3 + 30};
  ql_engine *e = ql_engine_new(&l);
  free(ts_execute(e, sensor_ddl));
  for (int k = 1; k <= 10; k++) reading(e, k * MS, "abc", "d", k); /* 8 cols + 8 string bytes */
  ts_rows rows = {0};
  ql_query *p = start(e, "SELECT values_x FROM smartphone_sensor_stream;", &rows);
  ql_engine_tick(e, 0);
  ck_assert_int_eq(rows.count, 3);
  ck_assert_str_eq(rows.lines[0], "[8.0]");
  ql_query_stop(p);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

/* ---- The original project's query over the sample payloads ----------------------------------
 */
static size_t ingest_file(ql_engine *e, const char *file) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", SAMPLES_DIR, file);
  ts_record *recs;
  size_t n = ts_load_samples(path, &recs);
  ck_assert_msg(n > 0, "no records in %s", path);
  for (size_t k = 0; k < n; k++) ql_engine_ingest(e, NULL, &recs[k].view);
  free(recs);
  return n;
}

START_TEST(samples_original_query) {
  ql_engine *e = sensor_engine(0);
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, time, values_x, values_y, values_z FROM "
                      "smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT "
                      "CHANGES;",
                      &rows);
  ck_assert_int_eq(ingest_file(e, "android-calibrated-1s.json"), 250);
  ck_assert_int_eq(rows.count, 0); /* calibrated sensors only */
  ck_assert_int_eq(ingest_file(e, "ios-uncalibrated-1s.json"), 300);
  ingest_file(e, "mixed-sensors.json");
  ingest_file(e, "test-push.json");
  ck_assert_int_eq(rows.count, 100);
  ck_assert_str_eq(rows.lines[0],
                   "[\"cd613e30-d8f1-4adf-91b7-584a2265b1f5\",1732435201000000103,"
                   "-0.032632366764043644,-0.29193691135292843,"
                   "-1.1054725361833504]");
  ck_assert_str_eq(rows.lines[99],
                   "[\"cd613e30-d8f1-4adf-91b7-584a2265b1f5\",1732435201990000955,"
                   "0.058301422656555774,-0.24943196263739048,"
                   "-0.9788533561302231]");
  ck_assert_int_eq(rows.rowtime_ns[0], 1732435201000000000LL);
  /* every row equals the reading it came from */
  char path[512];
  snprintf(path, sizeof path, "%s/ios-uncalibrated-1s.json", SAMPLES_DIR);
  ts_record *recs;
  size_t n = ts_load_samples(path, &recs), j = 0;
  for (size_t k = 0; k < n; k++) {
    const sd_field *f = recs[k].view.fields;
    if (strcmp(f[0].value.as.s.ptr, "accelerometeruncalibrated")) continue;
    sd_value want[5];
    for (size_t i = 0; i < recs[k].view.field_count; i++) {
      const char *nm = f[i].name;
      int slot = !strcmp(nm, "deviceId")   ? 0
                 : !strcmp(nm, "time")     ? 1
                 : !strcmp(nm, "values_x") ? 2
                 : !strcmp(nm, "values_y") ? 3
                 : !strcmp(nm, "values_z") ? 4
                                           : -1;
      if (slot >= 0) want[slot] = f[i].value;
    }
    char *w = ts_render(want, 5);
    ck_assert_str_eq(rows.lines[j++], w);
    free(w);
  }
  ck_assert_int_eq(j, 100);
  free(recs);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

START_TEST(samples_windowed_avg_per_device) {
  ql_engine *e = window_engine(100 * MS, 0);
  free(ts_execute(e, "SHOW STREAMS;"));
  ts_rows rows = {0};
  ql_query *q = start(e,
                      "SELECT deviceId, AVG(values_x) AS ax, COUNT(*) AS n, WINDOWSTART AS ws "
                      "FROM smartphone_sensor_stream WINDOW TUMBLING (SIZE 1 SECONDS) WHERE "
                      "name = 'accelerometeruncalibrated' GROUP BY deviceId EMIT CHANGES;",
                      &rows);
  ingest_file(e, "ios-uncalibrated-1s.json");
  ingest_file(e, "large-batch-5s.json");
  ql_engine_tick(e, 1 * 1000 * MS); /* flush what is still open */
  /* windows closed as stream time passed them, each flushed once with its final value */
  static const char *const want[] = {
      "[\"cd613e30-d8f1-4adf-91b7-584a2265b1f5\",0.02210051919080875,100,1732435201000]",
      "[\"1e2feb89-414c-443c-9027-c4d1c386bbc4\",0.22875232182868932,100,1732435202000]",
      "[\"1e2feb89-414c-443c-9027-c4d1c386bbc4\",0.14306272425379313,100,1732435203000]",
      "[\"1e2feb89-414c-443c-9027-c4d1c386bbc4\",0.21973128905337197,100,1732435204000]",
      "[\"1e2feb89-414c-443c-9027-c4d1c386bbc4\",0.19455657345638447,100,1732435205000]",
      "[\"1e2feb89-414c-443c-9027-c4d1c386bbc4\",0.23874351448369935,100,1732435206000]"};
  ck_assert_int_eq(rows.count, 6);
  for (size_t k = 0; k < 6; k++) ck_assert_str_eq(rows.lines[k], want[k]);
  ql_query_stop(q);
  ts_rows_free(&rows);
  ql_engine_free(e);
}
END_TEST

/* ---- Lifecycle: leaks, threads ---------------------------------------------------------- */
START_TEST(start_stop_1000_queries) {
  ql_limits l = {.max_push_queries = 2000, .retain_records = 64, .emit_interval_ns = 50 * MS};
  ql_engine *e = ql_engine_new(&l);
  free(ts_execute(e, sensor_ddl));
  static const char *const sqls[] = {
      "SELECT deviceId, values_x FROM smartphone_sensor_stream WHERE name = 'a' EMIT CHANGES;",
      "SELECT UCASE(deviceId), CONCAT(name, '-', deviceId) FROM smartphone_sensor_stream EMIT "
      "CHANGES LIMIT 3;",
      "SELECT deviceId, AVG(values_x), LATEST_BY_OFFSET(name) FROM smartphone_sensor_stream "
      "WINDOW HOPPING (SIZE 2 SECONDS, ADVANCE BY 1 SECOND) GROUP BY deviceId EMIT CHANGES;",
      "SELECT name, COUNT(*) FROM smartphone_sensor_stream GROUP BY name EMIT CHANGES;",
      "SELECT * FROM smartphone_sensor_stream;"};
  ql_query *live[50] = {0};
  ts_rows rows = {0};
  for (int k = 0; k < 1000; k++) {
    ql_error err = {0};
    ql_query_opts o = {.ad_hoc = 1, .earliest = k % 3 == 0};
    int slot = k % 50;
    if (live[slot]) ql_query_stop(live[slot]);
    live[slot] = ql_query_start(e, sqls[k % 5], &o, ts_on_row, ts_on_end, &rows, &err);
    ck_assert_msg(live[slot] != NULL, "%s", err.message);
    char dev[16];
    snprintf(dev, sizeof dev, "d%d", k % 7);
    reading(e, (int64_t)k * 100 * MS, k % 2 ? "a" : "b", dev, k);
    if (k % 10 == 0) ql_engine_tick(e, (int64_t)k * 100 * MS);
    if (k % 200 == 0) {
      ts_rows_free(&rows);
    }
  }
  for (int k = 0; k < 50; k++) ql_query_stop(live[k]);
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.queries_running, 0);
  ck_assert_int_eq(st.queries_started, 1000);
  ts_rows_free(&rows);
  /* a failed start leaves nothing behind either */
  for (int k = 0; k < 100; k++) ck_assert_ptr_nonnull(start_error(e, "SELECT nope FROM nope;"));
  ql_engine_free(e);
}
END_TEST

static void count_row(void *ctx, const sd_value *v, size_t n, int64_t t) {
  (void)v, (void)n, (void)t;
  __atomic_add_fetch((long *)ctx, 1, __ATOMIC_RELAXED);
}

static void *ingest_thread(void *arg) {
  ql_engine *e = arg;
  for (int k = 0; k < 20000; k++) reading(e, (int64_t)k * MS, k % 2 ? "a" : "b", "d", k);
  return NULL;
}

START_TEST(threads_ingest_while_start_stop) {
  ql_limits l = {.max_push_queries = 100, .retain_records = 16};
  ql_engine *e = ql_engine_new(&l);
  free(ts_execute(e, sensor_ddl));
  pthread_t th;
  pthread_create(&th, NULL, ingest_thread, e);
  long counter = 0;
  for (int k = 0; k < 500; k++) {
    ql_error err = {0};
    ql_query_opts o = {.ad_hoc = 1, .earliest = k % 2};
    ql_query *q = ql_query_start(e,
                                 "SELECT values_x FROM smartphone_sensor_stream WHERE name = "
                                 "'a' EMIT CHANGES;",
                                 &o, count_row, NULL, &counter, &err);
    ck_assert_ptr_nonnull(q);
    if (k % 50 == 0) free(ts_execute(e, "SHOW QUERIES; DESCRIBE smartphone_sensor_stream;"));
    ql_query_stop(q);
  }
  pthread_join(th, NULL);
  ql_stats st;
  ql_engine_stats(e, &st);
  ck_assert_int_eq(st.records_in, 20000);
  ck_assert_int_eq(st.queries_running, 0);
  ql_engine_free(e);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("query_local_engine");
  TCase *tc = tcase_create("slice");
  tcase_add_test(tc, slice_filter_project_limit);
  tcase_add_test(tc, slice_show_streams);
  tcase_add_test(tc, slice_unknown_stream);
  tcase_add_test(tc, parser_errors);
  tcase_add_test(tc, parser_select_errors);
  tcase_add_test(tc, parser_good_statements);
  tcase_add_test(tc, eval_null_semantics);
  tcase_add_test(tc, eval_numbers);
  tcase_add_test(tc, eval_strings_and_functions);
  tcase_add_test(tc, eval_long_strings);
  tcase_add_test(tc, ddl_entities);
  tcase_add_test(tc, push_query_limit_40003);
  tcase_add_test(tc, deserialization);
  tcase_add_test(tc, layout_cache_shapes);
  tcase_add_test(tc, quoted_identifiers_and_keys);
  tcase_add_test(tc, window_tumbling_boundaries);
  tcase_add_test(tc, window_hopping_overlap);
  tcase_add_test(tc, window_late_rows_and_grace);
  tcase_add_test(tc, window_emit_interval_having_groupby);
  tcase_add_test(tc, retention_earliest_and_pull);
  tcase_add_test(tc, retention_bytes);
  tcase_add_test(tc, samples_original_query);
  tcase_add_test(tc, samples_windowed_avg_per_device);
  tcase_add_test(tc, start_stop_1000_queries);
  tcase_add_test(tc, threads_ingest_while_start_stop);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
