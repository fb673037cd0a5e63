/* The HTTP front end (see front.h): per-connection bookkeeping through libmicrohttpd's
 * notification hooks, and one reaper thread per front that enforces the header deadline
 * and drains sockets in a lingering close. */
#include "front.h"

#include "framing.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

const char *const hf_refusal_names[HF_REFUSAL_COUNT] = {
    "header_timeout", "idle_evicted", "per_ip_limit", "connection_limit", "framing",
    "host",           "origin",       "memory",       "media_type"};

#define IP_BUCKETS      1024
#define LINGER_MAX      256
#define REAP_PERIOD_MS  200
#define MHD_LIMIT_SLACK 64 /* accepted beyond max_connections so one can evict idle ones */

/* CP_STREAM: a long-lived answer (SSE, WebSocket) that the server marked; its liveness is
 * the server's business (heartbeats), so no deadline or eviction applies. */
typedef enum conn_phase { CP_HEADERS, CP_BUSY, CP_IDLE, CP_STREAM } conn_phase;

typedef struct hf_server {
  hf_front *front;
  hf_daemon_opts opts;
  struct hf_server *next;
} hf_server;

typedef struct ip_count {
  unsigned char key[17]; /* family byte + address */
  unsigned count;
  struct ip_count *next;
} ip_count;

typedef struct hf_conn {
  hf_server *srv;
  int fd;
  unsigned char ip[17];
  conn_phase phase;
  int64_t phase_since;
  int shut;          /* the reaper shut it down */
  int linger_wanted; /* an answer went out before the body was read */
  struct hf_conn *prev, *next;
} hf_conn;

/* Per request: the front end owns libmicrohttpd's request slot and hands the server
 * user instead. */
typedef struct hf_req {
  void *user;
  const char *raw_target;
  size_t raw_len;
  int checked;
  int refused;
  int body_expected;
  unsigned target_status; /* the target's refusal, found before it was decoded */
  char target_why[120];
  int final_call_seen;
} hf_req;

typedef struct lingerer {
  int fd;
  int64_t deadline;
} lingerer;

struct hf_front {
  char name[32];
  hf_limits lim;
  hf_env env;
  pthread_mutex_t mu;
  hf_conn *conns; /* most recent first */
  unsigned conn_count;
  ip_count *ips[IP_BUCKETS];
  lingerer linger[LINGER_MAX];
  unsigned linger_count;
  hf_server *servers;
  int wake_fd;
  int stopping;
  pthread_t reaper;
  int64_t last_timeout_log;
  unsigned timeouts_since_log;
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void front_log(hf_front *f, sd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void front_log(hf_front *f, sd_log_level level, const char *fmt, ...) {
  if (!f->env.log) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  f->env.log(f->env.log_ctx, level, msg);
}

static void count(hf_front *f, hf_refusal why) {
  if (f->env.metric_add && f->env.refused[why]) f->env.metric_add(f->env.refused[why], 1);
}

/* ---- environment and limits -------------------------------------------------------- */

typedef struct host_log_ctx {
  const sd_host_api *host;
  sd_stage *stage;
} host_log_ctx;

static void host_log(void *ctx, sd_log_level level, const char *msg) {
  host_log_ctx *h = ctx;
  h->host->log(h->stage, level, "%s", msg);
}

void hf_env_from_host(hf_env *env, const sd_host_api *host, sd_stage *stage) {
  memset(env, 0, sizeof *env);
  /* Freed by hf_front_free (the env is copied into the front). */
  host_log_ctx *h = malloc(sizeof *h);
  if (h) {
    h->host = host;
    h->stage = stage;
    env->log = host_log;
    env->log_ctx = h;
  }
  env->metric_add = host->metric_add;
  for (int i = 0; i < HF_REFUSAL_COUNT; i++) {
    char labels[64];
    snprintf(labels, sizeof labels, "reason=\"%s\"", hf_refusal_names[i]);
    env->refused[i] =
        host->counter(stage, "http_refused_total",
                      "Connections and requests the HTTP front end refused, by reason", labels);
  }
  env->lingering =
      host->gauge(stage, "http_lingering_sockets",
                  "Sockets draining unread input after their answer (lingering close)", NULL);
}

void hf_limits_default(hf_limits *lim) {
  lim->header_timeout_ns = 10LL * 1000000000;
  lim->keepalive_timeout_ns = 75LL * 1000000000;
  lim->max_connections = 1024;
  lim->max_per_ip = 256;
  lim->linger_ns = 5LL * 1000000000;
}

/* ---- per-address counts ------------------------------------------------------------ */

static void ip_key(const struct sockaddr *sa, unsigned char key[17]) {
  memset(key, 0, 17);
  if (!sa) return;
  if (sa->sa_family == AF_INET) {
    key[0] = 4;
    memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      key[0] = 4;
      memcpy(key + 1, a->s6_addr + 12, 4);
    } else {
      key[0] = 6;
      memcpy(key + 1, a->s6_addr, 16);
    }
  }
}

static unsigned ip_bucket(const unsigned char key[17]) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < 17; i++) h = (h ^ key[i]) * 16777619u;
  return h % IP_BUCKETS;
}

static ip_count **ip_find(hf_front *f, const unsigned char key[17]) {
  ip_count **pp = &f->ips[ip_bucket(key)];
  while (*pp && memcmp((*pp)->key, key, 17) != 0) pp = &(*pp)->next;
  return pp;
}

static unsigned ip_get(hf_front *f, const unsigned char key[17]) {
  ip_count **pp = ip_find(f, key);
  return *pp ? (*pp)->count : 0;
}

static void ip_add(hf_front *f, const unsigned char key[17], int delta) {
  ip_count **pp = ip_find(f, key);
  if (!*pp) {
    if (delta < 0) return;
    ip_count *n = calloc(1, sizeof *n);
    if (!n) return; /* out of memory: this address is not capped, nothing breaks */
    memcpy(n->key, key, 17);
    *pp = n;
  }
  if (delta < 0 && (*pp)->count <= (unsigned)-delta) {
    ip_count *dead = *pp;
    *pp = dead->next;
    free(dead);
    return;
  }
  (*pp)->count = (unsigned)((int)(*pp)->count + delta);
}

static void peer_text(const unsigned char key[17], char *out, size_t cap) {
  char buf[64] = "?";
  if (key[0] == 4)
    snprintf(buf, sizeof buf, "%u.%u.%u.%u", key[1], key[2], key[3], key[4]);
  else if (key[0] == 6) {
    size_t o = 0;
    for (int i = 0; i < 16 && o + 6 < sizeof buf; i += 2)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%x", i ? ":" : "",
                            (unsigned)(key[1 + i] << 8 | key[2 + i]));
  }
  snprintf(out, cap, "%s", buf);
}

/* ---- libmicrohttpd hooks ----------------------------------------------------------- */

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
  hf_server *srv = cls;
  hf_front *f = srv->front;
  (void)len;
  if (!f->lim.max_per_ip) return MHD_YES;
  unsigned char key[17];
  ip_key(addr, key);
  pthread_mutex_lock(&f->mu);
  unsigned held = ip_get(f, key);
  pthread_mutex_unlock(&f->mu);
  if (held < f->lim.max_per_ip) return MHD_YES;
  count(f, HF_REFUSED_PER_IP);
  char peer[64];
  peer_text(key, peer, sizeof peer);
  front_log(f, SD_LOG_WARN,
            "%s: refused a connection from %s: it already holds %u (max_connections_per_ip)",
            f->name, peer, held);
  return MHD_NO;
}

/* Under f->mu: shut the oldest connection that is not working on a request, to make room.
 * Returns 1 when one was found. */
static int evict_idle_locked(hf_front *f) {
  hf_conn *victim = NULL;
  for (hf_conn *c = f->conns; c; c = c->next)
    if ((c->phase == CP_HEADERS || c->phase == CP_IDLE) && !c->shut &&
        (!victim || c->phase_since <= victim->phase_since))
      victim = c;
  if (!victim) return 0;
  victim->shut = 1;
  shutdown(victim->fd, SHUT_RDWR);
  return 1;
}

static void add_lingerer_locked(hf_front *f, int fd) {
  if (f->linger_count >= LINGER_MAX || !f->lim.linger_ns) return;
  int dupfd = dup(fd);
  if (dupfd < 0) return;
  /* FIN after the answer, while input is still read: the client reads the answer instead
   * of a reset that would discard it. */
  shutdown(dupfd, SHUT_WR);
  f->linger[f->linger_count++] = (lingerer){dupfd, now_ns() + f->lim.linger_ns};
  if (f->env.lingering && f->env.metric_add) f->env.metric_add(f->env.lingering, 1);
  uint64_t one = 1;
  ssize_t w = write(f->wake_fd, &one, sizeof one);
  (void)w;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  hf_server *srv = cls;
  hf_front *f = srv->front;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    hf_conn *c = calloc(1, sizeof *c);
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (c && fdi) {
      c->srv = srv;
      c->fd = fdi->connect_fd;
      ip_key(ai ? ai->client_addr : NULL, c->ip);
      c->phase = CP_HEADERS;
      c->phase_since = now_ns();
      pthread_mutex_lock(&f->mu);
      if (f->conn_count >= f->lim.max_connections && !evict_idle_locked(f)) {
        c->shut = 1; /* no room and nothing idle: this newcomer goes */
        shutdown(c->fd, SHUT_RDWR);
        count(f, HF_REFUSED_TOTAL);
      } else if (f->conn_count >= f->lim.max_connections) {
        count(f, HF_REFUSED_IDLE_EVICTED);
      }
      c->next = f->conns;
      if (f->conns) f->conns->prev = c;
      f->conns = c;
      f->conn_count++;
      ip_add(f, c->ip, 1);
      pthread_mutex_unlock(&f->mu);
      *socket_context = c;
    } else {
      free(c);
      *socket_context = NULL;
    }
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    hf_conn *c = *socket_context;
    if (c) {
      pthread_mutex_lock(&f->mu);
      int unread = 0;
      if (!c->shut && c->phase != CP_STREAM && ioctl(c->fd, FIONREAD, &unread) != 0) unread = 0;
      /* Still before libmicrohttpd's close(): the fd is this connection's. */
      if (!c->shut && c->phase != CP_STREAM && (c->linger_wanted || unread > 0))
        add_lingerer_locked(f, c->fd);
      if (c->prev)
        c->prev->next = c->next;
      else
        f->conns = c->next;
      if (c->next) c->next->prev = c->prev;
      f->conn_count--;
      ip_add(f, c->ip, -1);
      pthread_mutex_unlock(&f->mu);
      free(c);
      *socket_context = NULL;
    }
  }
  if (srv->opts.on_connection)
    srv->opts.on_connection(srv->opts.on_connection_cls, conn, socket_context, toe);
}

static hf_conn *conn_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *i =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return i ? i->socket_context : NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)cls;
  (void)conn;
  hf_req *r = calloc(1, sizeof *r);
  if (r && uri) {
    /* libmicrohttpd decodes the target in place after this call: check it now. */
    r->raw_target = uri;
    r->raw_len = strlen(uri);
    hf_framing fr;
    hf_framing_init(&fr);
    hf_framing_target(&fr, uri, r->raw_len);
    r->target_status = fr.status;
    memcpy(r->target_why, fr.why, sizeof r->target_why);
  }
  return r;
}

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
  (void)kind;
  hf_framing_field(cls, key, value);
  return MHD_YES;
}

static struct MHD_Response *default_error_body(unsigned status, const char *message) {
  char body[512];
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"status\":%u}\n", message, status);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
  if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
  return resp;
}

enum MHD_Result hf_refuse(hf_front *f, struct MHD_Connection *conn, hf_refusal why,
                          unsigned status, const char *message) {
  hf_conn *c = conn_of(conn);
  count(f, why);
  if (c) c->linger_wanted = 1;
  hf_server *srv = c ? c->srv : NULL;
  struct MHD_Response *resp =
      srv && srv->opts.error_body
          ? srv->opts.error_body(srv->opts.error_body_cls, status, message)
          : default_error_body(status, message);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Connection", "close");
  if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
  enum MHD_Result ok = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return ok;
}

void hf_request_linger(struct MHD_Connection *conn) {
  hf_conn *c = conn_of(conn);
  if (c) c->linger_wanted = 1;
}

void *hf_upgrade_context(void *con_cls) {
  hf_req *r = con_cls;
  return r ? r->user : NULL;
}

void hf_request_stream(hf_front *f, struct MHD_Connection *conn) {
  hf_conn *c = conn_of(conn);
  if (!c) return;
  pthread_mutex_lock(&f->mu);
  c->phase = CP_STREAM;
  pthread_mutex_unlock(&f->mu);
}

/* First call of a request: its headers are complete. */
static enum MHD_Result check_request(hf_server *srv, struct MHD_Connection *conn, hf_req *r,
                                     const char *version) {
  hf_front *f = srv->front;
  hf_conn *c = conn_of(conn);
  if (c) {
    pthread_mutex_lock(&f->mu);
    c->phase = CP_BUSY;
    c->phase_since = now_ns();
    pthread_mutex_unlock(&f->mu);
  }
  hf_framing fr;
  hf_framing_init(&fr);
  if (r->target_status) {
    fr.status = r->target_status;
    memcpy(fr.why, r->target_why, sizeof fr.why);
  }
  /* The target ended, on the request line, where the version begins (both point into the
   * same buffer): a shorter string means the client embedded a NUL. */
  if (!fr.status && r->raw_target && version && *version && version > r->raw_target &&
      (size_t)(version - 1 - r->raw_target) != r->raw_len) {
    fr.status = 400;
    snprintf(fr.why, sizeof fr.why, "NUL byte in the request target");
  }
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_field, &fr);
  unsigned status = hf_framing_finish(&fr, version && strcmp(version, "HTTP/1.0") == 0);
  r->body_expected = hf_framing_has_body(&fr);
  if (!status) return MHD_YES;
  const union MHD_ConnectionInfo *ai =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  unsigned char key[17];
  char peer[64];
  ip_key(ai ? ai->client_addr : NULL, key);
  peer_text(key, peer, sizeof peer);
  front_log(f, SD_LOG_WARN, "%s: refused a request from %s: %s (%u)", f->name, peer, fr.why,
            status);
  r->refused = 1;
  return hf_refuse(f, conn, HF_REFUSED_FRAMING, status, fr.why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size,
                                  void **con_cls) {
  hf_server *srv = cls;
  hf_req *r = *con_cls;
  if (!r) return MHD_NO; /* out of memory at the request line */
  if (r->refused) {      /* answered already: the server never sees this request */
    *upload_size = 0;
    return MHD_YES;
  }
  if (!r->checked) {
    r->checked = 1;
    enum MHD_Result ok = check_request(srv, conn, r, version);
    if (r->refused) return ok;
  } else if (!*upload_size) {
    r->final_call_seen = 1;
  }
  return srv->opts.handler(srv->opts.handler_cls, conn, url, method, version, upload_data,
                           upload_size, &r->user);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  hf_server *srv = cls;
  hf_front *f = srv->front;
  hf_req *r = *con_cls;
  if (srv->opts.completed)
    srv->opts.completed(srv->opts.completed_cls, conn, r ? &r->user : con_cls, toe);
  hf_conn *c = conn_of(conn);
  if (c) {
    pthread_mutex_lock(&f->mu);
    if (r && r->body_expected && !r->final_call_seen) c->linger_wanted = 1;
    if (c->phase != CP_STREAM) { /* an upgraded WebSocket lives on past its request */
      c->phase = CP_IDLE;
      c->phase_since = now_ns();
    }
    pthread_mutex_unlock(&f->mu);
  }
  free(r);
  *con_cls = NULL;
}

/* ---- the reaper -------------------------------------------------------------------- */

static void reap_deadlines(hf_front *f, int64_t now) {
  unsigned timed_out = 0;
  pthread_mutex_lock(&f->mu);
  for (hf_conn *c = f->conns; c; c = c->next) {
    if (c->shut || c->phase == CP_BUSY || c->phase == CP_STREAM) continue;
    int64_t limit =
        c->phase == CP_HEADERS ? f->lim.header_timeout_ns : f->lim.keepalive_timeout_ns;
    if (limit <= 0 || now - c->phase_since < limit) continue;
    /* shutdown, not close: libmicrohttpd still owns the fd and closes it when it sees the
     * end of the stream; under f->mu the fd cannot have been reused yet. */
    c->shut = 1;
    shutdown(c->fd, SHUT_RDWR);
    if (c->phase == CP_HEADERS) timed_out++;
  }
  pthread_mutex_unlock(&f->mu);
  if (timed_out) {
    for (unsigned i = 0; i < timed_out; i++) count(f, HF_REFUSED_HEADER_TIMEOUT);
    f->timeouts_since_log += timed_out;
  }
  if (f->timeouts_since_log && now - f->last_timeout_log > 10LL * 1000000000) {
    front_log(f, SD_LOG_WARN,
              "%s: closed %u connections that sent no complete request header within "
              "%lld ms (slow or stalled clients)",
              f->name, f->timeouts_since_log, (long long)(f->lim.header_timeout_ns / 1000000));
    f->timeouts_since_log = 0;
    f->last_timeout_log = now;
  }
}

static void *reaper_main(void *arg) {
  hf_front *f = arg;
  struct pollfd pfd[LINGER_MAX + 1];
  char sink[16384];
  for (;;) {
    pthread_mutex_lock(&f->mu);
    if (f->stopping) {
      pthread_mutex_unlock(&f->mu);
      break;
    }
    unsigned n = f->linger_count;
    for (unsigned i = 0; i < n; i++) pfd[i] = (struct pollfd){f->linger[i].fd, POLLIN, 0};
    pthread_mutex_unlock(&f->mu);
    pfd[n] = (struct pollfd){f->wake_fd, POLLIN, 0};
    int ready = poll(pfd, n + 1, REAP_PERIOD_MS);
    if (ready < 0 && errno != EINTR) break;
    if (pfd[n].revents & POLLIN) {
      uint64_t v;
      ssize_t r = read(f->wake_fd, &v, sizeof v);
      (void)r;
    }
    int64_t now = now_ns();
    pthread_mutex_lock(&f->mu);
    /* Only this thread removes lingerers, so the first n entries are those polled. */
    for (unsigned i = n; i-- > 0;) {
      int done = now >= f->linger[i].deadline;
      if (!done && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t got = recv(f->linger[i].fd, sink, sizeof sink, MSG_DONTWAIT);
        done = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (done) {
        close(f->linger[i].fd);
        f->linger[i] = f->linger[--f->linger_count];
        if (f->env.lingering && f->env.metric_add) f->env.metric_add(f->env.lingering, -1);
      }
    }
    pthread_mutex_unlock(&f->mu);
    reap_deadlines(f, now);
  }
  return NULL;
}

/* ---- lifecycle --------------------------------------------------------------------- */

hf_front *hf_front_new(const char *name, const hf_limits *limits, const hf_env *env) {
  hf_front *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  snprintf(f->name, sizeof f->name, "%s", name ? name : "http");
  if (limits)
    f->lim = *limits;
  else
    hf_limits_default(&f->lim);
  if (!f->lim.max_connections) f->lim.max_connections = 1024;
  if (env) f->env = *env;
  pthread_mutex_init(&f->mu, NULL);
  f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (f->wake_fd < 0 || pthread_create(&f->reaper, NULL, reaper_main, f) != 0) {
    if (f->wake_fd >= 0) close(f->wake_fd);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return NULL;
  }
  return f;
}

void hf_front_free(hf_front *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->stopping = 1;
  pthread_mutex_unlock(&f->mu);
  uint64_t one = 1;
  ssize_t w = write(f->wake_fd, &one, sizeof one);
  (void)w;
  pthread_join(f->reaper, NULL);
  for (unsigned i = 0; i < f->linger_count; i++) close(f->linger[i].fd);
  for (int b = 0; b < IP_BUCKETS; b++)
    while (f->ips[b]) {
      ip_count *n = f->ips[b]->next;
      free(f->ips[b]);
      f->ips[b] = n;
    }
  while (f->servers) {
    hf_server *n = f->servers->next;
    free(f->servers);
    f->servers = n;
  }
  close(f->wake_fd);
  pthread_mutex_destroy(&f->mu);
  if (f->env.log == host_log) free(f->env.log_ctx);
  free(f);
}

void hf_front_count(hf_front *f, hf_refusal why) {
  if (f && why < HF_REFUSAL_COUNT) count(f, why);
}

unsigned hf_front_connections(hf_front *f) {
  pthread_mutex_lock(&f->mu);
  unsigned n = f->conn_count;
  pthread_mutex_unlock(&f->mu);
  return n;
}

/* libmicrohttpd's messages. Those about one connection (a peer that closed, reset or
 * stalled) are what every hostile or flaky client causes: logged at debug, or a storm of
 * them would be a storm of warnings. Requests libmicrohttpd refuses itself (a header it
 * cannot parse) are counted as framing refusals, as ours are. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
  hf_front *f = cls;
  char line[400];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  /* One such line per request it answered with an error itself. */
  int refused = strstr(line, "Error processing request (HTTP response code is 4") != NULL;
  int per_connection = strcasestr(line, "connection") || strcasestr(line, "socket") ||
                       strstr(line, "request") || strstr(line, "send");
  if (refused) count(f, HF_REFUSED_FRAMING);
  char hint[96] = "";
  if (refused && strstr(line, "431") && f->env.header_memory_key)
    snprintf(hint, sizeof hint, " (raise %s for larger headers)", f->env.header_memory_key);
  for (char *p = line; *p; p++) /* the line goes inside msg="..." */
    if (*p == '"') *p = '\'';
  sd_log_level level = refused || !per_connection ? SD_LOG_WARN : SD_LOG_DEBUG;
  front_log(f, level, "%s: %slibmicrohttpd: %s%s", f->name,
            refused ? "refused a request: " : "", line, hint);
}

struct MHD_Daemon *hf_start_daemon(hf_front *f, unsigned flags, const hf_daemon_opts *o,
                                   const struct MHD_OptionItem *extra) {
  hf_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->front = f;
  srv->opts = *o;
  static const struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
  struct MHD_OptionItem first[] = {{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, f},
                                   {MHD_OPTION_END, 0, NULL}};
  struct MHD_OptionItem mine[] = {
      {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(f->lim.max_connections + MHD_LIMIT_SLACK), NULL},
      {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
      {MHD_OPTION_END, 0, NULL}};
  /* The logger first, so that libmicrohttpd routes every message through it. */
  struct MHD_Daemon *d = MHD_start_daemon(
      flags | MHD_USE_ERROR_LOG, 0, on_accept, srv, on_request, srv, MHD_OPTION_ARRAY, first,
      MHD_OPTION_ARRAY, extra ? extra : none, MHD_OPTION_ARRAY, mine, MHD_OPTION_END);
  if (!d) {
    free(srv);
    return NULL;
  }
  pthread_mutex_lock(&f->mu);
  srv->next = f->servers;
  f->servers = srv;
  pthread_mutex_unlock(&f->mu);
  return d;
}
