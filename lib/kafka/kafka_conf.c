/* Builds rd_kafka_conf_t objects from plugin defaults plus `kafka.*` passthrough keys,
 * and checks them at `sensord -t` time by creating a broker-less client, which is where
 * librdkafka reports conflicts between properties. Also tracks broker reachability. */
#include "kafka_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct kc_each_ctx {
  rd_kafka_conf_t *conf;
  const sd_host_api *host;
  sd_stage *stage;
  int report; /* call config_error for each bad key (validate) */
  int failed;
  int skip_brokers; /* validation: never point the test client at a broker */
  char *err;
  size_t errlen;
  char first_key[160]; /* a key to blame for cross-property errors */
} kc_each_ctx;

static void kc_set_each(void *arg, const char *key, const char *value) {
  kc_each_ctx *c = arg;
  char errstr[512];
  char full[160];
  snprintf(full, sizeof full, "kafka.%s", key);
  if (!c->first_key[0]) snprintf(c->first_key, sizeof c->first_key, "%s", full);
  if (c->skip_brokers &&
      (!strcmp(key, "bootstrap.servers") || !strcmp(key, "metadata.broker.list")))
    return;
  if (rd_kafka_conf_set(c->conf, key, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK) return;
  if (c->report) c->host->config_error(c->stage, full, "%s", errstr);
  if (!c->failed) snprintf(c->err, c->errlen, "%s: %s", full, errstr);
  c->failed = 1;
}

static rd_kafka_conf_t *kc_build_ctx(kc_each_ctx *c, const kc_setting *defaults,
                                     const char *brokers) {
  char errstr[512];
  c->conf = rd_kafka_conf_new();
  for (const kc_setting *d = defaults; d && d->name; d++) {
    if (rd_kafka_conf_set(c->conf, d->name, d->value, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      snprintf(c->err, c->errlen, "built-in default %s=%s: %s", d->name, d->value, errstr);
      c->failed = 1;
    }
  }
  if (brokers && !c->skip_brokers &&
      rd_kafka_conf_set(c->conf, "bootstrap.servers", brokers, errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
    snprintf(c->err, c->errlen, "brokers: %s", errstr);
    c->failed = 1;
  }
  c->host->config_each(c->stage, "kafka.", kc_set_each, c);
  if (c->failed) {
    rd_kafka_conf_destroy(c->conf);
    return NULL;
  }
  return c->conf;
}

rd_kafka_conf_t *kc_build(const sd_host_api *host, sd_stage *stage,
                          const kc_setting *defaults) {
  char err[512] = "";
  kc_each_ctx c = {.host = host, .stage = stage, .err = err, .errlen = sizeof err};
  rd_kafka_conf_t *conf = kc_build_ctx(&c, defaults, host->config_string(stage, "brokers"));
  if (!conf) host->log(stage, SD_LOG_ERROR, "kafka configuration refused: %s", err);
  return conf;
}

static void kc_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk, (void)level, (void)fac, (void)buf;
}

/* The kafka.* key whose property name librdkafka's message mentions, if any. */
typedef struct kc_blame_ctx {
  const char *errstr;
  char key[160];
} kc_blame_ctx;

static void kc_blame_each(void *arg, const char *key, const char *value) {
  (void)value;
  kc_blame_ctx *b = arg;
  if (!b->key[0] && strstr(b->errstr, key)) snprintf(b->key, sizeof b->key, "kafka.%s", key);
}

sd_result kc_validate(const sd_host_api *host, sd_stage *stage, rd_kafka_type_t type,
                      const kc_setting *defaults) {
  char err[512], errstr[512];
  kc_each_ctx c = {.host = host,
                   .stage = stage,
                   .report = 1,
                   .skip_brokers = 1,
                   .err = err,
                   .errlen = sizeof err};
  rd_kafka_conf_t *conf = kc_build_ctx(&c, defaults, NULL);
  if (!conf) return SD_ERR;
  rd_kafka_conf_set_log_cb(conf, kc_quiet_log);
  rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk) {
    rd_kafka_destroy(rk);
    return SD_OK;
  }
  rd_kafka_conf_destroy(conf);
  kc_blame_ctx blame = {.errstr = errstr};
  host->config_each(stage, "kafka.", kc_blame_each, &blame);
  const char *key = blame.key[0] ? blame.key : c.first_key[0] ? c.first_key : "kafka.";
  return host->config_error(stage, key, "%s", errstr);
}

void kc_reach_init(kc_reach *r, sd_metric *gauge) {
  atomic_init(&r->state, -1);
  r->gauge = gauge;
}

void kc_reach_set(const sd_host_api *host, sd_stage *stage, kc_reach *r, int up,
                  const char *why) {
  if (atomic_load(&r->state) == up) return; /* the per-message path: no write */
  int was = atomic_exchange(&r->state, up);
  if (was == up) return;
  host->metric_set(r->gauge, up);
  if (up)
    host->log(stage, SD_LOG_INFO, "kafka %s", was == -1 ? "reachable" : "reachable again");
  else
    host->log(stage, SD_LOG_WARN, "kafka unreachable: %s", why ? why : "all brokers down");
}

void kc_on_error(const sd_host_api *host, sd_stage *stage, kc_reach *r, int err,
                 const char *reason) {
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    kc_reach_set(host, stage, r, 0, reason);
  else
    host->log(stage, SD_LOG_WARN, "kafka: %s: %s", rd_kafka_err2name(err), reason);
}

sd_result kc_check_topic(const sd_host_api *host, sd_stage *stage, const char *key) {
  const char *topic = host->config_string(stage, key);
  size_t len = topic ? strlen(topic) : 0;
  if (len == 0) return host->config_error(stage, key, "must not be empty");
  if (len > 249)
    return host->config_error(stage, key, "%zu characters: Kafka allows at most 249", len);
  if (!strcmp(topic, ".") || !strcmp(topic, ".."))
    return host->config_error(stage, key, "\"%s\" is not a topic name Kafka allows", topic);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)topic[i];
    if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
      return host->config_error(stage, key,
                                "character %zu of \"%s\" is not allowed in a topic name "
                                "(letters, digits, '.', '_' and '-' only)",
                                i + 1, topic);
  }
  return SD_OK;
}
