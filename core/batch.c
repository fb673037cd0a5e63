/* Batch arena and schemas (see batch.h). Field and key bytes are copied into fixed
 * chunks that never move, so views stay valid; the field array itself may move while the
 * batch is still being built, which is why views are only promised for finished records. */
#include "batch.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN 4096

struct batch_chunk {
  batch_chunk *next;
  size_t used, size;
  char data[];
};

/* Size a record costs against queue.max_bytes: the bytes a consumer will read. */
#define RECORD_OVERHEAD 16
#define FIELD_OVERHEAD  16

/* A new chunk with room for len + 1 bytes. Chunks double up to 1 MiB so big batches need
 * few allocations. */
static __attribute__((noinline)) batch_chunk *arena_grow(sd_batch *b, size_t len) {
  batch_chunk *c = b->chunks;
  size_t size = CHUNK_MIN;
  if (c) size = c->size >= (1u << 20) ? c->size : c->size * 2;
  if (size < len + 1) size = len + 1;
  c = xmalloc(sizeof *c + size);
  c->size = size;
  c->used = 0;
  c->next = b->chunks;
  b->chunks = c;
  return c;
}

/* Called for every field name and string value: the common case stays inline. */
static inline char *arena_copy(sd_batch *b, const char *src, size_t len) {
  batch_chunk *c = b->chunks;
  if (__builtin_expect(!c || c->size - c->used < len + 1, 0)) c = arena_grow(b, len);
  char *dst = c->data + c->used;
  if (len) memcpy(dst, src, len);
  dst[len] = '\0';
  c->used += len + 1;
  return dst;
}

sd_batch *batch_new(sd_stage *stage, size_t record_hint) {
  sd_batch *b = xcalloc(1, sizeof *b);
  b->stage = stage;
  if (record_hint > 65536) record_hint = 65536;
  if (record_hint) {
    b->records = xmalloc(record_hint * sizeof *b->records);
    b->record_cap = record_hint;
  }
  return b;
}

void batch_destroy(sd_batch *b) {
  if (!b) return;
  for (batch_chunk *c = b->chunks; c;) {
    batch_chunk *next = c->next;
    free(c);
    c = next;
  }
  free(b->records);
  free(b->fields);
  schema_release(b->schema);
  free(b);
}

static int frozen(const sd_batch *b) {
  return atomic_load_explicit(&((sd_batch *)b)->emitted, memory_order_relaxed) != 0;
}

sd_result batch_record_begin(sd_batch *b, int64_t ts, const char *key, size_t key_len) {
  if (!b || frozen(b)) return SD_ERR;
  util_grow((void **)&b->records, &b->record_cap, b->record_count + 1, sizeof *b->records);
  /* Records of a batch mostly have the same fields: once the first is done, room for as
   * many per record as the batch was sized for, instead of doubling (and copying) up. The
   * size is a producer's hint, not a promise, so this stops at 64 Ki fields (2.5 MiB). */
  if (b->record_count == 1 && b->field_count > 0) {
    size_t want = b->record_cap * b->field_count;
    if (want > b->field_cap && want <= ((size_t)1 << 16))
      util_grow((void **)&b->fields, &b->field_cap, want, sizeof *b->fields);
  }
  batch_record *r = &b->records[b->record_count++];
  r->timestamp_ns = ts;
  r->key = key ? arena_copy(b, key, key_len) : NULL;
  r->key_len = key ? key_len : 0;
  r->first_field = b->field_count;
  r->field_count = 0;
  b->bytes += RECORD_OVERHEAD + r->key_len;
  return SD_OK;
}

sd_result batch_field(sd_batch *b, const char *name, size_t name_len, const sd_value *v) {
  if (!b || frozen(b) || b->record_count == 0 || !name || !v) return SD_ERR;
  if (v->type > SD_STRING || (v->type == SD_STRING && !v->as.s.ptr && v->as.s.len))
    return SD_ERR;
  if (b->field_count == b->field_cap)
    util_grow((void **)&b->fields, &b->field_cap, b->field_count + 1, sizeof *b->fields);
  sd_field *f = &b->fields[b->field_count++];
  *f = (sd_field){.name = arena_copy(b, name, name_len), .name_len = name_len};
  f->value.type = v->type;
  switch (v->type) {
  case SD_BOOL:
    f->value.as.i = v->as.i != 0;
    break;
  case SD_INT:
    f->value.as.i = v->as.i;
    break;
  case SD_DOUBLE:
    f->value.as.d = v->as.d;
    break;
  case SD_STRING:
    f->value.as.s.ptr = arena_copy(b, v->as.s.ptr ? v->as.s.ptr : "", v->as.s.len);
    f->value.as.s.len = v->as.s.len;
    b->bytes += v->as.s.len;
    break;
  default:
    break;
  }
  b->records[b->record_count - 1].field_count++;
  b->bytes += FIELD_OVERHEAD + name_len;
  return SD_OK;
}

size_t batch_count(const sd_batch *b) {
  return b ? b->record_count : 0;
}
size_t batch_bytes(const sd_batch *b) {
  return b ? b->bytes : 0;
}

sd_result batch_view(const sd_batch *b, size_t index, sd_record_view *out) {
  if (!b || !out || index >= b->record_count) return SD_ERR;
  const batch_record *r = &b->records[index];
  out->timestamp_ns = r->timestamp_ns;
  out->key = r->key;
  out->key_len = r->key_len;
  out->field_count = r->field_count;
  out->fields = r->field_count ? &b->fields[r->first_field] : NULL;
  return SD_OK;
}

void batch_set_schema(sd_batch *b, sd_schema *schema) {
  if (!b || frozen(b)) return;
  if (schema) schema_retain(schema);
  schema_release(b->schema);
  b->schema = schema;
}

sd_schema *schema_new(const char *name, size_t column_count, const char *const *columns,
                      const char *const *types) {
  sd_schema *s = xcalloc(1, sizeof *s);
  atomic_init(&s->refs, 1);
  s->name = xstrdup(name ? name : "");
  s->column_count = column_count;
  s->columns = xcalloc(column_count + 1, sizeof *s->columns);
  s->types = xcalloc(column_count + 1, sizeof *s->types);
  for (size_t i = 0; i < column_count; i++) {
    s->columns[i] = xstrdup(columns && columns[i] ? columns[i] : "");
    s->types[i] = xstrdup(types && types[i] ? types[i] : "STRING");
  }
  return s;
}

void schema_retain(sd_schema *s) {
  if (s) atomic_fetch_add(&s->refs, 1);
}

void schema_release(sd_schema *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  for (size_t i = 0; i < s->column_count; i++) {
    free(s->columns[i]);
    free(s->types[i]);
  }
  free(s->columns);
  free(s->types);
  free(s->name);
  free(s);
}

void schema_view(const sd_schema *s, sd_schema_view *out) {
  if (!out) return;
  if (!s) {
    memset(out, 0, sizeof *out);
    return;
  }
  out->name = s->name;
  out->column_count = s->column_count;
  out->columns = (const char *const *)s->columns;
  out->types = (const char *const *)s->types;
}
