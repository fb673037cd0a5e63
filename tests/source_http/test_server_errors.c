/* source_http's server counts every request in http_requests_total by its outcome, also
 * when memory runs out: an error whose body cannot be written is still answered with its
 * status (and a constant body) and counted under it; a request whose state cannot be
 * allocated is closed and counted as "closed". The real server runs on loopback with a
 * small host table; json_dumps, asprintf and calloc are wrapped at link time
 * (-Wl,--wrap=...) so that the test can make them fail. */
#include "../../plugins/source_http/source_http.h"
#include "net/listen_addr.h"

#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- allocation failures on demand --------------------------------------------------- */
static atomic_int fail_dumps, fail_asprintf, fail_calloc;

char *__real_json_dumps(const json_t *json, size_t flags);
char *__wrap_json_dumps(const json_t *json, size_t flags);
char *__wrap_json_dumps(const json_t *json, size_t flags) {
  return atomic_load(&fail_dumps) ? NULL : __real_json_dumps(json, flags);
}
int __real_asprintf(char **out, const char *fmt, ...);
int __wrap_asprintf(char **out, const char *fmt, ...);
int __wrap_asprintf(char **out, const char *fmt, ...) {
  if (atomic_load(&fail_asprintf)) return -1;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(out, fmt, ap);
  va_end(ap);
  return n;
}
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size) {
  return atomic_load(&fail_calloc) ? NULL : __real_calloc(n, size);
}

/* ---- a host with just what the server calls --------------------------------------------- */
typedef struct t_metric {
  atomic_long value;
} t_metric;
static t_metric requests[HS_STATUS_COUNT], others[HS_ERR_CLASS_COUNT + 8];

static void t_log(sd_stage *st, sd_log_level level, const char *fmt, ...) {
  (void)st;
  (void)level;
  (void)fmt;
}
static int t_log_enabled(sd_stage *st, sd_log_level level) {
  (void)st;
  (void)level;
  return 1;
}
static void t_metric_add(sd_metric *m, double d) {
  atomic_fetch_add(&((t_metric *)m)->value, (long)d);
}
static void t_metric_observe(sd_metric *m, double v) {
  (void)v;
  atomic_fetch_add(&((t_metric *)m)->value, 1);
}
static int64_t t_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int t_stopping(sd_stage *st) {
  (void)st;
  return 0;
}

/* The HTTP front end registers its refusal counters through these. */
static t_metric front_metrics;
static sd_metric *t_counter(sd_stage *st, const char *name, const char *help,
                            const char *labels) {
  (void)st, (void)name, (void)help, (void)labels;
  return (sd_metric *)&front_metrics;
}
static sd_metric *t_gauge(sd_stage *st, const char *name, const char *help,
                          const char *labels) {
  return t_counter(st, name, help, labels);
}

static sd_host_api host;
static hs_state state;
static const char *paths[] = {"/phone-producer/"};
static unsigned port;

static void start_server(int sensorlogger_errors) {
  memset(&host, 0, sizeof host);
  host.struct_size = sizeof host;
  host.log = t_log;
  host.log_enabled = t_log_enabled;
  host.metric_add = t_metric_add;
  host.metric_observe = t_metric_observe;
  host.now_mono_ns = t_now;
  host.now_wall_ns = t_now;
  host.stopping = t_stopping;
  host.counter = t_counter;
  host.gauge = t_gauge;
  memset(&state, 0, sizeof state);
  memset(requests, 0, sizeof requests);
  hs_state *s = &state;
  s->host = &host;
  char why[128];
  s->listen = "127.0.0.1:0";
  ck_assert_int_eq(la_parse_listen(s->listen, &s->addr, &s->addr_len, why, sizeof why), 0);
  s->paths = paths;
  s->path_count = 1;
  s->max_body = 1 << 20;
  s->max_connections = 16;
  s->threads = 1;
  s->request_timeout_ns = 5000000000LL;
  s->idle_timeout_s = 5;
  s->retry_after_s = 1;
  s->header_timeout_ns = 10000000000LL;
  hf_budget_init(&s->budget, 64 << 20);
  s->sensorlogger_errors = sensorlogger_errors;
  for (int i = 0; i < HS_STATUS_COUNT; i++) s->requests[i] = (sd_metric *)&requests[i];
  for (int i = 0; i < HS_ERR_CLASS_COUNT; i++) s->parse_errors[i] = (sd_metric *)&others[i];
  s->readings = s->bytes = s->test_pushes = s->fallbacks =
      (sd_metric *)&others[HS_ERR_CLASS_COUNT];
  s->duration = s->awaiting_ack = (sd_metric *)&others[HS_ERR_CLASS_COUNT + 1];
  pthread_mutex_init(&s->lock, NULL);
  ck_assert_int_eq(hs_server_start(s), 0);
  port = (uint16_t)hs_server_port(s);
  ck_assert_uint_ne(port, 0);
}

static void stop_server(void) {
  hs_server_stop(&state, t_now());
  pthread_mutex_destroy(&state.lock);
}

static long count_of(int status) {
  for (int i = 0; i < HS_STATUS_COUNT; i++)
    if (hs_statuses[i] == status) return atomic_load(&requests[i].value);
  return -1;
}

/* Waits (up to 2 s) for the request counters to add up to want. */
static void wait_counted(long want) {
  for (int i = 0; i < 200; i++) {
    long sum = 0;
    for (int k = 0; k < HS_STATUS_COUNT; k++) sum += atomic_load(&requests[k].value);
    if (sum >= want) return;
    usleep(10000);
  }
}

/* One request on a fresh connection; the whole answer ("" when closed without one). */
static char *request(const char *text) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
  static char buf[4096];
  size_t used = 0;
  for (int i = 0; i < 100 && used < sizeof buf - 1; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf + used, sizeof buf - 1 - used, 0);
    if (n <= 0) break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  close(fd);
  return buf;
}

static const char *get_nowhere =
    "GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

START_TEST(error_answers_counted_by_status) {
  start_server(0);
  char *answer = request(get_nowhere);
  ck_assert_msg(strncmp(answer, "HTTP/1.1 404", 12) == 0, "%s", answer);
  ck_assert_ptr_nonnull(strstr(answer, "\"error\":\"not_found\""));
  wait_counted(1);
  ck_assert_int_eq(count_of(404), 1);
  ck_assert_int_eq(count_of(0), 0);
  stop_server();
}
END_TEST

START_TEST(no_memory_for_json_body_still_answers) {
  start_server(0);
  atomic_store(&fail_dumps, 1);
  char *answer = request(get_nowhere);
  atomic_store(&fail_dumps, 0);
  ck_assert_msg(strncmp(answer, "HTTP/1.1 404", 12) == 0, "%s", answer);
  ck_assert_ptr_nonnull(strstr(answer, "\"error\":\"out_of_memory\""));
  wait_counted(1);
  ck_assert_int_eq(count_of(404), 1);
  ck_assert_int_eq(count_of(0), 0);
  stop_server();
}
END_TEST

START_TEST(no_memory_for_text_body_still_answers) {
  start_server(1); /* error_format = sensorlogger: 499 and a line of text */
  atomic_store(&fail_asprintf, 1);
  char *answer = request(get_nowhere);
  atomic_store(&fail_asprintf, 0);
  ck_assert_msg(strncmp(answer, "HTTP/1.1 499", 12) == 0, "%s", answer);
  ck_assert_ptr_nonnull(strstr(answer, "sensord: no memory to describe the error"));
  wait_counted(1);
  ck_assert_int_eq(count_of(499), 1);
  ck_assert_int_eq(count_of(0), 0);
  stop_server();
}
END_TEST

START_TEST(no_memory_for_request_counted_closed) {
  start_server(0);
  atomic_store(&fail_calloc, 1);
  char *answer = request(get_nowhere);
  atomic_store(&fail_calloc, 0);
  ck_assert_str_eq(answer, "");
  wait_counted(1);
  ck_assert_int_eq(count_of(0), 1);
  ck_assert_int_eq(count_of(404), 0);
  answer = request(get_nowhere); /* the next one is answered as usual */
  ck_assert_msg(strncmp(answer, "HTTP/1.1 404", 12) == 0, "%s", answer);
  wait_counted(2);
  ck_assert_int_eq(count_of(404), 1);
  stop_server();
}
END_TEST

int main(void) {
  Suite *s = suite_create("source_http_server_errors");
  TCase *tc = tcase_create("outcomes");
  tcase_set_timeout(tc, 20);
  tcase_add_test(tc, error_answers_counted_by_status);
  tcase_add_test(tc, no_memory_for_json_body_still_answers);
  tcase_add_test(tc, no_memory_for_text_body_still_answers);
  tcase_add_test(tc, no_memory_for_request_counted_closed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
