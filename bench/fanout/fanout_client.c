/* Fan-out load client: holds N SSE or WebSocket connections to one sensord stream, spread
 * over T epoll threads, posts one reading every 1/rate s to source_http stamped with the wall
 * clock, and measures every delivered event's lag from that stamp twice: when the kernel
 * queued its bytes on the client socket (SO_TIMESTAMPNS: server + network only) and when this
 * client parsed it (adds the client's own queueing). Also samples sensord's CPU and RSS, this
 * process's CPU and the whole machine's busy time, so a saturated client or machine shows.
 * Usage: fanout_client --mode sse|ws --out HOST:PORT --ingest HOST:PORT --clients N
 *        [--threads 2] [--path /events/accelerometer] [--rate 50] [--seconds 20]
 *        [--warmup 3] [--pid PID] */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Lag histogram in µs: exact below 1,024 µs, then 64 sub-buckets per power of two (< 1.6 %
 * error), up to 2^40 µs. */
#define HIST_BUCKETS (1024 + 31 * 64)

typedef struct hist {
  uint64_t count, max_us;
  uint64_t b[HIST_BUCKETS];
} hist;

static void hist_add(hist *h, int64_t us) {
  if (us < 0) us = 0;
  uint64_t v = (uint64_t)us;
  size_t i;
  if (v < 1024) {
    i = (size_t)v;
  } else {
    int e = 63 - __builtin_clzll(v);
    if (e > 40) e = 40, v = (1ull << 41) - 1;
    i = 1024 + (size_t)(e - 10) * 64 + (size_t)((v >> (e - 6)) & 63);
  }
  h->b[i < HIST_BUCKETS ? i : HIST_BUCKETS - 1]++;
  h->count++;
  if (v > h->max_us) h->max_us = v;
}

static double bucket_mid_ms(size_t i) {
  if (i < 1024) return ((double)i + 0.5) / 1000.0;
  size_t e = (i - 1024) / 64 + 10, sub = (i - 1024) % 64;
  double lo = (double)((64 + sub) << (e - 6)), width = (double)(1ull << (e - 6));
  return (lo + width / 2) / 1000.0;
}

static double hist_pct(const hist *h, double q) {
  uint64_t want = (uint64_t)(q * (double)h->count), seen = 0;
  for (size_t i = 0; i < HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen > want) return bucket_mid_ms(i);
  }
  return 0;
}

static void hist_merge(hist *into, const hist *from) {
  into->count += from->count;
  if (from->max_us > into->max_us) into->max_us = from->max_us;
  for (size_t i = 0; i < HIST_BUCKETS; i++) into->b[i] += from->b[i];
}

typedef struct conn {
  int fd;
  int state;       /* 0 connecting, 1 awaiting headers, 2 streaming, 3 dead */
  int chunk_state; /* SSE chunked decoding: 0 size line, 1 data, 2 CRLF after data */
  size_t chunk_left;
  uint64_t last_id; /* gap detection: ids of one stream increase by one */
  char line[640];   /* SSE line / WS payload */
  size_t line_len;
  unsigned char wshdr[14];
  size_t wshdr_len, ws_need;
  uint64_t ws_left;
  int ws_opcode;
  char hdr[1024];
  size_t hdr_len;
} conn;

typedef struct worker {
  pthread_t th;
  int index, first, count;
  int ep;
  int connected, failed, dead;
  uint64_t events_total, bad_events, missed, reads, stamped_reads;
  int64_t rx_ns, parse_ns; /* of the read being decoded */
  hist arrival, receipt, queueing;
} worker;

static int mode_ws;
static struct sockaddr_in out_addr, ingest_addr;
static const char *path = "/events/accelerometer";
static atomic_int measuring, stop_all, connect_done_count;
static conn *conns;
static int total_clients;
static _Atomic int64_t run_end_mono;

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

static void note_id(worker *w, conn *c, uint64_t id) {
  if (c->last_id && id > c->last_id + 1) w->missed += id - c->last_id - 1;
  c->last_id = id;
}

/* An event payload is a row array whose second column is the reading's time in ns. */
static void on_payload(worker *w, const char *p, size_t n) {
  const char *arr = memmem(p, n, "[\"", 2);
  if (!arr) return;
  const char *end = p + n;
  const char *q = memchr(arr + 2, '"', (size_t)(end - arr - 2));
  if (!q || q + 2 >= end || q[1] != ',') {
    w->bad_events++;
    return;
  }
  long long t = strtoll(q + 2, NULL, 10);
  w->events_total++;
  if (!atomic_load_explicit(&measuring, memory_order_relaxed)) return;
  if (!w->parse_ns) w->parse_ns = now_ns(CLOCK_REALTIME);
  hist_add(&w->receipt, (w->parse_ns - t) / 1000);
  if (w->rx_ns) {
    hist_add(&w->arrival, (w->rx_ns - t) / 1000);
    hist_add(&w->queueing, (w->parse_ns - w->rx_ns) / 1000);
  }
}

static void sse_line(worker *w, conn *c, const char *p, size_t n) {
  if (n > 6 && memcmp(p, "data: ", 6) == 0)
    on_payload(w, p, n);
  else if (n > 4 && memcmp(p, "id: ", 4) == 0)
    note_id(w, c, strtoull(p + 4, NULL, 10));
}

static void sse_data(worker *w, conn *c, const char *p, size_t n) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) : n;
    if (!nl || c->line_len) {
      size_t room = sizeof c->line - c->line_len;
      memcpy(c->line + c->line_len, p, k < room ? k : room);
      c->line_len += k < room ? k : room;
    }
    if (!nl) return;
    if (c->line_len)
      sse_line(w, c, c->line, c->line_len);
    else
      sse_line(w, c, p, k);
    c->line_len = 0;
    p += k + 1;
    n -= k + 1;
  }
}

/* Chunked transfer decoding in front of the SSE line parser. */
static void sse_feed(worker *w, conn *c, const char *p, size_t n) {
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
      sse_data(w, c, p + i, k);
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
  ssize_t r = send(c->fd, f, 6 + len, MSG_NOSIGNAL);
  (void)r;
}

static void ws_message(worker *w, conn *c) {
  if (c->line_len > 6 && memcmp(c->line, "{\"id\":", 6) == 0)
    note_id(w, c, strtoull(c->line + 6, NULL, 10));
  on_payload(w, c->line, c->line_len);
}

static void ws_feed(worker *w, conn *c, const char *p, size_t n) {
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
      if (c->ws_opcode == 1 || c->ws_opcode == 0)
        ws_message(w, c);
      else if (c->ws_opcode == 9)
        ws_send_pong(c, c->line, c->line_len < 125 ? c->line_len : 125);
      c->line_len = 0;
    }
  }
}

static void feed(worker *w, conn *c, const char *p, size_t n) {
  if (mode_ws)
    ws_feed(w, c, p, n);
  else
    sse_feed(w, c, p, n);
}

static void send_request(conn *c) {
  char req[512];
  int n;
  if (mode_ws)
    n = snprintf(
        req, sizeof req,
        "GET %s HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        path);
  else
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", path);
  if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
    c->state = 3;
  else
    c->state = 1;
}

/* Opens this worker's share in waves so the listen backlog is not overrun. */
static void worker_connect(worker *w) {
  struct epoll_event evs[512];
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  for (int opened = 0; opened < w->count || w->connected + w->failed < w->count;) {
    for (int k = 0; k < 100 && opened < w->count && opened - w->connected - w->failed < 500;
         k++, opened++) {
      conn *c = &conns[w->first + opened];
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (c->fd < 0) {
        perror("socket");
        exit(1);
      }
      int one = 1;
      setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
      connect(c->fd, (struct sockaddr *)&out_addr, sizeof out_addr);
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
      epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    int n = epoll_wait(w->ep, evs, 512, 100);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state == 0 && (evs[i].events & EPOLLOUT)) {
        send_request(c);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
      if (c->state == 1 && (evs[i].events & EPOLLIN)) {
        ssize_t r = recv(c->fd, c->hdr + c->hdr_len, sizeof c->hdr - 1 - c->hdr_len, 0);
        if (r <= 0) {
          c->state = 3;
          w->failed++;
          continue;
        }
        c->hdr_len += (size_t)r;
        c->hdr[c->hdr_len] = 0;
        char *end = strstr(c->hdr, "\r\n\r\n");
        if (end) {
          int ok = mode_ws ? !strncmp(c->hdr, "HTTP/1.1 101", 12)
                           : !strncmp(c->hdr, "HTTP/1.1 200", 12);
          if (!ok) {
            c->state = 3;
            w->failed++;
            continue;
          }
          c->state = 2;
          w->connected++;
          size_t rest = c->hdr_len - (size_t)(end + 4 - c->hdr);
          char tmp[1024];
          memcpy(tmp, end + 4, rest);
          c->hdr_len = 0;
          feed(w, c, tmp, rest);
        }
      } else if (c->state == 2 || c->state == 0) {
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          if (c->state == 0) w->failed++;
          c->state = 3;
        }
      }
    }
    if (now_ns(CLOCK_MONOTONIC) - t0 > 120000000000LL) break;
  }
}

static void *worker_main(void *arg) {
  worker *w = arg;
  worker_connect(w);
  atomic_fetch_add(&connect_done_count, 1);
  struct epoll_event evs[512];
  static _Thread_local char buf[65536];
  char cbuf[CMSG_SPACE(sizeof(struct timespec)) * 2];
  while (!atomic_load(&stop_all)) {
    int n = epoll_wait(w->ep, evs, 512, 5);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state != 2) continue;
      for (;;) {
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        ssize_t r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
        if (r > 0) {
          w->reads++;
          w->rx_ns = 0;
          w->parse_ns = 0;
          for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
              struct timespec ts;
              memcpy(&ts, CMSG_DATA(cm), sizeof ts);
              w->rx_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
              w->stamped_reads++;
            }
          feed(w, c, buf, (size_t)r);
          if ((size_t)r < sizeof buf) break;
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          c->state = 3;
          w->dead++;
          epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        }
        break;
      }
    }
    int64_t end = atomic_load(&run_end_mono);
    if (end && now_ns(CLOCK_MONOTONIC) > end) break;
  }
  return NULL;
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
      struct timeval tv = {2, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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
                      "POST /phone-producer/ HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                      "application/json\r\nContent-Length: %d\r\n\r\n%s",
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
    if (strncmp(resp, "HTTP/1.1 200", 12) == 0)
      posts_ok++;
    else
      posts_failed++;
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
      if (s &&
          sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
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

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Machine-wide busy and total CPU time (all cores) from /proc/stat, in seconds. */
static void machine_cpu(double *busy_s, double *total_s) {
  unsigned long long v[10] = {0};
  *busy_s = *total_s = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return;
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
             &v[4], &v[5], &v[6], &v[7]) == 8) {
    double hz = (double)sysconf(_SC_CLK_TCK), all = 0;
    for (int i = 0; i < 8; i++) all += (double)v[i];
    *total_s = all / hz;
    *busy_s = (all - (double)v[3] - (double)v[4]) / hz;
  }
  fclose(f);
}

int main(int argc, char **argv) {
  const char *out = NULL, *ingest = NULL;
  int clients = 1, seconds = 20, warmup = 3, pid = 0, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mode"))
      mode_ws = !strcmp(argv[i + 1], "ws");
    else if (!strcmp(argv[i], "--out"))
      out = argv[i + 1];
    else if (!strcmp(argv[i], "--ingest"))
      ingest = argv[i + 1];
    else if (!strcmp(argv[i], "--clients"))
      clients = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--path"))
      path = argv[i + 1];
    else if (!strcmp(argv[i], "--rate"))
      post_rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup"))
      warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--pid"))
      pid = atoi(argv[i + 1]);
  }
  if (!out || !ingest || parse_addr(out, &out_addr) || parse_addr(ingest, &ingest_addr) ||
      clients < 1 || threads < 1) {
    fprintf(stderr, "usage: fanout_client --mode sse|ws --out HOST:PORT --ingest HOST:PORT "
                    "--clients N [--threads T]\n");
    return 2;
  }
  if (threads > clients) threads = clients;
  total_clients = clients;
  double cpu0 = 0;
  long rss_base = 0;
  if (pid) proc_sample(pid, &cpu0, &rss_base);
  conns = calloc((size_t)clients, sizeof *conns);
  worker *ws = calloc((size_t)threads, sizeof *ws);
  if (!conns || !ws) return 1;
  int64_t t_connect = now_ns(CLOCK_MONOTONIC);
  for (int i = 0, first = 0; i < threads; i++) {
    worker *w = &ws[i];
    w->index = i;
    w->first = first;
    w->count = clients / threads + (i < clients % threads);
    first += w->count;
    w->ep = epoll_create1(0);
    pthread_create(&w->th, NULL, worker_main, w);
  }
  while (atomic_load(&connect_done_count) < threads) usleep(10000);
  int connected = 0, failed = 0;
  for (int i = 0; i < threads; i++) {
    connected += ws[i].connected;
    failed += ws[i].failed;
  }
  double connect_s = (double)(now_ns(CLOCK_MONOTONIC) - t_connect) / 1e9;
  post_seconds = warmup + seconds + 1;
  int64_t start = now_ns(CLOCK_MONOTONIC), m_start = start + (int64_t)warmup * 1000000000;
  int64_t m_end = m_start + (int64_t)seconds * 1000000000;
  atomic_store(&run_end_mono, m_end + 500000000);
  pthread_t th;
  pthread_create(&th, NULL, poster, NULL);
  double cpu_m0 = 0, cpu_m1 = 0, self0 = 0, self1 = 0, busy0 = 0, busy1 = 0, tot0 = 0, tot1 = 0;
  long rss_m = 0, rss_tmp = 0;
  struct timespec ms = {m_start / 1000000000, m_start % 1000000000};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ms, NULL);
  if (pid) proc_sample(pid, &cpu_m0, &rss_tmp);
  self0 = self_cpu_s();
  machine_cpu(&busy0, &tot0);
  atomic_store(&measuring, 1);
  struct timespec me = {m_end / 1000000000, m_end % 1000000000};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &me, NULL);
  atomic_store(&measuring, 0);
  if (pid) proc_sample(pid, &cpu_m1, &rss_m);
  self1 = self_cpu_s();
  machine_cpu(&busy1, &tot1);
  for (int i = 0; i < threads; i++) pthread_join(ws[i].th, NULL);
  atomic_store(&stop_all, 1);
  pthread_join(th, NULL);
  static hist arrival, receipt, queueing;
  uint64_t bad = 0, missed = 0, reads = 0, stamped = 0;
  int dead = 0;
  for (int i = 0; i < threads; i++) {
    hist_merge(&arrival, &ws[i].arrival);
    hist_merge(&receipt, &ws[i].receipt);
    hist_merge(&queueing, &ws[i].queueing);
    bad += ws[i].bad_events;
    missed += ws[i].missed;
    reads += ws[i].reads;
    stamped += ws[i].stamped_reads;
    dead += ws[i].dead;
  }
  double measured_s = (double)seconds;
  double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
  double wall = tot1 - tot0 > 0 ? (tot1 - tot0) / ncpu : measured_s;
  double server_pct = pid ? 100.0 * (cpu_m1 - cpu_m0) / measured_s : 0.0;
  double client_pct = 100.0 * (self1 - self0) / measured_s;
  double machine_pct = 100.0 * (busy1 - busy0) / wall;
  long rss = rss_m ? rss_m : rss_base;
  printf("{\"mode\":\"%s\",\"clients\":%d,\"threads\":%d,\"connected\":%d,\"failed\":%d,"
         "\"dropped\":%d,\"connect_s\":%.2f,\"posts_ok\":%ld,\"posts_failed\":%ld,"
         "\"events_measured\":%llu,\"missed_ids\":%llu,\"delivered_per_s\":%.0f,"
         "\"expected_per_s\":%.0f,"
         "\"lag_p50_ms\":%.2f,\"lag_p99_ms\":%.2f,\"lag_max_ms\":%.2f,"
         "\"arrival_p50_ms\":%.2f,\"arrival_p99_ms\":%.2f,\"arrival_max_ms\":%.2f,"
         "\"client_queue_p50_ms\":%.2f,\"client_queue_p99_ms\":%.2f,"
         "\"reads_per_s\":%.0f,\"stamped_reads\":%llu,"
         "\"cpu_pct\":%.1f,\"client_cpu_pct\":%.1f,\"machine_busy_pct\":%.1f,"
         "\"rss_base_kb\":%ld,\"rss_kb\":%ld,\"rss_per_client_kb\":%.2f,\"bad_events\":%llu}\n",
         mode_ws ? "websocket" : "sse", clients, threads, connected, failed, dead, connect_s,
         (long)posts_ok, (long)posts_failed, (unsigned long long)receipt.count,
         (unsigned long long)missed, (double)receipt.count / measured_s, post_rate * connected,
         hist_pct(&receipt, 0.50), hist_pct(&receipt, 0.99), (double)receipt.max_us / 1000.0,
         hist_pct(&arrival, 0.50), hist_pct(&arrival, 0.99), (double)arrival.max_us / 1000.0,
         hist_pct(&queueing, 0.50), hist_pct(&queueing, 0.99), (double)reads / measured_s,
         (unsigned long long)stamped, server_pct, client_pct, machine_pct, rss_base, rss,
         connected ? (double)(rss - rss_base) / connected : 0.0, (unsigned long long)bad);
  return 0;
}
