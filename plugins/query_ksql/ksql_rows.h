/* The row side of one query_ksql push query: the header's columns (with the name lengths
 * and DOUBLE flags every row needs, worked out once per header) and each row written into
 * a batch as one record. Free of libcurl, so the host's refusals are unit-tested. */
#ifndef KQ_KSQL_ROWS_H
#define KQ_KSQL_ROWS_H

#include <jansson.h>
#include <sensord/plugin.h>
#include <stddef.h>

typedef struct kq_rows {
  const sd_host_api *host;
  sd_stage *stage;
  const char *query;   /* names the query in log lines */
  sd_metric *m_rows;   /* rows received */
  sd_metric *m_failed; /* rows dropped or cut short because the host refused them */
  /* from the header */
  sd_schema *schema;
  size_t column_count;
  char **columns;
  char **types;
  size_t *column_lens;
  unsigned char *as_double; /* DOUBLE columns: integer values go in as doubles */
  int key_col, time_col;    /* DEVICEID (the record key) and TIME (its time), or -1 */
  sd_batch *batch;          /* rows not emitted yet; made on the first row */
} kq_rows;

/* Takes the columns of a header ({"columnNames":[...],"columnTypes":[...]}) and makes
 * their schema. 0, or -1 when it names no column or memory ran out (no columns then). */
int kq_rows_header(kq_rows *r, json_t *header);
/* Forgets the columns and releases the schema; the batch stays. */
void kq_rows_clear_header(kq_rows *r);
/* Adds one row (a JSON array in column order) to r->batch as a record. A row the host
 * refuses (no batch, record or value not taken) is counted in m_failed and logged; the
 * stream goes on with the next row. */
void kq_rows_add(kq_rows *r, json_t *row);

#endif
