/* Pure text helpers of query_ksql, kept free of the host and of libcurl so they are
 * unit-tested alone: the delimited-format line splitter and the SQL that is sent
 * (identifier validation, literal escaping, CREATE STREAM, push-query checks). */
#ifndef KQ_KSQL_TEXT_H
#define KQ_KSQL_TEXT_H

#include <stddef.h>

/* Incremental splitter: a line may arrive across many write-callback chunks. */
typedef struct kq_lines {
  char *buf;
  size_t len;
  size_t cap;
  size_t max_line;
} kq_lines;

typedef void (*kq_line_fn)(void *ctx, const char *line, size_t len);
/* Calls fn for every complete non-empty line (without the '\n'). -1 when a line grows
 * past max_line (the rest of the stream cannot be trusted). */
int kq_lines_feed(kq_lines *l, const char *data, size_t n, kq_line_fn fn, void *ctx);
void kq_lines_reset(kq_lines *l);
void kq_lines_free(kq_lines *l);

/* [A-Za-z_][A-Za-z0-9_]*, at most 128 characters. */
int kq_ident_valid(const char *s, size_t n);

/* Returns a malloc'd SQL statement or NULL with why filled in. */
char *kq_create_stream_sql(const char *stream, const char *columns, const char *topic,
                           const char *value_format, char *why, size_t why_len);
/* Checks that sql is one push query (SELECT … EMIT CHANGES, no second statement) and
 * returns it malloc'd with exactly one trailing ';', or NULL with why. */
char *kq_push_query_sql(const char *sql, char *why, size_t why_len);

/* Milliseconds of randomized exponential backoff for attempt n (0-based). r in [0,1). */
long kq_backoff_ms(unsigned attempt, long min_ms, long max_ms, double r);

#endif
