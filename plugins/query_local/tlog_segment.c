/* One segment of the stream log: framing and checking record batches, scanning a segment
 * back to its last whole batch after a crash (a torn or damaged tail is cut off), and its
 * sparse offset/timestamp index, kept in memory and in <base>.index. */
#include "tlog_crc32c.h"
#include "tlog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void tlog_hdr_encode(unsigned char *p, const tlog_hdr *h) {
  put32(p, TLOG_MAGIC);
  put32(p + 4, h->crc);
  put64(p + 8, h->base);
  put32(p + 16, h->count);
  put32(p + 20, h->payload_len);
  put32(p + 24, h->raw_len);
  put32(p + 28, h->flags);
  put64(p + 32, (uint64_t)h->first_ts);
  put64(p + 40, (uint64_t)h->last_ts);
  put64(p + 48, (uint64_t)h->append_ns);
}

int tlog_hdr_decode(const unsigned char *p, tlog_hdr *h) {
  if (get32(p) != TLOG_MAGIC) return -1;
  h->crc = get32(p + 4);
  h->base = get64(p + 8);
  h->count = get32(p + 16);
  h->payload_len = get32(p + 20);
  h->raw_len = get32(p + 24);
  h->flags = get32(p + 28);
  h->first_ts = (int64_t)get64(p + 32);
  h->last_ts = (int64_t)get64(p + 40);
  h->append_ns = (int64_t)get64(p + 48);
  if (!h->count || h->payload_len > TLOG_MAX_PAYLOAD || h->raw_len > TLOG_MAX_RAW ||
      h->flags & ~TLOG_F_ZSTD)
    return -1;
  return 0;
}

uint32_t tlog_batch_crc(const unsigned char *hdr, const void *payload, size_t len) {
  return tlog_crc32c(tlog_crc32c(0, hdr + 8, TLOG_HDR - 8), payload, len);
}

static int pread_full(int fd, void *buf, size_t n, uint64_t pos) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(pos + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return 1;
    got += (size_t)r;
  }
  return 0;
}

int tlog_seg_read_batch(const tlog_seg *s, uint64_t pos, tlog_hdr *h, unsigned char **buf,
                        size_t *cap) {
  unsigned char hb[TLOG_HDR];
  if (pos + TLOG_HDR > s->size) return 1;
  int r = pread_full(s->fd, hb, sizeof hb, pos);
  if (r) return r;
  if (tlog_hdr_decode(hb, h) || pos + TLOG_HDR + h->payload_len > s->size) return 1;
  if (*cap < h->payload_len || !*buf) {
    unsigned char *nb = realloc(*buf, h->payload_len ? h->payload_len : 1);
    if (!nb) return -1;
    *buf = nb;
    *cap = h->payload_len ? h->payload_len : 1;
  }
  r = pread_full(s->fd, *buf, h->payload_len, pos + TLOG_HDR);
  if (r) return r;
  return tlog_batch_crc(hb, *buf, h->payload_len) == h->crc ? 0 : 1;
}

static int index_push(tlog_seg *s, const tlog_ientry *e) {
  if (s->nidx == s->idx_cap) {
    size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
    tlog_ientry *n = realloc(s->idx, cap * sizeof *n);
    if (!n) return -1;
    s->idx = n;
    s->idx_cap = cap;
  }
  s->idx[s->nidx++] = *e;
  s->last_indexed_pos = e->pos;
  return 0;
}

static void ientry_encode(unsigned char *p, const tlog_ientry *e) {
  put64(p, e->offset);
  put64(p + 8, (uint64_t)e->max_ts_before);
  put64(p + 16, e->pos);
}

int tlog_seg_index_add(tlog_seg *s, const tlog_ientry *e) {
  if (index_push(s, e)) return -1;
  if (s->ifd < 0) return 0;
  unsigned char b[TLOG_IENTRY];
  ientry_encode(b, e);
  /* The index is rebuilt from the log whenever it is in doubt: a short write is harmless. */
  if (write(s->ifd, b, sizeof b) != (ssize_t)sizeof b) return -1;
  return 0;
}

/* Loads <base>.index; 0 when it reads as a consistent sealed index of this log. */
static int load_sealed_index(tlog_seg *s) {
  int fd = open(s->idx_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  int ok = !fstat(fd, &st) && st.st_size > 0 && st.st_size % TLOG_IENTRY == 0;
  size_t n = ok ? (size_t)st.st_size / TLOG_IENTRY : 0;
  unsigned char *b = ok ? malloc((size_t)st.st_size) : NULL;
  ok = b && !pread_full(fd, b, (size_t)st.st_size, 0);
  close(fd);
  s->nidx = 0;
  for (size_t i = 0; ok && i < n; i++) {
    tlog_ientry e = {get64(b + i * TLOG_IENTRY), (int64_t)get64(b + i * TLOG_IENTRY + 8),
                     get64(b + i * TLOG_IENTRY + 16)};
    if (e.pos > s->size || e.offset < s->base ||
        (s->nidx &&
         (e.pos <= s->idx[s->nidx - 1].pos || e.offset < s->idx[s->nidx - 1].offset)))
      ok = 0;
    else if (index_push(s, &e))
      ok = 0;
  }
  free(b);
  if (!ok || !s->nidx || s->idx[s->nidx - 1].pos != s->size) {
    s->nidx = 0;
    return -1;
  }
  tlog_ientry *seal = &s->idx[--s->nidx]; /* kept apart: not a batch position */
  s->next = seal->offset;
  s->max_ts = seal->max_ts_before;
  s->last_indexed_pos = s->nidx ? s->idx[s->nidx - 1].pos : 0;
  return 0;
}

/* Scans the whole log, rebuilding the index; returns the end of the last whole batch. */
static uint64_t scan(tlog_seg *s, tlog_recovery *rec, uint32_t *cut_count) {
  unsigned char *buf = NULL;
  size_t cap = 0;
  uint64_t pos = 0;
  s->nidx = 0;
  s->next = s->base;
  s->max_ts = INT64_MIN;
  *cut_count = 0;
  for (;;) {
    tlog_hdr h;
    int r = tlog_seg_read_batch(s, pos, &h, &buf, &cap);
    if (r == 0 && h.base < s->next) r = 1; /* offsets never go back */
    if (r) {
      unsigned char hb[TLOG_HDR];
      if (pos + TLOG_HDR <= s->size && !pread_full(s->fd, hb, sizeof hb, pos) &&
          !tlog_hdr_decode(hb, &h))
        *cut_count = h.count;
      break;
    }
    if (!s->nidx || pos - s->last_indexed_pos >= TLOG_INDEX_EVERY) {
      tlog_ientry e = {h.base, s->max_ts, pos};
      if (index_push(s, &e)) break;
    }
    if (rec) rec->batches_scanned++;
    s->next = h.base + h.count;
    if (h.last_ts > s->max_ts) s->max_ts = h.last_ts;
    if (h.first_ts > s->max_ts) s->max_ts = h.first_ts;
    pos += TLOG_HDR + h.payload_len;
  }
  free(buf);
  return pos;
}

static int write_index(tlog_seg *s, int seal) {
  int fd = open(s->idx_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t n = s->nidx + (seal ? 1 : 0);
  unsigned char *b = malloc(n * TLOG_IENTRY + 1);
  int rc = b ? 0 : -1;
  for (size_t i = 0; b && i < s->nidx; i++) ientry_encode(b + i * TLOG_IENTRY, &s->idx[i]);
  if (b && seal) {
    tlog_ientry e = {s->next, s->max_ts, s->size};
    ientry_encode(b + s->nidx * TLOG_IENTRY, &e);
  }
  if (b && write(fd, b, n * TLOG_IENTRY) != (ssize_t)(n * TLOG_IENTRY)) rc = -1;
  free(b);
  if (rc) {
    close(fd);
    return -1;
  }
  if (seal) {
    close(fd);
    return 0;
  }
  s->ifd = fd;
  return 0;
}

int tlog_seg_open(tlog_seg *s, int active, tlog_recovery *rec, char *msg, size_t msglen) {
  s->ifd = -1;
  s->fd = open(s->log_path, (active ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  struct stat st;
  if (s->fd < 0 || fstat(s->fd, &st)) return -1;
  s->size = (uint64_t)st.st_size;
  s->last_write_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  s->created_ns = s->last_write_ns;
  if (rec) rec->segments++;
  if (!active && !load_sealed_index(s)) {
    s->sealed = 1;
    return 0;
  }
  if (!active) { /* a closed segment must be written to once, to cut and seal it */
    close(s->fd);
    if ((s->fd = open(s->log_path, O_RDWR | O_CLOEXEC)) < 0) return -1;
  }
  uint32_t cut_count;
  uint64_t end = scan(s, rec, &cut_count);
  if (rec) rec->index_rebuilt = 1;
  if (end < s->size) {
    if (msg)
      snprintf(msg, msglen, "%s: torn tail cut: bytes=%llu records=%u (kept %llu bytes)",
               s->log_path, (unsigned long long)(s->size - end), cut_count,
               (unsigned long long)end);
    if (rec) {
      rec->cut_bytes += s->size - end;
      rec->cut_records += cut_count;
    }
    if (ftruncate(s->fd, (off_t)end) || fdatasync(s->fd)) return -1;
    s->size = end;
  }
  if (!active) {
    if (write_index(s, 1)) return -1;
    s->sealed = 1;
    return 0;
  }
  if (write_index(s, 0)) return -1;
  if (lseek(s->ifd, 0, SEEK_END) < 0) return -1;
  return 0;
}

int tlog_seg_create(tlog_seg *s, int64_t now_ns) {
  s->ifd = -1;
  s->fd = open(s->log_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (s->fd < 0) return -1;
  s->ifd = open(s->idx_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (s->ifd < 0) return -1;
  s->size = 0;
  s->next = s->base;
  s->max_ts = INT64_MIN;
  s->created_ns = s->last_write_ns = now_ns;
  s->nidx = 0;
  return 0;
}

int tlog_seg_seal(tlog_seg *s, int do_sync) {
  if (do_sync && fdatasync(s->fd)) return -1;
  if (s->ifd >= 0) close(s->ifd);
  s->ifd = -1;
  /* Rewritten whole rather than appended: a half-written entry cannot then masquerade as
   * the seal. */
  if (write_index(s, 1)) return -1;
  s->sealed = 1;
  return 0;
}

void tlog_seg_close(tlog_seg *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->ifd >= 0) close(s->ifd);
  s->fd = s->ifd = -1;
  free(s->idx);
  free(s->log_path);
  free(s->idx_path);
  s->idx = NULL;
  s->log_path = s->idx_path = NULL;
}

uint64_t tlog_seg_find_offset(const tlog_seg *s, uint64_t offset) {
  size_t lo = 0, hi = s->nidx; /* last entry with entry.offset <= offset */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->idx[mid].offset <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? s->idx[lo - 1].pos : 0;
}

uint64_t tlog_seg_find_time(const tlog_seg *s, int64_t ts) {
  /* max_ts_before only grows: every batch before the last entry with max_ts_before < ts
   * ends before ts. */
  size_t lo = 0, hi = s->nidx;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->idx[mid].max_ts_before < ts)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? s->idx[lo - 1].pos : 0;
}
