/* Row serialization for the streaming outputs: sd_value → JSON text, written once per
 * event into a growable buffer, plus the original dashboard's time format.
 * Doubles use the shortest of %.15g/%.16g/%.17g that reads back exactly. */
#ifndef OUTS_ROWJSON_H
#define OUTS_ROWJSON_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rj_buf {
  char *data;
  size_t len;
  size_t cap;
  int failed; /* an allocation failed: the content is incomplete */
} rj_buf;

void rj_init(rj_buf *b);
void rj_free(rj_buf *b);
void rj_put(rj_buf *b, const char *s, size_t n);
void rj_puts(rj_buf *b, const char *s);
void rj_string(rj_buf *b, const char *s, size_t n); /* quoted, escaped */
void rj_double(rj_buf *b, double d);                /* null when not finite */
void rj_int(rj_buf *b, int64_t v);
void rj_value(rj_buf *b, const sd_value *v);

/* "YYYY-MM-DD HH:MM:SS.ffffff" in UTC from epoch nanoseconds; out needs 32 bytes. */
void rj_chart_time(char *out, size_t cap, int64_t ns);

#endif
