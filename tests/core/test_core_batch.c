/* Batches and schemas: every value type round-trips through the arena, views stay valid,
 * strings are copied, an emitted batch is frozen, schemas are refcounted. */
#include "batch.h"

#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

START_TEST(values_round_trip) {
  sd_batch *b = batch_new(NULL, 2);
  char key[] = "dev-1";
  ck_assert_int_eq(batch_record_begin(b, 123, key, 5), SD_OK);
  key[0] = 'X'; /* copied in: later changes do not show */
  sd_value v[5] = {{.type = SD_NULL},
                   {.type = SD_BOOL, .as.i = 7},
                   {.type = SD_INT, .as.i = INT64_MIN},
                   {.type = SD_DOUBLE, .as.d = 0.1},
                   {.type = SD_STRING, .as.s = {"a\0b", 3}}};
  const char *names[5] = {"n", "b", "i", "d", "s"};
  for (int i = 0; i < 5; i++) ck_assert_int_eq(batch_field(b, names[i], 1, &v[i]), SD_OK);
  ck_assert_int_eq(batch_record_begin(b, 456, NULL, 0), SD_OK);
  ck_assert_uint_eq(batch_count(b), 2);

  sd_record_view r;
  ck_assert_int_eq(batch_view(b, 0, &r), SD_OK);
  ck_assert_int_eq(r.timestamp_ns, 123);
  ck_assert_uint_eq(r.key_len, 5);
  ck_assert(memcmp(r.key, "dev-1", 5) == 0);
  ck_assert_uint_eq(r.field_count, 5);
  ck_assert_str_eq(r.fields[4].name, "s");
  ck_assert_uint_eq(r.fields[1].value.as.i, 1); /* bools are 0/1 */
  ck_assert(r.fields[2].value.as.i == INT64_MIN);
  ck_assert(r.fields[3].value.as.d == 0.1);
  ck_assert_uint_eq(r.fields[4].value.as.s.len, 3);
  ck_assert(memcmp(r.fields[4].value.as.s.ptr, "a\0b", 3) == 0);
  ck_assert_int_eq(batch_view(b, 1, &r), SD_OK);
  ck_assert_ptr_null(r.key);
  ck_assert_uint_eq(r.field_count, 0);
  ck_assert_int_eq(batch_view(b, 2, &r), SD_ERR);
  batch_destroy(b);
}
END_TEST

START_TEST(field_before_record_and_bad_type) {
  sd_batch *b = batch_new(NULL, 0);
  sd_value v = {.type = SD_INT, .as.i = 1};
  ck_assert_int_eq(batch_field(b, "x", 1, &v), SD_ERR);
  batch_record_begin(b, 0, NULL, 0);
  v.type = 99;
  ck_assert_int_eq(batch_field(b, "x", 1, &v), SD_ERR);
  batch_destroy(b);
}
END_TEST

START_TEST(large_strings_and_many_records) {
  sd_batch *b = batch_new(NULL, 0);
  size_t big = 100000;
  char *text = malloc(big);
  memset(text, 'q', big);
  for (int i = 0; i < 1000; i++) {
    batch_record_begin(b, i, "k", 1);
    sd_value v = {.type = SD_STRING, .as.s = {text, i % 10 == 0 ? big : 10}};
    ck_assert_int_eq(batch_field(b, "text", 4, &v), SD_OK);
  }
  free(text);
  sd_record_view r;
  batch_view(b, 990, &r);
  ck_assert_uint_eq(r.fields[0].value.as.s.len, big);
  ck_assert(r.fields[0].value.as.s.ptr[big - 1] == 'q');
  ck_assert_uint_gt(batch_bytes(b), 100 * big);
  batch_destroy(b);
}
END_TEST

START_TEST(emitted_batch_is_frozen) {
  sd_batch *b = batch_new(NULL, 1);
  batch_record_begin(b, 0, NULL, 0);
  atomic_store(&b->emitted, 1);
  sd_value v = {.type = SD_NULL};
  ck_assert_int_eq(batch_record_begin(b, 0, NULL, 0), SD_ERR);
  ck_assert_int_eq(batch_field(b, "x", 1, &v), SD_ERR);
  batch_destroy(b);
}
END_TEST

START_TEST(schema_refcount) {
  const char *cols[] = {"DEVICEID", "X"};
  const char *types[] = {"STRING", "DOUBLE"};
  sd_schema *s = schema_new("accel", 2, cols, types);
  sd_batch *b = batch_new(NULL, 0);
  batch_set_schema(b, s);
  schema_release(s); /* the batch keeps it alive */
  sd_schema_view sv;
  schema_view(b->schema, &sv);
  ck_assert_str_eq(sv.name, "accel");
  ck_assert_uint_eq(sv.column_count, 2);
  ck_assert_str_eq(sv.columns[1], "X");
  ck_assert_str_eq(sv.types[0], "STRING");
  batch_set_schema(b, NULL);
  batch_destroy(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("core_batch");
  TCase *tc = tcase_create("batch");
  tcase_add_test(tc, values_round_trip);
  tcase_add_test(tc, field_before_record_and_bad_type);
  tcase_add_test(tc, large_strings_and_many_records);
  tcase_add_test(tc, emitted_batch_is_frozen);
  tcase_add_test(tc, schema_refcount);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
