/* Sensor Logger and flat-record body parsing: JSON decoding with jansson (integers stay
 * int64, so nanosecond times beyond 2^53 survive), validation with errors that name the
 * offending place, and flattening of nested values into `_`-joined field names. */
#include "ingest.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field names are built here: the prefix of the current level, grown as needed. */
typedef struct ing_ctx {
  const rb_builder *b;
  ing_error *err;
  char *name;
  size_t name_cap;
} ing_ctx;

typedef enum ing_numbers { NUMBERS_AS_DOUBLE, NUMBERS_AS_IS } ing_numbers;

static void ing_fail(ing_error *err, int status, const char *error, const char *cls,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void ing_fail(ing_error *err, int status, const char *error, const char *cls,
                     const char *fmt, ...) {
  va_list ap;
  err->status = status;
  err->error = error;
  err->class_name = cls;
  va_start(ap, fmt);
  vsnprintf(err->detail, sizeof err->detail, fmt, ap);
  va_end(ap);
}

#define SCHEMA_FAIL(err, ...) ing_fail((err), 422, "invalid_payload", "schema", __VA_ARGS__)

static int ing_builder_failed(ing_ctx *c) {
  ing_fail(c->err, 500, "internal", "internal", "out of memory while building the batch");
  return -1;
}

/* Makes room for `need` bytes plus a NUL in the name buffer. */
static int ing_name_reserve(ing_ctx *c, size_t need) {
  if (need + 1 <= c->name_cap) return 0;
  size_t cap = c->name_cap ? c->name_cap : 64;
  while (cap < need + 1) cap *= 2;
  char *p = realloc(c->name, cap);
  if (!p) return -1;
  c->name = p;
  c->name_cap = cap;
  return 0;
}

/* Sets name[at..] = sep + key; returns the new length or (size_t)-1. */
static size_t ing_name_put(ing_ctx *c, size_t at, const char *sep, const char *key,
                           size_t key_len) {
  size_t sep_len = strlen(sep);
  if (ing_name_reserve(c, at + sep_len + key_len)) return (size_t)-1;
  memcpy(c->name + at, sep, sep_len);
  memcpy(c->name + at + sep_len, key, key_len);
  c->name[at + sep_len + key_len] = '\0';
  return at + sep_len + key_len;
}

/* Writes value v under the field name currently in name[0..len): scalars as fields,
 * objects recursively as name_key, arrays as compact JSON text. */
static int ing_flatten(ing_ctx *c, size_t len, json_t *v, ing_numbers numbers) {
  const rb_builder *b = c->b;
  int rc = 0;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *key;
    json_t *child;
    json_object_foreach(v, key, child) {
      size_t n = ing_name_put(c, len, "_", key, strlen(key));
      if (n == (size_t)-1) return ing_builder_failed(c);
      if (ing_flatten(c, n, child, numbers)) return -1;
    }
    return 0;
  }
  case JSON_ARRAY: {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return ing_builder_failed(c);
    rc = b->field_string(b->ctx, c->name, len, text, strlen(text));
    free(text);
    break;
  }
  case JSON_STRING:
    rc = b->field_string(b->ctx, c->name, len, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    if (numbers == NUMBERS_AS_DOUBLE)
      rc = b->field_double(b->ctx, c->name, len, (double)json_integer_value(v));
    else
      rc = b->field_int(b->ctx, c->name, len, (int64_t)json_integer_value(v));
    break;
  case JSON_REAL:
    rc = b->field_double(b->ctx, c->name, len, json_real_value(v));
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    rc = b->field_bool(b->ctx, c->name, len, json_is_true(v));
    break;
  case JSON_NULL:
    rc = b->field_null(b->ctx, c->name, len);
    break;
  }
  return rc ? ing_builder_failed(c) : 0;
}

/* Writes v as the top-level field `key` (flattening under it). */
static int ing_field(ing_ctx *c, const char *key, json_t *v, ing_numbers numbers) {
  size_t n = ing_name_put(c, 0, "", key, strlen(key));
  if (n == (size_t)-1) return ing_builder_failed(c);
  return ing_flatten(c, n, v, numbers);
}

/* Epoch nanoseconds: a non-negative JSON integer or a string of 1..19 digits. */
static int ing_time_value(json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    json_int_t t = json_integer_value(v);
    if (t < 0) return -1;
    *out = (int64_t)t;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 19) return -1;
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
      if (s[i] < '0' || s[i] > '9') return -1;
      int d = s[i] - '0';
      if (t > (INT64_MAX - d) / 10) return -1;
      t = t * 10 + d;
    }
    *out = t;
    return 0;
  }
  return -1;
}

static int ing_decode(const char *body, size_t len, json_t **out, ing_error *err,
                      const char *where) {
  json_error_t je;
  *out = json_loadb(body, len, 0, &je);
  if (*out) return 0;
  if (where)
    ing_fail(err, 400, "invalid_json", "json", "%s column %d: %s", where, je.column, je.text);
  else
    ing_fail(err, 400, "invalid_json", "json", "line %d column %d: %s", je.line, je.column,
             je.text);
  return -1;
}

static const char *ing_type_name(json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "?";
}

static int ing_is_reading_key(const char *key) {
  return !strcmp(key, "name") || !strcmp(key, "time") || !strcmp(key, "values") ||
         !strcmp(key, "accuracy");
}

static int ing_reading(ing_ctx *c, size_t i, json_t *r, json_t *message_id, json_t *session_id,
                       json_t *device_id, json_t *user_id) {
  const rb_builder *b = c->b;
  if (!json_is_object(r)) {
    SCHEMA_FAIL(c->err, "payload[%zu]: expected an object, got %s", i, ing_type_name(r));
    return -1;
  }
  json_t *name = json_object_get(r, "name");
  if (!json_is_string(name) || json_string_length(name) == 0) {
    SCHEMA_FAIL(c->err, "payload[%zu].name: expected a non-empty string, got %s", i,
                name ? ing_type_name(name) : "nothing");
    return -1;
  }
  json_t *time = json_object_get(r, "time");
  int64_t t;
  if (!time || ing_time_value(time, &t)) {
    SCHEMA_FAIL(c->err, "payload[%zu].time: expected integer nanoseconds, got %s", i,
                time ? ing_type_name(time) : "nothing");
    return -1;
  }
  json_t *values = json_object_get(r, "values");
  if (!json_is_object(values)) {
    SCHEMA_FAIL(c->err, "payload[%zu].values: expected an object, got %s", i,
                values ? ing_type_name(values) : "nothing");
    return -1;
  }
  if (b->record_begin(b->ctx, t, json_string_value(device_id), json_string_length(device_id)) ||
      b->field_string(b->ctx, "name", 4, json_string_value(name), json_string_length(name)) ||
      b->field_int(b->ctx, "time", 4, t))
    return ing_builder_failed(c);
  if (ing_field(c, "values", values, NUMBERS_AS_DOUBLE)) return -1;
  json_t *accuracy = json_object_get(r, "accuracy");
  if (accuracy && ing_field(c, "accuracy", accuracy, NUMBERS_AS_IS)) return -1;
  /* Keys the app may add in later versions pass through, flattened like values. */
  const char *key;
  json_t *v;
  json_object_foreach(r, key, v) {
    if (ing_is_reading_key(key)) continue;
    if (ing_field(c, key, v, NUMBERS_AS_DOUBLE)) return -1;
  }
  if (b->field_int(b->ctx, "messageId", 9, (int64_t)json_integer_value(message_id)) ||
      b->field_string(b->ctx, "sessionId", 9, json_string_value(session_id),
                      json_string_length(session_id)) ||
      b->field_string(b->ctx, "deviceId", 8, json_string_value(device_id),
                      json_string_length(device_id)))
    return ing_builder_failed(c);
  if (user_id && b->field_string(b->ctx, "userId", 6, json_string_value(user_id),
                                 json_string_length(user_id)))
    return ing_builder_failed(c);
  return 0;
}

static int ing_reply(ing_summary *out, json_t *reply, ing_error *err) {
  if (!reply) {
    ing_fail(err, 500, "internal", "internal", "out of memory building the reply");
    return -1;
  }
  out->reply = json_dumps(reply, JSON_COMPACT);
  json_decref(reply);
  if (!out->reply) {
    ing_fail(err, 500, "internal", "internal", "out of memory building the reply");
    return -1;
  }
  out->reply_len = strlen(out->reply);
  return 0;
}

int ing_parse_sensorlogger(const char *body, size_t len, int64_t received_ns,
                           const rb_builder *builder, ing_summary *out, ing_error *err) {
  memset(out, 0, sizeof *out);
  json_t *root;
  if (ing_decode(body, len, &root, err, NULL)) return -1;
  ing_ctx c = {.b = builder, .err = err};
  int rc = -1;
  if (!json_is_object(root)) {
    SCHEMA_FAIL(err, "body: expected an object, got %s", ing_type_name(root));
    goto done;
  }
  json_t *message_id = json_object_get(root, "messageId");
  json_t *session_id = json_object_get(root, "sessionId");
  json_t *device_id = json_object_get(root, "deviceId");
  json_t *user_id = json_object_get(root, "userId");
  json_t *payload = json_object_get(root, "payload");
  if (!json_is_integer(message_id)) {
    SCHEMA_FAIL(err, "messageId: expected an integer, got %s",
                message_id ? ing_type_name(message_id) : "nothing");
    goto done;
  }
  if (!json_is_string(session_id)) {
    SCHEMA_FAIL(err, "sessionId: expected a string, got %s",
                session_id ? ing_type_name(session_id) : "nothing");
    goto done;
  }
  if (!json_is_string(device_id)) {
    SCHEMA_FAIL(err, "deviceId: expected a string, got %s",
                device_id ? ing_type_name(device_id) : "nothing");
    goto done;
  }
  if (json_is_null(user_id)) user_id = NULL;
  if (user_id && !json_is_string(user_id)) {
    SCHEMA_FAIL(err, "userId: expected a string, got %s", ing_type_name(user_id));
    goto done;
  }
  if (!json_is_array(payload)) {
    SCHEMA_FAIL(err, "payload: expected an array, got %s",
                payload ? ing_type_name(payload) : "nothing");
    goto done;
  }
  size_t n = json_array_size(payload);
  for (size_t i = 0; i < n; i++)
    if (ing_reading(&c, i, json_array_get(payload, i), message_id, session_id, device_id,
                    user_id))
      goto done;
  out->records = n;
  if (n == 1) {
    json_t *name = json_object_get(json_array_get(payload, 0), "name");
    out->test_push = !strcmp(json_string_value(name), "test");
  }
  rc =
      ing_reply(out,
                json_pack("{s:O,s:O,s:O,s:I}", "messageId", message_id, "sessionId", session_id,
                          "deviceId", device_id, "timestamp", (json_int_t)received_ns),
                err);
done:
  json_decref(root);
  free(c.name);
  return rc;
}

/* One flat record: every key a field (nested objects joined with `_`, integers kept). */
static int ing_flat_record(ing_ctx *c, const char *where, json_t *r,
                           const ing_records_opts *opts, int64_t received_ns) {
  const rb_builder *b = c->b;
  if (!json_is_object(r)) {
    SCHEMA_FAIL(c->err, "%s: expected an object, got %s", where, ing_type_name(r));
    return -1;
  }
  int64_t t = received_ns;
  json_t *time = opts->time_field ? json_object_get(r, opts->time_field) : NULL;
  if (time && ing_time_value(time, &t)) {
    SCHEMA_FAIL(c->err, "%s.%s: expected integer nanoseconds, got %s", where, opts->time_field,
                ing_type_name(time));
    return -1;
  }
  json_t *key = opts->key_field ? json_object_get(r, opts->key_field) : NULL;
  if (key && !json_is_string(key)) {
    SCHEMA_FAIL(c->err, "%s.%s: expected a string key, got %s", where, opts->key_field,
                ing_type_name(key));
    return -1;
  }
  if (b->record_begin(b->ctx, t, key ? json_string_value(key) : NULL,
                      key ? json_string_length(key) : 0))
    return ing_builder_failed(c);
  const char *k;
  json_t *v;
  json_object_foreach(r, k, v) {
    if (ing_field(c, k, v, NUMBERS_AS_IS)) return -1;
  }
  return 0;
}

static int ing_records_array(ing_ctx *c, json_t *root, const ing_records_opts *opts,
                             int64_t received_ns, size_t *count) {
  size_t n = json_array_size(root);
  char where[48];
  for (size_t i = 0; i < n; i++) {
    snprintf(where, sizeof where, "records[%zu]", i);
    if (ing_flat_record(c, where, json_array_get(root, i), opts, received_ns)) return -1;
  }
  *count = n;
  return 0;
}

static int ing_records_lines(ing_ctx *c, const char *body, size_t len,
                             const ing_records_opts *opts, int64_t received_ns, size_t *count) {
  size_t pos = 0, line_no = 0;
  char where[48];
  *count = 0;
  while (pos < len) {
    line_no++;
    const char *nl = memchr(body + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - body) : len;
    size_t a = pos, z = end;
    while (a < z && (body[a] == ' ' || body[a] == '\t' || body[a] == '\r')) a++;
    while (z > a && (body[z - 1] == ' ' || body[z - 1] == '\t' || body[z - 1] == '\r')) z--;
    pos = end + 1;
    if (a == z) continue;
    json_t *r;
    snprintf(where, sizeof where, "line %zu", line_no);
    if (ing_decode(body + a, z - a, &r, c->err, where)) return -1;
    snprintf(where, sizeof where, "records[%zu] (line %zu)", *count, line_no);
    int rc = ing_flat_record(c, where, r, opts, received_ns);
    json_decref(r);
    if (rc) return -1;
    (*count)++;
  }
  return 0;
}

int ing_parse_records(const char *body, size_t len, const ing_records_opts *opts,
                      int64_t received_ns, const rb_builder *builder, ing_summary *out,
                      ing_error *err) {
  memset(out, 0, sizeof *out);
  ing_ctx c = {.b = builder, .err = err};
  size_t first = 0;
  while (first < len && (body[first] == ' ' || body[first] == '\t' || body[first] == '\r' ||
                         body[first] == '\n'))
    first++;
  size_t count = 0;
  int rc;
  if (first < len && body[first] == '[') {
    json_t *root;
    if (ing_decode(body, len, &root, err, NULL)) return -1;
    rc = ing_records_array(&c, root, opts, received_ns, &count);
    json_decref(root);
  } else {
    rc = ing_records_lines(&c, body, len, opts, received_ns, &count);
  }
  free(c.name);
  if (rc) return -1;
  out->records = count;
  return ing_reply(out, json_pack("{s:I}", "accepted", (json_int_t)count), err);
}

void ing_summary_free(ing_summary *summary) {
  free(summary->reply);
  summary->reply = NULL;
}
