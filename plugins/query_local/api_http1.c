/* HTTP/1.1 transport: sockets accepted by the listener are handed to a libmicrohttpd daemon
 * without a listen socket. Push-query bodies are chunked, one line per chunk; a stream with
 * nothing to send is suspended, resumed by the session's wake, and watched for a vanished
 * client by the watch thread (MHD cannot see a disconnect while suspended). */
#include "api_server.h"
#include "http/front.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct h1_request {
  char *body;
  size_t len, cap;
  int too_big;
} h1_request;

/* Closure of a streaming response; freed with the response. */
typedef struct h1_stream {
  api_server *srv;
  api_push *push;
  struct MHD_Connection *conn;
  int fd;
  int suspended; /* under the push's lock */
  int corked;    /* TCP_CORK set by us while a burst of rows is going out */
} h1_stream;

/* Closure of a chunked static body. */
typedef struct h1_static {
  char *data;
  size_t len, off;
} h1_static;

static void h1_suspend(void *ctx) {
  h1_stream *s = ctx;
  s->suspended = 1;
  atomic_fetch_add(&s->srv->mhd_suspended, 1);
  api_push_watch_fd(s->push, s->fd);
  MHD_suspend_connection(s->conn);
}

static void h1_wake(void *ctx) {
  h1_stream *s = ctx;
  if (!s->suspended) return;
  s->suspended = 0;
  MHD_resume_connection(s->conn);
  atomic_fetch_sub(&s->srv->mhd_suspended, 1);
}

/* Each line is its own chunk and libmicrohttpd sends each chunk with its own send(); over
 * loopback every send also wakes the client. While more lines are already queued the
 * socket is corked so a burst (one POST's rows) leaves in a few segments, and it is
 * uncorked — pushing everything out — as soon as the queue is empty, so a lone row is
 * never held back. MHD believes the socket uncorked with TCP_NODELAY (set at accept), so
 * it does not undo this. */
static void h1_cork(h1_stream *s, int on) {
  if (s->corked == on || s->fd < 0) return;
  s->corked = on;
  setsockopt(s->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
}

static ssize_t h1_push_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  h1_stream *s = cls;
  int last;
  size_t left = 0;
  ssize_t n = api_push_read(s->push, buf, max, 0, &last, &left, h1_suspend, s);
  h1_cork(s, n > 0 && left > 0 && !last);
  if (n > 0) return n;
  if (n == 0) return 0; /* suspended until h1_wake */
  return api_push_client_gone(s->push) ? MHD_CONTENT_READER_END_WITH_ERROR
                                       : MHD_CONTENT_READER_END_OF_STREAM;
}

static void h1_push_free(void *cls) {
  h1_stream *s = cls;
  api_push_release(s->push);
  free(s);
}

static ssize_t h1_static_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  h1_static *s = cls;
  if (s->off >= s->len) return MHD_CONTENT_READER_END_OF_STREAM;
  size_t n = s->len - s->off < max ? s->len - s->off : max;
  memcpy(buf, s->data + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

static void h1_static_free(void *cls) {
  h1_static *s = cls;
  free(s->data);
  free(s);
}

static struct MHD_Response *build_response(api_server *srv, struct MHD_Connection *conn,
                                           api_reply *r) {
  struct MHD_Response *resp = NULL;
  if (r->push) {
    h1_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->srv = srv;
    s->push = r->push;
    s->conn = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    api_push_set_wake(r->push, h1_wake, s);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, h1_push_reader, s,
                                             h1_push_free);
    if (!resp) {
      free(s);
      return NULL;
    }
    r->push = NULL; /* the response owns it now */
  } else if (r->chunked && r->body_len) {
    h1_static *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->data = r->body;
    s->len = r->body_len;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, h1_static_reader, s,
                                             h1_static_free);
    if (!resp) {
      free(s);
      return NULL;
    }
    r->body = NULL;
  } else {
    resp = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : (char *)"",
                                           MHD_RESPMEM_MUST_COPY);
  }
  if (resp && r->content_type) MHD_add_response_header(resp, "content-type", r->content_type);
  if (resp && r->location) MHD_add_response_header(resp, "location", r->location);
  if (resp && r->cors_origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
    MHD_add_response_header(resp, "Vary", "Origin");
  }
  if (resp && r->preflight) {
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", API_PREFLIGHT_METHODS);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", API_PREFLIGHT_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  return resp;
}

static enum MHD_Result h1_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  (void)version;
  api_server *srv = cls;
  h1_request *req = *con_cls;
  if (!req) {
    req = calloc(1, sizeof *req);
    if (!req) return MHD_NO;
    *con_cls = req;
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (req->too_big || req->len + n > srv->cfg.max_body) {
      req->too_big = 1;
      return MHD_YES;
    }
    if (req->len + n + 1 > req->cap) {
      size_t cap = req->cap ? req->cap : 1024;
      while (cap < req->len + n + 1) cap *= 2;
      char *p = realloc(req->body, cap);
      if (!p) {
        req->too_big = 1;
        return MHD_YES;
      }
      req->body = p;
      req->cap = cap;
    }
    memcpy(req->body + req->len, upload_data, n);
    req->len += n;
    return MHD_YES;
  }
  api_request areq = {
      .method = method,
      .target = url,
      .accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"),
      .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
      .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host"),
      .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
      .cors_request_method =
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"),
      .body = req->body,
      .body_len = req->len,
      .body_too_big = req->too_big,
  };
  api_reply reply;
  if (!api_policy_check(srv, &areq, &reply)) {
    const char *cors = reply.cors_origin; /* api_route starts from a clean reply */
    api_route(srv, &areq, &reply);
    reply.cors_origin = cors;
  }
  int status = reply.status;
  struct MHD_Response *resp = build_response(srv, conn, &reply);
  if (!resp) {
    if (reply.push) api_push_release(reply.push);
    api_reply_clear(&reply);
    return MHD_NO;
  }
  api_reply_clear(&reply);
  enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static void h1_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  h1_request *req = *con_cls;
  if (!req) return;
  free(req->body);
  free(req);
  *con_cls = NULL;
}

static void h1_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  (void)conn;
  (void)socket_context;
  api_server *srv = cls;
  srv->host->metric_add(srv->m_connections_h1, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

int api_h1_start(api_server *srv) {
  unsigned timeout_s = (unsigned)(srv->cfg.idle_timeout_ns / 1000000000);
  hf_env env;
  hf_env_from_host(&env, srv->host, srv->stage);
  hf_limits lim;
  hf_limits_default(&lim);
  lim.header_timeout_ns = srv->cfg.header_timeout_ns;
  lim.max_connections = (unsigned)srv->cfg.max_connections;
  lim.max_per_ip = srv->cfg.max_per_ip;
  /* An idle kept-alive connection: the API's own idle_timeout (0 = never) decides. */
  lim.keepalive_timeout_ns = srv->cfg.idle_timeout_ns;
  srv->front = hf_front_new("api", &lim, &env);
  hf_daemon_opts o = {.handler = h1_access,
                      .handler_cls = srv,
                      .completed = h1_completed,
                      .completed_cls = srv,
                      .on_connection = h1_connection,
                      .on_connection_cls = srv};
  struct MHD_OptionItem extra[] = {{MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL},
                                   {MHD_OPTION_END, 0, NULL}};
  srv->mhd = srv->front
                 ? hf_start_daemon(srv->front,
                                   MHD_USE_NO_LISTEN_SOCKET | MHD_USE_INTERNAL_POLLING_THREAD |
                                       MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                                       MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG,
                                   &o, extra)
                 : NULL;
  if (!srv->mhd) {
    srv->host->log(srv->stage, SD_LOG_ERROR, "could not start the HTTP/1.1 server");
    hf_front_free(srv->front);
    srv->front = NULL;
    return -1;
  }
  return 0;
}

int api_h1_add(api_server *srv, int fd, const void *addr, unsigned addrlen) {
  if (MHD_add_connection(srv->mhd, fd, (const struct sockaddr *)addr, (socklen_t)addrlen) !=
      MHD_YES) {
    /* MHD closed the socket already. */
    srv->host->log(srv->stage, SD_LOG_WARN, "HTTP/1.1 connection refused (connection limit?)");
    return -1;
  }
  return 0;
}

void api_h1_stop(api_server *srv) {
  if (!srv->mhd) return;
  /* Stopping MHD with suspended connections is not allowed: every push was ended (and so
   * woken) before; give the resumed streams a moment to finish. */
  for (int i = 0; i < 200 && atomic_load(&srv->mhd_suspended) > 0; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (atomic_load(&srv->mhd_suspended) > 0)
    srv->host->log(srv->stage, SD_LOG_WARN,
                   "HTTP/1.1 streams still suspended at shutdown: count=%d",
                   atomic_load(&srv->mhd_suspended));
  MHD_stop_daemon(srv->mhd);
  srv->mhd = NULL;
  hf_front_free(srv->front);
  srv->front = NULL;
}
