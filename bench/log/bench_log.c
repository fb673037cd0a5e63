/* Stream log benchmark (not a test): encode + append of 100-reading batches of the sample
 * data with fsync = never / interval (10 ms group commit, emulated on one thread) / batch,
 * bytes on disk per reading, and recovery (open) time of a large log, warm page cache.
 * Build and run: bench/log/run.sh (or see the gcc line there); KEEP=1 keeps the big log. */
#include "../../plugins/query_local/qlog_codec.h"
#include "../../plugins/query_local/tlog.h"
#include "../../tests/query_local_engine/test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ts_record *recs;
static size_t nrecs;

/* Appends batches of 100 readings (timestamps shifted per lap so they keep growing). */
static uint64_t fill(tlog *l, qlog_enc *e, uint64_t batches, double seconds, tlog_fsync mode) {
  uint64_t done = 0, lap = 0;
  double t0 = now_s(), last_sync = t0;
  size_t at = 0;
  while ((batches && done < batches) || (!batches && now_s() - t0 < seconds)) {
    qlog_enc_reset(e);
    int64_t first = 0, last = 0;
    for (int i = 0; i < 100; i++) {
      if (at == nrecs) at = 0, lap++;
      sd_record_view v = recs[at++].view;
      v.timestamp_ns += (int64_t)lap * 6000000000;
      if (!i) first = v.timestamp_ns;
      last = v.timestamp_ns;
      if (qlog_enc_record(e, &v)) abort();
    }
    const void *raw;
    size_t len;
    if (qlog_enc_finish(e, &raw, &len)) abort();
    if (tlog_append(l, raw, len, 100, first, last, 0, NULL)) {
      perror("append");
      exit(1);
    }
    if (mode == TLOG_FSYNC_INTERVAL && now_s() - last_sync >= 0.010) {
      tlog_sync(l);
      last_sync = now_s();
    }
    done++;
  }
  tlog_sync(l);
  return done;
}

static int count_batch(void *ctx, const tlog_batch *b) {
  *(uint64_t *)ctx += b->count;
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp/bench-log";
  double mib = argc > 2 ? atof(argv[2]) : 1024;
  nrecs = ts_load_samples("tests/data/sensorlogger/large-batch-5s.json", &recs);
  if (!nrecs) return 1;
  qlog_enc *e = qlog_enc_new();
  char err[300], cmd[400];
  const char *names[] = {"batch", "interval", "never"};
  for (int m = 0; m < 3; m++) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    tlog_config c = {.fsync = (tlog_fsync)m};
    tlog *l = tlog_open(dir, &c, NULL, err, sizeof err);
    if (!l) return fprintf(stderr, "%s\n", err), 1;
    double t0 = now_s();
    uint64_t n = fill(l, e, 0, 3.0, (tlog_fsync)m);
    double dt = now_s() - t0;
    printf("append fsync=%-8s %10.0f readings/s  (%llu batches of 100 in %.2f s), %.1f "
           "B/reading\n",
           names[m], (double)n * 100 / dt, (unsigned long long)n, dt,
           (double)tlog_size_bytes(l) / (double)(n * 100));
    tlog_close(l);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) return 1;
  tlog_config c = {.fsync = TLOG_FSYNC_NEVER};
  tlog *l = tlog_open(dir, &c, NULL, err, sizeof err);
  double t0 = now_s();
  uint64_t batches = 0;
  while ((double)tlog_size_bytes(l) < mib * 1048576)
    batches += fill(l, e, 1000, 0, TLOG_FSYNC_NEVER);
  printf("generated %.0f MiB: %llu readings, %zu segments in %.1f s\n",
         (double)tlog_size_bytes(l) / 1048576, (unsigned long long)batches * 100,
         tlog_segment_count(l), now_s() - t0);
  tlog_close(l);
  for (int unclean = 0; unclean < 2; unclean++) {
    if (unclean) { /* every index gone: every segment scanned and its CRCs checked */
      snprintf(cmd, sizeof cmd, "rm -f '%s'/*.index", dir);
      if (system(cmd)) return 1;
    }
    tlog_recovery rec;
    t0 = now_s();
    l = tlog_open(dir, &c, &rec, err, sizeof err);
    double dt = now_s() - t0;
    if (!l) return fprintf(stderr, "%s\n", err), 1;
    printf("open %s: %.1f ms (%llu segments, %llu batches scanned)\n",
           unclean ? "with every index deleted" : "after a clean close", dt * 1000,
           (unsigned long long)rec.segments, (unsigned long long)rec.batches_scanned);
    if (unclean) {
      uint64_t records = 0;
      t0 = now_s();
      tlog_read(l, 0, count_batch, &records);
      dt = now_s() - t0;
      printf("read back + decompress: %.0f readings/s (%llu readings)\n", (double)records / dt,
             (unsigned long long)records);
    }
    tlog_close(l);
  }
  /* KEEP=1 leaves the log for a sensord start-up measurement (data_dir = DIR/..). */
  if (!getenv("KEEP")) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
  }
  qlog_enc_free(e);
  free(recs);
  return 0;
}
