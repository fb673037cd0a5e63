/* HTTP/2 cleartext (prior knowledge) transport: one thread per connection drives an
 * nghttp2 server session over the socket with poll. Each line of a push-query body goes in
 * its own DATA frame (clients JSON.parse each frame); RST_STREAM or a closed socket
 * releases the stream's query at once. */
#include "api_server.h"
#include "http/front.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct h2_stream {
  struct h2_conn *conn;
  int32_t id;
  char method[16];
  char *path, *accept, *content_type, *authority, *origin, *cors_method;
  char *body;
  size_t len, cap;
  int too_big;
  api_push *push;
  char *data; /* static body */
  size_t data_len, data_off;
  int window_blocked;
  int in_ready; /* under conn->ready_mu */
  struct h2_stream *ready_next;
  struct h2_stream *prev, *next; /* conn->streams */
} h2_stream;

struct h2_conn {
  api_server *srv;
  int fd, efd;
  nghttp2_session *ng;
  pthread_t thread;
  int done; /* the thread finished (under srv->mu) */
  pthread_mutex_t ready_mu;
  h2_stream *ready; /* streams whose push has new lines */
  h2_stream *streams;
  h2_conn *next; /* srv->h2_conns */
  uint8_t *out;  /* serialized frames not yet written to the socket */
  size_t out_len, out_off, out_cap;
  /* Deadlines of the connection thread: the first request must come within
   * header_timeout, and a connection with no stream open closes after idle_timeout. */
  int64_t opened_ns, idle_since_ns;
  unsigned requests;
};

/* Each HTTP/2 connection has a thread: past this many, a new one is closed at once (the
 * streams of one connection are what scale; ksqlDB clients open one connection). */
#define H2_MAX_CONNECTIONS 1024

/* Frames are gathered from nghttp2 and written with one send(): a POST's rows, one DATA
 * frame each, then reach the client in one segment and one wakeup instead of one each. */
#define H2_OUT_BATCH (64 * 1024)

static void stream_free(h2_conn *c, h2_stream *st) {
  if (st->push) {
    api_push_release(st->push); /* clears the wake under the push lock */
    st->push = NULL;
  }
  pthread_mutex_lock(&c->ready_mu);
  if (st->in_ready) {
    h2_stream **pp = &c->ready;
    while (*pp && *pp != st) pp = &(*pp)->ready_next;
    if (*pp) *pp = st->ready_next;
  }
  pthread_mutex_unlock(&c->ready_mu);
  if (st->prev)
    st->prev->next = st->next;
  else if (c->streams == st)
    c->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  free(st->path);
  free(st->accept);
  free(st->content_type);
  free(st->authority);
  free(st->origin);
  free(st->cors_method);
  free(st->body);
  free(st->data);
  free(st);
}

/* Runs on the ingest thread, under the push's lock, at most once per stream until its
 * read runs dry (api_push.c coalesces). The eventfd is written only when the ready list
 * was empty: a non-empty list means a write is already pending that the connection thread
 * has not yet answered (it reads the eventfd before it takes the list), so many streams of
 * one connection woken by one burst cost one write and one wake-up. */
static void h2_wake(void *ctx) {
  h2_stream *st = ctx;
  h2_conn *c = st->conn;
  int signal = 0;
  pthread_mutex_lock(&c->ready_mu);
  if (!st->in_ready) {
    signal = c->ready == NULL;
    st->in_ready = 1;
    st->ready_next = c->ready;
    c->ready = st;
  }
  pthread_mutex_unlock(&c->ready_mu);
  if (signal) {
    uint64_t one = 1;
    ssize_t w = write(c->efd, &one, sizeof one);
    (void)w;
  }
}

static int out_append(h2_conn *c, const uint8_t *data, size_t len) {
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 16384;
    while (cap < c->out_len + len) cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  return 0;
}

/* Writes what nghttp2 has to send. 0: all written or the socket is full (poll for
 * POLLOUT), -1: the connection failed. */
static int h2_flush(h2_conn *c) {
  for (;;) {
    while (c->out_off < c->out_len) {
      ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
      c->out_off += (size_t)n;
    }
    c->out_len = c->out_off = 0;
    while (c->out_len < H2_OUT_BATCH) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(c->ng, &data);
      if (n < 0) return -1;
      if (n == 0) break;
      if (out_append(c, data, (size_t)n) < 0) return -1;
    }
    if (c->out_len == 0) return 0;
  }
}

static ssize_t read_length_cb(nghttp2_session *ng, uint8_t frame_type, int32_t stream_id,
                              int32_t session_window, int32_t stream_window,
                              uint32_t remote_max_frame_size, void *user) {
  (void)ng;
  (void)frame_type;
  (void)stream_id;
  (void)user;
  int64_t n = remote_max_frame_size;
  if (session_window < n) n = session_window;
  if (stream_window < n) n = stream_window;
  return n > 0 ? (ssize_t)n : 1;
}

static ssize_t data_read_cb(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *source, void *user) {
  (void)stream_id;
  (void)user;
  h2_stream *st = source->ptr;
  if (!st->push) {
    size_t n = st->data_len - st->data_off < length ? st->data_len - st->data_off : length;
    memcpy(buf, st->data + st->data_off, n);
    st->data_off += n;
    if (st->data_off == st->data_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
  }
  int last = 0;
  ssize_t n = api_push_read(st->push, (char *)buf, length, 1, &last, NULL, NULL, NULL);
  if (n == -2) {
    uint32_t max_frame =
        nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_MAX_FRAME_SIZE);
    if (length < max_frame) {
      /* Only the flow-control window is short: wait for WINDOW_UPDATE rather than split. */
      st->window_blocked = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
    /* A line longer than the peer's largest frame cannot be kept in one frame. */
    n = api_push_read(st->push, (char *)buf, length, 0, &last, NULL, NULL, NULL);
  }
  if (n > 0) {
    if (last) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return n;
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED; /* h2_wake resumes it */
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  return 0;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user) {
  h2_conn *c = user;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  h2_stream *st = calloc(1, sizeof *st);
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  st->conn = c;
  st->id = frame->hd.stream_id;
  c->requests++;
  st->next = c->streams;
  if (c->streams) c->streams->prev = st;
  c->streams = st;
  nghttp2_session_set_stream_user_data(ng, st->id, st);
  return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
  (void)flags;
  (void)user;
  h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
  if (!st) return 0;
  if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
    size_t n = valuelen < sizeof st->method - 1 ? valuelen : sizeof st->method - 1;
    memcpy(st->method, value, n);
    st->method[n] = '\0';
  } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
    free(st->path);
    st->path = strndup((const char *)value, valuelen);
  } else if (namelen == 6 && memcmp(name, "accept", 6) == 0) {
    free(st->accept);
    st->accept = strndup((const char *)value, valuelen);
  } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
    free(st->content_type);
    st->content_type = strndup((const char *)value, valuelen);
  } else if ((namelen == 10 && memcmp(name, ":authority", 10) == 0) ||
             (namelen == 4 && memcmp(name, "host", 4) == 0)) {
    free(st->authority);
    st->authority = strndup((const char *)value, valuelen);
  } else if (namelen == 6 && memcmp(name, "origin", 6) == 0) {
    free(st->origin);
    st->origin = strndup((const char *)value, valuelen);
  } else if (namelen == 29 && memcmp(name, "access-control-request-method", 29) == 0) {
    free(st->cors_method);
    st->cors_method = strndup((const char *)value, valuelen);
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user) {
  (void)flags;
  h2_conn *c = user;
  h2_stream *st = nghttp2_session_get_stream_user_data(ng, stream_id);
  if (!st || st->too_big) return 0;
  if (st->len + len > c->srv->cfg.max_body) {
    st->too_big = 1;
    return 0;
  }
  if (st->len + len + 1 > st->cap) {
    size_t cap = st->cap ? st->cap : 1024;
    while (cap < st->len + len + 1) cap *= 2;
    char *p = realloc(st->body, cap);
    if (!p) {
      st->too_big = 1;
      return 0;
    }
    st->body = p;
    st->cap = cap;
  }
  memcpy(st->body + st->len, data, len);
  st->len += len;
  return 0;
}

static int respond(h2_conn *c, h2_stream *st) {
  api_request req = {
      .method = st->method,
      .target = st->path ? st->path : "/",
      .accept = st->accept,
      .content_type = st->content_type,
      .host = st->authority,
      .origin = st->origin,
      .cors_request_method = st->cors_method,
      .body = st->body,
      .body_len = st->len,
      .body_too_big = st->too_big,
  };
  api_reply r;
  if (!api_policy_check(c->srv, &req, &r)) {
    const char *cors = r.cors_origin; /* api_route starts from a clean reply */
    api_route(c->srv, &req, &r);
    r.cors_origin = cors;
  }
  char status[8];
  snprintf(status, sizeof status, "%d", r.status);
  nghttp2_nv hdrs[9];
  size_t nh = 0;
#define H2_NV(n, v)                                                                            \
  (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
  hdrs[nh++] = H2_NV(":status", status);
  if (r.content_type) hdrs[nh++] = H2_NV("content-type", r.content_type);
  if (r.location) hdrs[nh++] = H2_NV("location", r.location);
  if (r.cors_origin) {
    hdrs[nh++] = H2_NV("access-control-allow-origin", r.cors_origin);
    hdrs[nh++] = H2_NV("vary", "Origin");
  }
  if (r.preflight) {
    hdrs[nh++] = H2_NV("access-control-allow-methods", API_PREFLIGHT_METHODS);
    hdrs[nh++] = H2_NV("access-control-allow-headers", API_PREFLIGHT_HEADERS);
    hdrs[nh++] = H2_NV("access-control-max-age", "600");
  }
  nghttp2_data_provider prov = {.source.ptr = st, .read_callback = data_read_cb};
  int has_body = r.push || r.body_len;
  if (r.push) {
    st->push = r.push;
    r.push = NULL;
    api_push_set_wake(st->push, h2_wake, st);
  } else if (r.body_len) {
    st->data = r.body;
    st->data_len = r.body_len;
    r.body = NULL;
  }
  api_reply_clear(&r);
  int rv = nghttp2_submit_response(c->ng, st->id, hdrs, nh, has_body ? &prov : NULL);
  return rv == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user) {
  h2_conn *c = user;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA:
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      h2_stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
      if (st) return respond(c, st);
    }
    break;
  case NGHTTP2_WINDOW_UPDATE:
  case NGHTTP2_SETTINGS:
    for (h2_stream *st = c->streams; st; st = st->next)
      if (st->window_blocked) {
        st->window_blocked = 0;
        nghttp2_session_resume_data(ng, st->id);
      }
    break;
  default:
    break;
  }
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code,
                           void *user) {
  (void)error_code;
  h2_conn *c = user;
  h2_stream *st = nghttp2_session_get_stream_user_data(ng, stream_id);
  if (st) {
    nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
    stream_free(c, st);
  }
  return 0;
}

static void resume_ready(h2_conn *c) {
  pthread_mutex_lock(&c->ready_mu);
  h2_stream *list = c->ready;
  c->ready = NULL;
  for (h2_stream *st = list; st; st = st->ready_next) st->in_ready = 0;
  pthread_mutex_unlock(&c->ready_mu);
  /* Streams freed since are no longer in the list (stream_free unlinks under the lock),
   * and only this thread frees them. */
  for (h2_stream *st = list, *next; st; st = next) {
    next = st->ready_next;
    nghttp2_session_resume_data(c->ng, st->id);
  }
}

static void *h2_thread(void *arg) {
  h2_conn *c = arg;
  api_server *srv = c->srv;
  srv->host->metric_add(srv->m_connections_h2, 1);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)srv->cfg.max_connections}};
  nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, settings, 1);
  uint8_t buf[16384];
  int64_t stop_deadline = 0;
  while (nghttp2_session_want_read(c->ng) || nghttp2_session_want_write(c->ng) ||
         c->out_off < c->out_len) {
    if (h2_flush(c) < 0) break;
    if (atomic_load(&srv->stopping)) {
      int64_t now = srv->host->now_mono_ns();
      if (!stop_deadline) {
        stop_deadline = now + 2000000000LL;
        nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        continue;
      }
      if (!c->streams || now > stop_deadline) break;
    }
    struct pollfd p[2] = {
        {c->fd,
         (short)(POLLIN |
                 (c->out_off < c->out_len || nghttp2_session_want_write(c->ng) ? POLLOUT : 0)),
         0},
        {c->efd, POLLIN, 0}};
    int r = poll(p, 2, 200);
    if (r < 0 && errno != EINTR) break;
    if (p[1].revents & POLLIN) {
      uint64_t v;
      ssize_t rd = read(c->efd, &v, sizeof v);
      (void)rd;
    }
    resume_ready(c);
    if (!c->streams) {
      int64_t now = srv->host->now_mono_ns();
      if (!c->idle_since_ns) c->idle_since_ns = now;
      if (!c->requests && now - c->opened_ns > srv->cfg.header_timeout_ns) {
        if (srv->front) hf_front_count(srv->front, HF_REFUSED_HEADER_TIMEOUT);
        break; /* a preface and then nothing: a slow or stalled client */
      }
      if (c->requests && srv->cfg.idle_timeout_ns &&
          now - c->idle_since_ns > srv->cfg.idle_timeout_ns)
        break;
    } else {
      c->idle_since_ns = 0;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(c->fd, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0 && nghttp2_session_mem_recv(c->ng, buf, (size_t)n) < 0) break;
    }
  }
  /* Frees every stream (and so releases every push query) through on_stream_close. */
  nghttp2_session_del(c->ng);
  c->ng = NULL;
  while (c->streams) stream_free(c, c->streams);
  close(c->fd);
  c->fd = -1;
  srv->host->metric_add(srv->m_connections_h2, -1);
  pthread_mutex_lock(&srv->mu);
  c->done = 1;
  pthread_mutex_unlock(&srv->mu);
  return NULL;
}

static void conn_free(h2_conn *c) {
  if (c->efd >= 0) close(c->efd);
  free(c->out);
  pthread_mutex_destroy(&c->ready_mu);
  free(c);
}

/* Joins and frees connections whose thread ended (under no lock). */
static void reap(api_server *srv, int all) {
  for (;;) {
    h2_conn *dead = NULL;
    pthread_mutex_lock(&srv->mu);
    for (h2_conn **pp = &srv->h2_conns; *pp; pp = &(*pp)->next)
      if ((*pp)->done || all) {
        dead = *pp;
        *pp = dead->next;
        break;
      }
    pthread_mutex_unlock(&srv->mu);
    if (!dead) return;
    pthread_join(dead->thread, NULL);
    conn_free(dead);
  }
}

int api_h2_spawn(api_server *srv, int fd) {
  reap(srv, 0);
  size_t live = 0;
  pthread_mutex_lock(&srv->mu);
  for (h2_conn *k = srv->h2_conns; k; k = k->next) live++;
  pthread_mutex_unlock(&srv->mu);
  if (live >= H2_MAX_CONNECTIONS) {
    if (srv->front) hf_front_count(srv->front, HF_REFUSED_TOTAL);
    srv->host->log(srv->stage, SD_LOG_WARN,
                   "HTTP/2 connection refused: %d are open already (one thread each)",
                   H2_MAX_CONNECTIONS);
    close(fd);
    return -1;
  }
  h2_conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return -1;
  }
  c->srv = srv;
  c->fd = fd;
  c->opened_ns = srv->host->now_mono_ns();
  c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&c->ready_mu, NULL);
  nghttp2_session_callbacks *cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cb, read_length_cb);
  int rv = c->efd >= 0 ? nghttp2_session_server_new(&c->ng, cb, c) : -1;
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) {
    srv->host->log(srv->stage, SD_LOG_ERROR, "could not set up an HTTP/2 session");
    close(fd);
    conn_free(c);
    return -1;
  }
  pthread_mutex_lock(&srv->mu);
  c->next = srv->h2_conns;
  srv->h2_conns = c;
  pthread_mutex_unlock(&srv->mu);
  if (pthread_create(&c->thread, NULL, h2_thread, c) != 0) {
    pthread_mutex_lock(&srv->mu);
    for (h2_conn **pp = &srv->h2_conns; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
    pthread_mutex_unlock(&srv->mu);
    srv->host->log(srv->stage, SD_LOG_ERROR, "could not start an HTTP/2 thread");
    nghttp2_session_del(c->ng);
    close(fd);
    conn_free(c);
    return -1;
  }
  return 0;
}

void api_h2_stop_all(api_server *srv) {
  /* Wake every connection so it sees `stopping`; they exit within their 2 s deadline. */
  pthread_mutex_lock(&srv->mu);
  for (h2_conn *c = srv->h2_conns; c; c = c->next) {
    uint64_t one = 1;
    ssize_t w = write(c->efd, &one, sizeof one);
    (void)w;
  }
  pthread_mutex_unlock(&srv->mu);
  reap(srv, 1);
}
