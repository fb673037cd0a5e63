/* The libmicrohttpd side of source_http: routing, header checks, streaming the body into
 * a size-limited buffer, turning it into one batch, emitting it, and answering — at once,
 * or (ack = delivered) after suspending the connection until the batch's ack arrives. */
#include "auth.h"
#include "body.h"
#include "headers.h"
#include "http/front.h"
#include "ingest_fast.h"
#include "net/lan_url.h"
#include "source_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum hs_route { ROUTE_PHONE, ROUTE_RECORDS } hs_route;

typedef enum hs_phase {
  PH_BODY,     /* receiving the body */
  PH_DISCARD,  /* refused mid-body: reading the (bounded) rest, answer at the end */
  PH_WAIT_ACK, /* batch emitted, connection suspended until its ack */
  PH_DONE      /* answer queued */
} hs_phase;

struct hs_request {
  hs_state *s;
  struct MHD_Connection *conn;
  hs_route route;
  hs_phase phase;
  int64_t start_ns;
  char *path;      /* the request's path, for the rejection log line */
  atomic_int refs; /* the connection, plus the ack callback while one is pending */
  body_buf body;
  const char *cors_origin;
  int answered_status;
  /* refusal decided mid-body, sent once the body has been read */
  int pending_status;
  const char *pending_error;
  char pending_detail[160];
  /* ack = delivered; guarded by s->lock */
  int suspended;
  int acked;
  sd_status ack_status;
  int shut_down;
  hs_request *next;
  hs_request *prev;
  char *reply; /* the 200 body, kept while waiting for the ack */
  size_t reply_len;
};

static int hs_status_index(int status) {
  for (int i = 0; i < HS_STATUS_COUNT; i++)
    if (hs_statuses[i] == status) return i;
  return HS_STATUS_COUNT - 1;
}

static void hs_count_status(hs_state *s, int status) {
  s->host->metric_add(s->requests[hs_status_index(status)], 1);
}

static void hs_count_error(hs_state *s, hs_error_class cls) {
  s->host->metric_add(s->parse_errors[cls], 1);
}

static void hs_request_unref(hs_request *r) {
  if (atomic_fetch_sub(&r->refs, 1) != 1) return;
  body_free(&r->body);
  free(r->reply);
  free(r->path);
  free(r);
}

/* ---- answers ------------------------------------------------------------------------ */

static void hs_common_headers(hs_request *r, struct MHD_Response *resp) {
  if (r->cors_origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
    MHD_add_response_header(resp, "Vary", "Origin");
  }
}

/* Queues resp (NULL: memory ran out) and counts its status. An answer that could not be
 * queued leaves the connection to be closed: counted as "closed" when it completes. */
static enum MHD_Result hs_respond(hs_request *r, int status, struct MHD_Response *resp,
                                  const char *content_type, const char *h1, const char *v1) {
  r->phase = PH_DONE;
  if (!resp) return MHD_NO;
  if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (h1) MHD_add_response_header(resp, h1, v1);
  hs_common_headers(r, resp);
  enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  if (rc == MHD_YES) {
    r->answered_status = status;
    hs_count_status(r->s, status);
  }
  return rc;
}

/* Queues an answer whose body (malloc'd or NULL) is taken over. */
static enum MHD_Result hs_send(hs_request *r, int status, char *body, size_t len,
                               const char *content_type, const char *h1, const char *v1) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (!resp) free(body);
  return hs_respond(r, status, resp, content_type, h1, v1);
}

/* Queues an answer with a constant body. */
static enum MHD_Result hs_send_const(hs_request *r, int status, const char *body,
                                     const char *content_type, const char *h1, const char *v1) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
  return hs_respond(r, status, resp, content_type, h1, v1);
}

/* The client's numeric address, or "?" when libmicrohttpd cannot tell. */
static void hs_peer(struct MHD_Connection *conn, char *out, size_t out_len) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in);
  if (!sa || getnameinfo(sa, len, out, (socklen_t)out_len, NULL, 0, NI_NUMERICHOST))
    snprintf(out, out_len, "?");
}

/* Every refusal is a warning naming the client: a phone set up with the wrong token, path
 * or format is otherwise invisible to its user. The core rate-limits a flood of them. */
static void hs_log_rejection(hs_request *r, int status, const char *error, const char *detail) {
  hs_state *s = r->s;
  sd_log_level level = status >= 500 && status != 503 ? SD_LOG_ERROR : SD_LOG_WARN;
  if (!s->host->log_enabled(s->stage, level)) return;
  char peer[NI_MAXHOST];
  hs_peer(r->conn, peer, sizeof peer);
  s->host->log(s->stage, level,
               "rejected push peer=%s path=%s status=%d error=%s detail=\"%s\"", peer,
               r->path ? r->path : "?", status, error, detail);
}

/* Error bodies for when memory to write the real one ran out: the status is still sent. */
static const char hs_no_memory_json[] =
    "{\"error\":\"out_of_memory\",\"detail\":\"no memory to describe the error\"}";
static const char hs_no_memory_text[] = "sensord: no memory to describe the error\n";

/* An error answer: JSON {"error","detail"} with its status, or (error_format =
 * sensorlogger) 499 with a line of text the app shows to the user. */
static enum MHD_Result hs_error(hs_request *r, int status, const char *error,
                                const char *detail) {
  hs_state *s = r->s;
  char retry[16];
  const char *h1 = NULL, *v1 = NULL;
  if (status == 503) {
    snprintf(retry, sizeof retry, "%u", s->retry_after_s);
    h1 = MHD_HTTP_HEADER_RETRY_AFTER;
    v1 = retry;
  } else if (status == 401) {
    h1 = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
    v1 = "Bearer";
  } else if (status == 405) {
    h1 = MHD_HTTP_HEADER_ALLOW;
    v1 = "POST, OPTIONS";
  }
  hs_log_rejection(r, status, error, detail);
  if (s->sensorlogger_errors) {
    char *text = NULL;
    int n = asprintf(&text, "sensord: %s (%d %s)\n", detail, status, error);
    if (n < 0)
      return hs_send_const(r, 499, hs_no_memory_text, "text/plain; charset=utf-8", h1, v1);
    return hs_send(r, 499, text, (size_t)n, "text/plain; charset=utf-8", h1, v1);
  }
  json_t *o = json_pack("{s:s,s:s}", "error", error, "detail", detail);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  if (!text) return hs_send_const(r, status, hs_no_memory_json, "application/json", h1, v1);
  return hs_send(r, status, text, strlen(text), "application/json", h1, v1);
}

static enum MHD_Result hs_ok(hs_request *r, char *reply, size_t len) {
  return hs_send(r, 200, reply, len, "application/json", NULL, NULL);
}

/* ---- the host batch as an rb_builder ----------------------------------------------- */

typedef struct hs_batch_ctx {
  const sd_host_api *host;
  sd_batch *batch;
} hs_batch_ctx;

static int hb_begin(void *ctx, int64_t ts, const char *key, size_t key_len) {
  hs_batch_ctx *c = ctx;
  return c->host->record_begin(c->batch, ts, key, key_len) != SD_OK;
}
static int hb_null(void *ctx, const char *name, size_t name_len) {
  hs_batch_ctx *c = ctx;
  return c->host->field_null(c->batch, name, name_len) != SD_OK;
}
static int hb_bool(void *ctx, const char *name, size_t name_len, int v) {
  hs_batch_ctx *c = ctx;
  return c->host->field_bool(c->batch, name, name_len, v) != SD_OK;
}
static int hb_int(void *ctx, const char *name, size_t name_len, int64_t v) {
  hs_batch_ctx *c = ctx;
  return c->host->field_int(c->batch, name, name_len, v) != SD_OK;
}
static int hb_double(void *ctx, const char *name, size_t name_len, double v) {
  hs_batch_ctx *c = ctx;
  return c->host->field_double(c->batch, name, name_len, v) != SD_OK;
}
static int hb_string(void *ctx, const char *name, size_t name_len, const char *v, size_t len) {
  hs_batch_ctx *c = ctx;
  return c->host->field_string(c->batch, name, name_len, v, len) != SD_OK;
}

/* ---- acknowledgements (ack = delivered) -------------------------------------------- */

static void hs_unlink_waiting(hs_state *s, hs_request *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    s->waiting = r->next;
  if (r->next) r->next->prev = r->prev;
  r->next = r->prev = NULL;
}

/* Any thread: the core finished the batch of request r. */
static void hs_on_ack(void *ctx, sd_status status) {
  hs_request *r = ctx;
  hs_state *s = r->s;
  pthread_mutex_lock(&s->lock);
  r->acked = 1;
  r->ack_status = status;
  if (r->suspended) {
    r->suspended = 0;
    hs_unlink_waiting(s, r);
    s->host->metric_add(s->awaiting_ack, -1);
    MHD_resume_connection(r->conn);
  }
  pthread_mutex_unlock(&s->lock);
  atomic_fetch_sub(&s->pending_acks, 1);
  hs_request_unref(r);
}

static enum MHD_Result hs_answer_ack(hs_request *r) {
  static const char *const why[] = {
      [SD_STATUS_RETRY] = "downstream could not deliver the batch for now; send it again",
      [SD_STATUS_FAIL] = "downstream failed to deliver the batch",
      [SD_STATUS_DROPPED] = "the batch was dropped before delivery (queue full or shutdown)"};
  if (r->shut_down) {
    hs_state *s = r->s;
    pthread_mutex_lock(&s->lock);
    if (s->shutdown_answers_due > 0) s->shutdown_answers_due--;
    pthread_mutex_unlock(&s->lock);
    return hs_error(r, 503, "shutting_down",
                    "sensord is shutting down before the batch was confirmed delivered");
  }
  if (r->ack_status == SD_STATUS_OK) {
    char *reply = r->reply;
    r->reply = NULL;
    return hs_ok(r, reply, r->reply_len);
  }
  unsigned st = (unsigned)r->ack_status;
  return hs_error(r, 503, "not_delivered",
                  st < sizeof why / sizeof why[0] && why[st] ? why[st] : "not delivered");
}

/* ---- request handling ---------------------------------------------------------------- */

static const char *hs_header(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static int hs_route_of(hs_state *s, const char *url, hs_route *out) {
  for (size_t i = 0; i < s->path_count; i++)
    if (!strcmp(url, s->paths[i])) {
      *out = ROUTE_PHONE;
      return 0;
    }
  if (s->records_path && !strcmp(url, s->records_path)) {
    *out = ROUTE_RECORDS;
    return 0;
  }
  return -1;
}

static enum MHD_Result hs_preflight(hs_request *r) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS");
  if (r->cors_origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Content-Type, Content-Encoding, Authorization");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  hs_common_headers(r, resp);
  enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_NO_CONTENT, resp);
  MHD_destroy_response(resp);
  r->phase = PH_DONE;
  if (rc == MHD_YES) {
    r->answered_status = 204;
    hs_count_status(r->s, 204);
  }
  return rc;
}

/* First call: everything decided from the request line and headers, before any body
 * byte is read (an answer queued now means the body is never read). */
static enum MHD_Result hs_begin(hs_state *s, hs_request *r, const char *url,
                                const char *method) {
  struct MHD_Connection *c = r->conn;
  r->cors_origin = hdr_cors_origin(hs_header(c, "Origin"), s->cors, s->cors_count);
  if (hs_route_of(s, url, &r->route))
    return hs_error(r, 404, "not_found",
                    "no such path; Sensor Logger pushes go to the "
                    "configured paths (default /phone-producer/)");
  if (!strcmp(method, MHD_HTTP_METHOD_OPTIONS)) return hs_preflight(r);
  if (strcmp(method, MHD_HTTP_METHOD_POST))
    return hs_error(r, 405, "method_not_allowed", "only POST is accepted here");
  /* draining is set by hs_server_stop on the stage thread: read it under s->lock. */
  int stopping = s->host->stopping(s->stage);
  pthread_mutex_lock(&s->lock);
  if (stopping) s->draining = 1;
  int draining = s->draining;
  pthread_mutex_unlock(&s->lock);
  if (draining) return hs_error(r, 503, "shutting_down", "sensord is shutting down");
  if (s->token &&
      !auth_header_ok(hs_header(c, MHD_HTTP_HEADER_AUTHORIZATION), s->token, s->token_len))
    return hs_error(r, 401, "unauthorized",
                    "missing or wrong Authorization header (set the app's Auth Header to "
                    "\"Bearer <token>\")");
  const char *type = hs_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (r->route == ROUTE_PHONE ? !hdr_json_type_ok(type) : !hdr_records_type_ok(type)) {
    hs_count_error(s, HS_ERR_MEDIA_TYPE);
    return hs_error(r, 415, "unsupported_media_type",
                    r->route == ROUTE_PHONE
                        ? "Content-Type must be application/json"
                        : "Content-Type must be application/json or application/x-ndjson");
  }
  body_encoding enc;
  if (body_encoding_parse(hs_header(c, MHD_HTTP_HEADER_CONTENT_ENCODING), &enc)) {
    hs_count_error(s, HS_ERR_MEDIA_TYPE);
    return hs_error(r, 415, "unsupported_media_type",
                    "Content-Encoding must be gzip, deflate or identity");
  }
  unsigned long long length = 0;
  const char *cl = hs_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end;
    length = strtoull(cl, &end, 10);
    if (length > s->max_body) {
      char detail[96];
      snprintf(detail, sizeof detail, "body of %llu bytes is over max_body_size (%zu bytes)",
               length, s->max_body);
      hs_count_error(s, HS_ERR_TOO_LARGE);
      return hs_error(r, 413, "body_too_large", detail);
    }
  }
  if (body_init_charged(&r->body, s->max_body, enc, (size_t)length, &s->body_charge) ==
      BODY_OVER_BUDGET) {
    hf_front_count(s->front, HF_REFUSED_MEMORY);
    return hs_error(r, 503, "busy",
                    "request_memory is spent by the requests in flight; retry shortly");
  }
  r->phase = PH_BODY;
  return MHD_YES;
}

/* A refusal found mid-body cannot be queued before libmicrohttpd has read the body, so
 * the rest is read and thrown away (never more than max_body_size on the wire) and the
 * answer goes out at the end; past that bound the connection is closed. */
static void hs_refuse_later(hs_request *r, int status, const char *error, hs_error_class cls,
                            const char *detail) {
  r->phase = PH_DISCARD;
  r->pending_status = status;
  r->pending_error = error;
  snprintf(r->pending_detail, sizeof r->pending_detail, "%s", detail);
  hs_count_error(r->s, cls);
  size_t wire = r->body.wire_bytes;
  body_free(&r->body);
  r->body.wire_bytes = wire;
}

static enum MHD_Result hs_close(hs_request *r, int status, const char *why) {
  hs_state *s = r->s;
  hs_log_rejection(r, status, "closed_without_answer", why);
  r->phase = PH_DONE;
  r->answered_status = status;
  hs_count_status(s, status);
  return MHD_NO;
}

static enum MHD_Result hs_upload(hs_state *s, hs_request *r, const char *data, size_t len) {
  s->host->metric_add(s->bytes, (double)len);
  if (s->host->now_mono_ns() - r->start_ns > s->request_timeout_ns)
    return hs_close(r, 408, "request_timeout passed while receiving the body");
  if (r->phase == PH_DISCARD) {
    r->body.wire_bytes += len;
    if (r->body.wire_bytes > s->max_body)
      return hs_close(r, r->pending_status, "refused body goes on past max_body_size");
    return MHD_YES;
  }
  char detail[160];
  switch (body_append(&r->body, data, len)) {
  case BODY_OK:
    return MHD_YES;
  case BODY_TOO_LARGE:
    snprintf(detail, sizeof detail, "body is over max_body_size (%zu bytes)%s", s->max_body,
             r->body.encoding == BODY_GZIP ? " once inflated" : "");
    if (r->body.wire_bytes > s->max_body) {
      hs_count_error(s, HS_ERR_TOO_LARGE);
      return hs_close(r, 413, detail);
    }
    hs_refuse_later(r, 413, "body_too_large", HS_ERR_TOO_LARGE, detail);
    return MHD_YES;
  case BODY_BAD_ENCODING:
    snprintf(detail, sizeof detail, "cannot inflate the body: %s", r->body.why);
    hs_refuse_later(r, 400, "bad_encoding", HS_ERR_ENCODING, detail);
    return MHD_YES;
  case BODY_OVER_BUDGET:
    hf_front_count(s->front, HF_REFUSED_MEMORY);
    hs_refuse_later(r, 503, "busy", HS_ERR_INTERNAL,
                    "request_memory is spent by the requests in flight; retry shortly");
    return MHD_YES;
  case BODY_NO_MEMORY:
    break;
  }
  hs_refuse_later(r, 500, "internal", HS_ERR_INTERNAL, "out of memory receiving the body");
  return MHD_YES;
}

static hs_error_class hs_class_of(const ing_error *e) {
  if (!strcmp(e->class_name, "json")) return HS_ERR_JSON;
  if (!strcmp(e->class_name, "schema")) return HS_ERR_SCHEMA;
  return HS_ERR_INTERNAL;
}

_Static_assert(BODY_PADDING >= ING_FAST_PADDING, "body padding below the fast path's");

/* Parses the body into a new batch (bc->batch, NULL after a failure): the simdjson fast
 * path first; a body it declines is parsed again, into a fresh batch, by the jansson parser,
 * which gives the exact answer (the records, or the 400/422 naming the place). */
static int hs_parse(hs_state *s, hs_request *r, hs_batch_ctx *bc, ing_summary *sum,
                    ing_error *err) {
  const char *body = r->body.data;
  size_t len = r->body.len, hint = len / 160 + 1;
  rb_builder b = {.ctx = bc,
                  .record_begin = hb_begin,
                  .field_null = hb_null,
                  .field_bool = hb_bool,
                  .field_int = hb_int,
                  .field_double = hb_double,
                  .field_string = hb_string};
  int64_t received = s->host->now_wall_ns();
  bc->batch = s->host->batch_new(s->stage, hint);
  if (bc->batch) {
    int fast = r->route == ROUTE_PHONE
                   ? ing_fast_sensorlogger(body, len, 1, received, &b, sum)
                   : ing_fast_records(body, len, 1, &s->records_opts, received, &b, sum);
    if (fast == ING_FAST_OK) return 0;
    s->host->metric_add(s->fallbacks, 1);
    s->host->batch_free(bc->batch);
    bc->batch = s->host->batch_new(s->stage, hint);
  }
  if (!bc->batch) {
    memset(err, 0, sizeof *err);
    err->status = 500;
    err->error = "internal";
    err->class_name = "internal";
    snprintf(err->detail, sizeof err->detail, "out of memory for a new batch");
    return -1;
  }
  int rc = r->route == ROUTE_PHONE
               ? ing_parse_sensorlogger(body, len, received, &b, sum, err)
               : ing_parse_records(body, len, &s->records_opts, received, &b, sum, err);
  if (rc) {
    s->host->batch_free(bc->batch);
    bc->batch = NULL;
  }
  return rc;
}

/* The whole body is in: parse it into one batch, emit it, answer (or wait for the ack). */
static enum MHD_Result hs_finish(hs_state *s, hs_request *r) {
  if (r->phase == PH_DISCARD)
    return hs_error(r, r->pending_status, r->pending_error, r->pending_detail);
  if (body_finish(&r->body) != BODY_OK) {
    hs_count_error(s, HS_ERR_ENCODING);
    char detail[160];
    snprintf(detail, sizeof detail, "cannot inflate the body: %s", r->body.why);
    return hs_error(r, 400, "bad_encoding", detail);
  }
  if (r->body.len == 0) {
    hs_count_error(s, HS_ERR_JSON);
    return hs_error(r, 400, "invalid_json", "the body is empty");
  }
  hs_batch_ctx bc = {.host = s->host, .batch = NULL};
  ing_summary sum;
  ing_error err;
  int rc = hs_parse(s, r, &bc, &sum, &err);
  body_free(&r->body);
  if (rc) {
    hs_count_error(s, hs_class_of(&err));
    return hs_error(r, err.status, err.error, err.detail);
  }
  if (sum.test_push) s->host->metric_add(s->test_pushes, 1);
  if (sum.records == 0 || (sum.test_push && !s->pass_test_push)) {
    s->host->batch_free(bc.batch);
    return hs_ok(r, sum.reply, sum.reply_len);
  }
  if (s->ack_delivered) {
    atomic_fetch_add(&r->refs, 1);
    atomic_fetch_add(&s->pending_acks, 1);
  }
  sd_result er = s->host->emit(s->stage, bc.batch, s->ack_delivered ? hs_on_ack : NULL, r);
  if (er != SD_OK) {
    if (s->ack_delivered) {
      atomic_fetch_sub(&s->pending_acks, 1);
      atomic_fetch_sub(&r->refs, 1);
    }
    s->host->batch_free(bc.batch);
    ing_summary_free(&sum);
    if (er == SD_BUSY)
      return hs_error(r, 503, "busy",
                      "downstream queue is full; nothing was accepted, "
                      "send the batch again later");
    return hs_error(r, 500, "internal", "the pipeline refused the batch");
  }
  s->host->metric_add(s->readings, (double)sum.records);
  if (!s->ack_delivered) return hs_ok(r, sum.reply, sum.reply_len);
  r->reply = sum.reply;
  r->reply_len = sum.reply_len;
  r->phase = PH_WAIT_ACK;
  pthread_mutex_lock(&s->lock);
  int ready = r->acked;
  if (!ready && s->draining) {
    r->shut_down = 1;
    ready = 1;
  }
  if (!ready) {
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
    r->next = s->waiting;
    if (s->waiting) s->waiting->prev = r;
    s->waiting = r;
    s->host->metric_add(s->awaiting_ack, 1);
  }
  pthread_mutex_unlock(&s->lock);
  return ready ? hs_answer_ack(r) : MHD_YES;
}

static enum MHD_Result hs_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls) {
  hs_state *s = cls;
  hs_request *r = *con_cls;
  (void)version;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO; /* closed without an answer: counted in hs_completed */
    r->s = s;
    r->conn = conn;
    r->start_ns = s->host->now_mono_ns();
    r->path = strdup(url); /* NULL (out of memory) only loses it from log lines */
    atomic_init(&r->refs, 1);
    *con_cls = r;
    return hs_begin(s, r, url, method);
  }
  if (*upload_size) {
    size_t len = *upload_size;
    *upload_size = 0;
    if (r->phase == PH_DONE) return MHD_YES;
    return hs_upload(s, r, upload_data, len);
  }
  switch (r->phase) {
  case PH_BODY:
  case PH_DISCARD:
    return hs_finish(s, r);
  case PH_WAIT_ACK:
    return hs_answer_ack(r);
  case PH_DONE:
    break;
  }
  return MHD_YES;
}

static void hs_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  hs_state *s = cls;
  hs_request *r = *con_cls;
  (void)conn;
  (void)toe;
  if (!r) { /* no memory for the request's state: closed without an answer */
    hs_count_status(s, 0);
    return;
  }
  *con_cls = NULL;
  if (!r->answered_status) hs_count_status(s, 0);
  s->host->metric_observe(s->duration, (double)(s->host->now_mono_ns() - r->start_ns) / 1e9);
  hs_request_unref(r);
}

/* 1 when path i is an earlier path give or take a trailing slash (the default pair
 * "/phone-producer/, /phone-producer"): one URL is enough for a person. */
static int hs_listed_before(const hs_state *s, size_t i) {
  size_t n = strlen(s->paths[i]);
  if (n > 1 && s->paths[i][n - 1] == '/') n--;
  for (size_t j = 0; j < i; j++) {
    size_t m = strlen(s->paths[j]);
    if (m > 1 && s->paths[j][m - 1] == '/') m--;
    if (m == n && !strncmp(s->paths[i], s->paths[j], n)) return 1;
  }
  return 0;
}

/* The start-up line gives the URLs to type into the app: with a wildcard bind, on this
 * host's LAN address. "(port N)" only for an ephemeral port, where the URL's port was not
 * in the configuration. */
static void hs_log_listening(hs_state *s) {
  unsigned port = hs_server_port(s);
  const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
  int ephemeral = sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port == 0
                                            : ((const struct sockaddr_in *)sa)->sin_port == 0;
  char host[64], port_note[24] = "";
  lan_url_host(sa, host, sizeof host);
  if (ephemeral) snprintf(port_note, sizeof port_note, " (port %u)", port);
  char *urls = NULL;
  size_t urls_len = 0;
  FILE *f = open_memstream(&urls, &urls_len);
  if (f) {
    size_t shown = 0;
    for (size_t i = 0; i < s->path_count; i++) {
      if (hs_listed_before(s, i)) continue;
      fprintf(f, "%shttp://%s:%u%s", shown++ ? ", " : "phones push to ", host, port,
              s->paths[i]);
    }
    if (s->records_path)
      fprintf(f, "%srecords to http://%s:%u%s", shown ? "; " : "", host, port, s->records_path);
    if (fclose(f) != 0) {
      free(urls);
      urls = NULL;
    }
  }
  s->host->log(s->stage, SD_LOG_INFO, "%s (listening on %s%s, ack=%s, auth=%s)",
               urls ? urls : "out of memory for the URLs", s->listen, port_note,
               s->ack_delivered ? "delivered" : "accepted", s->token ? "on" : "off");
  free(urls);
}

unsigned hs_server_port(const hs_state *s) {
  const union MHD_DaemonInfo *info =
      s->daemon_count ? MHD_get_daemon_info(s->daemons[0], MHD_DAEMON_INFO_BIND_PORT) : NULL;
  return info ? (unsigned)info->port : 0u;
}

static void hs_set_port(struct sockaddr_storage *ss, unsigned port) {
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* SO_REUSEPORT would also let a second sensord started by mistake on the same port share
 * it and take half the phones: a plain bind first fails if anyone listens there now. */
static int hs_port_free(const hs_state *s) {
  const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
  in_port_t port = sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                             : ((const struct sockaddr_in *)sa)->sin_port;
  if (port == 0) return 1;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 1; /* let the real bind report it */
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  socklen_t len =
      sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int ok = bind(fd, sa, len) == 0 || errno != EADDRINUSE;
  close(fd);
  return ok;
}

static void hs_stop_daemons(hs_state *s) {
  for (unsigned i = 0; i < s->daemon_count; i++) MHD_stop_daemon(s->daemons[i]);
  free(s->daemons);
  s->daemons = NULL;
  s->daemon_count = 0;
  hf_front_free(s->front);
  s->front = NULL;
}

static int hs_budget_take(void *ctx, size_t n) {
  return hf_budget_take(ctx, n);
}
static void hs_budget_give(void *ctx, size_t n) {
  hf_budget_give(ctx, n);
}

/* Refusals the front end makes (framing, limits) in this source's error format. */
static struct MHD_Response *hs_front_error(void *cls, unsigned status, const char *message) {
  hs_state *s = cls;
  char *text = NULL;
  int n;
  if (s->sensorlogger_errors)
    n = asprintf(&text, "sensord: %s (%u)\n", message, status);
  else {
    json_t *o = json_pack("{s:s,s:s}", "error", status == 503 ? "busy" : "bad_request",
                          "detail", message);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    n = text ? (int)strlen(text) : -1;
  }
  if (n < 0) return NULL;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(text);
    return NULL;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          s->sensorlogger_errors ? "text/plain; charset=utf-8"
                                                 : "application/json");
  return resp;
}

static int hs_front_start(hs_state *s) {
  hf_env env;
  hf_env_from_host(&env, s->host, s->stage);
  hf_limits lim;
  hf_limits_default(&lim);
  lim.header_timeout_ns = s->header_timeout_ns;
  lim.keepalive_timeout_ns = (int64_t)s->idle_timeout_s * 1000000000;
  lim.max_connections = s->max_connections;
  lim.max_per_ip = s->max_per_ip;
  s->body_charge = (body_budget){hs_budget_take, hs_budget_give, &s->budget};
  s->front = hf_front_new("ingest", &lim, &env);
  return s->front ? 0 : -1;
}

int hs_server_start(hs_state *s) {
  /* Turbo (with epoll): optimistic non-blocking reads and fewer syscalls per request,
   * about +20 % requests/s on one-reading pushes (docs/BENCHMARKS.md). */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                   MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  if (s->addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  /* Not libmicrohttpd's thread pool: its workers share one listening socket and the first
   * one awake accepts a whole burst of connections, which left one of two workers with
   * every connection of a benchmark (docs/BENCHMARKS.md). With a socket per worker the
   * kernel hashes each connection to one of them, as nginx's reuseport does. */
  if (s->threads > 1 && !hs_port_free(s)) {
    s->host->log(s->stage, SD_LOG_ERROR,
                 "cannot listen on %s: address in use (another sensord or program listens "
                 "there)",
                 s->listen);
    return -1;
  }
  if (hs_front_start(s)) return -1;
  s->daemons = calloc(s->threads, sizeof *s->daemons);
  if (!s->daemons) {
    hf_front_free(s->front);
    s->front = NULL;
    return -1;
  }
  struct sockaddr_storage addr = s->addr;
  /* The connection caps are the front end's, across all workers together. */
  hf_daemon_opts o = {.handler = hs_handle,
                      .handler_cls = s,
                      .completed = hs_completed,
                      .completed_cls = s,
                      .error_body = hs_front_error,
                      .error_body_cls = s};
  for (unsigned i = 0; i < s->threads; i++) {
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, s->threads > 1 ? 1 : 0, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout_s, NULL},
        {MHD_OPTION_END, 0, NULL}};
    struct MHD_Daemon *d = hf_start_daemon(s->front, flags, &o, opts);
    if (!d) {
      s->host->log(s->stage, SD_LOG_ERROR,
                   "cannot listen on %s (address in use or not "
                   "permitted?)",
                   s->listen);
      hs_stop_daemons(s);
      return -1;
    }
    s->daemons[s->daemon_count++] = d;
    if (i == 0) hs_set_port(&addr, hs_server_port(s)); /* an ephemeral port: the same for all */
  }
  hs_log_listening(s);
  return 0;
}

void hs_server_stop(hs_state *s, int64_t deadline_mono_ns) {
  if (!s->daemon_count) return;
  pthread_mutex_lock(&s->lock);
  s->draining = 1;
  pthread_mutex_unlock(&s->lock);
  /* Connections waiting for their ack get it if it comes before the deadline. */
  struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
  for (;;) {
    pthread_mutex_lock(&s->lock);
    int waiting = s->waiting != NULL;
    pthread_mutex_unlock(&s->lock);
    if (!waiting || s->host->now_mono_ns() >= deadline_mono_ns) break;
    nanosleep(&pause, NULL);
  }
  pthread_mutex_lock(&s->lock);
  while (s->waiting) {
    hs_request *r = s->waiting;
    hs_unlink_waiting(s, r);
    r->suspended = 0;
    r->shut_down = 1;
    s->shutdown_answers_due++;
    s->host->metric_add(s->awaiting_ack, -1);
    MHD_resume_connection(r->conn);
  }
  pthread_mutex_unlock(&s->lock);
  /* Give the resumed connections a moment to send their 503 before closing them all. */
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&s->lock);
    int due = s->shutdown_answers_due;
    pthread_mutex_unlock(&s->lock);
    if (!due) break;
    nanosleep(&pause, NULL);
  }
  hs_stop_daemons(s);
}
