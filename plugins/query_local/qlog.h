/* query_local's use of the stream log (tlog.h): the log of the stage's topic under
 * data_dir, opened and replayed into the streams' retention at start, appended to for
 * each input batch, and deliveries completed only once their batch is in it under the
 * fsync policy (a group-commit thread for fsync = interval). */
#ifndef QLOG_H
#define QLOG_H

#include "engine.h"
#include "tlog.h"

typedef struct qlog qlog;

typedef struct qlog_opts {
  const char *data_dir, *topic;
  tlog_config log;           /* its log/log_ctx are set by qlog_open */
  int64_t fsync_interval_ns; /* fsync = interval: at most one fdatasync this often */
  size_t replay_records;     /* newest records replayed into retention (retain_records) */
} qlog_opts;

/* Opens <data_dir>/<topic>, recovers it and replays it into engine. NULL on failure
 * (logged). */
qlog *qlog_open(const sd_host_api *host, sd_stage *stage, const qlog_opts *opts,
                ql_engine *engine);
/* Appends the readable records of in as one batch: 0, or -1 after logging the file and
 * errno and counting query_log_write_errors_total (nothing of it is then in the log). */
int qlog_append(qlog *q, const sd_batch *in);
/* Completes the delivery under the fsync policy: at once for batch and never, after the
 * next group commit for interval (with SD_STATUS_FAIL if that fdatasync fails). */
void qlog_complete(qlog *q, sd_delivery *delivery, sd_status status);
/* ql_history_fn over the log (ctx = the qlog): the newest replay_records of the first
 * `ingested` records fed to the engine since qlog_open. */
void qlog_history(void *ctx, uint64_t ingested, ql_restore_fn restore, void *rctx);
void qlog_tick(qlog *q, int64_t now_wall_ns); /* retention, size gauge */
void qlog_close(qlog *q);                     /* completes what still waits; NULL is fine */

#endif
