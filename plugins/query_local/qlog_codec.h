/* How query_local encodes the records of one input batch for the stream log: a table of
 * field-name shapes, then per record its shape, event time, key and values, each value
 * relative to the same field of the record before (deltas, XOR, "same string"). */
#ifndef QLOG_CODEC_H
#define QLOG_CODEC_H

#include <sensord/plugin.h>
#include <stddef.h>
#include <stdint.h>

typedef struct qlog_enc qlog_enc;

qlog_enc *qlog_enc_new(void);
void qlog_enc_free(qlog_enc *e);
void qlog_enc_reset(qlog_enc *e); /* a new batch; strings of the last one are forgotten */
/* Adds a record; its strings must stay valid until qlog_enc_finish. 0 or -1 (memory). */
int qlog_enc_record(qlog_enc *e, const sd_record_view *r);
/* The encoded batch (valid until the next reset): 0 or -1 (memory). */
int qlog_enc_finish(qlog_enc *e, const void **raw, size_t *len);

/* Calls fn for each of the count records in raw; strings point into raw. 0, or -1 when raw
 * is malformed (nothing after the bad record is delivered), or what fn returned if not 0. */
typedef int (*qlog_record_fn)(void *ctx, const sd_record_view *r);
int qlog_decode(const void *raw, size_t len, uint32_t count, qlog_record_fn fn, void *ctx);

#endif
