/* Helpers for the query_local engine tests (and its benchmark): records built from
 * name/value pairs, a row collector that renders rows as JSON-like text, and the sample
 * payloads flattened the way source_http flattens them. */
#ifndef QL_TEST_SUPPORT_H
#define QL_TEST_SUPPORT_H

#include "../../plugins/query_local/engine.h"

#include <stddef.h>
#include <stdint.h>

#define TS_MAX_FIELDS 32

typedef struct ts_record {
  sd_field fields[TS_MAX_FIELDS];
  sd_record_view view;
  char strings[2048]; /* names and string values */
  size_t used;
} ts_record;

void ts_record_init(ts_record *r, int64_t timestamp_ns);
void ts_field_str(ts_record *r, const char *name, const char *v);
void ts_field_int(ts_record *r, const char *name, int64_t v);
void ts_field_double(ts_record *r, const char *name, double v);
void ts_field_bool(ts_record *r, const char *name, int v);
void ts_field_null(ts_record *r, const char *name);

typedef struct ts_rows {
  size_t count;
  size_t cap;
  char **lines; /* each row as ["a",1,2.5,null,true] */
  int64_t *rowtime_ns;
  int ended;
  char reason[128];
} ts_rows;

void ts_rows_free(ts_rows *r);
void ts_on_row(void *ctx, const sd_value *values, size_t n, int64_t rowtime_ns);
void ts_on_end(void *ctx, const char *reason);
char *ts_render(const sd_value *values, size_t n); /* malloc'd */

/* Flattens a Sensor Logger payload file into records: one per reading, fields name, time,
 * values_<k>…, messageId, sessionId, deviceId (timestamp = time). Returns the count. */
size_t ts_load_samples(const char *path, ts_record **out);

/* Runs /ksql statements, returning the response as compact JSON text (malloc'd) or the
 * error as "ERR <code>: <message>". */
char *ts_execute(ql_engine *e, const char *sql);

#endif
