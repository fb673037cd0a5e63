/* Decode micro-benchmark (not a test): MB/s and µs per body of JSON decoding alone
 * (jansson's json_loadb vs simdjson's DOM parser) and of source_http's whole body parsers
 * (jansson path vs simdjson fast path, into a builder that only counts), on the Sensor
 * Logger samples and on the wrk load's 100- and 1500-reading bodies. Run by decode.sh. */
#define SIMDJSON_EXCEPTIONS 0
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "../../plugins/source_http/ingest_fast.h"
#include <jansson.h>
}

namespace {

struct counter {
  size_t fields = 0;
};
int c_begin(void *c, int64_t, const char *, size_t) { return (void)c, 0; }
int c_null(void *c, const char *, size_t) { return static_cast<counter *>(c)->fields++, 0; }
int c_bool(void *c, const char *, size_t, int) { return static_cast<counter *>(c)->fields++, 0; }
int c_int(void *c, const char *, size_t, int64_t) {
  return static_cast<counter *>(c)->fields++, 0;
}
int c_double(void *c, const char *, size_t, double) {
  return static_cast<counter *>(c)->fields++, 0;
}
int c_string(void *c, const char *, size_t, const char *, size_t) {
  return static_cast<counter *>(c)->fields++, 0;
}

/* The body bench/ingest/post.lua posts: n readings of three interleaved motion sensors. */
std::string wrk_body(int n) {
  const char *names[] = {"accelerometeruncalibrated", "gyroscopeuncalibrated",
                         "magnetometeruncalibrated"};
  std::string s = "{\"messageId\":17,\"sessionId\":\"78e51061-7311-48a3-82ce-6f447ed4d57b\","
                  "\"deviceId\":\"cd613e30-d8f1-4adf-91b7-584a2265b1f5\",\"payload\":[";
  long long t = 201000000103LL;
  unsigned long long seed = 12345;
  auto rnd = [&] {
    seed = (seed * 1103515245ULL + 12345ULL) % 2147483648ULL;
    return (static_cast<double>(seed) / 2147483648.0 - 0.5) * 20;
  };
  char buf[256];
  for (int i = 0; i < n; i++) {
    if (i % 3 == 0 && i > 0) t += 10000000;
    double z = rnd(), y = rnd(), x = rnd();
    snprintf(buf, sizeof buf,
             "%s{\"name\":\"%s\",\"time\":1732435%012lld,\"values\":{\"z\":%.17g,\"y\":%.17g,"
             "\"x\":%.17g}}",
             i ? "," : "", names[i % 3], t, z, y, x);
    s += buf;
  }
  return s + "]}";
}

std::string read_file(const std::string &path) {
  FILE *f = fopen(path.c_str(), "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path.c_str());
    exit(1);
  }
  std::string s;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  fclose(f);
  return s;
}

/* Runs fn until min_seconds passed (at least 3 runs); returns seconds per run. */
template <class F> double time_per_run(F fn, double min_seconds) {
  using clock = std::chrono::steady_clock;
  fn(); /* warm-up: parser buffers, caches */
  size_t runs = 0;
  auto t0 = clock::now();
  double elapsed = 0;
  while (runs < 3 || elapsed < min_seconds) {
    fn();
    runs++;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  }
  return elapsed / static_cast<double>(runs);
}

} // namespace

int main(int argc, char **argv) {
  double min_seconds = argc > 1 ? atof(argv[1]) : 0.5;
  const char *root = getenv("SENSORD_ROOT");
  std::string dir = std::string(root ? root : ".") + "/tests/data/sensorlogger/";
  struct input {
    std::string name, body;
  };
  std::vector<input> inputs = {
      {"wrk body, 100 readings", wrk_body(100)},
      {"wrk body, 1500 readings", wrk_body(1500)},
      {"android-calibrated-1s.json", read_file(dir + "android-calibrated-1s.json")},
      {"ios-uncalibrated-1s.json", read_file(dir + "ios-uncalibrated-1s.json")},
      {"large-batch-5s.json", read_file(dir + "large-batch-5s.json")},
  };
  printf("%-28s %8s | %-22s %-22s | %-22s %-22s | %s\n", "body", "KiB", "decode: jansson",
         "decode: simdjson DOM", "parse: jansson path", "parse: fast path", "speed-up");
  simdjson::dom::parser dom;
  for (input &in : inputs) {
    size_t len = in.body.size();
    std::string padded = in.body + std::string(ING_FAST_PADDING, '\0');
    const char *body = padded.data();
    double t_jd = time_per_run(
        [&] {
          json_error_t e;
          json_t *j = json_loadb(body, len, 0, &e);
          if (!j) abort();
          json_decref(j);
        },
        min_seconds);
    double t_sd = time_per_run(
        [&] {
          simdjson::dom::element el;
          if (dom.parse(body, len, false).get(el)) abort();
        },
        min_seconds);
    counter cj, cf;
    rb_builder bj = {&cj, c_begin, c_null, c_bool, c_int, c_double, c_string};
    rb_builder bf = {&cf, c_begin, c_null, c_bool, c_int, c_double, c_string};
    double t_jp = time_per_run(
        [&] {
          ing_summary s;
          ing_error e;
          if (ing_parse_sensorlogger(body, len, 1, &bj, &s, &e)) abort();
          ing_summary_free(&s);
        },
        min_seconds);
    double t_fp = time_per_run(
        [&] {
          ing_summary s;
          if (ing_fast_sensorlogger(body, len, 1, 1, &bf, &s) != ING_FAST_OK) abort();
          ing_summary_free(&s);
        },
        min_seconds);
    auto cell = [&](double t) {
      static char buf[4][32];
      static int k;
      char *b = buf[k++ % 4];
      snprintf(b, 32, "%7.0f MB/s %7.1f us", static_cast<double>(len) / t / 1e6, t * 1e6);
      return b;
    };
    printf("%-28s %8.1f | %-22s ", in.name.c_str(), static_cast<double>(len) / 1024, cell(t_jd));
    printf("%-22s | ", cell(t_sd));
    printf("%-22s ", cell(t_jp));
    printf("%-22s | decode %.1fx, parse %.1fx\n", cell(t_fp), t_jd / t_sd, t_jp / t_fp);
  }
  return 0;
}
