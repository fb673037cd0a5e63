/* Fast path of source_http's body parsers (simdjson, ingest_fast.cpp): the same records,
 * fields, order, types and reply as ingest.c's jansson parsers for every body it accepts;
 * any body it does not accept (bad JSON, schema problem, anything unusual) it declines. */
#ifndef SOURCE_HTTP_INGEST_FAST_H
#define SOURCE_HTTP_INGEST_FAST_H

#include "ingest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readable bytes the fast path wants after body + len (their content does not matter).
 * With fewer (padded = 0) it copies the body into a padded buffer first. */
#define ING_FAST_PADDING 64

enum { ING_FAST_OK = 0, ING_FAST_DECLINED = 1 };

/* Same contract as ing_parse_sensorlogger / ing_parse_records for the bodies it takes
 * (ING_FAST_OK, *out filled). ING_FAST_DECLINED: nothing is reported; the builder may hold
 * a partial batch, which the caller discards before parsing the body with the jansson
 * parser, which then gives the exact answer (a 400/422 message, or the records). A
 * builder failure declines too, so that the jansson parser reports it. */
int ing_fast_sensorlogger(const char *body, size_t len, int padded, int64_t received_ns,
                          const rb_builder *builder, ing_summary *out);
int ing_fast_records(const char *body, size_t len, int padded, const ing_records_opts *opts,
                     int64_t received_ns, const rb_builder *builder, ing_summary *out);

#ifdef __cplusplus
}
#endif

#endif
