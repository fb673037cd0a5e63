/* Fan-out load client: holds N SSE or WebSocket connections to one sensord stream with a
 * single epoll loop, posts one reading every 1/rate s to source_http stamped with the wall
 * clock, and measures POST→receipt lag of every delivered event, plus sensord's CPU and RSS.
 * Usage: fanout_client --mode sse|ws --out HOST:PORT --ingest HOST:PORT --clients N
 *        [--path /events/accelerometer] [--rate 50] [--seconds 20] [--warmup 3] [--pid PID] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAG_BUCKET_US 10
#define LAG_BUCKETS 1000000 /* 10 s at 10 µs */

typedef struct conn {
  int fd;
  int state;        /* 0 connecting, 1 awaiting headers, 2 streaming, 3 dead */
  int chunk_state;  /* SSE chunked decoding: 0 size line, 1 data, 2 CRLF after data */
  size_t chunk_left;
  char line[640];   /* SSE line / chunk-size line / WS payload */
  size_t line_len;
  unsigned char wshdr[14];
  size_t wshdr_len, ws_need;
  uint64_t ws_left;
  int ws_opcode;
  char hdr[1024];
  size_t hdr_len;
} conn;

static int mode_ws;
static struct sockaddr_in out_addr, ingest_addr;
static const char *path = "/events/accelerometer";
static atomic_int measuring;
static uint64_t lag_hist[LAG_BUCKETS + 1];
static uint64_t events_total, events_measured, bad_events;
static int64_t lag_max_us;

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *a) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/* An event payload is a row array whose second column is the reading's time in ns. */
static void on_payload(const char *p, size_t n) {
  const char *arr = memmem(p, n, "[\"", 2);
  if (!arr) return;
  const char *end = p + n;
  const char *q = memchr(arr + 2, '"', (size_t)(end - arr - 2));
  if (!q || q + 2 >= end || q[1] != ',') {
    bad_events++;
    return;
  }
  long long t = strtoll(q + 2, NULL, 10);
  events_total++;
  if (!atomic_load(&measuring)) return;
  int64_t lag_us = (now_ns(CLOCK_REALTIME) - t) / 1000;
  if (lag_us < 0) lag_us = 0;
  if (lag_us > lag_max_us) lag_max_us = lag_us;
  size_t b = (size_t)(lag_us / LAG_BUCKET_US);
  lag_hist[b > LAG_BUCKETS ? LAG_BUCKETS : b]++;
  events_measured++;
}

static void sse_byte_data(conn *c, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      if (c->line_len > 6 && memcmp(c->line, "data: ", 6) == 0) on_payload(c->line, c->line_len);
      c->line_len = 0;
    } else if (c->line_len < sizeof c->line) {
      c->line[c->line_len++] = p[i];
    }
  }
}

/* Chunked transfer decoding in front of the SSE line parser. */
static void sse_feed(conn *c, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (c->chunk_state == 0) {
      char ch = p[i++];
      if (ch == '\n') {
        c->hdr[c->hdr_len] = 0;
        c->chunk_left = strtoul(c->hdr, NULL, 16);
        c->hdr_len = 0;
        c->chunk_state = c->chunk_left ? 1 : 2;
      } else if (ch != '\r' && c->hdr_len < 30) {
        c->hdr[c->hdr_len++] = ch;
      }
    } else if (c->chunk_state == 1) {
      size_t k = n - i < c->chunk_left ? n - i : c->chunk_left;
      sse_byte_data(c, p + i, k);
      i += k;
      c->chunk_left -= k;
      if (!c->chunk_left) c->chunk_state = 2;
    } else {
      if (p[i++] == '\n') c->chunk_state = 0;
    }
  }
}

static void ws_send_pong(conn *c, const char *payload, size_t len) {
  unsigned char f[6 + 125];
  f[0] = 0x8A;
  f[1] = (unsigned char)(0x80 | len);
  memset(f + 2, 0, 4); /* zero mask: payload stays as is */
  memcpy(f + 6, payload, len);
  ssize_t w = send(c->fd, f, 6 + len, MSG_NOSIGNAL);
  (void)w;
}

static void ws_feed(conn *c, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (c->ws_left == 0 && c->ws_need == 0) { /* new frame header */
      c->wshdr_len = 0;
      c->ws_need = 2;
    }
    if (c->ws_need) {
      c->wshdr[c->wshdr_len++] = (unsigned char)p[i++];
      if (c->wshdr_len == 2) {
        unsigned l = c->wshdr[1] & 0x7F;
        c->ws_need = l == 126 ? 4 : l == 127 ? 10 : 0;
        if (!c->ws_need) c->ws_left = l;
      } else if (c->wshdr_len == c->ws_need) {
        uint64_t l = 0;
        for (size_t k = 2; k < c->wshdr_len; k++) l = (l << 8) | c->wshdr[k];
        c->ws_left = l;
        c->ws_need = 0;
      } else {
        continue;
      }
      if (c->ws_need) continue;
      c->ws_opcode = c->wshdr[0] & 0x0F;
      c->line_len = 0;
      if (c->ws_left == 0 && c->ws_opcode == 9) ws_send_pong(c, "", 0);
      continue;
    }
    size_t k = n - i < c->ws_left ? n - i : (size_t)c->ws_left;
    size_t room = sizeof c->line - c->line_len;
    memcpy(c->line + c->line_len, p + i, k < room ? k : room);
    c->line_len += k < room ? k : room;
    i += k;
    c->ws_left -= k;
    if (c->ws_left == 0) {
      if (c->ws_opcode == 1 || c->ws_opcode == 0) on_payload(c->line, c->line_len);
      else if (c->ws_opcode == 9) ws_send_pong(c, c->line, c->line_len < 125 ? c->line_len : 125);
      c->line_len = 0;
    }
  }
}

static void send_request(conn *c) {
  char req[512];
  int n;
  if (mode_ws)
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                 path);
  else
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n",
                 path);
  if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) c->state = 3;
  else c->state = 1;
}

/* Posts one reading per tick to source_http over a keep-alive connection. */
static double post_rate = 50;
static int post_seconds;
static atomic_long posts_ok, posts_failed;

static void *poster(void *unused) {
  (void)unused;
  int fd = -1;
  char resp[4096];
  int64_t next = now_ns(CLOCK_MONOTONIC);
  int64_t end = next + (int64_t)post_seconds * 1000000000;
  int64_t period = (int64_t)(1e9 / post_rate);
  while (now_ns(CLOCK_MONOTONIC) < end) {
    if (fd < 0) {
      fd = socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(fd, (struct sockaddr *)&ingest_addr, sizeof ingest_addr) != 0) {
        close(fd);
        fd = -1;
        posts_failed++;
        usleep(100000);
        continue;
      }
    }
    char body[512], req[1024];
    int bl = snprintf(body, sizeof body,
                      "{\"messageId\":1,\"sessionId\":\"bench\",\"deviceId\":\"bench-phone\","
                      "\"payload\":[{\"name\":\"accelerometeruncalibrated\",\"time\":%lld,"
                      "\"values\":{\"x\":0.01,\"y\":-0.3,\"z\":-1.0}}]}",
                      (long long)now_ns(CLOCK_REALTIME));
    int rl = snprintf(req, sizeof req,
                      "POST /phone-producer/ HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      bl, body);
    if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
      close(fd);
      fd = -1;
      posts_failed++;
      continue;
    }
    ssize_t got = recv(fd, resp, sizeof resp - 1, 0);
    if (got <= 0) {
      close(fd);
      fd = -1;
      posts_failed++;
      continue;
    }
    resp[got] = 0;
    if (strncmp(resp, "HTTP/1.1 200", 12) == 0) posts_ok++;
    else posts_failed++;
    next += period;
    int64_t wait = next - now_ns(CLOCK_MONOTONIC);
    if (wait > 0) {
      struct timespec ts = {wait / 1000000000, wait % 1000000000};
      nanosleep(&ts, NULL);
    }
  }
  if (fd >= 0) close(fd);
  return NULL;
}

static void proc_sample(int pid, double *cpu_s, long *rss_kb) {
  char p[64], buf[2048];
  *cpu_s = 0;
  *rss_kb = 0;
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  FILE *f = fopen(p, "r");
  if (f) {
    if (fgets(buf, sizeof buf, f)) {
      char *s = strrchr(buf, ')');
      unsigned long ut = 0, st = 0;
      if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(f);
  }
  snprintf(p, sizeof p, "/proc/%d/status", pid);
  f = fopen(p, "r");
  if (f) {
    while (fgets(buf, sizeof buf, f))
      if (strncmp(buf, "VmRSS:", 6) == 0) *rss_kb = atol(buf + 6);
    fclose(f);
  }
}

static double percentile(double q) {
  uint64_t want = (uint64_t)(q * (double)events_measured), seen = 0;
  for (size_t b = 0; b <= LAG_BUCKETS; b++) {
    seen += lag_hist[b];
    if (seen > want) return (double)(b * LAG_BUCKET_US + LAG_BUCKET_US / 2) / 1000.0;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *out = NULL, *ingest = NULL;
  int clients = 1, seconds = 20, warmup = 3, pid = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mode")) mode_ws = !strcmp(argv[i + 1], "ws");
    else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
    else if (!strcmp(argv[i], "--ingest")) ingest = argv[i + 1];
    else if (!strcmp(argv[i], "--clients")) clients = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--path")) path = argv[i + 1];
    else if (!strcmp(argv[i], "--rate")) post_rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--pid")) pid = atoi(argv[i + 1]);
  }
  if (!out || !ingest || parse_addr(out, &out_addr) || parse_addr(ingest, &ingest_addr)) {
    fprintf(stderr, "usage: fanout_client --mode sse|ws --out HOST:PORT --ingest HOST:PORT --clients N\n");
    return 2;
  }
  double cpu0 = 0;
  long rss_base = 0;
  if (pid) proc_sample(pid, &cpu0, &rss_base);
  int ep = epoll_create1(0);
  conn *cs = calloc((size_t)clients, sizeof *cs);
  int connected = 0, failed = 0;
  int64_t t_connect = now_ns(CLOCK_MONOTONIC);
  struct epoll_event evs[512];
  /* Open in waves so the listen backlog is not overrun. */
  for (int opened = 0; opened < clients || connected + failed < clients;) {
    for (int k = 0; k < 200 && opened < clients && opened - connected - failed < 1000; k++, opened++) {
      conn *c = &cs[opened];
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (c->fd < 0) {
        perror("socket");
        return 1;
      }
      connect(c->fd, (struct sockaddr *)&out_addr, sizeof out_addr);
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
      epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    int n = epoll_wait(ep, evs, 512, 100);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state == 0 && (evs[i].events & EPOLLOUT)) {
        send_request(c);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (c->state == 1 && (evs[i].events & EPOLLIN)) {
        ssize_t r = recv(c->fd, c->hdr + c->hdr_len, sizeof c->hdr - 1 - c->hdr_len, 0);
        if (r <= 0) {
          c->state = 3;
          failed++;
          continue;
        }
        c->hdr_len += (size_t)r;
        c->hdr[c->hdr_len] = 0;
        char *end = strstr(c->hdr, "\r\n\r\n");
        if (end) {
          int ok = mode_ws ? !strncmp(c->hdr, "HTTP/1.1 101", 12) : !strncmp(c->hdr, "HTTP/1.1 200", 12);
          if (!ok) {
            c->state = 3;
            failed++;
            continue;
          }
          c->state = 2;
          connected++;
          size_t rest = c->hdr_len - (size_t)(end + 4 - c->hdr);
          char tmp[1024];
          memcpy(tmp, end + 4, rest);
          c->hdr_len = 0;
          if (mode_ws) ws_feed(c, tmp, rest);
          else sse_feed(c, tmp, rest);
        }
      } else if (c->state == 2 || c->state == 0) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          if (c->state == 0) failed++;
          c->state = 3;
        }
      }
    }
    if ((now_ns(CLOCK_MONOTONIC) - t_connect) > 120000000000LL) break;
  }
  double connect_s = (double)(now_ns(CLOCK_MONOTONIC) - t_connect) / 1e9;
  double cpu1 = 0;
  long rss_conn = 0;
  if (pid) proc_sample(pid, &cpu1, &rss_conn);
  post_seconds = warmup + seconds + 1;
  pthread_t th;
  pthread_create(&th, NULL, poster, NULL);
  int64_t start = now_ns(CLOCK_MONOTONIC), m_start = start + (int64_t)warmup * 1000000000;
  int64_t m_end = m_start + (int64_t)seconds * 1000000000;
  double cpu_m0 = 0, cpu_m1 = 0;
  long rss_m = 0, rss_tmp = 0;
  int dead = 0;
  char buf[65536];
  while (now_ns(CLOCK_MONOTONIC) < m_end + 500000000) {
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (!atomic_load(&measuring) && now >= m_start && now < m_end) {
      if (pid) proc_sample(pid, &cpu_m0, &rss_tmp);
      atomic_store(&measuring, 1);
    }
    if (atomic_load(&measuring) && now >= m_end) {
      atomic_store(&measuring, 0);
      if (pid) proc_sample(pid, &cpu_m1, &rss_m);
    }
    int n = epoll_wait(ep, evs, 512, 5);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state != 2) continue;
      for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
          if (mode_ws) ws_feed(c, buf, (size_t)r);
          else sse_feed(c, buf, (size_t)r);
          if ((size_t)r < sizeof buf) break;
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          c->state = 3;
          dead++;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        }
        break;
      }
    }
  }
  pthread_join(th, NULL);
  double posted = (double)posts_ok;
  double measured_s = (double)seconds;
  printf("{\"mode\":\"%s\",\"clients\":%d,\"connected\":%d,\"failed\":%d,\"dropped\":%d,"
         "\"connect_s\":%.2f,\"posts_ok\":%.0f,\"posts_failed\":%ld,\"events_measured\":%llu,"
         "\"delivered_per_s\":%.0f,\"expected_per_s\":%.0f,\"lag_p50_ms\":%.2f,"
         "\"lag_p99_ms\":%.2f,\"lag_max_ms\":%.2f,\"cpu_pct\":%.1f,\"rss_base_kb\":%ld,"
         "\"rss_kb\":%ld,\"rss_per_client_kb\":%.2f,\"bad_events\":%llu}\n",
         mode_ws ? "websocket" : "sse", clients, connected, failed, dead, connect_s, posted,
         (long)posts_failed, (unsigned long long)events_measured,
         (double)events_measured / measured_s, post_rate * connected, percentile(0.50),
         percentile(0.99), (double)lag_max_us / 1000.0,
         pid ? 100.0 * (cpu_m1 - cpu_m0) / measured_s : 0.0, rss_base, rss_m ? rss_m : rss_conn,
         connected ? (double)((rss_m ? rss_m : rss_conn) - rss_base) / connected : 0.0,
         (unsigned long long)bad_events);
  return 0;
}
