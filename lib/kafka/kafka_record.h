/* One Kafka message value (a JSON object) -> one sensord record: nested objects are
 * flattened with `_` like the ingest side, arrays kept as JSON text, integers exact. */
#ifndef KR_KAFKA_RECORD_H
#define KR_KAFKA_RECORD_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kr_result { KR_OK = 0, KR_NOT_JSON, KR_NOT_OBJECT, KR_NO_MEMORY } kr_result;

/* Appends the record to batch. Timestamp: an integer `time` field in epoch ns (ms and s
 * are scaled), else the message timestamp (ms, -1 = none), else now_ns. On failure why
 * says what was wrong and nothing was added... except on KR_NO_MEMORY. */
kr_result kr_add_message(const sd_host_api *host, sd_batch *batch, const void *payload,
                         size_t len, const void *key, size_t key_len, int64_t timestamp_ms,
                         int64_t now_ns, char *why, size_t why_len);

/* Epoch value of unknown unit -> ns (s, ms, us or ns told apart by magnitude). Also
 * used by query_ksql for a row's TIME column. */
int64_t kr_epoch_to_ns(int64_t v);

#endif
