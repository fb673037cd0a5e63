/* Unit tests of the daemon log: the logfmt line shape and escaping, level thresholds per
 * daemon and per origin, rate limiting with an injected clock (no sleeping), and whole
 * lines under concurrent writers. */
#include "log.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *out;
static int64_t fake_mono;
static const int64_t wall_base = INT64_C(1795528800123000000); /* 2026-11-24T14:00:00.123Z */

static int64_t mono_now(void) {
  return fake_mono;
}
static int64_t wall_now(void) {
  return wall_base + fake_mono;
}

static void setup(void) {
  out = tmpfile();
  ck_assert_ptr_nonnull(out);
  fake_mono = 0;
  log_set_output(fileno(out));
  log_set_clock(mono_now, wall_now);
  log_set_level(SD_LOG_INFO);
  log_set_rate_limit(10, INT64_C(10000000000));
}

static void teardown(void) {
  log_shutdown();
  log_set_output(2);
  log_set_clock(NULL, NULL);
  fclose(out);
}

/* Everything logged so far (caller frees); the file is then emptied. */
static char *take(void) {
  fflush(out);
  long n = lseek(fileno(out), 0, SEEK_END);
  char *buf = calloc(1, (size_t)n + 1);
  ck_assert_int_eq(pread(fileno(out), buf, (size_t)n, 0), n);
  ck_assert_int_eq(ftruncate(fileno(out), 0), 0);
  lseek(fileno(out), 0, SEEK_SET);
  return buf;
}

static void expect_output(const char *want) {
  char *got = take();
  ck_assert_str_eq(got, want);
  free(got);
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

START_TEST(line_format) {
  log_origin o = {.stage = "ingest", .plugin = "source_http", .level = -1};
  log_msg(&o, SD_LOG_INFO, "listening on %s:%d", "0.0.0.0", 8000);
  expect_output("ts=2026-11-24T14:00:00.123Z level=info stage=ingest plugin=source_http "
                "msg=\"listening on 0.0.0.0:8000\"\n");
  fake_mono = INT64_C(1500000000);
  LOG_WARN("%s", "started");
  expect_output("ts=2026-11-24T14:00:01.623Z level=warn msg=started\n");
  log_origin stage_only = {.stage = "s", .level = -1};
  log_msg(&stage_only, SD_LOG_ERROR, "x");
  expect_output("ts=2026-11-24T14:00:01.623Z level=error stage=s msg=x\n");
}
END_TEST

START_TEST(escaping) {
  LOG_INFO("say \"hi\"");
  LOG_INFO("a=b");
  LOG_INFO("back\\slash");
  LOG_INFO("two\nlines\ttab\r");
  LOG_INFO("%s", "");
  LOG_INFO("bell\a");
  log_origin o = {.stage = "my stage", .plugin = "p=q", .level = -1};
  log_msg(&o, SD_LOG_INFO, "ok");
  expect_output(
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"say \\\"hi\\\"\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"a=b\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"back\\\\slash\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"two\\nlines\\ttab\\r\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info msg=\"bell\\u0007\"\n"
      "ts=2026-11-24T14:00:00.123Z level=info stage=\"my stage\" plugin=\"p=q\" msg=ok\n");
}
END_TEST

START_TEST(long_message) {
  char big[3000];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  LOG_INFO("%s|%s", big, big);
  char *got = take();
  ck_assert_uint_eq(strlen(got),
                    strlen("ts=2026-11-24T14:00:00.123Z level=info msg=") + 2 * 2999 + 1 + 1);
  ck_assert_ptr_nonnull(strstr(got, "a|a"));
  free(got);
}
END_TEST

START_TEST(levels) {
  ck_assert_int_eq(log_parse_level("error"), SD_LOG_ERROR);
  ck_assert_int_eq(log_parse_level("warn"), SD_LOG_WARN);
  ck_assert_int_eq(log_parse_level("info"), SD_LOG_INFO);
  ck_assert_int_eq(log_parse_level("debug"), SD_LOG_DEBUG);
  ck_assert_int_eq(log_parse_level("verbose"), -1);
  ck_assert_int_eq(log_parse_level(NULL), -1);
  ck_assert_str_eq(log_level_name(SD_LOG_WARN), "warn");
  ck_assert_str_eq(log_level_name((sd_log_level)9), "unknown");

  log_set_level(SD_LOG_WARN);
  ck_assert_int_eq(log_get_level(), SD_LOG_WARN);
  log_origin inherit = {.stage = "a", .level = -1};
  log_origin chatty = {.stage = "b", .level = SD_LOG_DEBUG};
  log_origin quiet = {.stage = "c", .level = SD_LOG_ERROR};
  ck_assert_int_eq(log_enabled(NULL, SD_LOG_INFO), 0);
  ck_assert_int_eq(log_enabled(NULL, SD_LOG_WARN), 1);
  ck_assert_int_eq(log_enabled(&chatty, SD_LOG_DEBUG), 1);
  ck_assert_int_eq(log_enabled(&quiet, SD_LOG_WARN), 0);
  LOG_INFO("dropped");
  LOG_WARN("kept");
  log_msg(&inherit, SD_LOG_INFO, "dropped");
  log_msg(&chatty, SD_LOG_DEBUG, "debug kept");
  log_msg(&quiet, SD_LOG_WARN, "dropped");
  log_msg(&quiet, SD_LOG_ERROR, "error kept");
  expect_output("ts=2026-11-24T14:00:00.123Z level=warn msg=kept\n"
                "ts=2026-11-24T14:00:00.123Z level=debug stage=b msg=\"debug kept\"\n"
                "ts=2026-11-24T14:00:00.123Z level=error stage=c msg=\"error kept\"\n");
}
END_TEST

START_TEST(rate_limit_window) {
  log_origin o = {.stage = "ingest", .plugin = "source_http", .level = -1};
  unsigned long before = log_suppressed_total();
  for (int i = 0; i < 25; i++) {
    log_msg(&o, SD_LOG_WARN, "bad request %d", i);
    fake_mono += INT64_C(100000000); /* 0.1 s apart: all inside one 10 s window */
  }
  char *got = take();
  ck_assert_uint_eq(count_lines(got), 10);
  ck_assert_ptr_nonnull(strstr(got, "msg=\"bad request 9\""));
  ck_assert_ptr_null(strstr(got, "bad request 10\""));
  free(got);
  ck_assert_uint_eq(log_suppressed_total() - before, 15);

  /* Another origin or format has its own budget. */
  log_origin other = {.stage = "other", .level = -1};
  log_msg(&other, SD_LOG_WARN, "bad request %d", 1);
  log_msg(&o, SD_LOG_WARN, "different %d", 1);
  got = take();
  ck_assert_uint_eq(count_lines(got), 2);
  free(got);

  /* Window over: first the summary, then the new line. */
  fake_mono = INT64_C(10000000000);
  log_msg(&o, SD_LOG_WARN, "bad request %d", 99);
  expect_output("ts=2026-11-24T14:00:10.123Z level=warn stage=ingest plugin=source_http "
                "msg=\"suppressed 15 repeats of: bad request %d\"\n"
                "ts=2026-11-24T14:00:10.123Z level=warn stage=ingest plugin=source_http "
                "msg=\"bad request 99\"\n");
}
END_TEST

START_TEST(rate_limit_tick_and_shutdown) {
  for (int i = 0; i < 12; i++) LOG_ERROR("disk full");
  char *got = take();
  ck_assert_uint_eq(count_lines(got), 10);
  free(got);
  log_tick(); /* window not over: nothing yet */
  expect_output("");
  fake_mono = INT64_C(11000000000);
  log_tick();
  expect_output("ts=2026-11-24T14:00:11.123Z level=error msg=\"suppressed 2 repeats of: disk "
                "full\"\n");
  log_tick(); /* said once */
  expect_output("");

  for (int i = 0; i < 13; i++) LOG_ERROR("again");
  free(take());
  log_shutdown(); /* pending summaries go out even though the window is still open */
  expect_output("ts=2026-11-24T14:00:11.123Z level=error msg=\"suppressed 3 repeats of: "
                "again\"\n");
  LOG_ERROR("still works");
  expect_output("ts=2026-11-24T14:00:11.123Z level=error msg=\"still works\"\n");
}
END_TEST

START_TEST(rate_limit_other_line_flushes_ended_window) {
  for (int i = 0; i < 11; i++) LOG_ERROR("flood");
  free(take());
  fake_mono = INT64_C(20000000000);
  LOG_ERROR("unrelated");
  expect_output(
      "ts=2026-11-24T14:00:20.123Z level=error msg=\"suppressed 1 repeats of: flood\"\n"
      "ts=2026-11-24T14:00:20.123Z level=error msg=unrelated\n");
}
END_TEST

START_TEST(rate_limit_off_and_filtered_lines_do_not_count) {
  log_set_rate_limit(0, 1);
  for (int i = 0; i < 30; i++) LOG_ERROR("many");
  char *got = take();
  ck_assert_uint_eq(count_lines(got), 30);
  free(got);
  log_set_rate_limit(2, INT64_C(1000000000));
  log_set_level(SD_LOG_ERROR);
  for (int i = 0; i < 5; i++) LOG_DEBUG("filtered");
  log_set_level(SD_LOG_DEBUG);
  LOG_DEBUG("filtered");
  LOG_DEBUG("filtered");
  LOG_DEBUG("filtered");
  got = take();
  ck_assert_uint_eq(count_lines(got), 2);
  free(got);
}
END_TEST

static void *writer(void *arg) {
  log_origin o = {.stage = arg, .level = -1};
  for (int i = 0; i < 300; i++) log_msg(&o, SD_LOG_INFO, "line %d with some padding text", i);
  return NULL;
}

START_TEST(threads_write_whole_lines) {
  log_set_rate_limit(0, 1);
  pthread_t t[4];
  const char *names[4] = {"t0", "t1", "t2", "t3"};
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, writer, (void *)names[i]);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  char *got = take();
  ck_assert_uint_eq(count_lines(got), 1200);
  size_t good = 0;
  for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n")) {
    int n = -1;
    char stage[8];
    if (sscanf(line,
               "ts=2026-11-24T14:00:00.123Z level=info stage=%2s msg=\"line %d with some "
               "padding text\"",
               stage, &n) == 2 &&
        n >= 0 && n < 300)
      good++;
  }
  ck_assert_uint_eq(good, 1200);
  free(got);
}
END_TEST

int main(void) {
  Suite *s = suite_create("log");
  TCase *tc = tcase_create("log");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, line_format);
  tcase_add_test(tc, escaping);
  tcase_add_test(tc, long_message);
  tcase_add_test(tc, levels);
  tcase_add_test(tc, rate_limit_window);
  tcase_add_test(tc, rate_limit_tick_and_shutdown);
  tcase_add_test(tc, rate_limit_other_line_flushes_ended_window);
  tcase_add_test(tc, rate_limit_off_and_filtered_lines_do_not_count);
  tcase_add_test(tc, threads_write_whole_lines);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
