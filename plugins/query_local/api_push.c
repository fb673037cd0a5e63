/* Push-query sessions of the REST API: each owns one engine query and a bounded queue of
 * ready-to-send lines. Rows are serialized on the thread that produced them (ingest), the
 * transport is woken, and a client that cannot keep up gets an error line instead of
 * ever blocking ingest. Also /close-query, shutdown and the vanished-client watch. */
#include "api_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct api_line {
  struct api_line *next;
  size_t len;
  char data[];
} api_line;

struct api_push {
  api_server *srv;
  pthread_mutex_t mu;
  int refs;
  ql_query *query; /* NULL once stopped */
  char id[160];
  api_format fmt;
  size_t ncols;
  char **types;
  api_line *head, *tail;
  size_t queued, head_off;
  int ended;       /* nothing more will be queued */
  int waiting;     /* the transport read nothing and waits for wake */
  int client_gone; /* the watch thread saw the socket close */
  int watch_fd;
  int deferred;         /* in this thread's deferred-wake list (holds a reference) */
  api_push *defer_next; /* that list, linked through the sessions themselves */
  void (*wake)(void *ctx);
  void *wake_ctx;
  api_push *next, *prev; /* srv->pushes, under srv->mu */
};

static void push_ref(api_push *p) {
  pthread_mutex_lock(&p->mu);
  p->refs++;
  pthread_mutex_unlock(&p->mu);
}

static void push_free(api_push *p) {
  for (api_line *l = p->head, *n; l; l = n) {
    n = l->next;
    free(l);
  }
  for (size_t i = 0; i < p->ncols; i++) free(p->types[i]);
  free(p->types);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static void push_unref(api_push *p) {
  pthread_mutex_lock(&p->mu);
  int left = --p->refs;
  pthread_mutex_unlock(&p->mu);
  if (left == 0) push_free(p);
}

/* Under p->mu. Ownership of the bytes stays with the caller. */
static int queue_line(api_push *p, const char *data, size_t len) {
  if (len == 0) return 0;
  api_line *l = malloc(sizeof *l + len);
  if (!l) return -1;
  l->next = NULL;
  l->len = len;
  memcpy(l->data, data, len);
  if (p->tail)
    p->tail->next = l;
  else
    p->head = l;
  p->tail = l;
  p->queued += len;
  return 0;
}

static void wake_locked(api_push *p) {
  if (p->waiting && p->wake) {
    p->waiting = 0;
    p->watch_fd = -1;
    p->srv->host->metric_add(p->srv->m_push_wakes, 1);
    p->wake(p->wake_ctx);
  }
}

/* Wakes are coalesced in two ways, so that a push query costs its filter and its rows, not
 * a transport wake-up per row:
 * - `waiting` is set (under p->mu) when the transport's read finds the queue empty and
 *   cleared by the one wake that follows; rows queued meanwhile wake nothing more, however
 *   many, until the transport has drained the queue again.
 * - while the ingest thread works through one input batch, wakes are deferred to the end
 *   of the batch. Waking at the first row makes the transport send it, find the queue
 *   empty and wait again before the next row: with 1,000 push queries a 300-reading POST
 *   took 300,000 MHD_resume_connection calls (5.6 s, all system CPU). Deferred, each
 *   transport is woken once and finds every row of the batch queued. The list is linked
 *   through the sessions, so it has no size limit (it had 64 slots: every push query past
 *   the 64th was woken per row). */
static _Thread_local int defer_depth;
static _Thread_local api_push *defer_head;

void api_push_defer_begin(void) {
  defer_depth++;
}

void api_push_defer_end(void) {
  if (defer_depth == 0 || --defer_depth > 0) return;
  api_push *p = defer_head;
  defer_head = NULL;
  while (p) {
    pthread_mutex_lock(&p->mu);
    api_push *next = p->defer_next;
    p->defer_next = NULL;
    p->deferred = 0;
    wake_locked(p);
    int left = --p->refs;
    pthread_mutex_unlock(&p->mu);
    if (left == 0) push_free(p);
    p = next;
  }
}

/* Under p->mu: a row was queued. */
static void row_queued_locked(api_push *p) {
  if (!(p->waiting && p->wake)) return;
  if (defer_depth > 0) {
    if (!p->deferred) {
      p->deferred = 1;
      p->refs++;
      p->defer_next = defer_head;
      defer_head = p;
    }
    return;
  }
  wake_locked(p);
}

/* Under p->mu: queues the error line and the closer, and ends the body. */
static void end_with_error_locked(api_push *p, int code, const char *message) {
  api_buf b = {0};
  api_line_error(&b, p->fmt, code, message);
  api_buf_puts(&b, api_format_closer(p->fmt));
  if (!b.oom) queue_line(p, b.data, b.len);
  api_buf_free(&b);
  p->ended = 1;
  wake_locked(p);
}

/* Under p->mu: queues the final message and closer, and ends the body. */
static void end_with_final_locked(api_push *p, const char *message) {
  api_buf b = {0};
  api_line_final(&b, p->fmt, message);
  if (!b.oom) queue_line(p, b.data, b.len);
  api_buf_free(&b);
  const char *closer = api_format_closer(p->fmt);
  queue_line(p, closer, strlen(closer));
  p->ended = 1;
  wake_locked(p);
}

static void on_row(void *ctx, const sd_value *values, size_t n, int64_t rowtime_ns) {
  (void)rowtime_ns;
  api_push *p = ctx;
  pthread_mutex_lock(&p->mu);
  if (!p->ended) {
    /* Before the column types are known (rows replayed inside ql_query_start) values are
     * written by their own type. */
    api_buf line = {0};
    api_line_row(&line, p->fmt, values, n,
                 p->types && n == p->ncols ? (const char *const *)p->types : NULL);
    if (line.oom) {
      end_with_error_locked(p, 50000, "Out of memory while serializing a row");
    } else if (p->queued + line.len > p->srv->cfg.client_buffer) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "Client too slow: %zu bytes of rows were waiting to be sent (client_buffer); "
               "query ended",
               p->queued);
      end_with_error_locked(p, 50000, msg);
      p->srv->host->metric_add(p->srv->m_slow_clients, 1);
    } else if (queue_line(p, line.data, line.len) < 0) {
      end_with_error_locked(p, 50000, "Out of memory while queueing a row");
    } else {
      row_queued_locked(p);
    }
    api_buf_free(&line);
  }
  pthread_mutex_unlock(&p->mu);
}

static void on_end(void *ctx, const char *reason) {
  api_push *p = ctx;
  pthread_mutex_lock(&p->mu);
  if (!p->ended) end_with_final_locked(p, reason ? reason : "Query Completed");
  pthread_mutex_unlock(&p->mu);
}

api_push *api_push_start(api_server *srv, const api_push_opts *opts, ql_error *err) {
  api_push *p = calloc(1, sizeof *p);
  if (!p) {
    err->code = 50000;
    snprintf(err->message, sizeof err->message, "Out of memory");
    return NULL;
  }
  p->srv = srv;
  p->refs = 1;
  p->fmt = opts->fmt;
  p->watch_fd = -1;
  pthread_mutex_init(&p->mu, NULL);
  /* The engine may call on_row from inside ql_query_start (earliest replay), before the
   * header can be written: those rows are spliced in after the header below. */
  ql_query_opts qo = {.earliest = opts->earliest, .ad_hoc = 1, .name = NULL};
  ql_query *q = ql_query_start(srv->engine, opts->sql, &qo, on_row, on_end, p, err);
  if (!q) {
    push_free(p);
    return NULL;
  }
  size_t n = ql_query_column_count(q);
  const char **names = calloc(n ? n : 1, sizeof *names);
  const char **types = calloc(n ? n : 1, sizeof *types);
  char **own_types = calloc(n ? n : 1, sizeof *own_types);
  if (!names || !types || !own_types) {
    free(names);
    free(types);
    free(own_types);
    ql_query_stop(q);
    push_free(p);
    err->code = 50000;
    snprintf(err->message, sizeof err->message, "Out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    names[i] = ql_query_column_name(q, i);
    types[i] = ql_query_column_type(q, i);
    own_types[i] = strdup(types[i]);
  }
  api_buf hb = {0};
  api_line_header(&hb, p->fmt, ql_query_id(q), n, names, types);
  free(names);
  free(types);

  pthread_mutex_lock(&p->mu);
  p->query = q;
  p->types = own_types;
  p->ncols = n;
  snprintf(p->id, sizeof p->id, "%s", ql_query_id(q));
  /* Splice: the header goes before any row already queued by a replay. */
  api_line *rows = p->head, *rows_tail = p->tail;
  size_t rows_bytes = p->queued;
  p->head = p->tail = NULL;
  p->queued = 0;
  int fail = hb.oom || queue_line(p, hb.data, hb.len) < 0;
  if (rows) {
    if (p->tail)
      p->tail->next = rows;
    else
      p->head = rows;
    p->tail = rows_tail;
    p->queued += rows_bytes;
  }
  pthread_mutex_unlock(&p->mu);
  api_buf_free(&hb);
  if (fail) {
    ql_query_stop(q);
    push_free(p);
    err->code = 50000;
    snprintf(err->message, sizeof err->message, "Out of memory");
    return NULL;
  }
  pthread_mutex_lock(&srv->mu);
  p->next = srv->pushes;
  if (srv->pushes) srv->pushes->prev = p;
  srv->pushes = p;
  srv->push_count++;
  srv->host->metric_set(srv->m_push_running, (double)srv->push_count);
  pthread_mutex_unlock(&srv->mu);
  return p;
}

void api_push_set_wake(api_push *p, void (*wake)(void *ctx), void *ctx) {
  pthread_mutex_lock(&p->mu);
  p->wake = wake;
  p->wake_ctx = ctx;
  pthread_mutex_unlock(&p->mu);
}

ssize_t api_push_read(api_push *p, char *buf, size_t cap, int whole, int *last, size_t *left,
                      void (*on_wait)(void *ctx), void *ctx) {
  ssize_t r;
  *last = 0;
  pthread_mutex_lock(&p->mu);
  api_line *l = p->head;
  if (!l) {
    if (p->ended) {
      r = -1;
    } else {
      p->waiting = 1;
      if (on_wait) on_wait(ctx);
      r = 0;
    }
  } else {
    size_t rest = l->len - p->head_off;
    if (whole && rest > cap) {
      r = -2;
    } else {
      size_t n = rest < cap ? rest : cap;
      memcpy(buf, l->data + p->head_off, n);
      p->head_off += n;
      p->queued -= n;
      if (p->head_off == l->len) {
        p->head = l->next;
        if (!p->head) p->tail = NULL;
        p->head_off = 0;
        free(l);
      }
      *last = p->ended && !p->head;
      r = (ssize_t)n;
    }
  }
  if (left) *left = p->queued;
  pthread_mutex_unlock(&p->mu);
  return r;
}

int api_push_client_gone(api_push *p) {
  pthread_mutex_lock(&p->mu);
  int gone = p->client_gone;
  pthread_mutex_unlock(&p->mu);
  return gone;
}

void api_push_watch_fd(api_push *p, int fd) {
  /* Called from on_wait, already under p->mu. */
  p->watch_fd = fd;
}

static void unregister(api_server *srv, api_push *p) {
  pthread_mutex_lock(&srv->mu);
  if (p->prev)
    p->prev->next = p->next;
  else if (srv->pushes == p)
    srv->pushes = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = p->prev = NULL;
  srv->push_count--;
  srv->host->metric_set(srv->m_push_running, (double)srv->push_count);
  pthread_mutex_unlock(&srv->mu);
}

static ql_query *take_query(api_push *p) {
  pthread_mutex_lock(&p->mu);
  ql_query *q = p->query;
  p->query = NULL;
  pthread_mutex_unlock(&p->mu);
  return q;
}

void api_push_release(api_push *p) {
  pthread_mutex_lock(&p->mu);
  p->wake = NULL;
  p->waiting = 0;
  p->watch_fd = -1;
  p->ended = 1;
  pthread_mutex_unlock(&p->mu);
  ql_query *q = take_query(p);
  if (q) ql_query_stop(q);
  unregister(p->srv, p);
  push_unref(p);
}

int api_push_close(api_server *srv, const char *query_id) {
  api_push *found = NULL;
  pthread_mutex_lock(&srv->mu);
  for (api_push *p = srv->pushes; p; p = p->next)
    if (strcmp(p->id, query_id) == 0) {
      found = p;
      push_ref(p);
      break;
    }
  pthread_mutex_unlock(&srv->mu);
  if (!found) return -1;
  /* Stop first so no row can follow the final message. */
  ql_query *q = take_query(found);
  if (q) ql_query_stop(q);
  pthread_mutex_lock(&found->mu);
  if (!found->ended) end_with_final_locked(found, "Query Completed");
  pthread_mutex_unlock(&found->mu);
  push_unref(found);
  return 0;
}

/* Takes a reference on every live session (NULL-terminated array, caller unrefs). */
static api_push **snapshot(api_server *srv, size_t *count) {
  pthread_mutex_lock(&srv->mu);
  size_t n = srv->push_count;
  api_push **all = malloc((n + 1) * sizeof *all);
  size_t i = 0;
  if (all)
    for (api_push *p = srv->pushes; p && i < n; p = p->next) {
      push_ref(p);
      all[i++] = p;
    }
  pthread_mutex_unlock(&srv->mu);
  *count = i;
  return all;
}

void api_push_end_all(api_server *srv, const char *message) {
  size_t n;
  api_push **all = snapshot(srv, &n);
  if (!all) return;
  for (size_t i = 0; i < n; i++) {
    ql_query *q = take_query(all[i]);
    if (q) ql_query_stop(q);
    pthread_mutex_lock(&all[i]->mu);
    if (!all[i]->ended) end_with_final_locked(all[i], message);
    pthread_mutex_unlock(&all[i]->mu);
    push_unref(all[i]);
  }
  free(all);
}

void api_push_watch(api_server *srv, int timeout_ms) {
  size_t n;
  api_push **all = snapshot(srv, &n);
  if (!all) {
    poll(NULL, 0, timeout_ms);
    return;
  }
  struct pollfd *fds = calloc(n + 1, sizeof *fds);
  api_push **watched = calloc(n + 1, sizeof *watched);
  size_t nw = 0;
  for (size_t i = 0; i < n; i++) {
    api_push *p = all[i];
    pthread_mutex_lock(&p->mu);
    int stop_it = p->ended && p->query;
    int fd = p->waiting ? p->watch_fd : -1;
    pthread_mutex_unlock(&p->mu);
    if (stop_it) {
      /* Ended by LIMIT, a dropped stream or a slow client: free the engine side now
       * rather than when the client finally reads the last line. */
      ql_query *q = take_query(p);
      if (q) ql_query_stop(q);
    }
    if (fd >= 0 && fds && watched) {
      fds[nw].fd = fd;
      fds[nw].events = POLLRDHUP;
      watched[nw++] = p;
    }
  }
  if (fds) {
    fds[nw].fd = srv->wake_fd;
    fds[nw].events = POLLIN;
    int r = poll(fds, nw + 1, timeout_ms);
    for (size_t i = 0; r > 0 && i < nw; i++) {
      if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) continue;
      api_push *p = watched[i];
      pthread_mutex_lock(&p->mu);
      if (p->waiting && p->watch_fd == fds[i].fd) {
        p->client_gone = 1;
        p->ended = 1;
        wake_locked(p);
      }
      pthread_mutex_unlock(&p->mu);
    }
  } else {
    poll(NULL, 0, timeout_ms);
  }
  free(fds);
  free(watched);
  for (size_t i = 0; i < n; i++) push_unref(all[i]);
  free(all);
}
