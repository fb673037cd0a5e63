/* What sensord's Kafka plugins share: librdkafka configuration (plugin defaults first,
 * then every `kafka.*` key of the stage verbatim) and broker reachability (kafka_up gauge
 * and its log lines). Calls librdkafka: only plugins that link -lrdkafka may use it. */
#ifndef KC_KAFKA_CONF_H
#define KC_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <sensord/plugin.h>
#include <stdatomic.h>
#include <stddef.h>

typedef struct kc_setting {
  const char *name;
  const char *value;
} kc_setting;

/* The `brokers` key both Kafka plugins take; kc_build reads it as bootstrap.servers. */
#define KC_BROKERS_KEY                                                                         \
  {                                                                                            \
    .name = "brokers", .type = SD_CFG_STRING, .default_value = "127.0.0.1:9092",               \
    .description =                                                                             \
        "Kafka bootstrap servers (host:port,...); kafka.bootstrap.servers overrides"           \
  }

/* Builds a conf from defaults (terminated by name NULL), the stage's `brokers` key as
 * bootstrap.servers and its kafka.* keys. On a bad property: logs why (naming the
 * kafka.<property> key) at the stage and returns NULL. */
rd_kafka_conf_t *kc_build(const sd_host_api *host, sd_stage *stage, const kc_setting *defaults);

/* For validate(): builds the conf and a client of that type without any broker (so no
 * connection is made) to catch cross-property errors too. Each problem goes to
 * host->config_error at the offending key. Returns SD_OK or SD_ERR. */
sd_result kc_validate(const sd_host_api *host, sd_stage *stage, rd_kafka_type_t type,
                      const kc_setting *defaults);

/* For validate(): the topic key holds a name Kafka accepts (1..249 of [A-Za-z0-9._-], not
 * "." or ".."), so a bad name is an error at `sensord -t`, not at the first produce. */
sd_result kc_check_topic(const sd_host_api *host, sd_stage *stage, const char *key);

/* Whether a broker is reachable: -1 unknown, 0 all brokers down, 1 up. Any thread. */
typedef struct kc_reach {
  atomic_int state;
  sd_metric *gauge;
} kc_reach;

void kc_reach_init(kc_reach *r, sd_metric *gauge);
/* Sets the gauge and logs on a change only (why: librdkafka's reason when down). */
void kc_reach_set(const sd_host_api *host, sd_stage *stage, kc_reach *r, int up,
                  const char *why);
/* The error callback's common part: all brokers down -> unreachable, else a warning. */
void kc_on_error(const sd_host_api *host, sd_stage *stage, kc_reach *r, int err,
                 const char *reason);

#endif
