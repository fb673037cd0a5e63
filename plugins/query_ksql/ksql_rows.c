/* Rows of a push query into batches (see ksql_rows.h): header columns once, then one
 * record per delimited row, typed by its JSON value (integers in a DOUBLE column become
 * doubles), keyed by DEVICEID and timed by TIME. */
#include "ksql_rows.h"

#include "kafka/kafka_record.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void kq_rows_clear_header(kq_rows *r) {
  if (r->schema) r->host->schema_release(r->schema);
  r->schema = NULL;
  for (size_t i = 0; i < r->column_count; i++) {
    free(r->columns[i]);
    free(r->types[i]);
  }
  free(r->columns);
  free(r->types);
  free(r->column_lens);
  free(r->as_double);
  r->columns = r->types = NULL;
  r->column_lens = NULL;
  r->as_double = NULL;
  r->column_count = 0;
  r->key_col = r->time_col = -1;
}

int kq_rows_header(kq_rows *r, json_t *header) {
  json_t *names = json_object_get(header, "columnNames");
  json_t *types = json_object_get(header, "columnTypes");
  size_t n = json_array_size(names);
  kq_rows_clear_header(r);
  if (!json_is_array(names) || n == 0) return -1;
  r->columns = calloc(n, sizeof *r->columns);
  r->types = calloc(n, sizeof *r->types);
  r->column_lens = calloc(n, sizeof *r->column_lens);
  r->as_double = calloc(n, sizeof *r->as_double);
  if (!r->columns || !r->types || !r->column_lens || !r->as_double) {
    kq_rows_clear_header(r);
    return -1;
  }
  r->column_count = n;
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(names, i));
    const char *type = json_string_value(json_array_get(types, i));
    r->columns[i] = strdup(name ? name : "");
    r->types[i] = strdup(type ? type : "STRING");
    if (!r->columns[i] || !r->types[i]) {
      kq_rows_clear_header(r);
      return -1;
    }
    r->column_lens[i] = strlen(r->columns[i]);
    r->as_double[i] = !strcasecmp(r->types[i], "DOUBLE");
    if (!strcasecmp(r->columns[i], "DEVICEID")) r->key_col = (int)i;
    if (!strcasecmp(r->columns[i], "TIME")) r->time_col = (int)i;
  }
  r->schema = r->host->schema_new(r->stage, r->query, n, (const char *const *)r->columns,
                                  (const char *const *)r->types);
  return 0;
}

/* One value into the record begun last; SD_ERR when the host refused it. */
static sd_result kq_add_value(kq_rows *r, size_t i, json_t *v) {
  const sd_host_api *h = r->host;
  sd_batch *b = r->batch;
  const char *name = r->columns[i];
  size_t nlen = r->column_lens[i];
  if (!v || json_is_null(v)) return h->field_null(b, name, nlen);
  if (json_is_integer(v) && r->as_double[i])
    return h->field_double(b, name, nlen, (double)json_integer_value(v));
  if (json_is_integer(v)) return h->field_int(b, name, nlen, (int64_t)json_integer_value(v));
  if (json_is_real(v)) return h->field_double(b, name, nlen, json_real_value(v));
  if (json_is_string(v))
    return h->field_string(b, name, nlen, json_string_value(v), json_string_length(v));
  if (json_is_boolean(v)) return h->field_bool(b, name, nlen, json_is_true(v));
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); /* ARRAY, MAP, STRUCT */
  if (!text) return SD_ERR;
  sd_result res = h->field_string(b, name, nlen, text, strlen(text));
  free(text);
  return res;
}

void kq_rows_add(kq_rows *r, json_t *row) {
  const sd_host_api *h = r->host;
  h->metric_add(r->m_rows, 1);
  if (!r->batch) {
    r->batch = h->batch_new(r->stage, 16);
    if (!r->batch) {
      h->metric_add(r->m_failed, 1);
      h->log(r->stage, SD_LOG_ERROR, "query %s: row dropped: no batch for it (out of memory)",
             r->query);
      return;
    }
    h->batch_set_schema(r->batch, r->schema);
  }
  int64_t ts = h->now_wall_ns();
  const char *key = NULL;
  size_t key_len = 0;
  json_t *t = r->time_col >= 0 ? json_array_get(row, (size_t)r->time_col) : NULL;
  if (json_is_integer(t)) ts = kr_epoch_to_ns((int64_t)json_integer_value(t));
  json_t *k = r->key_col >= 0 ? json_array_get(row, (size_t)r->key_col) : NULL;
  if (json_is_string(k)) key = json_string_value(k), key_len = json_string_length(k);
  if (h->record_begin(r->batch, ts, key, key_len) != SD_OK) {
    h->metric_add(r->m_failed, 1);
    h->log(r->stage, SD_LOG_ERROR, "query %s: row dropped: the batch refused a new record",
           r->query);
    return;
  }
  size_t refused = 0, first = 0;
  for (size_t i = 0; i < r->column_count; i++)
    if (kq_add_value(r, i, json_array_get(row, i)) != SD_OK && !refused++) first = i;
  if (refused) {
    h->metric_add(r->m_failed, 1);
    h->log(r->stage, SD_LOG_ERROR,
           "query %s: row incomplete: the batch refused %zu of its %zu values (first %s)",
           r->query, refused, r->column_count, r->columns[first]);
  }
}
