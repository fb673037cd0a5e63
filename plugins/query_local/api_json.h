/* The bytes of ksqlDB's wire formats: values as JSON the way ksqlDB (Jackson) writes them,
 * and the header / row / error / final lines of the three /query-stream response formats.
 * Pure functions over a growable buffer, shared by both HTTP transports. */
#ifndef QL_API_JSON_H
#define QL_API_JSON_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct api_buf {
  char *data;
  size_t len, cap;
  int oom; /* an allocation failed: contents are incomplete */
} api_buf;

void api_buf_free(api_buf *b);
void api_buf_put(api_buf *b, const char *s, size_t n);
void api_buf_puts(api_buf *b, const char *s);
void api_buf_printf(api_buf *b, const char *fmt, ...) SD_PRINTF(2, 3);
/* Hands the bytes to the caller (NUL-terminated) and empties b. NULL when b->oom. */
char *api_buf_take(api_buf *b, size_t *len);

/* A JSON string literal with quotes; bytes >= 0x80 pass through as UTF-8. */
void api_json_string(api_buf *b, const char *s, size_t n);
/* A double like Java's Double.toString: 12.0, 0.5, 1.0E7, 1.234E-5; NaN/Inf as null. */
void api_json_double(api_buf *b, double d);
/* One column value; type is the ksqlDB column type (TIMESTAMP ints are epoch ms and are
 * written as "YYYY-MM-DDTHH:MM:SS.mmm"). */
void api_json_value(api_buf *b, const sd_value *v, const char *type);

typedef enum api_format {
  API_FMT_DELIMITED = 0, /* application/vnd.ksqlapi.delimited.v1 */
  API_FMT_JSON = 1,      /* application/json: one JSON array */
  API_FMT_V1 = 2         /* application/vnd.ksql.v1+json: StreamedRow objects */
} api_format;

const char *api_format_content_type(api_format fmt);
/* Picks the format from an Accept header (NULL = none): first recognized media type wins. */
api_format api_format_from_accept(const char *accept);

/* The lines of a push-query response (each is written as one chunk / one DATA frame). */
void api_line_header(api_buf *b, api_format fmt, const char *query_id, size_t n,
                     const char *const *names, const char *const *types);
void api_line_row(api_buf *b, api_format fmt, const sd_value *values, size_t n,
                  const char *const *types);
/* An error after the header (delimited: the only line; JSON / v1 are followed by "]"). */
void api_line_error(api_buf *b, api_format fmt, int code, const char *message);
/* The final message of v1 ("Limit Reached", "Query Completed"); other formats write
 * nothing. */
void api_line_final(api_buf *b, api_format fmt, const char *message);
/* What closes the response body: "]" for JSON and v1, nothing for delimited. */
const char *api_format_closer(api_format fmt);

/* A whole error response body: {"@type":…,"error_code":…,"message":…}; 40001/40002 are
 * statement_error with statementText (sql, may be NULL) and entities []. */
void api_error_body(api_buf *b, int code, const char *message, const char *sql);

#endif
