/* The stream log: one directory per topic under data_dir holding Kafka-style segments
 * (<base offset>.log + .index), appended one zstd record batch at a time, with retention,
 * an fsync policy and recovery of a torn tail at open. Not thread-safe: one owner thread. */
#ifndef TLOG_H
#define TLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct tlog tlog;

typedef enum tlog_fsync { TLOG_FSYNC_BATCH, TLOG_FSYNC_INTERVAL, TLOG_FSYNC_NEVER } tlog_fsync;

typedef struct tlog_config {
  uint64_t segment_bytes;   /* roll the active segment past this size (0 = 64 MiB) */
  int64_t segment_age_ns;   /* ... or once it is this old (0 = never by age) */
  uint64_t retention_bytes; /* delete the oldest whole segments past this total (0 = no cap) */
  int64_t retention_age_ns; /* ... or last written longer ago than this (0 = no limit) */
  tlog_fsync fsync;         /* BATCH: tlog_append syncs; else the owner calls tlog_sync */
  /* Messages (recovery, retention, errors); level as sd_log_level. NULL = silent. */
  void (*log)(void *ctx, int level, const char *msg);
  void *log_ctx;
} tlog_config;

/* What recovery found at open. */
typedef struct tlog_recovery {
  uint64_t segments, batches_scanned;
  uint64_t cut_bytes, cut_records; /* a torn tail truncated away (records: as far as known) */
  int index_rebuilt;
} tlog_recovery;

/* Opens (creating) the log in dir. NULL with errno and a message in err. */
tlog *tlog_open(const char *dir, const tlog_config *cfg, tlog_recovery *rec, char *err,
                size_t errlen);
void tlog_close(tlog *l);

/* Appends one batch of count records whose encoded form is raw[0..len), compressed here.
 * 0, or -1 with errno and the failing file in tlog_error(): nothing of the batch then counts
 * (a partial write is cut back) and the log stays usable. *base gets its first offset. */
int tlog_append(tlog *l, const void *raw, size_t len, uint32_t count, int64_t first_ts,
                int64_t last_ts, int64_t now_wall_ns, uint64_t *base);
/* fdatasync of what was appended since the last sync: 0 or -1 with errno. */
int tlog_sync(tlog *l);
/* The active segment's descriptor, for a group-commit thread to fdatasync outside the
 * owner's lock (dup it first: retention may close it); marks the log clean. */
int tlog_active_fd(tlog *l);
/* Deletes whole segments past the retention limits, oldest first, never the active one.
 * Returns how many it deleted. */
int tlog_enforce_retention(tlog *l, int64_t now_wall_ns);
const char *tlog_error(const tlog *l); /* "<file>: <strerror>" of the last failure */

uint64_t tlog_start_offset(const tlog *l); /* oldest offset kept */
uint64_t tlog_next_offset(const tlog *l);  /* offset the next record gets */
uint64_t tlog_size_bytes(const tlog *l);   /* all segments */
size_t tlog_segment_count(const tlog *l);

/* One batch as read back: raw is the decompressed encoding, valid during the call. */
typedef struct tlog_batch {
  uint64_t base_offset;
  uint32_t count;
  int64_t first_ts, last_ts, append_ns;
  const void *raw;
  size_t raw_len;
} tlog_batch;
/* Return non-zero to stop reading. */
typedef int (*tlog_batch_fn)(void *ctx, const tlog_batch *b);

/* Every batch holding an offset >= from, in order, through the sparse offset index. Returns
 * 0, or -1 when a batch could not be read (it and what follows are not delivered). */
int tlog_read(tlog *l, uint64_t from, tlog_batch_fn fn, void *ctx);
/* Every batch whose last timestamp is >= ts, through the sparse timestamp index. */
int tlog_read_time(tlog *l, int64_t ts, tlog_batch_fn fn, void *ctx);
/* File position of the batch holding offset, found through the index (tests): -1 none. */
int64_t tlog_lookup(tlog *l, uint64_t offset, uint64_t *segment_base);

#endif
