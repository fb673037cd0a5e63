/* Test Kafka cluster on loopback, built on librdkafka's mock cluster (real wire protocol).
 * Prints "bootstrap <host:port,...>" once ready, then obeys one command per stdin line
 * (answering "ok" or "error: ...") until "quit" or end of input. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
  fprintf(stderr,
          "usage: mock_broker [-b brokers] [-t topic:partitions]...\n"
          "commands on stdin:\n"
          "  down <broker-id> | up <broker-id>     take a broker off the network / back\n"
          "  err <api> <count> <error-code>        next <count> requests of api (produce,\n"
          "                                        fetch, commit, or a number) fail with code\n"
          "  rtt <broker-id> <ms>                  add round-trip delay\n"
          "  topic <name> <partitions>             create a topic\n"
          "  quit\n");
}

static int api_key(const char *name) {
  if (!strcmp(name, "produce")) return 0;
  if (!strcmp(name, "fetch")) return 1;
  if (!strcmp(name, "commit")) return 8;
  return atoi(name);
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *spec, int brokers) {
  char name[256];
  int partitions = 1;
  const char *colon = strrchr(spec, ':');
  size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
  if (n == 0 || n >= sizeof name) return -1;
  memcpy(name, spec, n);
  name[n] = '\0';
  if (colon) partitions = atoi(colon + 1);
  if (partitions < 1) return -1;
  return rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3) ? -1 : 0;
}

int main(int argc, char **argv) {
  int brokers = 1;
  char errstr[512];
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-b") && i + 1 < argc)
      brokers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-t") && i + 1 < argc)
      i++;
    else
      return usage(), 2;
  if (brokers < 1) return usage(), 2;

  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "mock_broker: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "mock_broker: cannot create the mock cluster\n");
    return 1;
  }
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-t") && create_topic(mc, argv[++i], brokers)) {
      fprintf(stderr, "mock_broker: bad topic %s\n", argv[i]);
      return 1;
    }
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);

  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[32] = "", a[256] = "";
    int b = 0, c = 0;
    int n = sscanf(line, "%31s %255s %d %d", cmd, a, &b, &c);
    int ok = 1;
    if (n < 1) continue;
    if (!strcmp(cmd, "quit")) break;
    if (!strcmp(cmd, "down") && n >= 2)
      ok = !rd_kafka_mock_broker_set_down(mc, atoi(a));
    else if (!strcmp(cmd, "up") && n >= 2)
      ok = !rd_kafka_mock_broker_set_up(mc, atoi(a));
    else if (!strcmp(cmd, "rtt") && n >= 3)
      ok = !rd_kafka_mock_broker_set_rtt(mc, atoi(a), b);
    else if (!strcmp(cmd, "topic") && n >= 3) {
      char spec[300];
      snprintf(spec, sizeof spec, "%s:%d", a, b);
      ok = !create_topic(mc, spec, brokers);
    } else if (!strcmp(cmd, "err") && n >= 4 && b > 0 && b <= 1000) {
      rd_kafka_resp_err_t errs[1000];
      for (int i = 0; i < b; i++) errs[i] = (rd_kafka_resp_err_t)c;
      rd_kafka_mock_push_request_errors_array(mc, (int16_t)api_key(a), (size_t)b, errs);
    } else
      ok = 0;
    printf(ok ? "ok\n" : "error: %s", ok ? "" : line);
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
