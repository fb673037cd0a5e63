/* Batches and schemas: records built into an arena owned by the batch, read back as
 * sd_record_view / sd_field views that point into it; schemas are refcounted. The
 * completion bookkeeping of an emitted batch lives in flow.h. */
#ifndef SD_CORE_BATCH_H
#define SD_CORE_BATCH_H

#include <sensord/plugin.h>
#include <stdatomic.h>

typedef struct batch_chunk batch_chunk;

typedef struct batch_record {
  int64_t timestamp_ns;
  const char *key;
  uint64_t key_len;
  size_t first_field;
  size_t field_count;
} batch_record;

struct sd_schema {
  atomic_int refs;
  char *name;
  size_t column_count;
  char **columns;
  char **types;
};

struct sd_batch {
  sd_stage *stage; /* creator */
  batch_chunk *chunks;
  batch_record *records;
  size_t record_count, record_cap;
  sd_field *fields;
  size_t field_count, field_cap;
  size_t bytes;
  sd_schema *schema;
  atomic_int emitted;

  /* Completion (flow.c): deliveries still outstanding, the worst status seen, the
   * delivery it was emitted from (query stages), and the producer's ack. */
  atomic_int pending;
  atomic_int worst;
  sd_delivery *parent;
  sd_ack_fn ack;
  void *ack_ctx;
};

sd_batch *batch_new(sd_stage *stage, size_t record_hint);
void batch_destroy(sd_batch *b); /* frees unconditionally */
sd_result batch_record_begin(sd_batch *b, int64_t ts, const char *key, size_t key_len);
sd_result batch_field(sd_batch *b, const char *name, size_t name_len, const sd_value *v);
size_t batch_count(const sd_batch *b);
size_t batch_bytes(const sd_batch *b);
sd_result batch_view(const sd_batch *b, size_t index, sd_record_view *out);
void batch_set_schema(sd_batch *b, sd_schema *schema);

sd_schema *schema_new(const char *name, size_t column_count, const char *const *columns,
                      const char *const *types);
void schema_retain(sd_schema *s);
void schema_release(sd_schema *s);
void schema_view(const sd_schema *s, sd_schema_view *out);

#endif
