/* Metrics: exact Prometheus text for counters, gauges and histograms, atomic updates
 * from several threads, idempotent registration, refused names kept out of the output. */
#include "metrics.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

START_TEST(renders_exact_text) {
  sd_metric *c =
      metrics_register(METRIC_COUNTER, "things_total", "Things seen", "stage=\"a\"", NULL, 0);
  sd_metric *g = metrics_register(METRIC_GAUGE, "depth", "Queue\ndepth", NULL, NULL, 0);
  const double buckets[] = {0.5, 1};
  sd_metric *h =
      metrics_register(METRIC_HISTOGRAM, "wait_seconds", "Wait", "stage=\"a\"", buckets, 2);
  metrics_add(c, 2);
  metrics_add(c, 1.5);
  metrics_set(g, -4);
  metrics_observe(h, 0.25);
  metrics_observe(h, 0.75);
  metrics_observe(h, 3);
  ck_assert_ptr_eq(
      metrics_register(METRIC_COUNTER, "things_total", "x", "stage=\"a\"", NULL, 0), c);
  char *text = metrics_render(NULL);
  ck_assert_str_eq(text, "# HELP sensord_things_total Things seen\n"
                         "# TYPE sensord_things_total counter\n"
                         "sensord_things_total{stage=\"a\"} 3.5\n"
                         "# HELP sensord_depth Queue\\ndepth\n"
                         "# TYPE sensord_depth gauge\n"
                         "sensord_depth -4\n"
                         "# HELP sensord_wait_seconds Wait\n"
                         "# TYPE sensord_wait_seconds histogram\n"
                         "sensord_wait_seconds_bucket{stage=\"a\",le=\"0.5\"} 1\n"
                         "sensord_wait_seconds_bucket{stage=\"a\",le=\"1\"} 2\n"
                         "sensord_wait_seconds_bucket{stage=\"a\",le=\"+Inf\"} 3\n"
                         "sensord_wait_seconds_sum{stage=\"a\"} 4\n"
                         "sensord_wait_seconds_count{stage=\"a\"} 3\n");
  free(text);
  metrics_reset();
}
END_TEST

START_TEST(refused_metrics_are_not_rendered) {
  sd_metric *bad = metrics_register(METRIC_COUNTER, "bad name", "x", NULL, NULL, 0);
  ck_assert_ptr_nonnull(bad);
  metrics_add(bad, 1); /* usable, just not exported */
  metrics_register(METRIC_GAUGE, "clash", "x", NULL, NULL, 0);
  sd_metric *clash = metrics_register(METRIC_COUNTER, "clash", "x", NULL, NULL, 0);
  metrics_add(clash, 1);
  const double descending[] = {2, 1};
  metrics_register(METRIC_HISTOGRAM, "hist", "x", NULL, descending, 2);
  char *text = metrics_render(NULL);
  ck_assert_ptr_null(strstr(text, "bad name"));
  ck_assert_ptr_null(strstr(text, "hist"));
  ck_assert_ptr_nonnull(strstr(text, "# TYPE sensord_clash gauge\nsensord_clash 0\n"));
  free(text);
  metrics_reset();
}
END_TEST

static sd_metric *shared_counter, *shared_histogram;
static void *hammer(void *arg) {
  (void)arg;
  for (int i = 0; i < 20000; i++) {
    metrics_add(shared_counter, 1);
    metrics_observe(shared_histogram, 0.001);
  }
  return NULL;
}

START_TEST(updates_are_atomic) {
  shared_counter = metrics_register(METRIC_COUNTER, "hits_total", "x", NULL, NULL, 0);
  shared_histogram = metrics_register(METRIC_HISTOGRAM, "lat_seconds", "x", NULL, NULL, 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, NULL);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  ck_assert(metrics_value(shared_counter) == 80000);
  ck_assert(metrics_value(shared_histogram) == 80000);
  metrics_reset();
}
END_TEST

START_TEST(escapes_label_values) {
  char *e = metrics_escape_label("a\"b\\c\nd");
  ck_assert_str_eq(e, "a\\\"b\\\\c\\nd");
  free(e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("core_metrics");
  TCase *tc = tcase_create("metrics");
  tcase_add_test(tc, renders_exact_text);
  tcase_add_test(tc, refused_metrics_are_not_rendered);
  tcase_add_test(tc, updates_are_atomic);
  tcase_add_test(tc, escapes_label_values);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
