/* Unit tests of lib/http's framing checks (RFC 9112 section 6: message body length) and of
 * the Host / Origin / Content-Type rules, one case per way a request can lie about itself. */
#include "http/framing.h"
#include "http/origin.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Runs the framing checks over a target and NULL-terminated name/value pairs. */
static unsigned framing(const char *target, int http10, const char *const *fields) {
  hf_framing fr;
  hf_framing_init(&fr);
  hf_framing_target(&fr, target, strlen(target));
  for (size_t i = 0; fields && fields[i]; i += 2)
    hf_framing_field(&fr, fields[i], fields[i + 1]);
  return hf_framing_finish(&fr, http10);
}

#define FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(well_formed_requests_pass) {
  ck_assert_uint_eq(framing("/phone-producer/", 0, FIELDS("Host", "a", "Content-Length", "10")),
                    0);
  ck_assert_uint_eq(framing("/p?x=%41", 0, FIELDS("Host", "a", "Transfer-Encoding", "chunked")),
                    0);
  /* the same length twice, and as a list of equal values, is one length (RFC 9110 8.6) */
  ck_assert_uint_eq(
      framing("/", 0, FIELDS("Host", "a", "Content-Length", "5", "Content-Length", "5")), 0);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Content-Length", "5, 5")), 0);
  ck_assert_uint_eq(framing("/", 1, FIELDS("Content-Length", "3")), 0);
}
END_TEST

START_TEST(contradictory_lengths_are_refused) {
  ck_assert_uint_eq(
      framing("/", 0, FIELDS("Host", "a", "Content-Length", "2", "Content-Length", "20")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Content-Length", "2, 20")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Content-Length", "2x")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Content-Length", "-1")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Content-Length", "")), 400);
  ck_assert_uint_eq(
      framing("/", 0, FIELDS("Host", "a", "Content-Length", "99999999999999999999999")), 400);
}
END_TEST

START_TEST(transfer_encoding_rules) {
  ck_assert_uint_eq(
      framing("/", 0,
              FIELDS("Host", "a", "Content-Length", "2", "Transfer-Encoding", "chunked")),
      400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Transfer-Encoding", "gzip")), 501);
  /* chunked not the final coding: the length cannot be known (RFC 9112 6.3), 400 */
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Transfer-Encoding", "chunked, gzip")),
                    400);
  ck_assert_uint_eq(framing("/", 1, FIELDS("Transfer-Encoding", "chunked")), 400);
}
END_TEST

START_TEST(field_names_and_values) {
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Transfer-Encoding ", "chunked")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "X:Y", "1")), 400);
  ck_assert_uint_eq(framing("/", 0,
                            FIELDS("Host", "a", "X-Note",
                                   "a\x01"
                                   "b")),
                    400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "Host", "b")), 400);
  ck_assert_uint_eq(framing("/", 0, FIELDS("Host", "a", "X-Tab", "a\tb")), 0);
}
END_TEST

START_TEST(targets) {
  ck_assert_uint_eq(framing("/a%00b", 0, FIELDS("Host", "a")), 400);
  ck_assert_uint_eq(framing("/a%zz", 0, FIELDS("Host", "a")), 400);
  ck_assert_uint_eq(framing("/a%4", 0, FIELDS("Host", "a")), 400);
  ck_assert_uint_eq(framing("/a\x7f", 0, FIELDS("Host", "a")), 400);
  ck_assert_uint_eq(framing("/caf\xc3\xa9", 0, FIELDS("Host", "a")), 400);
  ck_assert_uint_eq(framing("/caf%C3%A9", 0, FIELDS("Host", "a")), 0);
  hf_framing fr;
  hf_framing_init(&fr);
  hf_framing_target(&fr, "/a\0b", 4); /* a NUL inside the target's bytes */
  ck_assert_uint_eq(hf_framing_finish(&fr, 0), 400);
  ck_assert_ptr_nonnull(strstr(fr.why, "NUL"));
}
END_TEST

START_TEST(body_presence) {
  hf_framing fr;
  hf_framing_init(&fr);
  hf_framing_field(&fr, "Content-Length", "0");
  hf_framing_finish(&fr, 0);
  ck_assert_int_eq(hf_framing_has_body(&fr), 0);
  hf_framing_init(&fr);
  hf_framing_field(&fr, "transfer-encoding", "Chunked");
  ck_assert_uint_eq(hf_framing_finish(&fr, 0), 0);
  ck_assert_int_eq(hf_framing_has_body(&fr), 1);
}
END_TEST

START_TEST(host_rules) {
  const char *names[] = {"sensord.lan"};
  ck_assert_int_eq(hf_host_allowed("127.0.0.1:8088", NULL, 0), 1);
  ck_assert_int_eq(hf_host_allowed("[::1]:8088", NULL, 0), 1);
  ck_assert_int_eq(hf_host_allowed("192.168.1.9", NULL, 0), 1);
  ck_assert_int_eq(hf_host_allowed("LOCALHOST:1", NULL, 0), 1);
  ck_assert_int_eq(hf_host_allowed("app.localhost", NULL, 0), 1);
  ck_assert_int_eq(hf_host_allowed("evil.example:8088", NULL, 0), 0);
  ck_assert_int_eq(hf_host_allowed("localhost.evil.example", NULL, 0), 0);
  ck_assert_int_eq(hf_host_allowed("127.0.0.1.evil.example", NULL, 0), 0);
  ck_assert_int_eq(hf_host_allowed("Sensord.LAN:8088", names, 1), 1);
  ck_assert_int_eq(hf_host_allowed("", NULL, 0), 0);
  ck_assert_int_eq(hf_host_allowed(NULL, NULL, 0), 0);
  ck_assert_int_eq(hf_host_allowed("[::1", NULL, 0), 0);
  const char *any[] = {"*"};
  ck_assert_int_eq(hf_host_allowed("evil.example", any, 1), 1);
}
END_TEST

START_TEST(origin_rules) {
  const char *allowed[] = {"http://dash.example:3000"};
  ck_assert_int_eq(hf_origin_allowed(NULL, "127.0.0.1:8088", NULL, 0), 1);
  ck_assert_int_eq(hf_origin_allowed("http://127.0.0.1:8088", "127.0.0.1:8088", NULL, 0), 1);
  ck_assert_int_eq(hf_origin_allowed("http://evil.example", "127.0.0.1:8088", NULL, 0), 0);
  ck_assert_int_eq(hf_origin_allowed("null", "127.0.0.1:8088", NULL, 0), 0);
  ck_assert_int_eq(hf_origin_allowed("http://dash.example:3000", "127.0.0.1:8088", allowed, 1),
                   1);
  ck_assert_int_eq(hf_origin_allowed("http://dash.example", "127.0.0.1:8088", allowed, 1), 0);
}
END_TEST

START_TEST(content_types) {
  const char *extra[] = {"application/vnd.ksqlapi.delimited.v1"};
  ck_assert_int_eq(hf_json_content_type(NULL, NULL, 0), 1);
  ck_assert_int_eq(hf_json_content_type("application/json", NULL, 0), 1);
  ck_assert_int_eq(hf_json_content_type("Application/JSON; charset=utf-8", NULL, 0), 1);
  ck_assert_int_eq(hf_json_content_type("application/vnd.ksql.v1+json; charset=utf-8", NULL, 0),
                   1);
  ck_assert_int_eq(hf_json_content_type("application/vnd.ksqlapi.delimited.v1", extra, 1), 1);
  ck_assert_int_eq(hf_json_content_type("text/plain", extra, 1), 0);
  ck_assert_int_eq(hf_json_content_type("text/plain; x=application/json", extra, 1), 0);
  ck_assert_int_eq(hf_json_content_type("multipart/form-data; boundary=x", extra, 1), 0);
  ck_assert_int_eq(hf_json_content_type("application/x-www-form-urlencoded", extra, 1), 0);
  ck_assert_int_eq(hf_json_content_type("", extra, 1), 0);
  ck_assert_int_eq(hf_json_content_type("application/+json", extra, 1), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("http_rules");
  TCase *t = tcase_create("rules");
  tcase_add_test(t, well_formed_requests_pass);
  tcase_add_test(t, contradictory_lengths_are_refused);
  tcase_add_test(t, transfer_encoding_rules);
  tcase_add_test(t, field_names_and_values);
  tcase_add_test(t, targets);
  tcase_add_test(t, body_presence);
  tcase_add_test(t, host_rules);
  tcase_add_test(t, origin_rules);
  tcase_add_test(t, content_types);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
