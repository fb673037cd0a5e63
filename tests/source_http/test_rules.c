/* Unit tests of source_http's header rules: the Authorization check (bare token and
 * "Bearer <token>", nothing else), media types per path, CORS origins and listen syntax. */
#include "../../plugins/source_http/auth.h"
#include "../../plugins/source_http/headers.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

START_TEST(auth_accepts_both_forms_only) {
  const char *t = "s3cret-token";
  size_t n = strlen(t);
  ck_assert_int_eq(auth_header_ok("Bearer s3cret-token", t, n), 1);
  ck_assert_int_eq(auth_header_ok("s3cret-token", t, n), 1);
  ck_assert_int_eq(auth_header_ok(NULL, t, n), 0);
  ck_assert_int_eq(auth_header_ok("", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearer ", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearer s3cret-toke", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearer s3cret-tokenX", t, n), 0);
  ck_assert_int_eq(auth_header_ok("bearer s3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearer  s3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Basic s3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("s3cret-tokens3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("S3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearer s3cret-token", t, 0), 0);
}
END_TEST

START_TEST(json_media_types) {
  ck_assert_int_eq(hdr_json_type_ok(NULL), 1);
  ck_assert_int_eq(hdr_json_type_ok("application/json"), 1);
  ck_assert_int_eq(hdr_json_type_ok("Application/JSON; charset=utf-8"), 1);
  ck_assert_int_eq(hdr_json_type_ok("application/vnd.sensor+json"), 1);
  ck_assert_int_eq(hdr_json_type_ok("text/plain"), 0);
  ck_assert_int_eq(hdr_json_type_ok("application/x-www-form-urlencoded"), 0);
  ck_assert_int_eq(hdr_json_type_ok("application/x-ndjson"), 0);
  ck_assert_int_eq(hdr_json_type_ok(""), 0);
  ck_assert_int_eq(hdr_json_type_ok("application/+json"), 0);
}
END_TEST

START_TEST(records_media_types) {
  ck_assert_int_eq(hdr_records_type_ok(NULL), 1);
  ck_assert_int_eq(hdr_records_type_ok("application/json"), 1);
  ck_assert_int_eq(hdr_records_type_ok("application/x-ndjson"), 1);
  ck_assert_int_eq(hdr_records_type_ok("application/ndjson; charset=utf-8"), 1);
  ck_assert_int_eq(hdr_records_type_ok("application/jsonl"), 1);
  ck_assert_int_eq(hdr_records_type_ok("text/csv"), 0);
}
END_TEST

START_TEST(cors_origins) {
  const char *list[] = {"https://a.example", "http://localhost:5000"};
  const char *star[] = {"*"};
  ck_assert_ptr_null(hdr_cors_origin(NULL, list, 2));
  ck_assert_ptr_null(hdr_cors_origin("https://b.example", list, 2));
  ck_assert_str_eq(hdr_cors_origin("http://localhost:5000", list, 2), "http://localhost:5000");
  ck_assert_ptr_null(hdr_cors_origin("https://a.example", list, 0));
  ck_assert_str_eq(hdr_cors_origin("https://x", star, 1), "*");
}
END_TEST

START_TEST(listen_syntax) {
  struct sockaddr_storage a;
  socklen_t n;
  char why[128];
  ck_assert_int_eq(hdr_parse_listen("127.0.0.1:8000", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(a.ss_family, AF_INET);
  ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 8000);
  ck_assert_int_eq(hdr_parse_listen(":9", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(((struct sockaddr_in *)&a)->sin_addr.s_addr, htonl(INADDR_ANY));
  ck_assert_int_eq(hdr_parse_listen("[::1]:8080", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(a.ss_family, AF_INET6);
  ck_assert_int_eq(hdr_parse_listen("8000", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(hdr_parse_listen("1.2.3.4:99999", &a, &n, why, sizeof why), -1);
  ck_assert_str_eq(why, "port must be a number from 0 to 65535");
  ck_assert_int_eq(hdr_parse_listen("::1:80", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(hdr_parse_listen("[::1]80", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(hdr_parse_listen("1.2.3.4:", &a, &n, why, sizeof why), -1);
}
END_TEST

static Suite *rules_suite(void) {
  Suite *s = suite_create("source_http_rules");
  TCase *tc = tcase_create("rules");
  tcase_add_test(tc, auth_accepts_both_forms_only);
  tcase_add_test(tc, json_media_types);
  tcase_add_test(tc, records_media_types);
  tcase_add_test(tc, cors_origins);
  tcase_add_test(tc, listen_syntax);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(rules_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
