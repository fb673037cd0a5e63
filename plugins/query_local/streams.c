/* Streams: the schema a CREATE STREAM declares, turning records into rows of it (fields
 * matched to columns case-insensitively through a per-shape cache, missing -> NULL, wrong
 * type -> NULL and counted) and the bounded retention that `earliest` replays. */
#include "ql_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static char *dupstr(const char *s) {
  return s ? strdup(s) : NULL;
}

ql_stream *ql_stream_new(const ql_stmt *c, size_t retain_records) {
  ql_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->name = dupstr(c->name);
  s->topic = dupstr(c->topic);
  s->value_format = dupstr(c->value_format ? c->value_format : "JSON");
  s->key_format = dupstr(c->key_format ? c->key_format : "KAFKA");
  s->sql = dupstr(c->text);
  s->partitions = c->partitions ? c->partitions : 1;
  s->ncols = c->ncols;
  s->cols = calloc(c->ncols ? c->ncols : 1, sizeof *s->cols);
  s->row = calloc(c->ncols ? c->ncols : 1, sizeof *s->row);
  s->ring_cap = retain_records;
  if (retain_records) s->ring = calloc(retain_records, sizeof *s->ring);
  ql_arena_init(&s->scratch);
  if (!s->name || !s->topic || !s->value_format || !s->key_format || !s->sql || !s->cols ||
      !s->row || (retain_records && !s->ring)) {
    ql_stream_free(s);
    return NULL;
  }
  for (size_t k = 0; k < c->ncols; k++) {
    s->cols[k].name = strdup(c->cols[k].name);
    s->cols[k].type = c->cols[k].type;
    s->cols[k].is_key = c->cols[k].is_key;
    if (!s->cols[k].name) {
      ql_stream_free(s);
      return NULL;
    }
  }
  return s;
}

void ql_stream_free(ql_stream *s) {
  if (!s) return;
  free(s->name);
  free(s->topic);
  free(s->value_format);
  free(s->key_format);
  free(s->sql);
  if (s->cols)
    for (size_t k = 0; k < s->ncols; k++) free(s->cols[k].name);
  free(s->cols);
  free(s->row);
  for (int k = 0; k < QL_LAYOUTS; k++) {
    free(s->layouts[k].names);
    free(s->layouts[k].name_len);
    free(s->layouts[k].col);
  }
  for (size_t k = 0; k < s->ring_cap; k++) free(s->ring[k].buf);
  free(s->ring);
  ql_arena_free(&s->scratch);
  free(s);
}

int ql_stream_column(const ql_stream *s, const char *name) {
  for (size_t k = 0; k < s->ncols; k++)
    if (!strcmp(s->cols[k].name, name)) return (int)k;
  return -1;
}

/* ---- Field layouts ----------------------------------------------------------------------- */
static int layout_matches(const ql_layout *l, const sd_record_view *r) {
  if (l->nfields != r->field_count || !l->names) return 0;
  const char *n = l->names;
  for (size_t k = 0; k < l->nfields; k++) {
    const sd_field *f = &r->fields[k];
    if (f->name_len != l->name_len[k] || memcmp(f->name, n, f->name_len)) return 0;
    n += l->name_len[k];
  }
  return 1;
}

static int column_for(const ql_stream *s, const char *name, size_t len) {
  for (size_t c = 0; c < s->ncols; c++)
    if (strlen(s->cols[c].name) == len && !memcmp(s->cols[c].name, name, len)) return (int)c;
  for (size_t c = 0; c < s->ncols; c++)
    if (strlen(s->cols[c].name) == len && !strncasecmp(s->cols[c].name, name, len))
      return (int)c;
  return -1;
}

static ql_layout *layout_for(ql_stream *s, const sd_record_view *r) {
  ql_layout *oldest = &s->layouts[0];
  s->layout_clock++;
  for (int k = 0; k < QL_LAYOUTS; k++) {
    ql_layout *l = &s->layouts[k];
    if (layout_matches(l, r)) {
      l->last_use = s->layout_clock;
      return l;
    }
    if (l->last_use < oldest->last_use) oldest = l;
  }
  /* A new shape: replace the least recently used. */
  ql_layout *l = oldest;
  size_t total = 0;
  for (size_t k = 0; k < r->field_count; k++) total += r->fields[k].name_len;
  char *names = malloc(total + 1);
  uint32_t *lens = malloc((r->field_count + 1) * sizeof *lens);
  int *cols = malloc((r->field_count + 1) * sizeof *cols);
  if (!names || !lens || !cols) {
    free(names);
    free(lens);
    free(cols);
    return NULL;
  }
  free(l->names);
  free(l->name_len);
  free(l->col);
  char *w = names;
  for (size_t k = 0; k < r->field_count; k++) {
    const sd_field *f = &r->fields[k];
    memcpy(w, f->name, f->name_len);
    w += f->name_len;
    lens[k] = (uint32_t)f->name_len;
    cols[k] = column_for(s, f->name, f->name_len);
    if (cols[k] >= 0 && s->cols[cols[k]].is_key) cols[k] = -1; /* keys come from the key */
  }
  l->names = names;
  l->name_len = lens;
  l->col = cols;
  l->nfields = r->field_count;
  l->last_use = s->layout_clock;
  return l;
}

/* ---- Coercion to column types, as ksqlDB's JSON deserializer does
 * ------------------------------- */
/* p[0..n) as a C string: in buf when it fits, else on the heap (*heap, freed by the
 * caller); NULL when out of memory. Text of any length is a number if it reads as one
 * ("000…42", a long decimal), as ksqlDB's JSON reader takes it. */
static const char *as_cstr(const char *p, size_t n, char *buf, size_t cap, char **heap) {
  *heap = NULL;
  char *dst = buf;
  if (n >= cap && !(dst = *heap = malloc(n + 1))) return NULL;
  memcpy(dst, p, n);
  dst[n] = 0;
  return dst;
}

static int parse_i64(const char *p, size_t n, int64_t *out) {
  char buf[32], *heap;
  const char *text = n ? as_cstr(p, n, buf, sizeof buf, &heap) : NULL;
  if (!text) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  int ok = !errno && !*end && end != text;
  free(heap);
  if (!ok) return -1;
  *out = v;
  return 0;
}

static int parse_f64(const char *p, size_t n, double *out) {
  char buf[64], *heap;
  const char *text = n ? as_cstr(p, n, buf, sizeof buf, &heap) : NULL;
  if (!text) return -1;
  char *end;
  double d = strtod(text, &end);
  int ok = !*end && end != text;
  free(heap);
  if (!ok) return -1;
  *out = d;
  return 0;
}

/* "2024-01-02T03:04:05.678" (optional Z, optional fraction) or epoch ms as text. */
static int parse_timestamp(const char *p, size_t n, int64_t *out) {
  if (!parse_i64(p, n, out)) return 0;
  char buf[40];
  if (n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = 0;
  int Y, M, D, h = 0, m = 0, sec = 0, used = 0;
  if (sscanf(buf, "%4d-%2d-%2d%n", &Y, &M, &D, &used) != 3) return -1;
  const char *q = buf + used;
  int ms = 0;
  if (*q == 'T' || *q == ' ') {
    int u2 = 0;
    if (sscanf(q + 1, "%2d:%2d:%2d%n", &h, &m, &sec, &u2) != 3) return -1;
    q += 1 + u2;
    if (*q == '.') {
      int digits = 0;
      q++;
      while (isdigit((unsigned char)*q)) {
        if (digits < 3) ms = ms * 10 + (*q - '0');
        digits++;
        q++;
      }
      for (; digits < 3; digits++) ms *= 10;
    }
  }
  if (*q == 'Z') q++;
  if (*q || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
  struct tm tm = {.tm_year = Y - 1900,
                  .tm_mon = M - 1,
                  .tm_mday = D,
                  .tm_hour = h,
                  .tm_min = m,
                  .tm_sec = sec};
  *out = (int64_t)timegm(&tm) * 1000 + ms;
  return 0;
}

/* 0 ok; -1 the value does not fit the type (out = NULL). */
static int coerce(const sd_value *in, ql_type t, ql_arena *a, sd_value *out) {
  out->type = SD_NULL;
  switch (in->type) {
  case SD_NULL:
    return 0;
  case SD_BOOL:
    if (t == QL_T_BOOLEAN) {
      *out = *in;
      return 0;
    }
    if (t == QL_T_STRING) return ql_value_to_text(in, QL_T_BOOLEAN, a, out);
    return -1;
  case SD_INT:
    switch (t) {
    case QL_T_INTEGER:
      if (in->as.i < INT32_MIN || in->as.i > INT32_MAX) return -1;
      /* fall through */
    case QL_T_BIGINT:
    case QL_T_TIMESTAMP:
      *out = *in;
      return 0;
    case QL_T_DOUBLE:
      out->type = SD_DOUBLE;
      out->as.d = (double)in->as.i;
      return 0;
    case QL_T_STRING:
      return ql_value_to_text(in, QL_T_BIGINT, a, out);
    default:
      return -1;
    }
  case SD_DOUBLE:
    switch (t) {
    case QL_T_DOUBLE:
      *out = *in;
      return 0;
    case QL_T_INTEGER:
    case QL_T_BIGINT:
    case QL_T_TIMESTAMP: {
      double d = in->as.d;
      double lim = t == QL_T_INTEGER ? 2147483648.0 : 9223372036854775808.0;
      if (!(d > -lim - 1 && d < lim)) return -1;
      out->type = SD_INT;
      out->as.i = (int64_t)d; /* truncates, like Jackson's longValue() */
      return 0;
    }
    case QL_T_STRING:
      return ql_value_to_text(in, QL_T_DOUBLE, a, out);
    default:
      return -1;
    }
  case SD_STRING: {
    const char *p = in->as.s.ptr;
    size_t n = in->as.s.len;
    switch (t) {
    case QL_T_STRING:
      *out = *in;
      return 0;
    case QL_T_BOOLEAN:
      if (n == 4 && !strncasecmp(p, "true", 4))
        out->as.i = 1;
      else if (n == 5 && !strncasecmp(p, "false", 5))
        out->as.i = 0;
      else
        return -1;
      out->type = SD_BOOL;
      return 0;
    case QL_T_INTEGER:
    case QL_T_BIGINT:
      if (parse_i64(p, n, &out->as.i)) return -1;
      if (t == QL_T_INTEGER && (out->as.i < INT32_MIN || out->as.i > INT32_MAX)) return -1;
      out->type = SD_INT;
      return 0;
    case QL_T_DOUBLE:
      if (parse_f64(p, n, &out->as.d)) return -1;
      out->type = SD_DOUBLE;
      return 0;
    case QL_T_TIMESTAMP:
      if (parse_timestamp(p, n, &out->as.i)) return -1;
      out->type = SD_INT;
      return 0;
    default:
      return -1;
    }
  }
  default:
    return -1;
  }
}

size_t ql_stream_decode(ql_stream *s, const sd_record_view *r) {
  ql_arena_reset(&s->scratch);
  size_t errors = 0;
  for (size_t c = 0; c < s->ncols; c++) s->row[c].type = SD_NULL;
  ql_layout *l = layout_for(s, r);
  if (l) {
    for (size_t k = 0; k < r->field_count; k++) {
      int c = l->col[k];
      if (c < 0) continue;
      if (coerce(&r->fields[k].value, s->cols[c].type, &s->scratch, &s->row[c])) errors++;
    }
  } else { /* out of memory for a layout: match by name, slowly */
    for (size_t k = 0; k < r->field_count; k++) {
      int c = column_for(s, r->fields[k].name, r->fields[k].name_len);
      if (c < 0 || s->cols[c].is_key) continue;
      if (coerce(&r->fields[k].value, s->cols[c].type, &s->scratch, &s->row[c])) errors++;
    }
  }
  if (r->key)
    for (size_t c = 0; c < s->ncols; c++)
      if (s->cols[c].is_key) {
        sd_value kv = {.type = SD_STRING};
        kv.as.s.ptr = r->key;
        kv.as.s.len = r->key_len;
        if (coerce(&kv, s->cols[c].type, &s->scratch, &s->row[c])) errors++;
      }
  return errors;
}

/* ---- Retention ----------------------------------------------------------------------------
 */
static void evict_oldest(ql_stream *s) {
  ql_retained *r = &s->ring[s->ring_head];
  s->ring_bytes -= r->bytes;
  r->bytes = 0;
  s->ring_head = (s->ring_head + 1) % s->ring_cap;
  s->ring_count--;
}

void ql_stream_retain(ql_stream *s, int64_t ts_ns, int64_t arrived_ns, size_t max_bytes) {
  if (!s->ring_cap) return;
  size_t bytes = s->ncols * sizeof(sd_value);
  for (size_t c = 0; c < s->ncols; c++)
    if (s->row[c].type == SD_STRING) bytes += s->row[c].as.s.len;
  if (max_bytes && bytes > max_bytes) {
    while (s->ring_count) evict_oldest(s); /* the record alone is over the budget */
    return;
  }
  if (s->ring_count == s->ring_cap) evict_oldest(s);
  while (max_bytes && s->ring_count && s->ring_bytes + bytes > max_bytes) evict_oldest(s);
  ql_retained *r = &s->ring[(s->ring_head + s->ring_count) % s->ring_cap];
  if (r->cap < bytes) {
    char *nb = realloc(r->buf, bytes);
    if (!nb) return; /* replay is best effort: a record that cannot be kept is skipped */
    r->buf = nb;
    r->cap = bytes;
  }
  r->vals = (sd_value *)(void *)r->buf;
  char *w = r->buf + s->ncols * sizeof(sd_value);
  for (size_t c = 0; c < s->ncols; c++) {
    r->vals[c] = s->row[c];
    if (s->row[c].type == SD_STRING) {
      if (s->row[c].as.s.len) memcpy(w, s->row[c].as.s.ptr, s->row[c].as.s.len);
      r->vals[c].as.s.ptr = w;
      w += s->row[c].as.s.len;
    }
  }
  r->seq = s->next_seq - 1;
  r->ts_ns = ts_ns;
  r->arrived_ns = arrived_ns;
  r->bytes = bytes;
  s->ring_bytes += bytes;
  s->ring_count++;
}

void ql_stream_expire(ql_stream *s, int64_t older_than_ns) {
  while (s->ring_count && s->ring[s->ring_head].arrived_ns < older_than_ns) evict_oldest(s);
}
