/* The record encoding inside a stream log batch (qlog_codec.h). Layout: varint shape count,
 * each shape = varint field count + (varint name length, name) per field; then per record:
 * varint shape, zigzag event-time delta, varint key length + 1 (0 = no key) and key, and per
 * field a tag byte and the value against that shape slot's previous one. */
#include "qlog_codec.h"

#include <stdlib.h>
#include <string.h>

enum { T_NULL, T_FALSE, T_TRUE, T_INT, T_DOUBLE, T_STR, T_STR_SAME };

typedef struct slot {
  int64_t i;
  uint64_t d;
  const char *s;
  size_t slen;
} slot;

typedef struct shape {
  size_t nfields;
  const sd_field *fields; /* names from the first record of this shape */
  slot *slots;
} shape;

typedef struct buf {
  unsigned char *p;
  size_t len, cap;
  int oom;
} buf;

struct qlog_enc {
  buf shapes, recs, out;
  shape *sh;
  size_t nsh, shcap, last;
  int64_t prev_ts;
};

static void put(buf *b, const void *p, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    unsigned char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void put_varint(buf *b, uint64_t v) {
  unsigned char t[10];
  size_t n = 0;
  while (v >= 0x80) {
    t[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  t[n++] = (unsigned char)v;
  put(b, t, n);
}

static uint64_t zz(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static int64_t unzz(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

qlog_enc *qlog_enc_new(void) {
  return calloc(1, sizeof(qlog_enc));
}

void qlog_enc_reset(qlog_enc *e) {
  for (size_t i = 0; i < e->nsh; i++) free(e->sh[i].slots);
  e->nsh = e->last = 0;
  e->shapes.len = e->recs.len = e->out.len = 0;
  e->shapes.oom = e->recs.oom = e->out.oom = 0;
  e->prev_ts = 0;
}

void qlog_enc_free(qlog_enc *e) {
  if (!e) return;
  qlog_enc_reset(e);
  free(e->sh);
  free(e->shapes.p);
  free(e->recs.p);
  free(e->out.p);
  free(e);
}

static int same_shape(const shape *s, const sd_record_view *r) {
  if (s->nfields != r->field_count) return 0;
  for (size_t k = 0; k < s->nfields; k++)
    if (s->fields[k].name_len != r->fields[k].name_len ||
        memcmp(s->fields[k].name, r->fields[k].name, s->fields[k].name_len))
      return 0;
  return 1;
}

static long shape_of(qlog_enc *e, const sd_record_view *r) {
  if (e->nsh && same_shape(&e->sh[e->last], r)) return (long)e->last;
  for (size_t i = 0; i < e->nsh; i++)
    if (same_shape(&e->sh[i], r)) return (long)(e->last = i);
  if (e->nsh == e->shcap) {
    size_t cap = e->shcap ? e->shcap * 2 : 16;
    shape *n = realloc(e->sh, cap * sizeof *n);
    if (!n) return -1;
    e->sh = n;
    e->shcap = cap;
  }
  shape *s = &e->sh[e->nsh];
  s->nfields = r->field_count;
  s->fields = r->fields;
  if (!(s->slots = calloc(r->field_count ? r->field_count : 1, sizeof *s->slots))) return -1;
  put_varint(&e->shapes, r->field_count);
  for (size_t k = 0; k < r->field_count; k++) {
    put_varint(&e->shapes, r->fields[k].name_len);
    put(&e->shapes, r->fields[k].name, r->fields[k].name_len);
  }
  return (long)(e->last = e->nsh++);
}

int qlog_enc_record(qlog_enc *e, const sd_record_view *r) {
  long si = shape_of(e, r);
  if (si < 0) return -1;
  shape *s = &e->sh[si];
  buf *b = &e->recs;
  put_varint(b, (uint64_t)si);
  put_varint(b, zz((int64_t)((uint64_t)r->timestamp_ns - (uint64_t)e->prev_ts)));
  e->prev_ts = r->timestamp_ns;
  put_varint(b, r->key ? r->key_len + 1 : 0);
  if (r->key) put(b, r->key, r->key_len);
  for (size_t k = 0; k < s->nfields; k++) {
    const sd_value *v = &r->fields[k].value;
    slot *sl = &s->slots[k];
    unsigned char tag;
    switch (v->type) {
    case SD_BOOL:
      tag = v->as.i ? T_TRUE : T_FALSE;
      put(b, &tag, 1);
      break;
    case SD_INT:
      tag = T_INT;
      put(b, &tag, 1);
      put_varint(b, zz((int64_t)((uint64_t)v->as.i - (uint64_t)sl->i)));
      sl->i = v->as.i;
      break;
    case SD_DOUBLE: {
      uint64_t bits;
      memcpy(&bits, &v->as.d, 8);
      uint64_t x = bits ^ sl->d;
      unsigned char t[9] = {T_DOUBLE};
      for (int i = 0; i < 8; i++)
        t[1 + i] = (unsigned char)(x >> (56 - 8 * i)); /* high first */
      put(b, t, 9);
      sl->d = bits;
      break;
    }
    case SD_STRING:
      if (sl->s && sl->slen == v->as.s.len && !memcmp(sl->s, v->as.s.ptr, sl->slen)) {
        tag = T_STR_SAME;
        put(b, &tag, 1);
        break;
      }
      tag = T_STR;
      put(b, &tag, 1);
      put_varint(b, v->as.s.len);
      put(b, v->as.s.ptr, v->as.s.len);
      sl->s = v->as.s.ptr;
      sl->slen = v->as.s.len;
      break;
    default:
      tag = T_NULL;
      put(b, &tag, 1);
    }
  }
  return b->oom || e->shapes.oom ? -1 : 0;
}

int qlog_enc_finish(qlog_enc *e, const void **raw, size_t *len) {
  e->out.len = 0;
  put_varint(&e->out, e->nsh);
  put(&e->out, e->shapes.p, e->shapes.len);
  put(&e->out, e->recs.p, e->recs.len);
  if (e->out.oom || e->shapes.oom || e->recs.oom) return -1;
  *raw = e->out.p;
  *len = e->out.len;
  return 0;
}

/* ---- Decoding -----------------------------------------------------------------------------
 */
typedef struct rd {
  const unsigned char *p, *end;
  int bad;
} rd;

static uint64_t get_varint(rd *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) break;
    unsigned char c = *r->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  r->bad = 1;
  return 0;
}

static const unsigned char *get_bytes(rd *r, uint64_t n) {
  if ((uint64_t)(r->end - r->p) < n) {
    r->bad = 1;
    return NULL;
  }
  const unsigned char *p = r->p;
  r->p += n;
  return p;
}

typedef struct dshape {
  size_t nfields;
  sd_field *fields;
  char *names;
  slot *slots;
} dshape;

int qlog_decode(const void *raw, size_t len, uint32_t count, qlog_record_fn fn, void *ctx) {
  rd r = {raw, (const unsigned char *)raw + len, 0};
  uint64_t nsh = get_varint(&r);
  if (r.bad || nsh > len) return -1;
  dshape *sh = calloc(nsh ? nsh : 1, sizeof *sh);
  if (!sh) return -1;
  int rc = 0;
  for (uint64_t i = 0; i < nsh && !rc; i++) {
    const unsigned char *start = r.p;
    uint64_t nf = get_varint(&r), total = 0;
    if (r.bad || nf > len) {
      rc = -1;
      break;
    }
    for (uint64_t k = 0; k < nf && !r.bad; k++) {
      uint64_t n = get_varint(&r);
      get_bytes(&r, n);
      total += n + 1;
    }
    if (r.bad) {
      rc = -1;
      break;
    }
    sh[i].nfields = nf;
    sh[i].fields = calloc(nf ? nf : 1, sizeof *sh[i].fields);
    sh[i].slots = calloc(nf ? nf : 1, sizeof *sh[i].slots);
    sh[i].names = malloc(total + 1);
    if (!sh[i].fields || !sh[i].slots || !sh[i].names) {
      rc = -1;
      break;
    }
    rd again = {start, r.end, 0};
    get_varint(&again);
    char *w = sh[i].names;
    for (uint64_t k = 0; k < nf; k++) { /* names NUL-terminated, as sd_field promises */
      uint64_t n = get_varint(&again);
      memcpy(w, get_bytes(&again, n), n);
      w[n] = 0;
      sh[i].fields[k].name = w;
      sh[i].fields[k].name_len = n;
      w += n + 1;
    }
  }
  int64_t ts = 0;
  for (uint32_t i = 0; i < count && !rc; i++) {
    uint64_t si = get_varint(&r);
    if (r.bad || si >= nsh) {
      rc = -1;
      break;
    }
    dshape *s = &sh[si];
    ts = (int64_t)((uint64_t)ts + (uint64_t)unzz(get_varint(&r)));
    sd_record_view v = {.timestamp_ns = ts, .field_count = s->nfields, .fields = s->fields};
    uint64_t kl = get_varint(&r);
    if (kl) {
      v.key = (const char *)get_bytes(&r, kl - 1);
      v.key_len = kl - 1;
    }
    for (size_t k = 0; k < s->nfields && !r.bad; k++) {
      sd_value *out = &s->fields[k].value;
      slot *sl = &s->slots[k];
      const unsigned char *t = get_bytes(&r, 1);
      if (!t) break;
      memset(out, 0, sizeof *out);
      switch (*t) {
      case T_NULL:
        out->type = SD_NULL;
        break;
      case T_FALSE:
      case T_TRUE:
        out->type = SD_BOOL;
        out->as.i = *t == T_TRUE;
        break;
      case T_INT:
        out->type = SD_INT;
        sl->i = out->as.i = (int64_t)((uint64_t)sl->i + (uint64_t)unzz(get_varint(&r)));
        break;
      case T_DOUBLE: {
        const unsigned char *p = get_bytes(&r, 8);
        if (!p) break;
        uint64_t x = 0;
        for (int b = 0; b < 8; b++) x = x << 8 | p[b];
        sl->d ^= x;
        out->type = SD_DOUBLE;
        memcpy(&out->as.d, &sl->d, 8);
        break;
      }
      case T_STR: {
        uint64_t n = get_varint(&r);
        const unsigned char *p = get_bytes(&r, n);
        if (!p) break;
        sl->s = (const char *)p;
        sl->slen = n;
      }
        /* fall through */
      case T_STR_SAME:
        if (!sl->s) {
          r.bad = 1;
          break;
        }
        out->type = SD_STRING;
        out->as.s.ptr = sl->s;
        out->as.s.len = sl->slen;
        break;
      default:
        r.bad = 1;
      }
    }
    if (r.bad) {
      rc = -1;
      break;
    }
    rc = fn(ctx, &v);
  }
  for (uint64_t i = 0; i < nsh; i++) {
    free(sh[i].fields);
    free(sh[i].names);
    free(sh[i].slots);
  }
  free(sh);
  return rc;
}
