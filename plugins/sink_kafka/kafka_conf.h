/* librdkafka configuration for sensord's Kafka plugins: plugin defaults first, then every
 * `kafka.*` key of the stage passed through verbatim. Shared by sink_kafka and
 * source_kafka (source_kafka's plugin.mk compiles this file too). */
#ifndef KC_KAFKA_CONF_H
#define KC_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <sensord/plugin.h>
#include <stddef.h>

typedef struct kc_setting {
  const char *name;
  const char *value;
} kc_setting;

/* Builds a conf from defaults (terminated by name NULL), `brokers` as bootstrap.servers
 * (skipped when NULL) and the stage's kafka.* keys. On a bad property: NULL, and the
 * message (naming the kafka.<property> key) is in err. */
rd_kafka_conf_t *kc_build(const sd_host_api *host, sd_stage *stage, const kc_setting *defaults,
                          const char *brokers, char *err, size_t errlen, char *bad_key,
                          size_t bad_key_len);

/* For validate(): builds the conf and a client of that type without any broker (so no
 * connection is made) to catch cross-property errors too. Each problem goes to
 * host->config_error at the offending key. Returns SD_OK or SD_ERR. */
sd_result kc_validate(const sd_host_api *host, sd_stage *stage, rd_kafka_type_t type,
                      const kc_setting *defaults);

#endif
