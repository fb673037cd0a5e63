/* POST -> row latency client for bench/latency: one thread posts Sensor Logger pushes at a
 * fixed rate over a keep-alive socket (each reading's `time` = wall-clock ns of its send),
 * another holds a /query-stream push query (libcurl, HTTP/1.1 or HTTP/2 prior knowledge)
 * and records receipt - send per row. The POST round trip of the same sends is the baseline.
 * usage: latency_client INGEST_PORT API_PORT RATE BATCH SECONDS WARMUP_S http1|http2 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const query_sql =
    "SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream "
    "WHERE name = 'accelerometeruncalibrated' EMIT CHANGES;";

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "latency_client: %s\n", what);
  exit(1);
}

/* ---- the push-query reader ------------------------------------------------------------ */

typedef struct reader {
  int api_port, http2;
  atomic_llong measure_from_ns; /* rows sent before this (warm-up) are not recorded */
  atomic_int header_seen, stop;
  atomic_long rows; /* every row received */
  int64_t *lat;     /* recorded latencies, ns */
  size_t lat_cap;
  atomic_size_t lat_n;
  char line[4096];
  size_t line_len;
  long http_status;
  char error[CURL_ERROR_SIZE];
} reader;

/* A row is ["device", time, x, y, z]: time is the send ns rounded down to the microsecond,
 * plus the reading's index in its push (< 1000). */
static void on_line(reader *r, const char *line, size_t len, int64_t now) {
  if (len == 0) return;
  if (line[0] != '[') {
    if (line[0] == '{' && !atomic_load(&r->header_seen) && memmem(line, len, "queryId", 7))
      atomic_store(&r->header_seen, 1);
    else
      fprintf(stderr, "latency_client: unexpected line: %.*s\n", (int)(len > 200 ? 200 : len),
              line);
    return;
  }
  const char *comma = memchr(line, ',', len);
  if (!comma) return;
  int64_t t = strtoll(comma + 1, NULL, 10);
  atomic_fetch_add(&r->rows, 1);
  if (t < atomic_load(&r->measure_from_ns)) return;
  size_t i = atomic_fetch_add(&r->lat_n, 1);
  if (i < r->lat_cap) r->lat[i] = now - (t - t % 1000);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *user) {
  reader *r = user;
  int64_t now = wall_ns();
  size_t len = size * nmemb;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') {
      on_line(r, r->line, r->line_len, now);
      r->line_len = 0;
    } else if (r->line_len < sizeof r->line) {
      r->line[r->line_len++] = data[i];
    }
  }
  return len;
}

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  reader *r = user;
  return atomic_load(&r->stop) ? 1 : 0;
}

static void *reader_main(void *arg) {
  reader *r = arg;
  CURL *h = curl_easy_init();
  if (!h) die("curl_easy_init failed");
  char url[64], body[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/query-stream", r->api_port);
  snprintf(body, sizeof body, "{\"sql\":\"%s\",\"properties\":{}}", query_sql);
  struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  hdrs = curl_slist_append(hdrs, "Accept: application/vnd.ksqlapi.delimited.v1");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                   r->http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->error);
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http_status);
  if (rc != CURLE_OK && !(rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&r->stop)))
    fprintf(stderr, "latency_client: query stream ended: %s (%s)\n", curl_easy_strerror(rc),
            r->error);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return NULL;
}

/* ---- the poster ----------------------------------------------------------------------- */

static int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket failed");
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
    die("cannot connect to the ingest port");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("POST send failed");
    p += w;
    n -= (size_t)w;
  }
}

/* Reads one response (headers + Content-Length body); returns its status. */
static int read_response(int fd) {
  static char buf[65536];
  size_t have = 0;
  char *end = NULL;
  for (;;) {
    ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("POST connection closed");
    have += (size_t)n;
    buf[have] = '\0';
    if ((end = strstr(buf, "\r\n\r\n"))) break;
    if (have == sizeof buf - 1) die("POST response head too long");
  }
  size_t head = (size_t)(end + 4 - buf);
  const char *cl = strcasestr(buf, "\r\ncontent-length:");
  size_t body = cl && cl < end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
  while (have < head + body) {
    ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("POST connection closed in the body");
    have += (size_t)n;
  }
  if (have != head + body) die("unexpected bytes after a POST response (pipelining?)");
  return atoi(buf + 9);
}

/* One push of `batch` readings; every `time` is a 19-digit placeholder whose offset goes in
 * stamp_at, so the send time is written in just before the send (a ns wall-clock time has
 * 19 digits until the year 2286). */
static size_t build_post(char *out, size_t cap, long msg_id, int batch, size_t *stamp_at) {
  static char body[1 << 20];
  size_t n = (size_t)snprintf(body, sizeof body,
                              "{\"messageId\":%ld,\"sessionId\":\"9b1f3c52-bench-0000-0000-"
                              "000000000001\",\"deviceId\":\"bench-device\",\"payload\":[",
                              msg_id);
  for (int i = 0; i < batch; i++) {
    n += (size_t)snprintf(body + n, sizeof body - n,
                          "%s{\"name\":\"accelerometeruncalibrated\",\"time\":", i ? "," : "");
    stamp_at[i] = n;
    n += (size_t)snprintf(body + n, sizeof body - n,
                          "0000000000000000000,\"values\":{\"x\":%.2f,\"y\":-0.5,\"z\":9.81}}",
                          0.01 * i);
  }
  n += (size_t)snprintf(body + n, sizeof body - n, "]}");
  int h = snprintf(out, cap,
                   "POST /phone-producer/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                   n);
  if ((size_t)h + n > cap) die("push too large");
  memcpy(out + h, body, n);
  for (int i = 0; i < batch; i++) stamp_at[i] += (size_t)h;
  return (size_t)h + n;
}

static void stamp(char *at, int64_t v) {
  for (int d = 18; d >= 0; d--) {
    at[d] = (char)('0' + v % 10);
    v /= 10;
  }
}

/* ---- figures -------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void print_dist(const char *name, int64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_i64);
  static const double ps[] = {0.5, 0.9, 0.99, 0.999};
  static const char *const pn[] = {"p50", "p90", "p99", "p99_9"};
  printf("\"%s_us\":{\"n\":%zu", name, n);
  for (int i = 0; i < 4; i++) {
    size_t k = n ? (size_t)((double)(n - 1) * ps[i] + 0.5) : 0;
    printf(",\"%s\":%.1f", pn[i], n ? (double)v[k] / 1000.0 : -1.0);
  }
  printf(",\"max\":%.1f}", n ? (double)v[n - 1] / 1000.0 : -1.0);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s INGEST_PORT API_PORT RATE BATCH SECONDS WARMUP_S http1|http2\n",
            argv[0]);
    return 2;
  }
  int ingest_port = atoi(argv[1]), api_port = atoi(argv[2]);
  double rate = atof(argv[3]), seconds = atof(argv[5]), warmup = atof(argv[6]);
  int batch = atoi(argv[4]);
  int http2 = strcmp(argv[7], "http2") == 0;
  if (batch < 1 || batch > 999 || rate <= 0 || seconds <= 0 || warmup < 0)
    die("BATCH must be 1..999, RATE and SECONDS > 0, WARMUP_S >= 0");
  prctl(PR_SET_TIMERSLACK, 1UL); /* sleep to the microsecond, not the default 50 us */
  curl_global_init(CURL_GLOBAL_DEFAULT);

  double posts_per_s = rate / batch;
  size_t posts_max = (size_t)(posts_per_s * (seconds + warmup)) + 2;
  reader r = {.api_port = api_port, .http2 = http2};
  r.lat_cap = posts_max * (size_t)batch;
  r.lat = malloc(r.lat_cap * sizeof *r.lat);
  int64_t *rtt = malloc(posts_max * sizeof *rtt);
  if (!r.lat || !rtt) die("out of memory");
  atomic_init(&r.measure_from_ns, INT64_MAX);
  pthread_t rt;
  if (pthread_create(&rt, NULL, reader_main, &r) != 0) die("cannot start the reader thread");
  for (int i = 0; i < 500 && !atomic_load(&r.header_seen); i++) usleep(10000);
  if (!atomic_load(&r.header_seen)) die("no push-query header within 5 s");

  int fd = connect_loopback(ingest_port);
  size_t cap = (size_t)batch * 128 + 512;
  char *req = malloc(cap);
  size_t *stamp_at = malloc((size_t)batch * sizeof *stamp_at);
  if (!req || !stamp_at) die("out of memory");
  int64_t interval = (int64_t)(1e9 / posts_per_s);
  int64_t start = mono_ns(), warm_end = start + (int64_t)(warmup * 1e9);
  int64_t end = warm_end + (int64_t)(seconds * 1e9);
  size_t nrtt = 0, late = 0, posts = 0, rows_sent = 0, bad = 0;
  int64_t max_lag = 0;
  for (long n = 0;; n++) {
    int64_t due = start + n * interval;
    if (due >= end) break;
    size_t len = build_post(req, cap, n, batch, stamp_at); /* before the wait, not timed */
    struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    int64_t lag = mono_ns() - due;
    int measured = due >= warm_end;
    int64_t sent = wall_ns() / 1000 * 1000;
    if (measured && atomic_load(&r.measure_from_ns) == INT64_MAX)
      atomic_store(&r.measure_from_ns, sent);
    for (int i = 0; i < batch; i++) stamp(req + stamp_at[i], sent + i);
    send_all(fd, req, len);
    int status = read_response(fd);
    int64_t done = wall_ns();
    if (status != 200) bad++;
    posts++;
    rows_sent += (size_t)batch;
    if (measured) {
      rtt[nrtt++] = done - sent;
      if (lag > max_lag) max_lag = lag;
      if (lag > interval / 2) late++;
    }
  }
  close(fd);
  /* Rows still in flight get up to 3 s. */
  for (int i = 0; i < 300 && (size_t)atomic_load(&r.rows) < rows_sent; i++) usleep(10000);
  atomic_store(&r.stop, 1);
  pthread_join(rt, NULL);

  size_t nlat = atomic_load(&r.lat_n);
  if (nlat > r.lat_cap) nlat = r.lat_cap;
  printf("{\"http\":\"%s\",\"readings_per_s\":%.0f,\"batch\":%d,\"posts\":%zu,"
         "\"non_200\":%zu,\"rows_sent\":%zu,\"rows_received\":%ld,\"late_sends\":%zu,"
         "\"max_send_lag_us\":%.1f,",
         http2 ? "2" : "1.1", rate, batch, posts, bad, rows_sent, atomic_load(&r.rows), late,
         (double)max_lag / 1000.0);
  print_dist("post_rtt", rtt, nrtt);
  printf(",");
  print_dist("post_to_row", r.lat, nlat);
  printf("}\n");
  free(req);
  free(stamp_at);
  free(rtt);
  free(r.lat);
  curl_global_cleanup();
  return bad || (size_t)atomic_load(&r.rows) != rows_sent ? 1 : 0;
}
