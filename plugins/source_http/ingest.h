/* Body parsers of source_http: a Sensor Logger push (readings flattened the way the
 * original producer wrote them to Kafka) and already-flat records (JSON array or NDJSON).
 * Pure: they write into an rb_builder and never touch the host or the network. */
#ifndef SOURCE_HTTP_INGEST_H
#define SOURCE_HTTP_INGEST_H

#include "builder.h"
#include <stddef.h>
#include <stdint.h>

/* Why a body was refused; status is the HTTP answer (400, 422 or 500). */
typedef struct ing_error {
  int status;
  const char *error;      /* short code for the JSON error body, e.g. "invalid_json" */
  const char *class_name; /* label of the parse-error metric: json, schema, internal */
  char detail[256];       /* names the place, e.g. "payload[3].time: expected ..." */
} ing_error;

typedef struct ing_summary {
  size_t records; /* records written to the builder */
  int test_push;  /* the app's "Tap to Test Pushing" message */
  char *reply;    /* JSON body of the 200 answer (malloc'd, NUL-terminated) */
  size_t reply_len;
} ing_summary;

/* Where /records takes each record's event time and key from. */
typedef struct ing_records_opts {
  const char *time_field; /* integer ns or digit string; absent = received time */
  const char *key_field;  /* string; absent = no key */
} ing_records_opts;

/* Parses a Sensor Logger body: one record per reading, fields in order name, time,
 * values_<k>..., accuracy, other reading keys, messageId, sessionId, deviceId, userId.
 * Returns 0, or -1 with *err filled (the builder may then hold a partial batch that the
 * caller must discard). received_ns goes into the reply's "timestamp". */
int ing_parse_sensorlogger(const char *body, size_t len, int64_t received_ns,
                           const rb_builder *builder, ing_summary *out, ing_error *err);

/* Parses flat records: a JSON array of objects, or one object per line (NDJSON). */
int ing_parse_records(const char *body, size_t len, const ing_records_opts *opts,
                      int64_t received_ns, const rb_builder *builder, ing_summary *out,
                      ing_error *err);

void ing_summary_free(ing_summary *summary);

#endif
