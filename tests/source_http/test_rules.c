/* Unit tests of source_http's header rules: the Authorization check (bare token and
 * "Bearer <token>" with the scheme in any case, nothing else), media types per path, CORS
 * origins, listen syntax and the LAN address printed for a wildcard bind. */
#include "../../plugins/source_http/auth.h"
#include "../../plugins/source_http/headers.h"
#include "net/lan_url.h"
#include "net/listen_addr.h"

#include <arpa/inet.h>
#include <check.h>
#include <net/if.h>
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
  /* the scheme name is case-insensitive, the token is not */
  ck_assert_int_eq(auth_header_ok("bearer s3cret-token", t, n), 1);
  ck_assert_int_eq(auth_header_ok("BEARER s3cret-token", t, n), 1);
  ck_assert_int_eq(auth_header_ok("bEaReR s3cret-token", t, n), 1);
  ck_assert_int_eq(auth_header_ok("bearer S3CRET-TOKEN", t, n), 0);
  ck_assert_int_eq(auth_header_ok("bearer\ts3cret-token", t, n), 0);
  ck_assert_int_eq(auth_header_ok("Bearers3cret-token", t, n), 0);
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
  ck_assert_int_eq(la_parse_listen("127.0.0.1:8000", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(a.ss_family, AF_INET);
  ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a)->sin_port), 8000);
  ck_assert_int_eq(la_parse_listen(":9", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(((struct sockaddr_in *)&a)->sin_addr.s_addr, htonl(INADDR_ANY));
  ck_assert_int_eq(la_parse_listen("[::1]:8080", &a, &n, why, sizeof why), 0);
  ck_assert_int_eq(a.ss_family, AF_INET6);
  ck_assert_int_eq(la_parse_listen("8000", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(la_parse_listen("1.2.3.4:99999", &a, &n, why, sizeof why), -1);
  ck_assert_str_eq(why, "port must be a number from 0 to 65535");
  ck_assert_int_eq(la_parse_listen("::1:80", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(la_parse_listen("[::1]80", &a, &n, why, sizeof why), -1);
  ck_assert_int_eq(la_parse_listen("1.2.3.4:", &a, &n, why, sizeof why), -1);
}
END_TEST

static struct sockaddr_in v4(const char *text) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}

START_TEST(lan_address_for_wildcard_binds) {
  /* loopback (by flag and by address), down, IPv6 and address-less entries are skipped */
  struct sockaddr_in lo = v4("127.0.0.1"), lo2 = v4("127.0.1.1"), down = v4("10.9.9.9"),
                     lan = v4("192.168.1.23"), later = v4("10.0.0.7");
  struct sockaddr_in6 six = {.sin6_family = AF_INET6};
  struct ifaddrs e6 = {.ifa_name = "eth2", .ifa_flags = IFF_UP, .ifa_addr = (void *)&later};
  struct ifaddrs e5 = {
      .ifa_next = &e6, .ifa_name = "eth1", .ifa_flags = IFF_UP, .ifa_addr = (void *)&lan};
  struct ifaddrs e4 = {
      .ifa_next = &e5, .ifa_name = "eth1", .ifa_flags = IFF_UP, .ifa_addr = (void *)&six};
  struct ifaddrs e3 = {
      .ifa_next = &e4, .ifa_name = "eth0", .ifa_flags = 0, .ifa_addr = (void *)&down};
  struct ifaddrs e2 = {
      .ifa_next = &e3, .ifa_name = "tun0", .ifa_flags = IFF_UP, .ifa_addr = NULL};
  struct ifaddrs e1 = {
      .ifa_next = &e2, .ifa_name = "dummy", .ifa_flags = IFF_UP, .ifa_addr = (void *)&lo2};
  struct ifaddrs e0 = {.ifa_next = &e1,
                       .ifa_name = "lo",
                       .ifa_flags = IFF_UP | IFF_LOOPBACK,
                       .ifa_addr = (void *)&lo};
  char out[64];
  ck_assert_int_eq(lan_pick_ipv4(&e0, out, sizeof out), 0);
  ck_assert_str_eq(out, "192.168.1.23");
  ck_assert_int_eq(lan_pick_ipv4(&e0, out, 4), -1); /* does not fit */
  ck_assert_int_eq(lan_pick_ipv4(&e3, out, sizeof out), 0);
  ck_assert_str_eq(out, "192.168.1.23");
  e5.ifa_next = NULL;
  e5.ifa_flags = IFF_UP | IFF_LOOPBACK;
  ck_assert_int_eq(lan_pick_ipv4(&e0, out, sizeof out), -1);
  ck_assert_int_eq(lan_pick_ipv4(NULL, out, sizeof out), -1);

  /* a bound address is printed as is; a wildcard one never as 0.0.0.0 / :: */
  struct sockaddr_in local = v4("127.0.0.1"), any = v4("0.0.0.0");
  lan_url_host((struct sockaddr *)&local, out, sizeof out);
  ck_assert_str_eq(out, "127.0.0.1");
  ck_assert_int_eq(lan_is_wildcard((struct sockaddr *)&local), 0);
  ck_assert_int_eq(lan_is_wildcard((struct sockaddr *)&any), 1);
  lan_url_host((struct sockaddr *)&any, out, sizeof out);
  ck_assert_str_ne(out, "0.0.0.0");
  ck_assert(strcmp(out, "localhost") == 0 || strncmp(out, "127.", 4) != 0);
  struct sockaddr_in6 one6 = {.sin6_family = AF_INET6};
  one6.sin6_addr.s6_addr[15] = 1;
  lan_url_host((struct sockaddr *)&one6, out, sizeof out);
  ck_assert_str_eq(out, "[::1]");
  ck_assert_int_eq(lan_is_wildcard((struct sockaddr *)&six), 1);
  lan_url_host((struct sockaddr *)&six, out, sizeof out);
  ck_assert_str_ne(out, "[::]");
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
  tcase_add_test(tc, lan_address_for_wildcard_binds);
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
