/* The fan-out hub: topics hold a ring of refcounted, once-serialized events; a client is a
 * cursor into its topic's ring plus the one message it is part-way through writing, so a
 * client costs the same few hundred bytes whether it is caught up or 1,000 events behind.
 * Also the topic tables: the publishers' (never evicted) and the subscribers' placeholders. */
#include "hub.h"
#include "rowjson.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct hub_event {
  atomic_uint refs;
  uint32_t device_len;
  uint64_t id;
  const char *device; /* NULL when the row names no device */
  const char *array;
  const char *object;
  const char *chart; /* NULL unless the topic is the chart query */
  uint32_t array_len, object_len, chart_len;
  char data[];
} hub_event;

struct hub_client {
  hub_topic *topic;
  hub_client *prev, *next;
  hub_client *wprev, *wnext; /* on topic->waiters while waiting */
  const hub_transport_ops *ops;
  void *tctx;
  uint64_t cursor;      /* id of the next event to consider */
  uint64_t tick_cursor; /* cursor at the previous tick: no progress means stalled */
  int64_t last_write_ns;
  uint8_t format, wire;
  uint8_t waiting, started, ending, ended, reset_pending, hb_pending, killed, sent_any;
  char *device;
  size_t device_len;
  /* The message being written: head (built here) + body (the event's payload) + tail. */
  hub_event *ev;
  const char *body;
  uint32_t body_len, off, head_len, tail_len;
  uint8_t is_data;
  char tail[3];
  char head[160];
};

struct hub_topic {
  hub *hub;
  char *name;
  pthread_mutex_t lock;
  size_t ncols;
  char **columns;
  char **types;
  char **keys; /* "COLUMN": as JSON, rendered once per schema instead of once per event */
  uint32_t *key_lens;
  int has_schema;
  int dev_col, time_col, x_col, y_col, z_col;
  int is_chart;
  hub_event **ring;
  size_t cap, count;
  uint64_t next_id;
  hub_client *clients;
  size_t nclients;
  /* Parked clients in the order they parked: woken in that order, so a writer serves
   * them in the same order every round and none waits a round longer than the others. */
  hub_client *waiters, *waiters_tail;
  int dirty;
  /* Counters kept under the topic lock, summed by hub_stats_get. */
  uint64_t published, sent, bytes, overflows, skipped, resets, heartbeats, dropped;
  /* Under the hub lock. A placeholder is on h->waiting, not in h->topics: a subscriber
   * asked for a name no publisher has made. */
  int placeholder;
  size_t pins;
  hub_topic *pl_prev, *pl_next;
};

/* A request's hold on a placeholder (hub_topic_want .. hub_release), by the request's key. */
typedef struct hub_pin {
  const void *key;
  hub_topic *topic;
  struct hub_pin *next;
} hub_pin;

#define HUB_PIN_BUCKETS 64

struct hub {
  hub_limits limits;
  char *chart_query;
  pthread_mutex_t lock; /* both topic tables and the pins; taken before any topic lock */
  /* Publishers' topics: only appended (under lock), never removed before hub_free, so
   * readers walk topics[0 .. topic_count) without the lock. */
  hub_topic **topics;
  atomic_size_t topic_count;
  hub_topic *waiting; /* placeholders, newest first */
  size_t waiting_count;
  hub_pin *pins[HUB_PIN_BUCKETS];
  atomic_size_t pin_count;
  atomic_uint_fast64_t streams_refused;
  hub_stats retired; /* counters of reclaimed placeholders, so totals never go back */
  atomic_size_t clients;
  atomic_uint_fast64_t rejected_full;
  atomic_int closing;
  uint64_t id_base;
  rj_buf scratch_array, scratch_object, scratch_chart; /* publisher thread only */
};

static int64_t hub_now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ev_release(hub_event *ev) {
  if (ev && atomic_fetch_sub(&ev->refs, 1) == 1) free(ev);
}

hub *hub_new(const hub_limits *limits) {
  hub *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->limits = *limits;
  if (h->limits.client_queue == 0) h->limits.client_queue = 1;
  if (h->limits.max_topics == 0) h->limits.max_topics = 256;
  if (h->limits.max_waiting == 0) h->limits.max_waiting = (h->limits.max_topics + 3) / 4;
  h->chart_query = strdup(limits->chart_query ? limits->chart_query : "");
  h->topics = calloc(h->limits.max_topics, sizeof *h->topics);
  if (!h->chart_query || !h->topics) {
    free(h->chart_query);
    free(h->topics);
    free(h);
    return NULL;
  }
  h->limits.chart_query = h->chart_query;
  pthread_mutex_init(&h->lock, NULL);
  /* Ids continue upward across restarts (microseconds at start), so a Last-Event-ID from
   * an earlier run is recognised as gone instead of matching an unrelated event. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h->id_base = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
  rj_init(&h->scratch_array);
  rj_init(&h->scratch_object);
  rj_init(&h->scratch_chart);
  return h;
}

static void topic_free_schema(hub_topic *t) {
  for (size_t i = 0; i < t->ncols; i++) {
    free(t->columns[i]);
    free(t->types[i]);
    free(t->keys[i]);
  }
  free(t->columns);
  free(t->types);
  free(t->keys);
  free(t->key_lens);
  t->columns = t->types = t->keys = NULL;
  t->key_lens = NULL;
  t->ncols = 0;
  t->has_schema = 0;
}

static hub_topic *topic_new(hub *h, const char *name) {
  hub_topic *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  size_t cap =
      h->limits.replay > h->limits.client_queue ? h->limits.replay : h->limits.client_queue;
  t->hub = h;
  t->name = strdup(name);
  t->cap = cap ? cap : 1;
  t->ring = calloc(t->cap, sizeof *t->ring);
  t->next_id = h->id_base;
  t->is_chart = strcmp(name, h->chart_query) == 0;
  t->dev_col = t->time_col = t->x_col = t->y_col = t->z_col = -1;
  pthread_mutex_init(&t->lock, NULL);
  if (!t->name || !t->ring) {
    free(t->name);
    free(t->ring);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return NULL;
  }
  return t;
}

/* No client left and nobody else holds t. */
static void topic_destroy(hub_topic *t) {
  for (size_t k = 0; k < t->count; k++) ev_release(t->ring[(t->next_id - 1 - k) % t->cap]);
  topic_free_schema(t);
  pthread_mutex_destroy(&t->lock);
  free(t->ring);
  free(t->name);
  free(t);
}

void hub_free(hub *h) {
  if (!h) return;
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) {
    hub_topic *t = h->topics[i];
    while (t->clients) hub_unsubscribe(t->clients);
    topic_destroy(t);
  }
  while (h->waiting) {
    hub_topic *t = h->waiting;
    h->waiting = t->pl_next;
    while (t->clients) hub_unsubscribe(t->clients);
    topic_destroy(t);
  }
  for (size_t b = 0; b < HUB_PIN_BUCKETS; b++)
    while (h->pins[b]) {
      hub_pin *p = h->pins[b];
      h->pins[b] = p->next;
      free(p);
    }
  free(h->topics);
  free(h->chart_query);
  rj_free(&h->scratch_array);
  rj_free(&h->scratch_object);
  rj_free(&h->scratch_chart);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

/* Topic lock held. */
static void topic_add_counters(hub_stats *out, const hub_topic *t) {
  out->events_published += t->published;
  out->events_sent += t->sent;
  out->bytes_sent += t->bytes;
  out->overflow_disconnects += t->overflows;
  out->skipped_events += t->skipped;
  out->resets += t->resets;
  out->heartbeats += t->heartbeats;
  out->rows_dropped += t->dropped;
}

void hub_stats_get(hub *h, hub_stats *out) {
  memset(out, 0, sizeof *out);
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) {
    hub_topic *t = h->topics[i];
    pthread_mutex_lock(&t->lock);
    topic_add_counters(out, t);
    pthread_mutex_unlock(&t->lock);
  }
  pthread_mutex_lock(&h->lock);
  for (hub_topic *t = h->waiting; t; t = t->pl_next) {
    pthread_mutex_lock(&t->lock);
    topic_add_counters(out, t);
    pthread_mutex_unlock(&t->lock);
  }
  const hub_stats *r = &h->retired;
  out->events_published += r->events_published;
  out->events_sent += r->events_sent;
  out->bytes_sent += r->bytes_sent;
  out->overflow_disconnects += r->overflow_disconnects;
  out->skipped_events += r->skipped_events;
  out->resets += r->resets;
  out->heartbeats += r->heartbeats;
  out->rows_dropped += r->rows_dropped;
  out->waiting_streams = h->waiting_count;
  pthread_mutex_unlock(&h->lock);
  out->clients = atomic_load(&h->clients);
  out->topics = n;
  out->rejected_full = atomic_load(&h->rejected_full);
  out->streams_refused = atomic_load(&h->streams_refused);
}

size_t hub_client_count(hub *h) {
  return atomic_load(&h->clients);
}

/* Hub lock held. */
static hub_topic *find_published(hub *h, const char *name) {
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++)
    if (strcmp(h->topics[i]->name, name) == 0) return h->topics[i];
  return NULL;
}

static hub_topic *find_waiting(hub *h, const char *name) {
  for (hub_topic *t = h->waiting; t; t = t->pl_next)
    if (strcmp(t->name, name) == 0) return t;
  return NULL;
}

static void waiting_unlink(hub *h, hub_topic *t) {
  if (t->pl_prev)
    t->pl_prev->pl_next = t->pl_next;
  else
    h->waiting = t->pl_next;
  if (t->pl_next) t->pl_next->pl_prev = t->pl_prev;
  t->pl_prev = t->pl_next = NULL;
  t->placeholder = 0;
  h->waiting_count--;
}

/* Hub lock held: frees t if it is a placeholder nobody uses. 1 when freed. A client
 * subscribes under the topic lock only, so it is checked under that lock; once nclients is
 * 0 with the hub lock held, no one can subscribe any more (a subscriber first needs a pin
 * or the pointer from a pinned lookup). */
static int waiting_reclaim(hub *h, hub_topic *t) {
  if (!t->placeholder || t->pins) return 0;
  pthread_mutex_lock(&t->lock);
  int idle = t->nclients == 0;
  if (idle) topic_add_counters(&h->retired, t);
  pthread_mutex_unlock(&t->lock);
  if (!idle) return 0;
  waiting_unlink(h, t);
  topic_destroy(t);
  return 1;
}

hub_topic *hub_topic_get(hub *h, const char *name, int create) {
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++)
    if (strcmp(h->topics[i]->name, name) == 0) return h->topics[i];
  if (!create) return NULL;
  pthread_mutex_lock(&h->lock);
  hub_topic *found = find_published(h, name);
  n = atomic_load(&h->topic_count);
  if (!found && n < h->limits.max_topics) {
    /* Subscribers waiting for this query keep their topic: it becomes the publisher's. */
    hub_topic *t = find_waiting(h, name);
    if (t)
      waiting_unlink(h, t);
    else
      t = topic_new(h, name);
    if (t) {
      h->topics[n] = t;
      atomic_store(&h->topic_count, n + 1);
      found = t;
    }
  }
  pthread_mutex_unlock(&h->lock);
  return found;
}

static size_t pin_bucket(const void *key) {
  uintptr_t v = (uintptr_t)key;
  return (size_t)((v >> 4) ^ (v >> 12)) % HUB_PIN_BUCKETS;
}

hub_topic *hub_topic_want(hub *h, const char *name, const void *key, hub_want_error *err) {
  *err = HUB_WANT_OK;
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++)
    if (strcmp(h->topics[i]->name, name) == 0) return h->topics[i];
  hub_pin *pin = malloc(sizeof *pin);
  if (!pin) {
    *err = HUB_WANT_NOMEM;
    return NULL;
  }
  pthread_mutex_lock(&h->lock);
  hub_topic *t = find_published(h, name);
  if (t) {
    pthread_mutex_unlock(&h->lock);
    free(pin);
    return t;
  }
  t = find_waiting(h, name);
  if (!t && h->waiting_count >= h->limits.max_waiting) {
    /* The oldest idle one goes: it is the least likely to be asked for again. */
    hub_topic *last = h->waiting;
    while (last && last->pl_next) last = last->pl_next;
    hub_topic *prev;
    for (hub_topic *c = last; c; c = prev) {
      prev = c->pl_prev;
      if (waiting_reclaim(h, c)) break;
    }
  }
  if (!t && h->waiting_count < h->limits.max_waiting) {
    t = topic_new(h, name);
    if (t) {
      t->placeholder = 1;
      t->pl_next = h->waiting;
      if (h->waiting) h->waiting->pl_prev = t;
      h->waiting = t;
      h->waiting_count++;
    } else {
      *err = HUB_WANT_NOMEM;
    }
  } else if (!t) {
    atomic_fetch_add(&h->streams_refused, 1);
    *err = HUB_WANT_FULL;
  }
  if (t) {
    size_t b = pin_bucket(key);
    pin->key = key;
    pin->topic = t;
    pin->next = h->pins[b];
    h->pins[b] = pin;
    t->pins++;
    atomic_fetch_add(&h->pin_count, 1);
    pin = NULL;
  }
  pthread_mutex_unlock(&h->lock);
  free(pin);
  return t;
}

void hub_release(hub *h, const void *key) {
  /* Only this request's own thread pins under its key, so a pin it made is visible here. */
  if (atomic_load(&h->pin_count) == 0) return;
  pthread_mutex_lock(&h->lock);
  hub_pin **pp = &h->pins[pin_bucket(key)];
  while (*pp && (*pp)->key != key) pp = &(*pp)->next;
  hub_pin *pin = *pp;
  if (pin) {
    *pp = pin->next;
    atomic_fetch_sub(&h->pin_count, 1);
    hub_topic *t = pin->topic;
    t->pins--;
    waiting_reclaim(h, t); /* e.g. a WebSocket that has closed: nothing waits on it now */
  }
  pthread_mutex_unlock(&h->lock);
  free(pin);
}

static int col_index(hub_topic *t, const char *const *names) {
  for (size_t i = 0; i < t->ncols; i++)
    for (size_t k = 0; names[k]; k++)
      if (strcasecmp(t->columns[i], names[k]) == 0) return (int)i;
  return -1;
}

/* The JSON object key for a column: "NAME": (escaped), its length in *len. NULL on OOM. */
static char *object_key(const char *name, uint32_t *len) {
  rj_buf b;
  rj_init(&b);
  rj_string(&b, name, strlen(name));
  rj_put(&b, ":", 1);
  if (b.failed) {
    rj_free(&b);
    return NULL;
  }
  *len = (uint32_t)b.len;
  return b.data;
}

int hub_topic_set_schema(hub_topic *t, size_t count, const char *const *columns,
                         const char *const *types) {
  size_t slots = count ? count : 1;
  char **cols = calloc(slots, sizeof *cols);
  char **tys = calloc(slots, sizeof *tys);
  char **keys = calloc(slots, sizeof *keys);
  uint32_t *key_lens = calloc(slots, sizeof *key_lens);
  int failed = !cols || !tys || !keys || !key_lens;
  for (size_t i = 0; i < count && !failed; i++) {
    cols[i] = strdup(columns[i] ? columns[i] : "");
    tys[i] = strdup(types && types[i] ? types[i] : "STRING");
    keys[i] = cols[i] ? object_key(cols[i], &key_lens[i]) : NULL;
    failed = !cols[i] || !tys[i] || !keys[i];
  }
  if (failed) {
    for (size_t i = 0; cols && tys && keys && i < count; i++) {
      free(cols[i]);
      free(tys[i]);
      free(keys[i]);
    }
    free(cols);
    free(tys);
    free(keys);
    free(key_lens);
    return -1;
  }
  pthread_mutex_lock(&t->lock);
  topic_free_schema(t);
  t->columns = cols;
  t->types = tys;
  t->keys = keys;
  t->key_lens = key_lens;
  t->ncols = count;
  t->has_schema = 1;
  static const char *const dev[] = {"DEVICEID", "DEVICE_ID", NULL};
  static const char *const tim[] = {"TIME", NULL};
  static const char *const x[] = {"VALUES_X", "X", NULL};
  static const char *const y[] = {"VALUES_Y", "Y", NULL};
  static const char *const z[] = {"VALUES_Z", "Z", NULL};
  t->dev_col = col_index(t, dev);
  t->time_col = col_index(t, tim);
  t->x_col = col_index(t, x);
  t->y_col = col_index(t, y);
  t->z_col = col_index(t, z);
  pthread_mutex_unlock(&t->lock);
  return 0;
}

int hub_topic_has_schema(hub_topic *t) {
  pthread_mutex_lock(&t->lock);
  int has = t->has_schema;
  pthread_mutex_unlock(&t->lock);
  return has;
}

int hub_topic_same_schema(hub_topic *t, size_t count, const char *const *columns,
                          const char *const *types) {
  pthread_mutex_lock(&t->lock);
  int same = t->has_schema && t->ncols == count;
  for (size_t i = 0; same && i < count; i++)
    same = strcmp(t->columns[i], columns[i] ? columns[i] : "") == 0 &&
           strcmp(t->types[i], types && types[i] ? types[i] : "STRING") == 0;
  pthread_mutex_unlock(&t->lock);
  return same;
}

static const char *type_name_of(const sd_value *v) {
  switch (v->type) {
  case SD_BOOL:
    return "BOOLEAN";
  case SD_INT:
    return "BIGINT";
  case SD_DOUBLE:
    return "DOUBLE";
  default:
    return "STRING";
  }
}

static const sd_value *field_for(const sd_record_view *rec, size_t col, const char *name) {
  if (col < rec->field_count && strcasecmp(rec->fields[col].name, name) == 0)
    return &rec->fields[col].value;
  for (size_t i = 0; i < rec->field_count; i++)
    if (strcasecmp(rec->fields[i].name, name) == 0) return &rec->fields[i].value;
  return NULL;
}

static const sd_value null_value = {.type = SD_NULL};

int hub_publish(hub_topic *t, const sd_record_view *rec) {
  hub *h = t->hub;
  if (!t->has_schema) {
    /* Rows without a schema: their own field names become the columns. */
    size_t n = (size_t)rec->field_count;
    const char **cols = calloc(n ? n : 1, sizeof *cols);
    const char **tys = calloc(n ? n : 1, sizeof *tys);
    int rc = (cols && tys) ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
      cols[i] = rec->fields[i].name;
      tys[i] = type_name_of(&rec->fields[i].value);
    }
    if (rc == 0) rc = hub_topic_set_schema(t, n, cols, tys);
    free(cols);
    free(tys);
    if (rc < 0) goto dropped;
  }
  rj_buf *a = &h->scratch_array, *o = &h->scratch_object, *c = &h->scratch_chart;
  a->len = o->len = c->len = 0;
  a->failed = o->failed = c->failed = 0;
  const sd_value *vals[64];
  const sd_value **values = t->ncols <= 64 ? vals : malloc(t->ncols * sizeof *values);
  if (!values) goto dropped;
  rj_put(a, "[", 1);
  rj_put(o, "{", 1);
  for (size_t i = 0; i < t->ncols; i++) {
    const sd_value *v = field_for(rec, i, t->columns[i]);
    values[i] = v ? v : &null_value;
    if (i) {
      rj_put(a, ",", 1);
      rj_put(o, ",", 1);
    }
    rj_value(a, values[i]);
    rj_put(o, t->keys[i], t->key_lens[i]);
    rj_value(o, values[i]);
  }
  rj_put(a, "]", 1);
  rj_put(o, "}", 1);
  const char *device = rec->key;
  size_t device_len = rec->key ? (size_t)rec->key_len : 0;
  if (t->dev_col >= 0 && values[t->dev_col]->type == SD_STRING) {
    device = values[t->dev_col]->as.s.ptr;
    device_len = (size_t)values[t->dev_col]->as.s.len;
  }
  if (t->is_chart) {
    int64_t ns = rec->timestamp_ns;
    if (t->time_col >= 0 && values[t->time_col]->type == SD_INT) ns = values[t->time_col]->as.i;
    if (t->time_col >= 0 && values[t->time_col]->type == SD_DOUBLE)
      ns = (int64_t)values[t->time_col]->as.d;
    char when[40];
    rj_chart_time(when, sizeof when, ns);
    rj_put(c, "[", 1);
    if (device)
      rj_string(c, device, device_len);
    else
      rj_put(c, "null", 4);
    rj_put(c, ",", 1);
    rj_string(c, when, strlen(when));
    int axes[3] = {t->x_col, t->y_col, t->z_col};
    for (int k = 0; k < 3; k++) {
      rj_put(c, ",", 1);
      rj_value(c, axes[k] >= 0 ? values[axes[k]] : &null_value);
    }
    rj_put(c, "]", 1);
  }
  if (values != vals) free(values);
  if (a->failed || o->failed || c->failed) goto dropped;
  size_t size = sizeof(hub_event) + device_len + a->len + o->len + c->len + 4;
  hub_event *ev = malloc(size);
  if (!ev) goto dropped;
  char *p = ev->data;
  atomic_init(&ev->refs, 1);
  ev->device = NULL;
  ev->device_len = (uint32_t)device_len;
  if (device) {
    memcpy(p, device, device_len);
    ev->device = p;
    p += device_len;
  }
  memcpy(p, a->data, a->len);
  ev->array = p;
  ev->array_len = (uint32_t)a->len;
  p += a->len;
  memcpy(p, o->data, o->len);
  ev->object = p;
  ev->object_len = (uint32_t)o->len;
  p += o->len;
  ev->chart = NULL;
  ev->chart_len = 0;
  if (t->is_chart) {
    memcpy(p, c->data, c->len);
    ev->chart = p;
    ev->chart_len = (uint32_t)c->len;
  }
  pthread_mutex_lock(&t->lock);
  ev->id = t->next_id;
  size_t slot = (size_t)(t->next_id % t->cap);
  if (t->count == t->cap)
    ev_release(t->ring[slot]);
  else
    t->count++;
  t->ring[slot] = ev;
  t->next_id++;
  t->published++;
  t->dirty = 1;
  pthread_mutex_unlock(&t->lock);
  return 0;
dropped:
  pthread_mutex_lock(&t->lock);
  t->dropped++;
  pthread_mutex_unlock(&t->lock);
  return -1;
}

/* Topic lock held. */
static void waiter_unlink(hub_topic *t, hub_client *c) {
  if (c->wprev)
    c->wprev->wnext = c->wnext;
  else
    t->waiters = c->wnext;
  if (c->wnext)
    c->wnext->wprev = c->wprev;
  else
    t->waiters_tail = c->wprev;
  c->wprev = c->wnext = NULL;
}

/* Topic lock held: a parked client has something to do. */
static void wake_locked(hub_client *c) {
  if (!c->waiting) return;
  waiter_unlink(c->topic, c);
  c->waiting = 0;
  c->ops->notify(c, c->tctx);
}

void hub_flush(hub *h) {
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) {
    hub_topic *t = h->topics[i];
    pthread_mutex_lock(&t->lock);
    if (t->dirty) {
      t->dirty = 0;
      hub_client *c = t->waiters;
      t->waiters = t->waiters_tail = NULL;
      while (c) {
        hub_client *next = c->wnext;
        c->wprev = c->wnext = NULL;
        c->waiting = 0;
        c->ops->notify(c, c->tctx);
        c = next;
      }
    }
    pthread_mutex_unlock(&t->lock);
  }
}

void hub_each_topic(hub *h, hub_topic_fn fn, void *ctx) {
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) {
    hub_topic *t = h->topics[i];
    pthread_mutex_lock(&t->lock);
    if (t->has_schema)
      fn(ctx, t->name, t->ncols, (const char *const *)t->columns, (const char *const *)t->types,
         t->next_id > h->id_base ? t->next_id - 1 : 0, t->nclients);
    pthread_mutex_unlock(&t->lock);
  }
}

uint64_t hub_topic_last_id(hub_topic *t) {
  pthread_mutex_lock(&t->lock);
  uint64_t id = t->next_id > t->hub->id_base ? t->next_id - 1 : 0;
  pthread_mutex_unlock(&t->lock);
  return id;
}

const char *hub_topic_name(hub_topic *t) {
  return t->name;
}

int hub_parse_id(const char *text, uint64_t *out) {
  if (!text || !*text) return -1;
  uint64_t v = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = v;
  return 0;
}

/* Where a resume from last_id can start, or 0 when the events after it are gone. */
static int resume_cursor(hub_topic *t, uint64_t last_id, uint64_t *cursor) {
  hub *h = t->hub;
  size_t window =
      h->limits.replay < h->limits.client_queue ? h->limits.replay : h->limits.client_queue;
  if (window > t->count) window = t->count;
  uint64_t oldest = t->next_id - window;
  if (last_id < UINT64_MAX && last_id + 1 >= oldest && last_id + 1 <= t->next_id) {
    *cursor = last_id + 1;
    return 1;
  }
  return 0;
}

static void apply_resume(hub_client *c, int valid, uint64_t last_id) {
  hub_topic *t = c->topic;
  c->cursor = t->next_id;
  if (!valid || !resume_cursor(t, last_id, &c->cursor)) c->reset_pending = 1;
}

hub_client *hub_subscribe(hub *h, hub_topic *t, const hub_sub_opts *opts,
                          const hub_transport_ops *ops, void *tctx, hub_sub_error *err) {
  size_t now = atomic_fetch_add(&h->clients, 1);
  if (now >= h->limits.max_clients || atomic_load(&h->closing)) {
    atomic_fetch_sub(&h->clients, 1);
    atomic_fetch_add(&h->rejected_full, 1);
    *err = HUB_SUB_FULL;
    return NULL;
  }
  hub_client *c = calloc(1, sizeof *c);
  if (c && opts->device) {
    c->device_len = strlen(opts->device);
    c->device = strdup(opts->device);
    if (!c->device) {
      free(c);
      c = NULL;
    }
  }
  if (!c) {
    atomic_fetch_sub(&h->clients, 1);
    *err = HUB_SUB_NOMEM;
    return NULL;
  }
  c->topic = t;
  c->ops = ops;
  c->tctx = tctx;
  c->format = (uint8_t)opts->format;
  c->wire = (uint8_t)opts->wire;
  c->last_write_ns = hub_now_mono();
  pthread_mutex_lock(&t->lock);
  c->cursor = t->next_id;
  if (opts->has_last_id) apply_resume(c, opts->last_id_valid, opts->last_id);
  c->tick_cursor = c->cursor;
  c->next = t->clients;
  if (t->clients) t->clients->prev = c;
  t->clients = c;
  t->nclients++;
  pthread_mutex_unlock(&t->lock);
  *err = HUB_SUB_OK;
  return c;
}

void hub_unsubscribe(hub_client *c) {
  hub_topic *t = c->topic;
  pthread_mutex_lock(&t->lock);
  if (c->prev)
    c->prev->next = c->next;
  else
    t->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->waiting) waiter_unlink(t, c);
  t->nclients--;
  ev_release(c->ev);
  hub *h = t->hub; /* a placeholder may be reclaimed as soon as the lock is released */
  pthread_mutex_unlock(&t->lock);
  atomic_fetch_sub(&h->clients, 1);
  free(c->device);
  free(c);
}

void hub_client_resume(hub_client *c, uint64_t last_id) {
  hub_topic *t = c->topic;
  pthread_mutex_lock(&t->lock);
  if (!c->sent_any && !c->ending) {
    apply_resume(c, 1, last_id);
    wake_locked(c);
  }
  pthread_mutex_unlock(&t->lock);
}

/* ---- building the next message (topic lock held) ---------------------------------- */

static void frame_clear(hub_client *c) {
  ev_release(c->ev);
  c->ev = NULL;
  c->body = NULL;
  c->body_len = c->off = c->head_len = c->tail_len = 0;
  c->is_data = 0;
}

static int frame_pending(const hub_client *c) {
  return c->off < c->head_len + c->body_len + c->tail_len;
}

static void frame_control(hub_client *c, const char *sse_event, const char *json) {
  hub_topic *t = c->topic;
  uint64_t last = t->next_id > t->hub->id_base ? t->next_id - 1 : 0;
  int n;
  if (c->wire == HUB_WIRE_SSE) {
    if (last)
      n = snprintf(c->head, sizeof c->head, "id: %llu\nevent: %s\ndata: %s\n\n",
                   (unsigned long long)last, sse_event, json);
    else
      n = snprintf(c->head, sizeof c->head, "event: %s\ndata: %s\n\n", sse_event, json);
  } else {
    n = snprintf(c->head, sizeof c->head, "{\"id\":%llu,\"event\":\"%s\",\"data\":%s}",
                 (unsigned long long)last, sse_event, json);
  }
  c->head_len = (uint32_t)(n < (int)sizeof c->head ? n : (int)sizeof c->head - 1);
}

/* Decimal digits of v at p; returns the end. snprintf costs more than the rest of the
 * per-client work for an event, and this runs once per event per client. */
static char *put_u64(char *p, uint64_t v) {
  char tmp[20];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n) *p++ = tmp[--n];
  return p;
}

#define put_lit(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static void frame_data(hub_client *c, hub_event *ev) {
  const char *body = ev->array;
  uint32_t len = ev->array_len;
  if (c->format == HUB_FMT_OBJECT) {
    body = ev->object;
    len = ev->object_len;
  } else if (c->format == HUB_FMT_CHART && ev->chart) {
    body = ev->chart;
    len = ev->chart_len;
  }
  int chart = c->format == HUB_FMT_CHART;
  char *p = c->head;
  if (c->wire == HUB_WIRE_SSE) {
    p = put_lit(p, "id: ");
    p = put_u64(p, ev->id);
    if (chart)
      p = put_lit(p, "\nevent: new_message\ndata: ");
    else
      p = put_lit(p, "\ndata: ");
    memcpy(c->tail, "\n\n", 2);
    c->tail_len = 2;
  } else {
    p = put_lit(p, "{\"id\":");
    p = put_u64(p, ev->id);
    if (chart)
      p = put_lit(p, ",\"event\":\"new_message\",\"data\":");
    else
      p = put_lit(p, ",\"data\":");
    c->tail[0] = '}';
    c->tail_len = 1;
  }
  c->head_len = (uint32_t)(p - c->head);
  atomic_fetch_add(&ev->refs, 1);
  c->ev = ev;
  c->body = body;
  c->body_len = len;
  c->is_data = 1;
  c->hb_pending = 0;
}

/* Sets up the next message once the previous one is fully copied.
 * 1: a message is ready; 0: nothing to send; -1: the stream has ended. */
static int prepare_locked(hub_client *c) {
  hub_topic *t = c->topic;
  hub *h = t->hub;
  if (c->ended) return -1;
  frame_clear(c);
  if (atomic_load(&h->closing)) {
    c->ended = 1;
    return -1;
  }
  if (!c->started) {
    c->started = 1;
    if (c->wire == HUB_WIRE_SSE) {
      /* Reconnect hint, and bytes for the response headers to go out with. */
      c->head_len = (uint32_t)snprintf(c->head, sizeof c->head, "retry: 2000\n\n");
      return 1;
    }
  }
  if (c->ending) {
    c->ended = 1;
    return -1;
  }
  if (c->reset_pending) {
    c->reset_pending = 0;
    t->resets++;
    frame_control(c, "reset", "{\"reason\":\"events after Last-Event-ID are no longer kept\"}");
    return 1;
  }
  for (;;) {
    uint64_t lag = t->next_id - c->cursor;
    if (lag == 0) break;
    uint64_t oldest = t->next_id - t->count;
    if (c->cursor < oldest || lag > h->limits.client_queue) {
      if (h->limits.overflow == HUB_OVERFLOW_SKIP) {
        t->skipped += lag;
        c->cursor = t->next_id;
        break;
      }
      char json[96];
      snprintf(json, sizeof json, "{\"reason\":\"client queue full\",\"behind\":%llu}",
               (unsigned long long)lag);
      frame_control(c, "overflow", json);
      c->ending = 1;
      if (!c->killed) t->overflows++;
      c->killed = 1;
      return 1;
    }
    hub_event *ev = t->ring[c->cursor % t->cap];
    c->cursor++;
    if (c->device && (!ev->device || ev->device_len != c->device_len ||
                      memcmp(ev->device, c->device, c->device_len) != 0))
      continue;
    frame_data(c, ev);
    return 1;
  }
  if (c->hb_pending) {
    c->hb_pending = 0;
    t->heartbeats++;
    c->head_len = (uint32_t)snprintf(c->head, sizeof c->head, ": hb\n\n");
    return 1;
  }
  return 0;
}

static void park_locked(hub_client *c) {
  if (!c->waiting) {
    hub_topic *t = c->topic;
    c->wprev = t->waiters_tail;
    c->wnext = NULL;
    if (t->waiters_tail)
      t->waiters_tail->wnext = c;
    else
      t->waiters = c;
    t->waiters_tail = c;
  }
  c->waiting = 1;
  c->ops->park(c, c->tctx);
}

/* Copies as much of the current message as fits in buf[*total, cap). 1 when the message
 * is now fully copied (and cleared, counted as sent if it carried an event), else 0. */
static int copy_message(hub_client *c, char *buf, size_t cap, size_t *total) {
  hub_topic *t = c->topic;
  uint32_t head_end = c->head_len, body_end = head_end + c->body_len;
  uint32_t size = body_end + c->tail_len;
  uint32_t off = c->off;
  while (off < size && *total < cap) {
    const char *src;
    uint32_t avail;
    if (off < head_end) {
      src = c->head + off;
      avail = head_end - off;
    } else if (off < body_end) {
      src = c->body + (off - head_end);
      avail = body_end - off;
    } else {
      src = c->tail + (off - body_end);
      avail = size - off;
    }
    size_t k = avail < cap - *total ? avail : cap - *total;
    memcpy(buf + *total, src, k);
    *total += k;
    off += (uint32_t)k;
  }
  c->off = off;
  if (off < size) return 0;
  if (c->is_data) {
    t->sent++;
    c->sent_any = 1;
  }
  frame_clear(c);
  return 1;
}

static void account_write(hub_client *c, size_t total) {
  if (total == 0) return;
  c->topic->bytes += total;
  c->last_write_ns = hub_now_mono();
}

hub_fill_result hub_fill(hub_client *c, char *buf, size_t cap, size_t *n) {
  hub_topic *t = c->topic;
  size_t total = 0;
  hub_fill_result result = HUB_MORE;
  pthread_mutex_lock(&t->lock);
  while (total < cap) {
    if (frame_pending(c)) {
      copy_message(c, buf, cap, &total);
      continue;
    }
    int r = prepare_locked(c);
    if (r == 1) continue;
    if (total > 0) break; /* send what we have; park on the next call if still idle */
    if (r == 0) {
      park_locked(c);
      result = HUB_IDLE;
    } else {
      result = HUB_END;
    }
    break;
  }
  account_write(c, total);
  pthread_mutex_unlock(&t->lock);
  *n = total;
  return result;
}

/* Frame header of an unmasked, final WebSocket text frame carrying len bytes. */
static size_t ws_header(uint8_t *out, uint64_t len) {
  out[0] = 0x81;
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len < 65536) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

hub_fill_result hub_fill_batch(hub_client *c, char *buf, size_t cap, size_t *n) {
  hub_topic *t = c->topic;
  size_t total = 0;
  hub_fill_result result = HUB_MORE;
  pthread_mutex_lock(&t->lock);
  for (;;) {
    if (!frame_pending(c)) {
      int r = prepare_locked(c);
      if (r == 0) {
        park_locked(c);
        result = HUB_IDLE;
        break;
      }
      if (r < 0) {
        result = HUB_END;
        break;
      }
    }
    uint32_t size = c->head_len + c->body_len + c->tail_len;
    if (c->wire == HUB_WIRE_WS) {
      uint8_t hdr[10];
      size_t hl = ws_header(hdr, size);
      if (hl + size > cap - total) {
        if (total > 0) break; /* the next call starts with an empty buffer */
        frame_clear(c);       /* it would not fit an empty one either */
        t->dropped++;
        continue;
      }
      memcpy(buf + total, hdr, hl);
      total += hl;
    }
    if (!copy_message(c, buf, cap, &total)) break; /* buf is full */
    if (total == cap) break;
  }
  account_write(c, total);
  pthread_mutex_unlock(&t->lock);
  *n = total;
  return result;
}

static void null_park(hub_client *client, void *tctx) {}
static const hub_transport_ops null_ops = {null_park, null_park, null_park};

void hub_client_set_transport(hub_client *c, const hub_transport_ops *ops, void *tctx) {
  hub_topic *t = c->topic;
  pthread_mutex_lock(&t->lock);
  c->ops = ops ? ops : &null_ops;
  c->tctx = ops ? tctx : NULL;
  if (ops) wake_locked(c);
  pthread_mutex_unlock(&t->lock);
}

static void tick_topic(hub *h, hub_topic *t, int64_t now) {
  pthread_mutex_lock(&t->lock);
  uint64_t oldest = t->next_id - t->count;
  for (hub_client *c = t->clients; c; c = c->next) {
    if (c->wire == HUB_WIRE_SSE && c->waiting && h->limits.heartbeat_ns > 0 &&
        now - c->last_write_ns >= h->limits.heartbeat_ns) {
      c->hb_pending = 1;
      wake_locked(c);
    }
    if (h->limits.overflow == HUB_OVERFLOW_DISCONNECT && !c->waiting && !c->killed) {
      uint64_t lag = t->next_id - c->cursor;
      int over = c->cursor < oldest || lag > h->limits.client_queue;
      if (over && c->cursor == c->tick_cursor) {
        /* It has not taken a byte since the last tick: the final overflow event could
         * not reach it either, so drop the connection now. */
        c->killed = 1;
        t->overflows++;
        c->ops->kill(c, c->tctx);
      }
    }
    c->tick_cursor = c->cursor;
  }
  pthread_mutex_unlock(&t->lock);
}

void hub_tick(hub *h, int64_t now) {
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) tick_topic(h, h->topics[i], now);
  /* Clients waiting for a query's first row still get their heartbeats. */
  pthread_mutex_lock(&h->lock);
  for (hub_topic *t = h->waiting; t; t = t->pl_next) tick_topic(h, t, now);
  pthread_mutex_unlock(&h->lock);
}

static size_t close_topic(hub_topic *t) {
  size_t parked = 0;
  pthread_mutex_lock(&t->lock);
  for (hub_client *c = t->clients; c; c = c->next)
    if (c->waiting) {
      if (c->ended) {
        parked++;
        continue;
      }
      wake_locked(c);
    }
  pthread_mutex_unlock(&t->lock);
  return parked;
}

size_t hub_close_all(hub *h) {
  atomic_store(&h->closing, 1);
  size_t parked = 0;
  size_t n = atomic_load(&h->topic_count);
  for (size_t i = 0; i < n; i++) parked += close_topic(h->topics[i]);
  pthread_mutex_lock(&h->lock);
  for (hub_topic *t = h->waiting; t; t = t->pl_next) parked += close_topic(t);
  pthread_mutex_unlock(&h->lock);
  return parked;
}
