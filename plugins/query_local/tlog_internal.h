/* The stream log's on-disk layout and the per-segment code shared by tlog.c (the log:
 * directory, append, roll, retention, reads) and tlog_segment.c (one segment: batch
 * framing, validation, scanning, the sparse index). */
#ifndef TLOG_INTERNAL_H
#define TLOG_INTERNAL_H

#include "tlog.h"

#include <stdint.h>

/* Batch header, little-endian, TLOG_HDR bytes, then payload_len bytes of zstd frame:
 *  0 u32 magic "SDL1"   4 u32 crc32c of bytes 8.. through the payload's end
 *  8 u64 base offset   16 u32 record count   20 u32 payload length   24 u32 raw length
 * 28 u32 flags (1 = zstd)   32 i64 first ts   40 i64 last ts   48 i64 append wall ns */
#define TLOG_MAGIC       0x314c4453u
#define TLOG_HDR         56
#define TLOG_MAX_PAYLOAD (64u << 20)
#define TLOG_MAX_RAW     (256u << 20)
#define TLOG_F_ZSTD      1u
/* Index file: 24-byte entries {u64 offset, i64 max ts of every batch before, u64 file
 * position}, one at least every TLOG_INDEX_EVERY bytes of log. A closed segment's index
 * ends with a seal entry whose position is the log's size (offset = the next segment's). */
#define TLOG_INDEX_EVERY 4096
#define TLOG_IENTRY      24

typedef struct tlog_hdr {
  uint32_t crc, count, payload_len, raw_len, flags;
  uint64_t base;
  int64_t first_ts, last_ts, append_ns;
} tlog_hdr;

typedef struct tlog_ientry {
  uint64_t offset;
  int64_t max_ts_before;
  uint64_t pos;
} tlog_ientry;

typedef struct tlog_seg {
  uint64_t base, next; /* first offset, offset after its last batch */
  char *log_path, *idx_path;
  int fd;  /* O_RDWR for the active segment, O_RDONLY for the others */
  int ifd; /* index, active segment only (-1 otherwise) */
  uint64_t size;
  int64_t max_ts, last_write_ns, created_ns;
  tlog_ientry *idx;
  size_t nidx, idx_cap;
  uint64_t last_indexed_pos;
  int sealed;
} tlog_seg;

void tlog_hdr_encode(unsigned char *p, const tlog_hdr *h);
/* Fields of p, and whether it frames a batch at all (magic, sane lengths): 0 or -1. */
int tlog_hdr_decode(const unsigned char *p, tlog_hdr *h);
uint32_t tlog_batch_crc(const unsigned char *hdr, const void *payload, size_t len);

/* Reads and checks the whole batch at pos (header, lengths within size, CRC): 0 with the
 * payload in *buf (grown as needed), 1 torn or damaged, -1 an I/O error (errno). */
int tlog_seg_read_batch(const tlog_seg *s, uint64_t pos, tlog_hdr *h, unsigned char **buf,
                        size_t *cap);
/* Opens an existing segment: the last one (active) or any unsealed one is scanned whole,
 * cut back to its last whole batch and its index rebuilt; a sealed one trusts its index. */
int tlog_seg_open(tlog_seg *s, int active, tlog_recovery *rec, char *msg, size_t msglen);
int tlog_seg_create(tlog_seg *s, int64_t now_ns);          /* paths and base already set */
int tlog_seg_index_add(tlog_seg *s, const tlog_ientry *e); /* memory and file */
/* Writes the seal entry and closes the active segment to read-only use; fsync if asked. */
int tlog_seg_seal(tlog_seg *s, int do_sync);
void tlog_seg_close(tlog_seg *s);
/* Position to start scanning at for offset / for timestamp, from the sparse index. */
uint64_t tlog_seg_find_offset(const tlog_seg *s, uint64_t offset);
uint64_t tlog_seg_find_time(const tlog_seg *s, int64_t ts);

#endif
