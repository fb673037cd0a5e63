/* Unit tests of source_http's body buffer: identity and gzip/deflate bodies, the size
 * limit applied to inflated bytes (zip bombs stop at limit + 1 bytes of memory), corrupt
 * and truncated streams, byte-at-a-time delivery and Content-Encoding parsing. */
#include "../../plugins/source_http/body.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Compresses src with a gzip (or zlib when !gzip) wrapper; caller frees. */
static unsigned char *compress_buf(const void *src, size_t len, int gzip, size_t *out_len) {
  z_stream z = {0};
  ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, gzip ? 31 : 15, 9, Z_DEFAULT_STRATEGY),
                   Z_OK);
  size_t cap = deflateBound(&z, len);
  unsigned char *out = malloc(cap);
  z.next_in = (Bytef *)(uintptr_t)src;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  *out_len = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

START_TEST(identity_within_limit) {
  body_buf b;
  body_init(&b, 10, BODY_IDENTITY, 10);
  ck_assert_int_eq(body_append(&b, "hello", 5), BODY_OK);
  ck_assert_int_eq(body_append(&b, "world", 5), BODY_OK);
  ck_assert_int_eq(body_finish(&b), BODY_OK);
  ck_assert_uint_eq(b.len, 10);
  ck_assert(memcmp(b.data, "helloworld", 10) == 0);
  ck_assert_uint_eq(b.wire_bytes, 10);
  body_free(&b);
}
END_TEST

START_TEST(identity_over_limit) {
  body_buf b;
  body_init(&b, 8, BODY_IDENTITY, 0);
  ck_assert_int_eq(body_append(&b, "hello", 5), BODY_OK);
  ck_assert_int_eq(body_append(&b, "world", 5), BODY_TOO_LARGE);
  ck_assert_uint_le(b.cap, 9);
  body_free(&b);
}
END_TEST

START_TEST(gzip_round_trip_byte_by_byte) {
  const char *text = "{\"messageId\":1,\"payload\":[]} repeated repeated repeated";
  for (int gzip = 0; gzip <= 1; gzip++) {
    size_t zlen;
    unsigned char *z = compress_buf(text, strlen(text), gzip, &zlen);
    body_buf b;
    body_init(&b, 1000, BODY_GZIP, zlen);
    for (size_t i = 0; i < zlen; i++)
      ck_assert_int_eq(body_append(&b, (char *)z + i, 1), BODY_OK);
    ck_assert_int_eq(body_finish(&b), BODY_OK);
    ck_assert_uint_eq(b.len, strlen(text));
    ck_assert(memcmp(b.data, text, b.len) == 0);
    ck_assert_uint_eq(b.wire_bytes, zlen);
    body_free(&b);
    free(z);
  }
}
END_TEST

START_TEST(gzip_larger_than_one_buffer) {
  size_t n = 200000;
  char *text = malloc(n);
  for (size_t i = 0; i < n; i++) text[i] = (char)('a' + (i * 7919) % 26);
  size_t zlen;
  unsigned char *z = compress_buf(text, n, 1, &zlen);
  body_buf b;
  body_init(&b, n, BODY_GZIP, zlen);
  ck_assert_int_eq(body_append(&b, (char *)z, zlen), BODY_OK);
  ck_assert_int_eq(body_finish(&b), BODY_OK);
  ck_assert_uint_eq(b.len, n);
  ck_assert(memcmp(b.data, text, n) == 0);
  body_free(&b);
  free(z);
  free(text);
}
END_TEST

START_TEST(gzip_bomb_stops_at_limit) {
  size_t n = 20u << 20; /* 20 MiB of zeros compress to ~20 KiB */
  char *zeros = calloc(1, n);
  size_t zlen;
  unsigned char *z = compress_buf(zeros, n, 1, &zlen);
  free(zeros);
  ck_assert_uint_lt(zlen, 100000);
  body_buf b;
  body_init(&b, 1u << 20, BODY_GZIP, zlen);
  body_status st = BODY_OK;
  for (size_t off = 0; off < zlen && st == BODY_OK; off += 4096)
    st = body_append(&b, (char *)z + off, zlen - off < 4096 ? zlen - off : 4096);
  ck_assert_int_eq(st, BODY_TOO_LARGE);
  ck_assert_uint_le(b.cap, (1u << 20) + 1);
  body_free(&b);
  free(z);
}
END_TEST

START_TEST(gzip_wire_bytes_over_limit) {
  body_buf b;
  body_init(&b, 1024, BODY_GZIP, 0);
  char junk[2048] = {0};
  ck_assert_int_eq(body_append(&b, junk, sizeof junk), BODY_TOO_LARGE);
  body_free(&b);
}
END_TEST

START_TEST(gzip_truncated_and_corrupt) {
  const char *text = "some body text some body text";
  size_t zlen;
  unsigned char *z = compress_buf(text, strlen(text), 1, &zlen);
  body_buf b;
  body_init(&b, 1000, BODY_GZIP, 0);
  ck_assert_int_eq(body_append(&b, (char *)z, zlen - 6), BODY_OK);
  ck_assert_int_eq(body_finish(&b), BODY_BAD_ENCODING);
  ck_assert_str_eq(b.why, "truncated compressed body");
  body_free(&b);

  body_init(&b, 1000, BODY_GZIP, 0);
  ck_assert_int_eq(body_append(&b, "not gzip at all", 15), BODY_BAD_ENCODING);
  ck_assert(b.why[0] != '\0');
  body_free(&b);

  body_init(&b, 1000, BODY_GZIP, 0);
  ck_assert_int_eq(body_finish(&b), BODY_BAD_ENCODING);
  ck_assert_str_eq(b.why, "empty compressed body");
  body_free(&b);
  free(z);
}
END_TEST

START_TEST(gzip_two_members_concatenate) {
  size_t l1, l2;
  unsigned char *z1 = compress_buf("[{\"a\":1}", 8, 1, &l1);
  unsigned char *z2 = compress_buf(",{\"b\":2}]", 9, 1, &l2);
  body_buf b;
  body_init(&b, 1000, BODY_GZIP, 0);
  ck_assert_int_eq(body_append(&b, (char *)z1, l1), BODY_OK);
  ck_assert_int_eq(body_append(&b, (char *)z2, l2), BODY_OK);
  ck_assert_int_eq(body_finish(&b), BODY_OK);
  ck_assert_uint_eq(b.len, 17);
  ck_assert(memcmp(b.data, "[{\"a\":1},{\"b\":2}]", 17) == 0);
  body_free(&b);
  free(z1);
  free(z2);
}
END_TEST

START_TEST(encoding_names) {
  body_encoding e;
  ck_assert_int_eq(body_encoding_parse(NULL, &e), 0);
  ck_assert_int_eq(e, BODY_IDENTITY);
  ck_assert_int_eq(body_encoding_parse(" identity ", &e), 0);
  ck_assert_int_eq(e, BODY_IDENTITY);
  ck_assert_int_eq(body_encoding_parse("GZIP", &e), 0);
  ck_assert_int_eq(e, BODY_GZIP);
  ck_assert_int_eq(body_encoding_parse("x-gzip", &e), 0);
  ck_assert_int_eq(body_encoding_parse("deflate", &e), 0);
  ck_assert_int_eq(e, BODY_GZIP);
  ck_assert_int_eq(body_encoding_parse("br", &e), -1);
  ck_assert_int_eq(body_encoding_parse("gzip, br", &e), -1);
}
END_TEST

static Suite *body_suite(void) {
  Suite *s = suite_create("source_http_body");
  TCase *tc = tcase_create("body");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, identity_within_limit);
  tcase_add_test(tc, identity_over_limit);
  tcase_add_test(tc, gzip_round_trip_byte_by_byte);
  tcase_add_test(tc, gzip_larger_than_one_buffer);
  tcase_add_test(tc, gzip_bomb_stops_at_limit);
  tcase_add_test(tc, gzip_wire_bytes_over_limit);
  tcase_add_test(tc, gzip_truncated_and_corrupt);
  tcase_add_test(tc, gzip_two_members_concatenate);
  tcase_add_test(tc, encoding_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(body_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
