/* Unit tests of query_local's stream log: CRC32C vectors, append and read back, rolling,
 * offset and timestamp index lookups, retention of whole segments, recovery after torn or
 * bit-flipped tails, and the size of the sample data once encoded and compressed. */
#include "../../plugins/query_local/qlog_codec.h"
#include "../../plugins/query_local/tlog.h"
#include "../../plugins/query_local/tlog_crc32c.h"
#include "../query_local_engine/test_support.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SAMPLES_DIR
#define SAMPLES_DIR "tests/data/sensorlogger"
#endif

static char dir[256];

static void mkdir_tmp(void) {
  snprintf(dir, sizeof dir, "/tmp/tlog-test-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_tmp(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static tlog *open_log(uint64_t seg_bytes, tlog_recovery *rec) {
  tlog_config c = {.segment_bytes = seg_bytes, .fsync = TLOG_FSYNC_NEVER};
  char err[256];
  tlog *l = tlog_open(dir, &c, rec, err, sizeof err);
  ck_assert_msg(l != NULL, "%s", err);
  return l;
}

/* Batch i holds i%7+1 records; its raw bytes are a pattern of (i, offset) so that a read
 * checks content, not just framing. */
static size_t make_batch(uint64_t i, uint64_t base, unsigned char *raw, uint32_t *count) {
  *count = (uint32_t)(i % 7 + 1);
  size_t len = 64 + (i * 37) % 900;
  for (size_t k = 0; k < len; k++)
    raw[k] = (unsigned char)((i * 131 + base + k * (k % 5)) & 0xff);
  return len;
}

static void append_n(tlog *l, uint64_t n, uint64_t first_i) {
  unsigned char raw[1024];
  for (uint64_t i = first_i; i < first_i + n; i++) {
    uint32_t count;
    uint64_t base = tlog_next_offset(l);
    size_t len = make_batch(i, base, raw, &count);
    uint64_t got;
    ck_assert_int_eq(tlog_append(l, raw, len, count, (int64_t)i * 1000, (int64_t)i * 1000 + 999,
                                 (int64_t)i, &got),
                     0);
    ck_assert_uint_eq(got, base);
  }
}

typedef struct seen {
  uint64_t batches, records, next;
  int bad;
  int64_t first_ts;
} seen;

static int check_batch(void *ctx, const tlog_batch *b) {
  seen *s = ctx;
  if (!s->batches) s->first_ts = b->first_ts;
  uint64_t i = (uint64_t)b->first_ts / 1000;
  unsigned char raw[1024];
  uint32_t count;
  size_t len = make_batch(i, b->base_offset, raw, &count);
  if (count != b->count || len != b->raw_len || memcmp(raw, b->raw, len) ||
      (s->batches && b->base_offset != s->next))
    s->bad++;
  s->next = b->base_offset + b->count;
  s->batches++;
  s->records += b->count;
  return 0;
}

START_TEST(crc32c_vectors) {
  ck_assert_uint_eq(tlog_crc32c(0, "123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(tlog_crc32c_soft(0, "123456789", 9), 0xE3069283u);
  unsigned char b[48];
  memset(b, 0, 32); /* RFC 3720 B.4 */
  ck_assert_uint_eq(tlog_crc32c(0, b, 32), 0x8A9136AAu);
  memset(b, 0xff, 32);
  ck_assert_uint_eq(tlog_crc32c(0, b, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
  ck_assert_uint_eq(tlog_crc32c(0, b, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
  ck_assert_uint_eq(tlog_crc32c(0, b, 32), 0x113FDB5Cu);
  ck_assert_uint_eq(tlog_crc32c(0, "", 0), 0);
  /* Pieces at every split and alignment give the same crc, in both paths. */
  unsigned char big[1000];
  for (int i = 0; i < 1000; i++) big[i] = (unsigned char)(i * 7 + 3);
  uint32_t whole = tlog_crc32c(0, big, sizeof big);
  ck_assert_uint_eq(tlog_crc32c_soft(0, big, sizeof big), whole);
  for (size_t cut = 0; cut < 40; cut++) {
    ck_assert_uint_eq(tlog_crc32c(tlog_crc32c(0, big + 0, cut), big + cut, 1000 - cut), whole);
    ck_assert_uint_eq(
        tlog_crc32c_soft(tlog_crc32c_soft(0, big + 3, cut), big + 3 + cut, 997 - cut),
        tlog_crc32c(0, big + 3, 997));
  }
}
END_TEST

START_TEST(append_read_reopen) {
  mkdir_tmp();
  tlog *l = open_log(0, NULL);
  append_n(l, 500, 0);
  seen s = {0};
  ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0);
  ck_assert_uint_eq(s.batches, 500);
  ck_assert_int_eq(s.bad, 0);
  uint64_t records = s.records;
  ck_assert_uint_eq(tlog_next_offset(l), records);
  tlog_close(l);
  tlog_recovery rec;
  l = open_log(0, &rec);
  ck_assert_uint_eq(rec.cut_bytes, 0);
  ck_assert_uint_eq(tlog_next_offset(l), records);
  append_n(l, 10, 500);
  memset(&s, 0, sizeof s);
  ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0);
  ck_assert_uint_eq(s.batches, 510);
  ck_assert_int_eq(s.bad, 0);
  tlog_close(l);
  rm_tmp();
}
END_TEST

START_TEST(roll_and_index) {
  mkdir_tmp();
  tlog *l = open_log(64 * 1024, NULL);
  append_n(l, 2000, 0);
  ck_assert_uint_gt(tlog_segment_count(l), 5);
  for (int reopen = 0; reopen < 2; reopen++) {
    uint64_t next = tlog_next_offset(l);
    for (uint64_t off = 0; off < next; off += 97) {
      seen s = {0};
      ck_assert_int_eq(tlog_read(l, off, check_batch, &s), 0);
      ck_assert_int_eq(s.bad, 0);
      ck_assert_uint_le(s.next - s.records, off); /* the first batch holds off */
      ck_assert_uint_gt(s.next - s.records + 7, off);
      ck_assert_uint_eq(s.next, next);
      uint64_t base;
      ck_assert_int_ge(tlog_lookup(l, off, &base), 0);
      ck_assert_uint_le(base, off);
    }
    for (int64_t i = 0; i < 2000; i += 53) {
      seen s = {0};
      ck_assert_int_eq(tlog_read_time(l, i * 1000 + 500, check_batch, &s), 0);
      ck_assert_int_eq(s.bad, 0);
      ck_assert_int_eq(s.first_ts, i * 1000); /* batch i ends at i*1000+999 */
      ck_assert_uint_eq(s.batches, 2000 - (uint64_t)i);
    }
    ck_assert_int_eq(tlog_lookup(l, next, NULL), -1);
    tlog_close(l);
    l = open_log(64 * 1024, NULL);
  }
  tlog_close(l);
  rm_tmp();
}
END_TEST

START_TEST(retention_whole_segments) {
  mkdir_tmp();
  tlog_config c = {.segment_bytes = 32 * 1024, .retention_bytes = 200 * 1024};
  char err[256];
  tlog *l = tlog_open(dir, &c, NULL, err, sizeof err);
  ck_assert_ptr_nonnull(l);
  append_n(l, 3000, 0);
  size_t before = tlog_segment_count(l);
  uint64_t next = tlog_next_offset(l);
  ck_assert_int_gt(tlog_enforce_retention(l, 0), 0);
  ck_assert_uint_le(tlog_size_bytes(l), 200 * 1024);
  ck_assert_uint_gt(tlog_size_bytes(l), 200 * 1024 - 34 * 1024); /* only whole segments */
  ck_assert_uint_lt(tlog_segment_count(l), before);
  ck_assert_uint_eq(tlog_next_offset(l), next);
  seen s = {0};
  ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0); /* from the oldest kept */
  ck_assert_int_eq(s.bad, 0);
  ck_assert_uint_eq(s.next - s.records, tlog_start_offset(l));
  ck_assert_uint_eq(s.next, next);
  /* By age: everything but the active segment goes, the active one never. */
  tlog_close(l);
  c.retention_bytes = 0;
  c.retention_age_ns = 1;
  l = tlog_open(dir, &c, NULL, err, sizeof err);
  ck_assert_ptr_nonnull(l);
  tlog_enforce_retention(l, INT64_MAX / 2);
  ck_assert_uint_eq(tlog_segment_count(l), 1);
  ck_assert_uint_eq(tlog_next_offset(l), next);
  tlog_close(l);
  rm_tmp();
}
END_TEST

START_TEST(roll_by_age) {
  mkdir_tmp();
  tlog_config c = {.segment_age_ns = 10, .fsync = TLOG_FSYNC_NEVER}; /* append i at "time" i */
  char err[256];
  tlog *l = tlog_open(dir, &c, NULL, err, sizeof err);
  ck_assert_ptr_nonnull(l);
  append_n(l, 95, 0);
  ck_assert_uint_eq(tlog_segment_count(l), 10);
  seen s = {0};
  ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0);
  ck_assert_uint_eq(s.batches, 95);
  ck_assert_int_eq(s.bad, 0);
  tlog_close(l);
  rm_tmp();
}
END_TEST

START_TEST(index_lost_or_damaged) {
  mkdir_tmp();
  tlog *l = open_log(64 * 1024, NULL);
  append_n(l, 1500, 0);
  uint64_t next = tlog_next_offset(l);
  size_t segs = tlog_segment_count(l);
  tlog_close(l);
  char cmd[400];
  /* One index gone, one cut short, one overwritten with garbage: each is rebuilt. */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && set -- $(ls *.index) && rm \"$1\" && truncate -s 30 \"$2\" && "
           "head -c 500 /dev/urandom >\"$3\"",
           dir);
  ck_assert_int_eq(system(cmd), 0);
  tlog_recovery rec;
  l = open_log(64 * 1024, &rec);
  ck_assert_uint_eq(rec.cut_bytes, 0);
  ck_assert_uint_eq(tlog_next_offset(l), next);
  ck_assert_uint_eq(tlog_segment_count(l), segs);
  for (uint64_t off = 0; off < next; off += 211) {
    seen s = {0};
    ck_assert_int_eq(tlog_read(l, off, check_batch, &s), 0);
    ck_assert_int_eq(s.bad, 0);
    ck_assert_uint_le(s.next - s.records, off);
    ck_assert_uint_eq(s.next, next);
  }
  tlog_close(l);
  rm_tmp();
}
END_TEST

static char *last_segment(void) {
  static char path[512];
  char cmd[400];
  snprintf(cmd, sizeof cmd, "ls '%s'/*.log | tail -1", dir);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(fgets(path, sizeof path, p));
  pclose(p);
  path[strcspn(path, "\n")] = 0;
  return path;
}

/* Batch boundaries of the active segment, as end offsets of the file. */
static size_t boundaries(tlog *l, uint64_t *ends, uint64_t *next_after, size_t max) {
  (void)l;
  int fd = open(last_segment(), O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  size_t n = 0;
  uint64_t pos = 0;
  unsigned char h[56];
  while (pos < (uint64_t)st.st_size && n < max) {
    ck_assert_int_eq(pread(fd, h, 56, (off_t)pos), 56);
    uint32_t plen = h[20] | h[21] << 8 | h[22] << 16 | (uint32_t)h[23] << 24;
    uint32_t cnt = h[16] | h[17] << 8 | h[18] << 16 | (uint32_t)h[19] << 24;
    uint64_t base = 0;
    for (int i = 7; i >= 0; i--) base = base << 8 | h[8 + i];
    pos += 56 + plen;
    ends[n] = pos;
    next_after[n] = base + cnt;
    n++;
  }
  close(fd);
  return n;
}

static void copy_dir(const char *from, const char *to) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
  ck_assert_int_eq(system(cmd), 0);
}

START_TEST(recovery_truncated_200) {
  mkdir_tmp();
  tlog *l = open_log(256 * 1024, NULL);
  append_n(l, 700, 0); /* two segments and a half */
  ck_assert_uint_ge(tlog_segment_count(l), 2);
  static uint64_t ends[4096], nexts[4096];
  size_t nb = boundaries(l, ends, nexts, 4096);
  uint64_t total = ends[nb - 1], full_next = tlog_next_offset(l);
  tlog_close(l);
  char orig[300];
  snprintf(orig, sizeof orig, "%s.orig", dir);
  copy_dir(dir, orig);
  srand(11);
  for (int round = 0; round < 200; round++) {
    copy_dir(orig, dir);
    uint64_t cut = (uint64_t)rand() % total;
    ck_assert_int_eq(truncate(last_segment(), (off_t)cut), 0);
    /* What survives: every batch that ends at or before cut. */
    uint64_t keep_end = 0, want_next = 0;
    for (size_t i = 0; i < nb && ends[i] <= cut; i++) keep_end = ends[i], want_next = nexts[i];
    tlog_recovery rec;
    l = open_log(256 * 1024, &rec);
    ck_assert_uint_eq(rec.cut_bytes, cut - keep_end);
    seen s = {0};
    ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0);
    ck_assert_int_eq(s.bad, 0);
    if (keep_end) ck_assert_uint_eq(tlog_next_offset(l), want_next);
    ck_assert_uint_le(tlog_next_offset(l), full_next);
    /* And the log goes on from there. */
    append_n(l, 3, 900);
    seen s2 = {0};
    ck_assert_int_eq(tlog_read(l, 0, check_batch, &s2), 0);
    ck_assert_uint_eq(s2.batches, s.batches + 3);
    tlog_close(l);
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", orig);
  ck_assert_int_eq(system(cmd), 0);
  rm_tmp();
}
END_TEST

START_TEST(recovery_bit_flips) {
  mkdir_tmp();
  tlog *l = open_log(256 * 1024, NULL);
  append_n(l, 700, 0);
  static uint64_t ends[4096], nexts[4096];
  size_t nb = boundaries(l, ends, nexts, 4096);
  uint64_t total = ends[nb - 1];
  tlog_close(l);
  char orig[300];
  snprintf(orig, sizeof orig, "%s.orig", dir);
  copy_dir(dir, orig);
  srand(12);
  for (int round = 0; round < 200; round++) {
    copy_dir(orig, dir);
    uint64_t at = (uint64_t)rand() % total;
    int fd = open(last_segment(), O_RDWR);
    unsigned char c;
    ck_assert_int_eq(pread(fd, &c, 1, (off_t)at), 1);
    c ^= (unsigned char)(1u << (rand() % 8));
    ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)at), 1);
    close(fd);
    uint64_t keep_end = 0, kept = 0;
    for (size_t i = 0; i < nb && ends[i] <= at; i++) keep_end = ends[i], kept = i + 1;
    tlog_recovery rec;
    l = open_log(256 * 1024, &rec);
    ck_assert_uint_eq(rec.cut_bytes, total - keep_end);
    seen s = {0};
    ck_assert_int_eq(tlog_read(l, 0, check_batch, &s), 0);
    ck_assert_int_eq(s.bad, 0); /* nothing damaged is served */
    (void)kept;
    tlog_close(l);
  }
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", orig);
  ck_assert_int_eq(system(cmd), 0);
  rm_tmp();
}
END_TEST

/* ---- The record encoding ------------------------------------------------------------------
 */
typedef struct cmp_ctx {
  ts_record *recs;
  size_t i;
  int bad;
} cmp_ctx;

static int values_same(const sd_value *a, const sd_value *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case SD_STRING:
    return a->as.s.len == b->as.s.len && !memcmp(a->as.s.ptr, b->as.s.ptr, a->as.s.len);
  case SD_DOUBLE:
    return !memcmp(&a->as.d, &b->as.d, 8);
  case SD_NULL:
    return 1;
  default:
    return a->as.i == b->as.i;
  }
}

static int cmp_record(void *ctx, const sd_record_view *r) {
  cmp_ctx *c = ctx;
  const sd_record_view *w = &c->recs[c->i++].view;
  int ok = r->timestamp_ns == w->timestamp_ns && r->field_count == w->field_count &&
           (!r->key) == (!w->key) && r->key_len == w->key_len &&
           (!r->key || !memcmp(r->key, w->key, r->key_len));
  for (size_t k = 0; ok && k < r->field_count; k++)
    ok = r->fields[k].name_len == w->fields[k].name_len &&
         !strcmp(r->fields[k].name, w->fields[k].name) &&
         values_same(&r->fields[k].value, &w->fields[k].value);
  if (!ok) c->bad++;
  return 0;
}

START_TEST(codec_round_trip_and_size) {
  ts_record *recs = NULL;
  size_t n = ts_load_samples(SAMPLES_DIR "/large-batch-5s.json", &recs);
  ck_assert_uint_ge(n, 300);
  ts_record extra[3];
  ts_record_init(&extra[0], -5);
  ts_field_bool(&extra[0], "b", 1);
  ts_field_null(&extra[0], "n");
  ts_field_str(&extra[0], "s", "");
  ts_field_int(&extra[0], "i", INT64_MIN);
  ts_record_init(&extra[1], INT64_MAX);
  ts_field_bool(&extra[1], "b", 0);
  ts_field_null(&extra[1], "n");
  ts_field_str(&extra[1], "s", "x");
  ts_field_int(&extra[1], "i", INT64_MAX);
  ts_record_init(&extra[2], 0);
  mkdir_tmp();
  tlog *l = open_log(0, NULL);
  qlog_enc *e = qlog_enc_new();
  size_t batches = 0;
  for (size_t at = 0; at + 100 <= n; at += 100, batches++) {
    qlog_enc_reset(e);
    for (size_t i = at; i < at + 100; i++)
      ck_assert_int_eq(qlog_enc_record(e, &recs[i].view), 0);
    const void *raw;
    size_t len;
    ck_assert_int_eq(qlog_enc_finish(e, &raw, &len), 0);
    cmp_ctx c = {recs + at, 0, 0};
    ck_assert_int_eq(qlog_decode(raw, len, 100, cmp_record, &c), 0);
    ck_assert_int_eq(c.bad, 0);
    cmp_ctx c2 = {recs + at, 0, 0}; /* short: refused at the cut, what precedes intact */
    ck_assert_int_eq(qlog_decode(raw, len - 1, 100, cmp_record, &c2), -1);
    ck_assert_int_eq(c2.bad, 0);
    ck_assert_int_eq(tlog_append(l, raw, len, 100, 0, 0, 0, NULL), 0);
  }
  double per = (double)tlog_size_bytes(l) / (double)(batches * 100);
  fprintf(stderr, "stream log: %.1f bytes per reading on disk (%zu readings, 100 a batch)\n",
          per, batches * 100);
  ck_assert_double_lt(per, 40.0);
  qlog_enc_reset(e);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(qlog_enc_record(e, &extra[i].view), 0);
  const void *raw;
  size_t len;
  ck_assert_int_eq(qlog_enc_finish(e, &raw, &len), 0);
  cmp_ctx c = {extra, 0, 0};
  ck_assert_int_eq(qlog_decode(raw, len, 3, cmp_record, &c), 0);
  ck_assert_int_eq(c.bad, 0);
  qlog_enc_free(e);
  tlog_close(l);
  free(recs);
  rm_tmp();
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("query_local_log");
  TCase *t = tcase_create("log");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, crc32c_vectors);
  tcase_add_test(t, append_read_reopen);
  tcase_add_test(t, roll_and_index);
  tcase_add_test(t, retention_whole_segments);
  tcase_add_test(t, roll_by_age);
  tcase_add_test(t, index_lost_or_damaged);
  tcase_add_test(t, recovery_truncated_200);
  tcase_add_test(t, recovery_bit_flips);
  tcase_add_test(t, codec_round_trip_and_size);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
