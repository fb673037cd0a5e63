/* Throughput and latency of query_local's engine on one core: a filter push query and a
 * 1 s tumbling AVG per device, each next to a hand-written C loop doing the same work on
 * the same records (the baseline), plus one record fanned out to many filter queries.
 * Usage: bench_query [records] [seconds-per-case]; prints a Markdown table. */
#include "../../plugins/query_local/engine.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NFIELDS  8
#define NDEVICES 10

static const char *const sensor_names[] = {"accelerometeruncalibrated", "gyroscopeuncalibrated",
                                           "magnetometeruncalibrated", "gravity"};

typedef struct rec {
  sd_field fields[NFIELDS];
  sd_record_view view;
} rec;

static char device_ids[NDEVICES][40];

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set(sd_field *f, const char *name, sd_value v) {
  f->name = name;
  f->name_len = strlen(name);
  f->value = v;
}

/* Sensor Logger readings as source_http flattens them: 4 sensors x 10 phones at 100 Hz. */
static rec *make_records(size_t n) {
  rec *r = calloc(n, sizeof *r);
  for (int d = 0; d < NDEVICES; d++)
    snprintf(device_ids[d], sizeof device_ids[d], "1e2feb89-414c-443c-9027-c4d1c386bb%02d", d);
  uint64_t seed = 42;
  for (size_t i = 0; i < n; i++) {
    int64_t t = 1732435201000000000LL + (int64_t)(i / 40) * 10000000LL + (int64_t)(i % 40);
    int d = (int)((i / 4) % NDEVICES);
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    double x = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
    sd_value v;
    v.type = SD_STRING;
    v.as.s.ptr = sensor_names[i % 4];
    v.as.s.len = strlen(sensor_names[i % 4]);
    set(&r[i].fields[0], "name", v);
    v.type = SD_INT;
    v.as.i = t;
    set(&r[i].fields[1], "time", v);
    v.type = SD_DOUBLE;
    v.as.d = x;
    set(&r[i].fields[2], "values_z", v);
    v.as.d = x * 2;
    set(&r[i].fields[3], "values_y", v);
    v.as.d = x * 3;
    set(&r[i].fields[4], "values_x", v);
    v.type = SD_INT;
    v.as.i = (int64_t)(i / 400);
    set(&r[i].fields[5], "messageId", v);
    v.type = SD_STRING;
    v.as.s.ptr = "35bf992d-c9e9-4616-a12e-7696a6cecc1b";
    v.as.s.len = 36;
    set(&r[i].fields[6], "sessionId", v);
    v.as.s.ptr = device_ids[d];
    v.as.s.len = strlen(device_ids[d]);
    set(&r[i].fields[7], "deviceId", v);
    r[i].view.timestamp_ns = t;
    r[i].view.field_count = NFIELDS;
    r[i].view.fields = r[i].fields;
  }
  return r;
}

/* ---- Sinks ---------------------------------------------------------------------------- */
static volatile uint64_t sink_rows;
static volatile double sink_sum;
static int64_t lat_t0;
static int64_t *lat_samples;
static size_t lat_count, lat_cap;

static void count_row(void *ctx, const sd_value *v, size_t n, int64_t rowtime) {
  (void)ctx, (void)rowtime;
  sink_rows++;
  if (n > 1 && v[n - 1].type == SD_DOUBLE) sink_sum += v[n - 1].as.d;
}

static void latency_row(void *ctx, const sd_value *v, size_t n, int64_t rowtime) {
  count_row(ctx, v, n, rowtime);
  if (lat_count < lat_cap) lat_samples[lat_count++] = now_ns() - lat_t0;
}

/* ---- Baselines: the same work written by hand ----------------------------------------- */
static const sd_field *field(const rec *r, const char *name) {
  for (size_t k = 0; k < r->view.field_count; k++)
    if (!strcasecmp(r->fields[k].name, name)) return &r->fields[k];
  return NULL;
}

static void baseline_filter(const rec *recs, size_t n) {
  static const char want[] = "accelerometeruncalibrated";
  for (size_t i = 0; i < n; i++) {
    const sd_field *nm = field(&recs[i], "name");
    if (!nm || nm->value.type != SD_STRING || nm->value.as.s.len != sizeof want - 1 ||
        memcmp(nm->value.as.s.ptr, want, sizeof want - 1))
      continue;
    sd_value out[5];
    out[0] = field(&recs[i], "deviceId")->value;
    out[1] = field(&recs[i], "time")->value;
    out[2] = field(&recs[i], "values_x")->value;
    out[3] = field(&recs[i], "values_y")->value;
    out[4] = field(&recs[i], "values_z")->value;
    count_row(NULL, out, 5, recs[i].view.timestamp_ns);
  }
}

typedef struct bl_window {
  char dev[40];
  size_t dev_len;
  int64_t start;
  double sum;
  int64_t count;
} bl_window;

static void baseline_avg(const rec *recs, size_t n) {
  static bl_window w[64];
  static size_t nw;
  for (size_t i = 0; i < n; i++) {
    const sd_field *nm = field(&recs[i], "name");
    if (nm->value.as.s.len != 25 || memcmp(nm->value.as.s.ptr, "accelerometeruncalibrated", 25))
      continue;
    const sd_field *dev = field(&recs[i], "deviceId");
    double x = field(&recs[i], "values_x")->value.as.d;
    int64_t start = recs[i].view.timestamp_ns / 1000000 / 1000 * 1000;
    bl_window *hit = NULL;
    for (size_t k = 0; k < nw; k++)
      if (w[k].start == start && w[k].dev_len == dev->value.as.s.len &&
          !memcmp(w[k].dev, dev->value.as.s.ptr, w[k].dev_len))
        hit = &w[k];
    if (!hit) {
      if (nw == 64) nw = 0; /* closed windows are forgotten */
      hit = &w[nw++];
      memcpy(hit->dev, dev->value.as.s.ptr, dev->value.as.s.len);
      hit->dev_len = dev->value.as.s.len;
      hit->start = start;
      hit->sum = 0;
      hit->count = 0;
    }
    hit->sum += x;
    hit->count++;
    sd_value out[3];
    out[0] = dev->value;
    out[1].type = SD_INT;
    out[1].as.i = start;
    out[2].type = SD_DOUBLE;
    out[2].as.d = hit->sum / (double)hit->count;
    count_row(NULL, out, 3, recs[i].view.timestamp_ns);
  }
}

/* ---- Engine cases ----------------------------------------------------------------------- */
static const char *const ddl =
    "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "
    "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "
    "WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON');";
static const char *const filter_sql =
    "SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE "
    "name = 'accelerometeruncalibrated' EMIT CHANGES;";
static const char *const avg_sql =
    "SELECT deviceId, WINDOWSTART, AVG(values_x) FROM smartphone_sensor_stream WINDOW TUMBLING "
    "(SIZE 1 SECOND) WHERE name = 'accelerometeruncalibrated' GROUP BY deviceId EMIT CHANGES;";

static ql_engine *engine_with(const char *sql, size_t queries, int64_t emit_interval_ns,
                              ql_row_fn fn, ql_query **qs) {
  ql_limits l = {.max_push_queries = 100000,
                 .emit_interval_ns = emit_interval_ns,
                 .default_topic = "smartphone-sensor-data"};
  ql_engine *e = ql_engine_new(&l);
  ql_error err;
  json_t *r = ql_execute(e, ddl, &err);
  json_decref(r);
  for (size_t k = 0; k < queries; k++) {
    ql_query_opts o = {.ad_hoc = 1};
    qs[k] = ql_query_start(e, sql, &o, fn, NULL, NULL, &err);
    if (!qs[k]) {
      fprintf(stderr, "query failed: %s\n", err.message);
      exit(1);
    }
  }
  return e;
}

typedef struct result {
  const char *name;
  double records_per_s, rows_per_s, ns_per_record;
} result;

typedef void (*run_fn)(void *ctx, const rec *recs, size_t n);

static void run_engine(void *ctx, const rec *recs, size_t n) {
  ql_engine *e = ctx;
  for (size_t i = 0; i < n; i++) {
    ql_engine_ingest(e, NULL, &recs[i].view);
    if ((i & 16383) == 16383) ql_engine_tick(e, recs[i].view.timestamp_ns);
  }
}
static void run_baseline_filter(void *ctx, const rec *recs, size_t n) {
  (void)ctx;
  baseline_filter(recs, n);
}
static void run_baseline_avg(void *ctx, const rec *recs, size_t n) {
  (void)ctx;
  baseline_avg(recs, n);
}

static size_t all_records; /* shifting covers every record, even when a case uses fewer */

static void shift_time(const rec *recs, size_t n) {
  n = all_records;
  int64_t span = recs[n - 1].view.timestamp_ns - recs[0].view.timestamp_ns + 1000000000LL;
  rec *w = (rec *)recs;
  for (size_t i = 0; i < n; i++) w[i].view.timestamp_ns += span;
}

/* Repeats passes over the records for at least `seconds`; best pass of each round. */
static result measure(const char *name, run_fn fn, void *ctx, const rec *recs, size_t n,
                      double seconds) {
  shift_time(recs, n);
  fn(ctx, recs, n); /* warm up caches and layouts */
  int64_t t_end = now_ns() + (int64_t)(seconds * 1e9);
  double best = 1e30;
  uint64_t rows_best = 0;
  do {
    shift_time(recs, n); /* windows see new time on every pass, as a live stream would */
    uint64_t r0 = sink_rows;
    int64_t t0 = now_ns();
    fn(ctx, recs, n);
    double dt = (double)(now_ns() - t0) / 1e9;
    if (dt < best) {
      best = dt;
      rows_best = sink_rows - r0;
    }
  } while (now_ns() < t_end);
  result r = {name, (double)n / best, (double)rows_best / best, best * 1e9 / (double)n};
  return r;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Time from ql_engine_ingest() being called to the row callback, per matching record. */
static void latency(const char *label, ql_engine *e, const rec *recs, size_t n) {
  lat_count = 0;
  shift_time(recs, n);
  for (size_t i = 0; i < n; i++) {
    lat_t0 = now_ns();
    ql_engine_ingest(e, NULL, &recs[i].view);
  }
  qsort(lat_samples, lat_count, sizeof *lat_samples, cmp_i64);
  if (!lat_count) return;
  printf("| %s | %zu | %lld | %lld | %lld | %lld |\n", label, lat_count,
         (long long)lat_samples[lat_count / 2], (long long)lat_samples[lat_count * 99 / 100],
         (long long)lat_samples[lat_count * 999 / 1000], (long long)lat_samples[lat_count - 1]);
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)atol(argv[1]) : 400000;
  double secs = argc > 2 ? atof(argv[2]) : 2.0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  int pinned = sched_setaffinity(0, sizeof set, &set) == 0;
  rec *recs = make_records(n);
  all_records = n;
  lat_cap = n;
  lat_samples = malloc(n * sizeof *lat_samples);

  ql_query *qs[1000];
  result res[8];
  int nr = 0;
  res[nr++] =
      measure("baseline: hand-written filter loop", run_baseline_filter, NULL, recs, n, secs);
  ql_engine *ef = engine_with(filter_sql, 1, 0, count_row, qs);
  res[nr++] = measure("engine: filter push query", run_engine, ef, recs, n, secs);
  res[nr++] = measure("baseline: hand-written 1 s AVG per device", run_baseline_avg, NULL, recs,
                      n, secs);
  ql_engine *ea = engine_with(avg_sql, 1, 0, count_row, qs + 1);
  res[nr++] = measure("engine: 1 s tumbling AVG per device, emit per change", run_engine, ea,
                      recs, n, secs);
  ql_engine *ei = engine_with(avg_sql, 1, 100000000, count_row, qs + 2);
  res[nr++] = measure("engine: 1 s tumbling AVG per device, emit every 100 ms", run_engine, ei,
                      recs, n, secs);
  ql_engine *em = engine_with(filter_sql, 1000, 0, count_row, qs);
  result many =
      measure("engine: 1000 filter queries on one stream", run_engine, em, recs, n / 10, secs);

  FILE *cpu = fopen("/proc/cpuinfo", "r");
  char line[256], model[256] = "unknown";
  while (cpu && fgets(line, sizeof line, cpu))
    if (!strncmp(line, "model name", 10)) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = 0;
      break;
    }
  if (cpu) fclose(cpu);
  printf("machine: %s, %ld online CPUs, pinned to CPU 0: %s\n", model,
         sysconf(_SC_NPROCESSORS_ONLN), pinned ? "yes" : "no");
  printf("records: %zu synthetic Sensor Logger readings (4 sensors x %d phones, 8 fields), "
         "best pass of %.1f s per case\n\n",
         n, NDEVICES, secs);
  printf("| case | records/s | rows/s | ns/record | engine / baseline time |\n");
  printf("|---|---:|---:|---:|---:|\n");
  for (int k = 0; k < nr; k++) {
    double ratio = 0;
    if (k == 1) ratio = res[1].ns_per_record / res[0].ns_per_record;
    if (k == 3 || k == 4) ratio = res[k].ns_per_record / res[2].ns_per_record;
    char rs[32] = "";
    if (ratio > 0) snprintf(rs, sizeof rs, "%.2fx", ratio);
    printf("| %s | %.0f | %.0f | %.1f | %s |\n", res[k].name, res[k].records_per_s,
           res[k].rows_per_s, res[k].ns_per_record, rs);
  }
  printf("| %s | %.0f | %.0f | %.1f | %.1f ns per query per record |\n", many.name,
         many.records_per_s, many.rows_per_s, many.ns_per_record, many.ns_per_record / 1000);

  printf("\nLatency from ql_engine_ingest() to the row callback (ns), one query:\n\n");
  printf("| query | rows | p50 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|\n");
  ql_query *lq[2];
  ql_engine *lf = engine_with(filter_sql, 1, 0, latency_row, lq);
  latency("filter", lf, recs, n);
  ql_engine *la = engine_with(avg_sql, 1, 0, latency_row, lq + 1);
  latency("1 s tumbling AVG, emit per change", la, recs, n);
  printf("\n(checksum %.3f)\n", sink_sum);
  ql_engine_free(ef);
  ql_engine_free(ea);
  ql_engine_free(ei);
  ql_engine_free(em);
  ql_engine_free(lf);
  ql_engine_free(la);
  free(recs);
  free(lat_samples);
  return 0;
}
