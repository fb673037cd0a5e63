/* The REST API listener: one accept thread that peeks at each new connection's first bytes
 * and hands it to the HTTP/2 transport (connection preface) or to libmicrohttpd (anything
 * else), plus the watch thread that frees ended queries and notices vanished clients. */
#include "api_server.h"
#include "http/front.h"
#include "net/listen_addr.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof h2_preface - 1)
/* Connections whose first bytes have not told HTTP/2 from HTTP/1.1 yet. A full table never
 * stops the accepting: the oldest waiting one is closed for the newcomer, so sockets that
 * send nothing cannot lock real clients out; each waits at most header_timeout. */
#define PENDING_MAX 256

typedef struct pending_conn {
  int fd;
  int64_t since;
  struct sockaddr_storage addr;
  socklen_t addrlen;
} pending_conn;

void api_count_request(api_server *srv, const char *endpoint, int status) {
  char key[64];
  snprintf(key, sizeof key, "%s %d", endpoint, status);
  sd_metric *m = NULL;
  pthread_mutex_lock(&srv->mu);
  for (size_t i = 0; i < srv->req_metric_count; i++)
    if (strcmp(srv->req_metrics[i].key, key) == 0) m = srv->req_metrics[i].metric;
  if (!m && srv->req_metric_count < sizeof srv->req_metrics / sizeof *srv->req_metrics) {
    char labels[128];
    snprintf(labels, sizeof labels, "endpoint=\"%s\",status=\"%d\"", endpoint, status);
    m = srv->host->counter(srv->stage, "query_api_requests_total",
                           "ksqlDB REST API requests by endpoint and HTTP status", labels);
    snprintf(srv->req_metrics[srv->req_metric_count].key, sizeof key, "%s", key);
    srv->req_metrics[srv->req_metric_count++].metric = m;
  }
  pthread_mutex_unlock(&srv->mu);
  if (m) srv->host->metric_add(m, 1);
}

size_t api_server_push_count(api_server *srv) {
  pthread_mutex_lock(&srv->mu);
  size_t n = srv->push_count;
  pthread_mutex_unlock(&srv->mu);
  return n;
}

static int listen_on(api_server *srv, const char *spec) {
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char why[160];
  if (la_parse_listen(spec, &addr, &addr_len, why, sizeof why)) {
    srv->host->log(srv->stage, SD_LOG_ERROR, "listen %s: %s", spec, why);
    return -1;
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                  bind(fd, (struct sockaddr *)&addr, addr_len) != 0 || listen(fd, 1024) != 0)) {
    int err = errno;
    close(fd);
    fd = -1;
    errno = err;
  }
  if (fd < 0)
    srv->host->log(srv->stage, SD_LOG_ERROR, "cannot listen on %s: %s", spec, strerror(errno));
  return fd;
}

/* 1: HTTP/2 preface, 0: HTTP/1.x, -1: not enough bytes yet, -2: closed or failed. */
static int classify(int fd) {
  char buf[PREFACE_LEN];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return -2;
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -1 : -2;
  if (memcmp(buf, h2_preface, (size_t)n) != 0) return 0;
  return (size_t)n == PREFACE_LEN ? 1 : -1;
}

static void dispatch(api_server *srv, pending_conn *pc, int kind) {
  /* Rows are small writes that must leave at once. */
  int one = 1;
  setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (kind == 1) {
    api_h2_spawn(srv, pc->fd);
  } else {
    api_h1_add(srv, pc->fd, &pc->addr, (unsigned)pc->addrlen);
  }
}

static void *accept_thread(void *arg) {
  api_server *srv = arg;
  pending_conn pending[PENDING_MAX];
  size_t np = 0;
  struct pollfd fds[PENDING_MAX + 2];
  while (!atomic_load(&srv->stopping)) {
    fds[0] = (struct pollfd){srv->listen_fd, POLLIN, 0};
    fds[1] = (struct pollfd){srv->wake_fd, POLLIN, 0};
    for (size_t i = 0; i < np; i++) fds[i + 2] = (struct pollfd){pending[i].fd, POLLIN, 0};
    int r = poll(fds, np + 2, 500);
    if (r < 0 && errno != EINTR) break;
    if (atomic_load(&srv->stopping)) break;
    int64_t now = srv->host->now_mono_ns();
    /* Sort out the waiting connections first (indices shift as they leave). */
    for (size_t i = np; i-- > 0;) {
      int kind = -1;
      if (fds[i + 2].revents) kind = classify(pending[i].fd);
      if (kind == -1 && now - pending[i].since > srv->cfg.header_timeout_ns) {
        kind = -2;
        if (srv->front) hf_front_count(srv->front, HF_REFUSED_HEADER_TIMEOUT);
      }
      if (kind == -1) continue;
      pending_conn pc = pending[i];
      pending[i] = pending[--np];
      if (kind == -2)
        close(pc.fd);
      else
        dispatch(srv, &pc, kind);
    }
    if (fds[0].revents & POLLIN) {
      pending_conn pc = {.addrlen = sizeof pc.addr};
      pc.fd = accept4(srv->listen_fd, (struct sockaddr *)&pc.addr, &pc.addrlen,
                      SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (pc.fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          srv->host->log(srv->stage, SD_LOG_ERROR, "accept failed: out of file descriptors");
          poll(NULL, 0, 100);
        }
        continue;
      }
      pc.since = now;
      int kind = classify(pc.fd);
      if (kind == -2)
        close(pc.fd);
      else if (kind >= 0)
        dispatch(srv, &pc, kind);
      else {
        if (np == PENDING_MAX) { /* evict the oldest waiting connection */
          size_t oldest = 0;
          for (size_t i = 1; i < np; i++)
            if (pending[i].since < pending[oldest].since) oldest = i;
          close(pending[oldest].fd);
          pending[oldest] = pending[--np];
          if (srv->front) hf_front_count(srv->front, HF_REFUSED_IDLE_EVICTED);
        }
        pending[np++] = pc;
      }
    }
  }
  for (size_t i = 0; i < np; i++) close(pending[i].fd);
  return NULL;
}

static void *watch_thread(void *arg) {
  api_server *srv = arg;
  while (!atomic_load(&srv->stopping)) api_push_watch(srv, 100);
  return NULL;
}

api_server *api_server_start(const sd_host_api *host, sd_stage *stage, ql_engine *engine,
                             const api_config *cfg) {
  api_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  srv->host = host;
  srv->stage = stage;
  srv->engine = engine;
  srv->cfg = *cfg;
  srv->listen_fd = -1;
  pthread_mutex_init(&srv->mu, NULL);
  srv->m_push_running = host->gauge(stage, "query_push_queries_running",
                                    "ad-hoc push queries running over the REST API", NULL);
  srv->m_slow_clients = host->counter(stage, "query_push_slow_clients_total",
                                      "push queries ended because the client could not keep up "
                                      "(client_buffer full)",
                                      NULL);
  srv->m_push_wakes =
      host->counter(stage, "query_push_wakes_total",
                    "push-query transports woken to send queued rows (at most one per batch "
                    "of rows and query, never one per row)",
                    NULL);
  srv->m_connections_h1 =
      host->gauge(stage, "query_api_connections", "open REST API connections", "http=\"1.1\"");
  srv->m_connections_h2 =
      host->gauge(stage, "query_api_connections", "open REST API connections", "http=\"2\"");
  api_policy_load(srv);
  srv->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  srv->listen_fd = srv->wake_fd >= 0 ? listen_on(srv, cfg->listen) : -1;
  if (srv->listen_fd < 0 || api_h1_start(srv) < 0) {
    api_server_stop(srv);
    return NULL;
  }
  if (pthread_create(&srv->watch_thread, NULL, watch_thread, srv) == 0) srv->watch_started = 1;
  if (srv->watch_started && pthread_create(&srv->accept_thread, NULL, accept_thread, srv) == 0)
    srv->accept_started = 1;
  if (!srv->accept_started) {
    host->log(stage, SD_LOG_ERROR, "could not start the REST API threads");
    api_server_stop(srv);
    return NULL;
  }
  host->log(stage, SD_LOG_INFO,
            "ksqlDB REST API listening on %s (HTTP/1.1 and HTTP/2 cleartext)", cfg->listen);
  return srv;
}

void api_server_stop(api_server *srv) {
  if (!srv) return;
  atomic_store(&srv->stopping, 1);
  if (srv->wake_fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(srv->wake_fd, &one, sizeof one);
    (void)w;
  }
  if (srv->accept_started) pthread_join(srv->accept_thread, NULL);
  if (srv->listen_fd >= 0) close(srv->listen_fd);
  /* End every body so suspended HTTP/1.1 streams resume and HTTP/2 streams finish. */
  api_push_end_all(srv, "Query Completed");
  api_h2_stop_all(srv);
  api_h1_stop(srv);
  if (srv->watch_started) pthread_join(srv->watch_thread, NULL);
  if (srv->push_count)
    srv->host->log(srv->stage, SD_LOG_WARN, "push queries left at shutdown: count=%zu",
                   srv->push_count);
  if (srv->wake_fd >= 0) close(srv->wake_fd);
  api_policy_free(srv);
  pthread_mutex_destroy(&srv->mu);
  free(srv);
}
