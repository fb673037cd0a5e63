/* Line splitting for ksqlDB's delimited format and construction/validation of the SQL
 * query_ksql sends: identifiers are checked against a strict pattern and string values
 * are quoted with '' doubling, so nothing from config can add a statement. */
#include "ksql_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int kq_lines_feed(kq_lines *l, const char *data, size_t n, kq_line_fn fn, void *ctx) {
  while (n > 0) {
    const char *nl = memchr(data, '\n', n);
    size_t take = nl ? (size_t)(nl - data) : n;
    if (l->len + take > l->max_line) return -1;
    if (l->len + take + 1 > l->cap) {
      size_t cap = l->cap ? l->cap : 4096;
      while (cap < l->len + take + 1) cap *= 2;
      char *p = realloc(l->buf, cap);
      if (!p) return -1;
      l->buf = p;
      l->cap = cap;
    }
    memcpy(l->buf + l->len, data, take);
    l->len += take;
    if (!nl) break;
    size_t len = l->len;
    while (len > 0 && l->buf[len - 1] == '\r') len--;
    l->buf[len] = '\0';
    if (len > 0) fn(ctx, l->buf, len);
    l->len = 0;
    data = nl + 1;
    n -= take + 1;
  }
  return 0;
}

void kq_lines_reset(kq_lines *l) {
  l->len = 0;
}

void kq_lines_free(kq_lines *l) {
  free(l->buf);
  l->buf = NULL;
  l->len = l->cap = 0;
}

int kq_ident_valid(const char *s, size_t n) {
  if (n == 0 || n > 128 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
  return 1;
}

typedef struct kq_sb {
  char *p;
  size_t len, cap;
  int oom;
} kq_sb;

static void kq_put(kq_sb *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void kq_puts(kq_sb *b, const char *s) {
  kq_put(b, s, strlen(s));
}

static void kq_put_literal(kq_sb *b, const char *s) {
  kq_puts(b, "'");
  for (; *s; s++) kq_put(b, *s == '\'' ? "''" : s, 1 + (*s == '\''));
  kq_puts(b, "'");
}

/* A column type: a known base type, with <…> or (…) parameters of the same alphabet. */
static int kq_type_valid(const char *t, size_t n) {
  static const char *const bases[] = {
      "STRING", "VARCHAR", "INT",       "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN", "BYTES",
      "DATE",   "TIME",    "TIMESTAMP", "DECIMAL", "ARRAY",  "MAP",    "STRUCT",  NULL};
  size_t word = 0;
  while (word < n && isalpha((unsigned char)t[word])) word++;
  int known = 0;
  for (const char *const *b = bases; *b; b++)
    if (strlen(*b) == word && strncasecmp(t, *b, word) == 0) known = 1;
  if (!known) return 0;
  int depth = 0;
  for (size_t i = word; i < n; i++) {
    char c = t[i];
    if (c == '<' || c == '(')
      depth++;
    else if (c == '>' || c == ')') {
      if (--depth < 0) return 0;
    } else if (!(isalnum((unsigned char)c) || c == '_' || c == ' ' || c == ',' || c == '`'))
      return 0;
  }
  return depth == 0;
}

static void kq_trim(const char **s, size_t *n) {
  while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
  while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

char *kq_create_stream_sql(const char *stream, const char *columns, const char *topic,
                           const char *value_format, char *why, size_t why_len) {
  if (!kq_ident_valid(stream, strlen(stream))) {
    snprintf(why, why_len, "stream name \"%s\" is not an identifier ([A-Za-z_][A-Za-z0-9_]*)",
             stream);
    return NULL;
  }
  if (!kq_ident_valid(value_format, strlen(value_format))) {
    snprintf(why, why_len, "value format \"%s\" is not a format name", value_format);
    return NULL;
  }
  kq_sb b = {0};
  kq_puts(&b, "CREATE STREAM ");
  kq_puts(&b, stream);
  kq_puts(&b, " (");
  const char *p = columns;
  int count = 0;
  while (*p) {
    int depth = 0;
    const char *start = p;
    while (*p && !(*p == ',' && depth == 0)) {
      if (*p == '<' || *p == '(') depth++;
      if (*p == '>' || *p == ')') depth--;
      p++;
    }
    const char *item = start;
    size_t n = (size_t)(p - start);
    if (*p == ',') p++;
    kq_trim(&item, &n);
    size_t name_len = 0;
    while (name_len < n && !isspace((unsigned char)item[name_len])) name_len++;
    const char *type = item + name_len;
    size_t type_len = n - name_len;
    kq_trim(&type, &type_len);
    if (!kq_ident_valid(item, name_len) || !kq_type_valid(type, type_len)) {
      snprintf(why, why_len, "column %d \"%.*s\" is not `identifier TYPE`", count + 1, (int)n,
               item);
      free(b.p);
      return NULL;
    }
    kq_puts(&b, count ? ", " : "");
    kq_put(&b, item, n);
    count++;
  }
  if (count == 0) {
    snprintf(why, why_len, "no columns");
    free(b.p);
    return NULL;
  }
  kq_puts(&b, ") WITH (KAFKA_TOPIC=");
  kq_put_literal(&b, topic);
  kq_puts(&b, ", VALUE_FORMAT=");
  kq_put_literal(&b, value_format);
  kq_puts(&b, ");");
  if (b.oom) {
    free(b.p);
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  return b.p;
}

char *kq_push_query_sql(const char *sql, char *why, size_t why_len) {
  const char *s = sql;
  size_t n = strlen(sql);
  kq_trim(&s, &n);
  while (n && s[n - 1] == ';') {
    n--;
    kq_trim(&s, &n);
  }
  if (n < 6 || strncasecmp(s, "SELECT", 6) != 0 || !(n == 6 || !isalnum((unsigned char)s[6]))) {
    snprintf(why, why_len, "a push query must start with SELECT");
    return NULL;
  }
  /* Outside quotes and comments: no ';' and an EMIT CHANGES clause. */
  kq_sb plain = {0};
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\'' || c == '"' || c == '`') {
      size_t j = i + 1;
      while (j < n) {
        if (s[j] != c)
          j++;
        else if (j + 1 < n && s[j + 1] == c)
          j += 2; /* doubled quote inside */
        else
          break;
      }
      if (j >= n) {
        snprintf(why, why_len, "unterminated %c quote", c);
        free(plain.p);
        return NULL;
      }
      kq_puts(&plain, " ");
      i = j;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') i++;
      kq_puts(&plain, " ");
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      const char *end = strstr(s + i + 2, "*/");
      if (!end || (size_t)(end - s) >= n) {
        snprintf(why, why_len, "unterminated comment");
        free(plain.p);
        return NULL;
      }
      i = (size_t)(end - s) + 1;
      kq_puts(&plain, " ");
    } else if (c == ';') {
      snprintf(why, why_len, "only one statement is allowed");
      free(plain.p);
      return NULL;
    } else {
      char up = (char)(isspace((unsigned char)c) ? ' ' : toupper((unsigned char)c));
      kq_put(&plain, &up, 1);
    }
  }
  int emits = 0;
  if (plain.p) {
    /* collapse runs of spaces so "EMIT   CHANGES" matches */
    char *w = plain.p;
    for (char *r = plain.p; *r; r++)
      if (!(*r == ' ' && w > plain.p && w[-1] == ' ')) *w++ = *r;
    *w = '\0';
    emits = strstr(plain.p, " EMIT CHANGES") != NULL;
  }
  free(plain.p);
  if (!emits) {
    snprintf(why, why_len, "a push query needs EMIT CHANGES (a pull query would end at once)");
    return NULL;
  }
  char *out = malloc(n + 2);
  if (!out) {
    snprintf(why, why_len, "out of memory");
    return NULL;
  }
  memcpy(out, s, n);
  out[n] = ';';
  out[n + 1] = '\0';
  return out;
}

long kq_backoff_ms(unsigned attempt, long min_ms, long max_ms, double r) {
  long base = min_ms;
  for (unsigned i = 0; i < attempt && base < max_ms; i++) base *= 2;
  if (base > max_ms) base = max_ms;
  /* "equal jitter": half fixed, half random, so clients spread out but never hammer. */
  return base / 2 + (long)((double)(base - base / 2) * r);
}
