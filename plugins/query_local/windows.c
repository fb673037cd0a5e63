/* Windowed (TUMBLING, HOPPING) and plain GROUP BY aggregation for one query: a hash table
 * of (group key, window start) -> aggregate slots, emitting a row per change or per emit
 * interval, and closing windows once stream time passes their end plus grace. */
#include "ql_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct ql_slot {
  int64_t count, i;
  double d;
  sd_value v;
  char *buf;
  size_t cap;
  int has;
} ql_slot;

typedef struct ql_group {
  struct ql_group *hnext, *dnext;
  uint64_t hash;
  int64_t wstart, wend, rowtime_ms;
  int dirty;
  sd_value *keys; /* owned: strings copied after the array */
  ql_slot slots[];
} ql_group;

struct ql_aggtable {
  const ql_plan *plan;
  ql_group **buckets;
  size_t nbuckets, count;
  ql_group *dirty_head, *dirty_tail;
  int64_t stream_time, next_close, last_flush_ns;
  int has_time;
  sd_value *keyvals, *argvals, *aggvals;
};

#define NO_CLOSE INT64_MAX

ql_aggtable *ql_aggtable_new(const ql_plan *plan) {
  ql_aggtable *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->plan = plan;
  t->nbuckets = 64;
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  t->keyvals = calloc(plan->nkeys + 1, sizeof *t->keyvals);
  t->argvals = calloc(plan->naggs + 1, sizeof *t->argvals);
  t->aggvals = calloc(plan->naggs + 1, sizeof *t->aggvals);
  t->next_close = NO_CLOSE;
  if (!t->buckets || !t->keyvals || !t->argvals || !t->aggvals) {
    ql_aggtable_free(t);
    return NULL;
  }
  return t;
}

static void group_free(const ql_aggtable *t, ql_group *g) {
  for (size_t k = 0; k < t->plan->naggs; k++) free(g->slots[k].buf);
  free(g->keys);
  free(g);
}

void ql_aggtable_free(ql_aggtable *t) {
  if (!t) return;
  for (size_t b = 0; t->buckets && b < t->nbuckets; b++) {
    ql_group *g = t->buckets[b];
    while (g) {
      ql_group *n = g->hnext;
      group_free(t, g);
      g = n;
    }
  }
  free(t->buckets);
  free(t->keyvals);
  free(t->argvals);
  free(t->aggvals);
  free(t);
}

size_t ql_aggtable_groups(const ql_aggtable *t) {
  return t->count;
}

static uint64_t key_hash(const ql_aggtable *t, int64_t wstart) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < t->plan->nkeys; k++) h = ql_value_hash(&t->keyvals[k], h);
  sd_value w = {.type = SD_INT};
  w.as.i = wstart;
  return ql_value_hash(&w, h);
}

static int keys_equal(const ql_aggtable *t, const ql_group *g) {
  for (size_t k = 0; k < t->plan->nkeys; k++)
    if (!ql_values_equal(&g->keys[k], &t->keyvals[k])) return 0;
  return 1;
}

static void grow(ql_aggtable *t) {
  size_t nb = t->nbuckets * 2;
  ql_group **b = calloc(nb, sizeof *b);
  if (!b) return; /* keep the longer chains */
  for (size_t k = 0; k < t->nbuckets; k++) {
    ql_group *g = t->buckets[k];
    while (g) {
      ql_group *n = g->hnext;
      size_t i = g->hash & (nb - 1);
      g->hnext = b[i];
      b[i] = g;
      g = n;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

static ql_group *group_get(ql_aggtable *t, int64_t wstart, int64_t wend, int64_t grace_ms) {
  uint64_t h = key_hash(t, wstart);
  for (ql_group *g = t->buckets[h & (t->nbuckets - 1)]; g; g = g->hnext)
    if (g->hash == h && g->wstart == wstart && keys_equal(t, g)) return g;
  size_t nkeys = t->plan->nkeys, bytes = nkeys * sizeof(sd_value);
  for (size_t k = 0; k < nkeys; k++)
    if (t->keyvals[k].type == SD_STRING) bytes += t->keyvals[k].as.s.len;
  ql_group *g = calloc(1, sizeof *g + t->plan->naggs * sizeof(ql_slot));
  if (!g) return NULL;
  g->keys = malloc(bytes ? bytes : 1);
  if (!g->keys) {
    free(g);
    return NULL;
  }
  char *w = (char *)(g->keys + nkeys);
  for (size_t k = 0; k < nkeys; k++) {
    g->keys[k] = t->keyvals[k];
    if (t->keyvals[k].type == SD_STRING) {
      if (t->keyvals[k].as.s.len) memcpy(w, t->keyvals[k].as.s.ptr, t->keyvals[k].as.s.len);
      g->keys[k].as.s.ptr = w;
      w += t->keyvals[k].as.s.len;
    }
  }
  g->hash = h;
  g->rowtime_ms = INT64_MIN;
  g->wstart = wstart;
  g->wend = wend;
  size_t i = h & (t->nbuckets - 1);
  g->hnext = t->buckets[i];
  t->buckets[i] = g;
  if (++t->count > t->nbuckets) grow(t);
  if (t->plan->window.kind != QL_W_NONE && wend + grace_ms < t->next_close)
    t->next_close = wend + grace_ms;
  return g;
}

/* Keeps a copy of v in the slot (strings into the slot's own buffer). */
static void slot_store(ql_slot *s, const sd_value *v) {
  s->has = 1;
  if (v->type != SD_STRING) {
    s->v = *v;
    return;
  }
  if (s->cap < v->as.s.len + 1) {
    char *nb = realloc(s->buf, v->as.s.len + 1);
    if (!nb) {
      s->v.type = SD_NULL;
      return;
    }
    s->buf = nb;
    s->cap = v->as.s.len + 1;
  }
  if (v->as.s.len) memcpy(s->buf, v->as.s.ptr, v->as.s.len);
  s->v.type = SD_STRING;
  s->v.as.s.ptr = s->buf;
  s->v.as.s.len = v->as.s.len;
}

static int value_less(const sd_value *a, const sd_value *b) {
  if (a->type == SD_STRING) {
    size_t n = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
    int r = n ? memcmp(a->as.s.ptr, b->as.s.ptr, n) : 0;
    return r < 0 || (r == 0 && a->as.s.len < b->as.s.len);
  }
  if (a->type == SD_DOUBLE || b->type == SD_DOUBLE) {
    double x = a->type == SD_DOUBLE ? a->as.d : (double)a->as.i;
    double y = b->type == SD_DOUBLE ? b->as.d : (double)b->as.i;
    return x < y;
  }
  return a->as.i < b->as.i;
}

static void update(ql_aggtable *t, ql_group *g) {
  for (size_t k = 0; k < t->plan->naggs; k++) {
    const ql_agg_spec *sp = &t->plan->aggs[k];
    ql_slot *s = &g->slots[k];
    const sd_value *v = &t->argvals[k];
    if (!sp->arg) { /* COUNT(*) */
      s->count++;
      continue;
    }
    if (v->type == SD_NULL) continue;
    switch (sp->kind) {
    case QL_AGG_COUNT:
      s->count++;
      break;
    case QL_AGG_SUM:
      if (v->type == SD_DOUBLE)
        s->d += v->as.d;
      else
        s->i = (int64_t)((uint64_t)s->i + (uint64_t)v->as.i);
      s->has = 1;
      break;
    case QL_AGG_AVG:
      s->d += v->type == SD_DOUBLE ? v->as.d : (double)v->as.i;
      s->count++;
      break;
    case QL_AGG_MIN:
      if (!s->has || value_less(v, &s->v)) slot_store(s, v);
      break;
    case QL_AGG_MAX:
      if (!s->has || value_less(&s->v, v)) slot_store(s, v);
      break;
    case QL_AGG_LATEST:
      slot_store(s, v);
      break;
    case QL_AGG_EARLIEST:
      if (!s->has) slot_store(s, v);
      break;
    }
  }
}

static void emit_group(ql_query *q, ql_group *g) {
  ql_aggtable *t = q->aggs;
  const ql_plan *pl = t->plan;
  for (size_t k = 0; k < pl->naggs; k++) {
    const ql_slot *s = &g->slots[k];
    sd_value *o = &t->aggvals[k];
    o->type = SD_NULL;
    switch (pl->aggs[k].kind) {
    case QL_AGG_COUNT:
      o->type = SD_INT;
      o->as.i = s->count;
      break;
    case QL_AGG_SUM:
      if (pl->aggs[k].out_type == QL_T_DOUBLE) {
        o->type = SD_DOUBLE;
        o->as.d = s->d;
      } else {
        o->type = SD_INT;
        o->as.i =
            pl->aggs[k].out_type == QL_T_INTEGER ? (int32_t)(uint32_t)(uint64_t)s->i : s->i;
      }
      break;
    case QL_AGG_AVG:
      if (s->count) {
        o->type = SD_DOUBLE;
        o->as.d = s->d / (double)s->count;
      }
      break;
    default:
      if (s->has) *o = s->v;
      break;
    }
  }
  ql_eval_ctx c = {.keys = g->keys,
                   .aggs = t->aggvals,
                   .wstart = g->wstart,
                   .wend = g->wend,
                   .rowtime_ms = g->rowtime_ms,
                   .scratch = &q->engine->scratch};
  if (pl->having && !ql_eval_true(pl->having, &c)) return;
  for (size_t k = 0; k < pl->ncols; k++) ql_eval(pl->proj[k], &c, &q->out[k]);
  ql_query_emit(q, q->out, g->rowtime_ms);
}

void ql_agg_flush(ql_query *q, int64_t now_wall_ns, int force) {
  ql_aggtable *t = q->aggs;
  if (!force && q->emit_interval_ns > 0 && now_wall_ns - t->last_flush_ns < q->emit_interval_ns)
    return;
  t->last_flush_ns = now_wall_ns;
  ql_group *g = t->dirty_head;
  t->dirty_head = t->dirty_tail = NULL;
  while (g) {
    ql_group *n = g->dnext;
    g->dirty = 0;
    g->dnext = NULL;
    emit_group(q, g);
    g = n;
  }
}

/* Drops every window whose end + grace is at or before stream time. */
static void close_windows(ql_query *q) {
  ql_aggtable *t = q->aggs;
  if (t->dirty_head)
    ql_agg_flush(q, 0, 1); /* pending changes go out before the window closes */
  int64_t next = NO_CLOSE;
  for (size_t b = 0; b < t->nbuckets; b++) {
    ql_group **pp = &t->buckets[b];
    while (*pp) {
      ql_group *g = *pp;
      int64_t close_at = g->wend + q->grace_ms;
      if (close_at <= t->stream_time) {
        *pp = g->hnext;
        group_free(t, g);
        t->count--;
      } else {
        if (close_at < next) next = close_at;
        pp = &g->hnext;
      }
    }
  }
  t->next_close = next;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* A group just took a row: emit it now, or with EMIT interval queue it once for the flush. */
static void group_changed(ql_query *q, ql_group *g) {
  ql_aggtable *t = q->aggs;
  if (q->emit_interval_ns <= 0) {
    emit_group(q, g);
    return;
  }
  if (g->dirty) return;
  g->dirty = 1;
  if (t->dirty_tail)
    t->dirty_tail->dnext = g;
  else
    t->dirty_head = g;
  t->dirty_tail = g;
}

/* A row that found no memory for its group (or one of its windows' groups): it cannot be
 * counted in that aggregate, so it is counted as dropped instead (the stage reports it). */
static void row_dropped(ql_query *q) {
  q->dropped_rows++;
  q->engine->agg_dropped_rows++;
}

void ql_agg_row(ql_query *q, ql_eval_ctx *c) {
  ql_aggtable *t = q->aggs;
  const ql_plan *pl = t->plan;
  int64_t ts = c->rowtime_ms;
  for (size_t k = 0; k < pl->nkeys; k++) ql_eval(pl->keys[k], c, &t->keyvals[k]);
  for (size_t k = 0; k < pl->naggs; k++) {
    if (pl->aggs[k].arg)
      ql_eval(pl->aggs[k].arg, c, &t->argvals[k]);
    else
      t->argvals[k].type = SD_NULL;
  }
  if (pl->window.kind == QL_W_NONE) {
    ql_group *g = group_get(t, 0, 0, 0);
    if (!g) {
      row_dropped(q);
      return;
    }
    update(t, g);
    g->rowtime_ms = ts;
    group_changed(q, g);
    return;
  }
  if (!t->has_time || ts > t->stream_time) {
    t->stream_time = ts;
    t->has_time = 1;
    if (t->stream_time >= t->next_close) close_windows(q);
  }
  int64_t size = pl->window.size_ms, adv = pl->window.advance_ms;
  int64_t last = floor_div(ts, adv) * adv;
  int64_t first = last;
  while (first - adv > ts - size) first -= adv;
  int dropped = 0;
  for (int64_t ws = first; ws <= last && !q->ended; ws += adv) {
    int64_t we = ws + size;
    if (we + q->grace_ms <= t->stream_time) { /* the window closed: a late row */
      q->late_rows++;
      q->engine->late_rows++;
      continue;
    }
    ql_group *g = group_get(t, ws, we, q->grace_ms);
    if (!g) {
      dropped = 1;
      continue;
    }
    update(t, g);
    if (ts > g->rowtime_ms) g->rowtime_ms = ts;
    group_changed(q, g);
  }
  if (dropped) row_dropped(q);
}
