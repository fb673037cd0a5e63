/* The stream log of one topic (tlog.h): its directory and lock, the ordered segments,
 * appending zstd batches to the active one, rolling by size and age, retention of whole
 * segments, and reading batches back from an offset or a timestamp. */
#include "tlog_crc32c.h"
#include "tlog_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define ZSTD_LEVEL 1 /* on the sample data both faster and smaller than 3 */

struct tlog {
  char *dir;
  int dir_fd, lock_fd;
  tlog_config cfg;
  tlog_seg *segs; /* oldest first; the last is active */
  size_t nsegs, cap;
  uint64_t total_bytes;
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  unsigned char *zbuf, *rbuf, *dbuf;
  size_t zcap, rcap, dcap;
  int dirty;
  char err[512];
};

static void say(tlog *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(tlog *l, int level, const char *fmt, ...) {
  if (!l->cfg.log) return;
  char m[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  l->cfg.log(l->cfg.log_ctx, level, m);
}

static void fail(tlog *l, const char *file) {
  int e = errno;
  snprintf(l->err, sizeof l->err, "%s: %s", file ? file : l->dir, strerror(e));
  errno = e;
}

const char *tlog_error(const tlog *l) {
  return l->err;
}

static int seg_paths(tlog *l, tlog_seg *s) {
  size_t n = strlen(l->dir) + 32;
  s->log_path = malloc(n);
  s->idx_path = malloc(n);
  if (!s->log_path || !s->idx_path) return -1;
  snprintf(s->log_path, n, "%s/%020" PRIu64 ".log", l->dir, s->base);
  snprintf(s->idx_path, n, "%s/%020" PRIu64 ".index", l->dir, s->base);
  return 0;
}

static tlog_seg *seg_push(tlog *l, uint64_t base) {
  if (l->nsegs == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    tlog_seg *n = realloc(l->segs, cap * sizeof *n);
    if (!n) return NULL;
    l->segs = n;
    l->cap = cap;
  }
  tlog_seg *s = &l->segs[l->nsegs];
  memset(s, 0, sizeof *s);
  s->fd = s->ifd = -1;
  s->base = base;
  if (seg_paths(l, s)) {
    tlog_seg_close(s);
    return NULL;
  }
  l->nsegs++;
  return s;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int mkdir_p(char *path) {
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      int r = mkdir(path, 0755);
      *p = '/';
      if (r && errno != EEXIST) return -1;
    }
  return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

tlog *tlog_open(const char *dir, const tlog_config *cfg, tlog_recovery *rec, char *err,
                size_t errlen) {
  tlog_recovery dummy;
  if (!rec) rec = &dummy;
  memset(rec, 0, sizeof *rec);
  tlog *l = calloc(1, sizeof *l);
  if (!l || !(l->dir = strdup(dir))) {
    free(l);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  l->cfg = *cfg;
  if (!l->cfg.segment_bytes) l->cfg.segment_bytes = 64u << 20;
  l->dir_fd = l->lock_fd = -1;
  uint64_t *bases = NULL;
  size_t nb = 0, capb = 0;
  DIR *d = NULL;
  if (mkdir_p(l->dir) || (l->dir_fd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    goto fail;
  }
  char lockp[4096];
  snprintf(lockp, sizeof lockp, "%s/.lock", l->dir);
  if ((l->lock_fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
      flock(l->lock_fd, LOCK_EX | LOCK_NB)) {
    snprintf(err, errlen, "%s: %s (is another sensord using this data_dir?)", lockp,
             strerror(errno));
    goto fail;
  }
  if (!(l->cctx = ZSTD_createCCtx()) || !(l->dctx = ZSTD_createDCtx())) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (!(d = opendir(l->dir))) {
    snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    goto fail;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    uint64_t base = strtoull(de->d_name, &end, 10);
    if (end != de->d_name + 20 || strcmp(end, ".log")) continue;
    if (nb == capb) {
      capb = capb ? capb * 2 : 16;
      uint64_t *n = realloc(bases, capb * sizeof *n);
      if (!n) goto oom;
      bases = n;
    }
    bases[nb++] = base;
  }
  closedir(d);
  d = NULL;
  if (nb) qsort(bases, nb, sizeof *bases, cmp_u64);
  for (size_t i = 0; i < nb; i++) {
    tlog_seg *s = seg_push(l, bases[i]);
    if (!s) goto oom;
    char msg[600] = "";
    if (tlog_seg_open(s, i + 1 == nb, rec, msg, sizeof msg)) {
      snprintf(err, errlen, "%s: %s", s->log_path, strerror(errno));
      goto fail;
    }
    if (msg[0]) say(l, 1, "%s", msg);
    if (i && s->base < l->segs[i - 1].next) {
      snprintf(err, errlen, "%s: overlaps the segment before it", s->log_path);
      errno = EINVAL;
      goto fail;
    }
    l->total_bytes += s->size;
  }
  if (!l->nsegs) {
    tlog_seg *s = seg_push(l, 0);
    if (!s) goto oom;
    if (tlog_seg_create(s, wall_ns()) || fsync(l->dir_fd)) {
      snprintf(err, errlen, "%s: %s", s->log_path, strerror(errno));
      goto fail;
    }
  }
  free(bases);
  return l;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  if (d) closedir(d);
  free(bases);
  tlog_close(l);
  return NULL;
}

void tlog_close(tlog *l) {
  if (!l) return;
  for (size_t i = 0; i < l->nsegs; i++) tlog_seg_close(&l->segs[i]);
  free(l->segs);
  if (l->dir_fd >= 0) close(l->dir_fd);
  if (l->lock_fd >= 0) close(l->lock_fd);
  ZSTD_freeCCtx(l->cctx);
  ZSTD_freeDCtx(l->dctx);
  free(l->zbuf);
  free(l->rbuf);
  free(l->dbuf);
  free(l->dir);
  free(l);
}

static tlog_seg *active(const tlog *l) {
  return &l->segs[l->nsegs - 1];
}

uint64_t tlog_start_offset(const tlog *l) {
  return l->segs[0].base;
}
uint64_t tlog_next_offset(const tlog *l) {
  return active(l)->next;
}
uint64_t tlog_size_bytes(const tlog *l) {
  return l->total_bytes;
}
size_t tlog_segment_count(const tlog *l) {
  return l->nsegs;
}

static int roll(tlog *l, int64_t now_ns) {
  tlog_seg *a = active(l);
  if (tlog_seg_seal(a, l->cfg.fsync != TLOG_FSYNC_NEVER)) {
    fail(l, a->idx_path);
    return -1;
  }
  /* The sealed segment is only read from now on. */
  uint64_t next = a->next;
  tlog_seg *s = seg_push(l, next);
  if (!s) {
    errno = ENOMEM;
    fail(l, NULL);
    return -1;
  }
  if (tlog_seg_create(s, now_ns) || (l->cfg.fsync != TLOG_FSYNC_NEVER && fsync(l->dir_fd))) {
    fail(l, s->log_path);
    int e = errno;
    unlink(s->log_path);
    unlink(s->idx_path);
    tlog_seg_close(s);
    l->nsegs--;
    errno = e;
    return -1;
  }
  return 0;
}

int tlog_append(tlog *l, const void *raw, size_t len, uint32_t count, int64_t first_ts,
                int64_t last_ts, int64_t now_ns, uint64_t *base) {
  if (!count || len > TLOG_MAX_RAW) {
    errno = EINVAL;
    fail(l, NULL);
    return -1;
  }
  tlog_seg *a = active(l);
  if (a->size &&
      (a->size >= l->cfg.segment_bytes ||
       (l->cfg.segment_age_ns > 0 && now_ns - a->created_ns >= l->cfg.segment_age_ns))) {
    if (roll(l, now_ns)) return -1;
    a = active(l);
  }
  size_t bound = ZSTD_compressBound(len);
  if (l->zcap < bound) {
    unsigned char *n = realloc(l->zbuf, bound);
    if (!n) {
      errno = ENOMEM;
      fail(l, NULL);
      return -1;
    }
    l->zbuf = n;
    l->zcap = bound;
  }
  size_t zlen = ZSTD_compressCCtx(l->cctx, l->zbuf, l->zcap, raw, len, ZSTD_LEVEL);
  if (ZSTD_isError(zlen) || zlen > TLOG_MAX_PAYLOAD) {
    errno = EINVAL;
    fail(l, NULL);
    return -1;
  }
  tlog_hdr h = {.base = a->next,
                .count = count,
                .payload_len = (uint32_t)zlen,
                .raw_len = (uint32_t)len,
                .flags = TLOG_F_ZSTD,
                .first_ts = first_ts,
                .last_ts = last_ts,
                .append_ns = now_ns};
  unsigned char hb[TLOG_HDR];
  tlog_hdr_encode(hb, &h);
  h.crc = tlog_batch_crc(hb, l->zbuf, zlen);
  tlog_hdr_encode(hb, &h);
  struct iovec iov[2] = {{hb, TLOG_HDR}, {l->zbuf, zlen}};
  uint64_t pos = a->size, want = TLOG_HDR + zlen, done = 0;
  while (done < want) {
    struct iovec v[2];
    int nv = 0;
    for (int i = 0; i < 2; i++) {
      uint64_t start = i ? TLOG_HDR : 0, end = start + iov[i].iov_len;
      if (done >= end) continue;
      uint64_t skip = done > start ? done - start : 0;
      v[nv].iov_base = (char *)iov[i].iov_base + skip;
      v[nv].iov_len = iov[i].iov_len - skip;
      nv++;
    }
    ssize_t r = pwritev(a->fd, v, nv, (off_t)(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EIO;
      fail(l, a->log_path);
      int e = errno;
      if (done && ftruncate(a->fd, (off_t)pos)) { /* a torn batch would be cut at open too */
      }
      errno = e;
      return -1;
    }
    done += (uint64_t)r;
  }
  if (l->cfg.fsync == TLOG_FSYNC_BATCH && fdatasync(a->fd)) {
    fail(l, a->log_path);
    int e = errno;
    if (ftruncate(a->fd, (off_t)pos)) {
    }
    errno = e;
    return -1;
  }
  if (!a->nidx || pos - a->last_indexed_pos >= TLOG_INDEX_EVERY) {
    tlog_ientry e = {h.base, a->max_ts, pos};
    if (tlog_seg_index_add(a, &e))
      say(l, 1, "%s: index entry not written (%s); rebuilt at the next start", a->idx_path,
          strerror(errno));
  }
  a->size += want;
  l->total_bytes += want;
  a->next += count;
  if (last_ts > a->max_ts) a->max_ts = last_ts;
  if (first_ts > a->max_ts) a->max_ts = first_ts;
  a->last_write_ns = now_ns;
  if (!pos) a->created_ns = now_ns; /* its age counts from its first batch */
  l->dirty = l->cfg.fsync != TLOG_FSYNC_BATCH;
  if (base) *base = h.base;
  return 0;
}

int tlog_sync(tlog *l) {
  if (!l->dirty) return 0;
  tlog_seg *a = active(l);
  if (fdatasync(a->fd)) {
    fail(l, a->log_path);
    return -1;
  }
  l->dirty = 0;
  return 0;
}

int tlog_active_fd(tlog *l) {
  l->dirty = 0;
  return active(l)->fd;
}

int tlog_enforce_retention(tlog *l, int64_t now_ns) {
  int deleted = 0;
  while (l->nsegs > 1) {
    tlog_seg *s = &l->segs[0];
    int by_bytes = l->cfg.retention_bytes && l->total_bytes > l->cfg.retention_bytes;
    int by_age =
        l->cfg.retention_age_ns > 0 && now_ns - s->last_write_ns > l->cfg.retention_age_ns;
    if (!by_bytes && !by_age) break;
    say(l, 2, "%s: deleted by retention (%s): bytes=%llu offsets=%llu..%llu", s->log_path,
        by_bytes ? "retention_bytes" : "retention_age", (unsigned long long)s->size,
        (unsigned long long)s->base, (unsigned long long)s->next);
    if (unlink(s->log_path) && errno != ENOENT)
      say(l, 0, "%s: could not delete: %s", s->log_path, strerror(errno));
    unlink(s->idx_path);
    l->total_bytes -= s->size;
    tlog_seg_close(s);
    memmove(&l->segs[0], &l->segs[1], (l->nsegs - 1) * sizeof *l->segs);
    l->nsegs--;
    deleted++;
  }
  return deleted;
}

/* ---- Reading ------------------------------------------------------------------------------
 */
static int deliver(tlog *l, const tlog_seg *s, const tlog_hdr *h, tlog_batch_fn fn, void *ctx) {
  if (l->dcap < h->raw_len || !l->dbuf) {
    unsigned char *n = realloc(l->dbuf, h->raw_len ? h->raw_len : 1);
    if (!n) return -1;
    l->dbuf = n;
    l->dcap = h->raw_len ? h->raw_len : 1;
  }
  size_t got = ZSTD_decompressDCtx(l->dctx, l->dbuf, l->dcap, l->rbuf, h->payload_len);
  if (ZSTD_isError(got) || got != h->raw_len) {
    say(l, 0, "%s: batch at offset %llu does not decompress: not served", s->log_path,
        (unsigned long long)h->base);
    return -1;
  }
  tlog_batch b = {h->base, h->count, h->first_ts, h->last_ts, h->append_ns, l->dbuf, got};
  return fn(ctx, &b) ? 1 : 0;
}

/* Batches of segment i from pos; keep(h) decides which are delivered. */
static int read_from(tlog *l, size_t i, uint64_t pos, uint64_t from, int64_t ts, int by_time,
                     tlog_batch_fn fn, void *ctx) {
  for (; i < l->nsegs; i++, pos = 0) {
    tlog_seg *s = &l->segs[i];
    if (by_time && s->max_ts < ts) continue;
    while (pos < s->size) {
      tlog_hdr h;
      int r = tlog_seg_read_batch(s, pos, &h, &l->rbuf, &l->rcap);
      if (r) {
        say(l, 0, "%s: damaged batch at position %llu: reading stops here", s->log_path,
            (unsigned long long)pos);
        return -1;
      }
      pos += TLOG_HDR + h.payload_len;
      if (by_time ? h.last_ts < ts && h.first_ts < ts : h.base + h.count <= from) continue;
      int d = deliver(l, s, &h, fn, ctx);
      if (d < 0) return -1;
      if (d) return 0;
    }
  }
  return 0;
}

int tlog_read(tlog *l, uint64_t from, tlog_batch_fn fn, void *ctx) {
  size_t i = 0;
  while (i + 1 < l->nsegs && l->segs[i + 1].base <= from) i++;
  return read_from(l, i, tlog_seg_find_offset(&l->segs[i], from), from, 0, 0, fn, ctx);
}

int tlog_read_time(tlog *l, int64_t ts, tlog_batch_fn fn, void *ctx) {
  size_t i = 0;
  while (i < l->nsegs && l->segs[i].max_ts < ts) i++;
  if (i == l->nsegs) return 0;
  return read_from(l, i, tlog_seg_find_time(&l->segs[i], ts), 0, ts, 1, fn, ctx);
}

int64_t tlog_lookup(tlog *l, uint64_t offset, uint64_t *segment_base) {
  if (offset < tlog_start_offset(l) || offset >= tlog_next_offset(l)) return -1;
  size_t i = 0;
  while (i + 1 < l->nsegs && l->segs[i + 1].base <= offset) i++;
  tlog_seg *s = &l->segs[i];
  uint64_t pos = tlog_seg_find_offset(s, offset);
  while (pos < s->size) {
    tlog_hdr h;
    if (tlog_seg_read_batch(s, pos, &h, &l->rbuf, &l->rcap)) return -1;
    if (offset < h.base + h.count) {
      if (segment_base) *segment_base = s->base;
      return (int64_t)pos;
    }
    pos += TLOG_HDR + h.payload_len;
  }
  return -1;
}
