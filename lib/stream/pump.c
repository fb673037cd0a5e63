/* Stream writer threads: each owns a share of the streaming sockets in its own epoll set, a
 * lock-free stack of connections the hub woke, and one batch buffer. A woken client gets all
 * its pending events in one send; bytes the socket refused wait in a buffer sized to them. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PUMP_BATCH      (256 * 1024) /* per thread; also the largest WebSocket message */
#define PUMP_CHUNK_HEAD 10           /* room for "%x\r\n" before a chunk */
#define PUMP_ROUNDS     8            /* batches per client per turn before yielding to others */

typedef struct pump_thread {
  pump *pump;
  pthread_t thread;
  int started;
  int epfd, evfd;
  _Atomic(pump_conn *) ready; /* pushed by any thread, popped whole by the loop */
  pump_conn *all;             /* loop thread only, once adopted */
  pthread_mutex_t adopt_lock;
  pump_conn *adopt; /* started connections not yet on the loop's list */
  int closed;       /* under adopt_lock: pump_stop took the last adopt list */
  char *batch;
  int64_t next_tick;
} pump_thread;

struct pump {
  unsigned nthreads;
  pump_thread *threads;
  atomic_uint next;
  atomic_int stopping;
};

struct pump_conn {
  pump_thread *th;
  hub_client *client;
  int fd;
  int wire;
  const pump_conn_ops *ops;
  void *user;
  /* Who may still touch pc: one reference for its owner (the thread that made it until
   * pump_conn_start hands it over, then the loop; dropped by pump_finish) and one while it is
   * on th->ready. The last one frees it, so a wake racing with the end of the connection
   * never writes to freed memory. */
  atomic_uint refs;
  atomic_int queued; /* on th->ready */
  atomic_int kill;   /* hub: stalled past its queue */
  int adopted;       /* loop thread: registered with epoll and on th->all */
  int dead;          /* finished: nothing but the last unref may touch it */
  int ending;        /* the hub ended the stream */
  int end_called;    /* ops->stream_end ran (it kept the connection for a goodbye) */
  pump_conn *next_ready;
  pump_conn *prev, *next; /* th->all, or th->adopt (next only) */
  char *pending;          /* bytes the socket did not take yet */
  uint32_t pending_len, pending_off;
};

static int64_t pump_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pump_kick(pump_thread *th) {
  uint64_t one = 1;
  ssize_t w = write(th->evfd, &one, sizeof one);
  (void)w; /* a full eventfd counter still wakes the loop */
}

static void pump_conn_unref(pump_conn *pc) {
  if (atomic_fetch_sub(&pc->refs, 1) == 1) free(pc);
}

/* The caller holds a reference or the topic lock of a client still attached to pc (the hub
 * calls it only then), so pc is alive here; the stack's own reference is taken before pc
 * is visible to the loop, which may service, finish and unref it at once. */
void pump_conn_wake(pump_conn *pc) {
  if (atomic_exchange(&pc->queued, 1)) return;
  atomic_fetch_add(&pc->refs, 1);
  pump_thread *th = pc->th;
  pump_conn *head = atomic_load(&th->ready);
  do pc->next_ready = head;
  while (!atomic_compare_exchange_weak(&th->ready, &head, pc));
  if (!head) pump_kick(th); /* the loop drains the whole stack once woken */
}

/* Hub callbacks: made under the topic lock, so they only queue. */
static void pump_park(hub_client *client, void *tctx) {}
static void pump_notify(hub_client *client, void *tctx) {
  pump_conn_wake(tctx);
}
static void pump_kill(hub_client *client, void *tctx) {
  pump_conn *pc = tctx;
  atomic_store(&pc->kill, 1);
  pump_conn_wake(pc);
}
const hub_transport_ops pump_hub_ops = {pump_park, pump_notify, pump_kill};

pump_conn *pump_conn_new(pump *p, int fd, pump_wire wire, const pump_conn_ops *ops,
                         void *user) {
  pump_conn *pc = calloc(1, sizeof *pc);
  if (!pc) return NULL;
  pc->th = &p->threads[atomic_fetch_add(&p->next, 1) % p->nthreads];
  pc->fd = fd;
  pc->wire = wire;
  pc->ops = ops;
  pc->user = user;
  atomic_init(&pc->refs, 1);
  return pc;
}

void pump_conn_set_client(pump_conn *pc, hub_client *client) {
  pc->client = client;
}
int pump_conn_fd(const pump_conn *pc) {
  return pc->fd;
}
int pump_conn_mid_write(const pump_conn *pc) {
  return pc->pending != NULL;
}

static void pump_finish(pump_conn *pc, int clean);

/* Hands pc to its loop thread, which registers the socket and services it (pump_adopt).
 * Registering here instead let the loop see the peer's hang-up, finish and free pc before
 * this thread had woken it: the caller must not touch pc once it is on the adopt list, and
 * it does not. */
void pump_conn_start(pump_conn *pc) {
  pump_thread *th = pc->th;
  /* Every write is a whole batch of events that should leave now: whatever libmicrohttpd
   * left set (it corks while it writes headers), Nagle would hold a write back until the
   * peer acknowledged the previous one, which a delayed ACK makes tens of milliseconds. */
  int one = 1, zero = 0;
  setsockopt(pc->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
  setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  pthread_mutex_lock(&th->adopt_lock);
  int closed = th->closed;
  if (!closed) {
    pc->next = th->adopt;
    th->adopt = pc;
  }
  pthread_mutex_unlock(&th->adopt_lock);
  if (closed) {
    /* An upgrade that raced with shutdown: no loop will ever serve it, so end it here
     * rather than leave a connection nobody writes to or frees. */
    pump_finish(pc, 0);
    return;
  }
  pump_kick(th); /* th outlives every connection; pc may already be gone */
}

/* Ends the connection: detaches it from the hub first, so no hub callback can reach pc
 * once it is gone; a wake already on th->ready holds its own reference. */
static void pump_finish(pump_conn *pc, int clean) {
  pump_thread *th = pc->th;
  if (pc->client) hub_client_set_transport(pc->client, NULL, NULL);
  if (pc->adopted) {
    epoll_ctl(th->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
    if (pc->prev)
      pc->prev->next = pc->next;
    else if (th->all == pc)
      th->all = pc->next;
    if (pc->next) pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
  }
  pc->ops->finish(pc, pc->user, clean);
  free(pc->pending);
  pc->pending = NULL;
  pc->dead = 1;
  pump_conn_unref(pc);
}

/* Writes buf; keeps what the socket refused. 0 all written, 1 blocked, -1 error. */
static int pump_write(pump_conn *pc, const char *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t w = send(pc->fd, buf + done, len - done, MSG_NOSIGNAL);
    if (w > 0) {
      done += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return -1;
  }
  if (done == len) return 0;
  pc->pending = malloc(len - done);
  if (!pc->pending) return -1;
  memcpy(pc->pending, buf + done, len - done);
  pc->pending_len = (uint32_t)(len - done);
  pc->pending_off = 0;
  return 1;
}

static int pump_flush_pending(pump_conn *pc) {
  while (pc->pending_off < pc->pending_len) {
    ssize_t w = send(pc->fd, pc->pending + pc->pending_off, pc->pending_len - pc->pending_off,
                     MSG_NOSIGNAL);
    if (w > 0) {
      pc->pending_off += (uint32_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    return -1;
  }
  free(pc->pending);
  pc->pending = NULL;
  pc->pending_len = pc->pending_off = 0;
  return 0;
}

static char *put_hex(char *end, size_t v, size_t *len) {
  static const char digits[] = "0123456789abcdef";
  char *p = end;
  do *--p = digits[v & 15];
  while ((v >>= 4) != 0);
  *len = (size_t)(end - p);
  return p;
}

/* The hub ended the stream and its last bytes are out: the transport may say goodbye
 * (WebSocket close frame, serviced through ops->control until it is done) or end now. */
static void pump_end_stream(pump_conn *pc) {
  if (pc->end_called) return;
  pc->end_called = 1;
  if (!pc->ops->stream_end || pc->ops->stream_end(pc, pc->user) < 0)
    pump_finish(pc, 1);
  else if (pc->ops->control && pc->ops->control(pc, pc->user) < 0)
    pump_finish(pc, 0);
}

/* Everything a connection needs this turn. */
static void pump_service(pump_conn *pc, uint32_t events) {
  if (atomic_load(&pc->kill)) {
    pump_finish(pc, 0);
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) && pc->ops->input &&
      pc->ops->input(pc, pc->user) < 0) {
    pump_finish(pc, 0);
    return;
  }
  if (pc->pending) {
    int r = pump_flush_pending(pc);
    if (r < 0) {
      pump_finish(pc, 0);
      return;
    }
    if (r > 0) return; /* EPOLLOUT brings it back */
  }
  if (pc->ops->control) {
    int r = pc->ops->control(pc, pc->user);
    if (r < 0) {
      pump_finish(pc, 0);
      return;
    }
    if (r > 0) return;
  }
  if (pc->ending) {
    pump_end_stream(pc);
    return;
  }
  char *batch = pc->th->batch;
  char *data = batch + PUMP_CHUNK_HEAD;
  size_t room = PUMP_BATCH - PUMP_CHUNK_HEAD - 2;
  for (int round = 0; round < PUMP_ROUNDS; round++) {
    size_t n = 0;
    hub_fill_result r = hub_fill_batch(pc->client, data, room, &n);
    if (r == HUB_END) pc->ending = 1;
    if (n > 0) {
      const char *out = data;
      size_t len = n;
      if (pc->wire == PUMP_CHUNKED) {
        size_t hl;
        char *head = put_hex(data - 2, n, &hl);
        memcpy(data - 2, "\r\n", 2);
        memcpy(data + n, "\r\n", 2);
        out = head;
        len = hl + 2 + n + 2;
      }
      int w = pump_write(pc, out, len);
      if (w < 0) {
        pump_finish(pc, 0);
        return;
      }
      if (w > 0) return; /* EPOLLOUT brings it back (and ends it if the stream is over) */
    }
    if (r == HUB_IDLE) return;
    if (r == HUB_END) {
      pump_end_stream(pc);
      return;
    }
  }
  pump_conn_wake(pc); /* more to send: after the others had their turn */
}

/* Takes the started connections onto th->all. live (the loop thread): registers each
 * socket with epoll and wakes it, from the thread that may finish it. Edge-triggered, a
 * socket already readable or hung up is reported by the next epoll_wait. */
static void pump_adopt(pump_thread *th, int live) {
  pthread_mutex_lock(&th->adopt_lock);
  pump_conn *list = th->adopt;
  th->adopt = NULL;
  pthread_mutex_unlock(&th->adopt_lock);
  while (list) {
    pump_conn *pc = list;
    list = pc->next;
    pc->prev = NULL;
    pc->next = th->all;
    if (th->all) th->all->prev = pc;
    th->all = pc;
    pc->adopted = 1;
    if (!live) continue;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                             .data.ptr = pc};
    if (epoll_ctl(th->epfd, EPOLL_CTL_ADD, pc->fd, &ev) != 0) {
      pump_finish(pc, 0); /* ENOMEM/ENOSPC (max_user_watches): nothing would report it */
      continue;
    }
    pump_conn_wake(pc);
  }
}

/* The stack pops newest first; serving in wake order instead keeps every client at the
 * same place in each round, so none waits two rounds while later wakes jump ahead. */
static pump_conn *pump_take_ready(pump_thread *th) {
  pump_conn *stack = atomic_exchange(&th->ready, NULL), *fifo = NULL;
  while (stack) {
    pump_conn *pc = stack;
    stack = pc->next_ready;
    pc->next_ready = fifo;
    fifo = pc;
  }
  return fifo;
}

static void *pump_loop(void *arg) {
  pump_thread *th = arg;
  pump *p = th->pump;
  struct epoll_event evs[256];
  while (!atomic_load(&p->stopping)) {
    int n = epoll_wait(th->epfd, evs, 256, 50);
    /* The kick is consumed before the stack is taken: consumed after, it could be the kick
     * of a wake pushed in between, which would then wait for the 50 ms timeout (it did:
     * p99 60 ms with 1,000 clients on an idle machine). */
    for (int i = 0; i < n; i++)
      if (evs[i].data.ptr == NULL) {
        uint64_t v;
        ssize_t r = read(th->evfd, &v, sizeof v);
        (void)r;
      }
    pump_adopt(th, 1); /* first: their wakes are then served this round */
    pump_conn *list = pump_take_ready(th);
    /* Every pc here is alive: pump_finish removes the socket from the set before it drops
     * the owner's reference, and only the event's own pc can be finished by its service. */
    for (int i = 0; i < n; i++) {
      pump_conn *pc = evs[i].data.ptr;
      if (pc && !pc->dead) pump_service(pc, evs[i].events);
    }
    while (list) {
      pump_conn *pc = list;
      list = pc->next_ready;
      atomic_store(&pc->queued, 0);
      /* Not adopted yet: a hub wake before pump_conn_start; adoption services it. */
      if (!pc->dead && pc->adopted) pump_service(pc, 0);
      pump_conn_unref(pc);
    }
    int64_t now = pump_now();
    if (now >= th->next_tick) {
      th->next_tick = now + 100000000;
      pump_conn *next;
      for (pump_conn *pc = th->all; pc; pc = next) {
        next = pc->next;
        if (pc->ops->tick && pc->ops->tick(pc, pc->user, now) < 0) pump_finish(pc, 0);
      }
    }
  }
  return NULL;
}

pump *pump_new(unsigned threads) {
  pump *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->nthreads = threads ? threads : 1;
  p->threads = calloc(p->nthreads, sizeof *p->threads);
  if (!p->threads) {
    free(p);
    return NULL;
  }
  for (unsigned i = 0; i < p->nthreads; i++) {
    pump_thread *th = &p->threads[i];
    th->pump = p;
    th->epfd = th->evfd = -1;
    pthread_mutex_init(&th->adopt_lock, NULL);
  }
  return p;
}

int pump_start(pump *p) {
  for (unsigned i = 0; i < p->nthreads; i++) {
    pump_thread *th = &p->threads[i];
    th->batch = malloc(PUMP_BATCH);
    th->epfd = epoll_create1(EPOLL_CLOEXEC);
    th->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (!th->batch || th->epfd < 0 || th->evfd < 0 ||
        epoll_ctl(th->epfd, EPOLL_CTL_ADD, th->evfd, &ev) != 0)
      return -1;
    if (pthread_create(&th->thread, NULL, pump_loop, th) != 0) return -1;
    th->started = 1;
  }
  return 0;
}

void pump_stop(pump *p) {
  if (!p) return;
  atomic_store(&p->stopping, 1);
  for (unsigned i = 0; i < p->nthreads; i++) {
    pump_thread *th = &p->threads[i];
    if (!th->started) continue;
    pump_kick(th);
    pthread_join(th->thread, NULL);
    th->started = 0;
  }
  /* Threads are gone: finish what is left from here. Closing under adopt_lock first means
   * a connection started from now on ends itself (pump_conn_start), and one started before
   * is on the adopt list taken just after. */
  for (unsigned i = 0; i < p->nthreads; i++) {
    pump_thread *th = &p->threads[i];
    pthread_mutex_lock(&th->adopt_lock);
    th->closed = 1;
    pthread_mutex_unlock(&th->adopt_lock);
    pump_adopt(th, 0);
    while (th->all) pump_finish(th->all, 0);
    pump_conn *list = atomic_exchange(&th->ready, NULL);
    while (list) {
      pump_conn *pc = list;
      list = pc->next_ready;
      atomic_store(&pc->queued, 0);
      pump_conn_unref(pc);
    }
  }
}

void pump_free(pump *p) {
  if (!p) return;
  pump_stop(p);
  for (unsigned i = 0; i < p->nthreads; i++) {
    pump_thread *th = &p->threads[i];
    if (th->epfd >= 0) close(th->epfd);
    if (th->evfd >= 0) close(th->evfd);
    pthread_mutex_destroy(&th->adopt_lock);
    free(th->batch);
  }
  free(p->threads);
  free(p);
}
