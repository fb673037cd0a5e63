/* Record -> Kafka value: the flat JSON object the original producer wrote, fields in
 * record order, integers exact (a numeric-string `time` becomes an integer), doubles in
 * the shortest text that reads back to the same value. No host calls: unit-tested alone. */
#ifndef KJ_KAFKA_JSON_H
#define KJ_KAFKA_JSON_H

#include <sensord/plugin.h>
#include <stddef.h>

typedef struct kj_buf {
  char *data;
  size_t len;
  size_t cap;
} kj_buf;

void kj_buf_reset(kj_buf *b);
void kj_buf_free(kj_buf *b);
/* 0 on success, -1 when memory ran out. */
int kj_buf_append(kj_buf *b, const char *s, size_t n);
int kj_append_string(kj_buf *b, const char *s, size_t n);
int kj_append_double(kj_buf *b, double d);
/* Appends one record as a JSON object (b is not reset first). */
int kj_record_json(kj_buf *b, const sd_record_view *record);
/* The message key: the record key, else a string deviceId field, else none (NULL). */
const char *kj_record_key(const sd_record_view *record, size_t *len);

#endif
