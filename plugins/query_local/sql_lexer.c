/* SQL tokenizer in ksqlDB's lexical rules (unquoted identifiers upper-cased, `x` and "x"
 * quoted identifiers kept, 'it''s' strings), the statement arena, type names and the
 * ksqlDB-shaped error formatting every SQL module shares. */
#include "sql_ast.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Arena ------------------------------------------------------------------------------ */
struct ql_arena_chunk {
  ql_arena_chunk *next;
  size_t used, cap;
  max_align_t data[];
};

void ql_arena_init(ql_arena *a) {
  a->head = a->full = a->spare = NULL;
}

/* Only chunks on the spare list may be handed out again: the full list still holds
 * statements, tokens and plans that are alive until the next reset. */
void *ql_arena_alloc(ql_arena *a, size_t n) {
  n = (n + 15u) & ~(size_t)15u;
  ql_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    ql_arena_chunk **pp = &a->spare;
    while (*pp && (*pp)->cap < n) pp = &(*pp)->next;
    if (*pp) {
      c = *pp;
      *pp = c->next;
    } else {
      size_t cap = n > 4096 ? n : 4096;
      c = malloc(sizeof(*c) + cap);
      if (!c) return NULL;
      c->cap = cap;
    }
    c->used = 0;
    if (a->head) {
      a->head->next = a->full;
      a->full = a->head;
    }
    c->next = NULL;
    a->head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *ql_arena_strndup(ql_arena *a, const char *s, size_t n) {
  char *p = ql_arena_alloc(a, n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

void ql_arena_reset(ql_arena *a) {
  if (a->head) a->head->used = 0;
  while (a->full) {
    ql_arena_chunk *c = a->full;
    a->full = c->next;
    c->next = a->spare;
    a->spare = c;
  }
}

static void free_chunks(ql_arena_chunk *c) {
  while (c) {
    ql_arena_chunk *n = c->next;
    free(c);
    c = n;
  }
}

void ql_arena_free(ql_arena *a) {
  free_chunks(a->full);
  free_chunks(a->spare);
  free(a->head);
  a->head = a->full = a->spare = NULL;
}

/* ---- Types and errors ------------------------------------------------------------------- */
const char *ql_type_name(ql_type t) {
  switch (t) {
  case QL_T_BOOLEAN:
    return "BOOLEAN";
  case QL_T_INTEGER:
    return "INTEGER";
  case QL_T_BIGINT:
    return "BIGINT";
  case QL_T_DOUBLE:
    return "DOUBLE";
  case QL_T_STRING:
    return "STRING";
  case QL_T_TIMESTAMP:
    return "TIMESTAMP";
  default:
    return "NULL";
  }
}

int ql_type_numeric(ql_type t) {
  return t == QL_T_INTEGER || t == QL_T_BIGINT || t == QL_T_DOUBLE;
}

void ql_set_error(ql_error *err, int code, const char *fmt, ...) {
  if (!err) return;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

void ql_syntax_error(ql_error *err, int line, int col, const char *fmt, ...) {
  if (!err) return;
  err->code = 40001;
  int n = snprintf(err->message, sizeof err->message, "line %d:%d: Syntax Error\n", line, col);
  if (n < 0 || (size_t)n >= sizeof err->message) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message + n, sizeof err->message - (size_t)n, fmt, ap);
  va_end(ap);
}

/* ---- Lexer ------------------------------------------------------------------------------- */
typedef struct lexer {
  ql_arena *a;
  const char *s;
  size_t i;
  int line, col;
  ql_token *toks;
  size_t n, cap;
} lexer;

static void lx_advance(lexer *lx, size_t k) {
  while (k-- && lx->s[lx->i]) {
    if (lx->s[lx->i] == '\n') {
      lx->line++;
      lx->col = 1;
    } else if (((unsigned char)lx->s[lx->i] & 0xC0) != 0x80) {
      lx->col++;
    }
    lx->i++;
  }
}

static ql_token *lx_push(lexer *lx, ql_tok_kind kind, size_t start, int line, int col) {
  if (lx->n == lx->cap) {
    size_t cap = lx->cap ? lx->cap * 2 : 64;
    ql_token *t = ql_arena_alloc(lx->a, cap * sizeof *t);
    if (!t) return NULL;
    if (lx->n) memcpy(t, lx->toks, lx->n * sizeof *t);
    lx->toks = t;
    lx->cap = cap;
  }
  ql_token *t = &lx->toks[lx->n++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->line = line;
  t->col = col;
  t->offset = start;
  t->src = lx->s + start;
  return t;
}

static int is_ident_start(int c) {
  return isalpha(c) || c == '_' || c >= 0x80;
}
static int is_ident_char(int c) {
  return isalnum(c) || c == '_' || c == '@' || c >= 0x80;
}

/* A quoted run ending in q, where qq stands for one q. */
static char *lx_quoted(lexer *lx, char q, size_t *out_len) {
  size_t j = lx->i + 1, n = 0;
  for (;;) {
    char c = lx->s[j];
    if (!c) return NULL;
    if (c == q) {
      if (lx->s[j + 1] == q) {
        j += 2;
        n++;
        continue;
      }
      break;
    }
    j++;
    n++;
  }
  char *v = ql_arena_alloc(lx->a, n + 1);
  if (!v) return NULL;
  size_t k = 0;
  for (size_t p = lx->i + 1; p < j; p++) {
    v[k++] = lx->s[p];
    if (lx->s[p] == q) p++;
  }
  v[k] = 0;
  *out_len = j + 1 - lx->i;
  return v;
}

/* Length of the valid UTF-8 sequence at s (jansson's rules: no overlong forms, surrogates
 * or code points above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s) {
  unsigned c = s[0];
  size_t n = c < 0x80                 ? 1
             : c >= 0xC2 && c <= 0xDF ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  for (size_t k = 1; k < n; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
      (c == 0xF4 && s[1] > 0x8F))
    return 0;
  return n;
}

/* Names and strings end up in JSON answers (SHOW STREAMS, column names, rows), which must
 * be UTF-8: a statement that is not is refused here, before a stream is registered that no
 * answer could then describe. */
static int check_utf8(const char *sql, ql_error *err) {
  int line = 1, col = 1;
  for (const unsigned char *p = (const unsigned char *)sql; *p;) {
    size_t n = utf8_seq(p);
    if (!n) {
      ql_syntax_error(err, line, col, "Invalid UTF-8 byte 0x%02X at line %d:%d", *p, line, col);
      return -1;
    }
    if (*p == '\n')
      line++, col = 1;
    else
      col++;
    p += n;
  }
  return 0;
}

int ql_lex(ql_arena *a, const char *sql, ql_token **out, size_t *count, ql_error *err) {
  lexer lx = {.a = a, .s = sql, .line = 1, .col = 1};
  if (check_utf8(sql, err)) return -1;
  for (;;) {
    unsigned char c = (unsigned char)sql[lx.i];
    if (!c) break;
    if (isspace(c)) {
      lx_advance(&lx, 1);
      continue;
    }
    if (c == '-' && sql[lx.i + 1] == '-') { /* comment to end of line */
      while (sql[lx.i] && sql[lx.i] != '\n') lx_advance(&lx, 1);
      continue;
    }
    if (c == '/' && sql[lx.i + 1] == '*') {
      size_t j = lx.i + 2;
      while (sql[j] && !(sql[j] == '*' && sql[j + 1] == '/')) j++;
      if (!sql[j]) {
        ql_syntax_error(err, lx.line, lx.col, "Unterminated comment");
        return -1;
      }
      lx_advance(&lx, j + 2 - lx.i);
      continue;
    }
    size_t start = lx.i;
    int line = lx.line, col = lx.col;
    ql_token *t;
    if (is_ident_start(c)) {
      size_t j = lx.i;
      while (is_ident_char((unsigned char)sql[j])) j++;
      t = lx_push(&lx, QL_TK_IDENT, start, line, col);
      if (!t || !(t->value = ql_arena_strndup(a, sql + start, j - start))) goto oom;
      for (char *p = t->value; *p; p++) *p = (char)toupper((unsigned char)*p);
      t->length = j - start;
      lx_advance(&lx, j - start);
    } else if (c == '`' || c == '"' || c == '\'') {
      size_t len = 0;
      char *v = lx_quoted(&lx, (char)c, &len);
      if (!v) {
        ql_syntax_error(err, line, col, "Syntax error at or near %s%s at line %d:%d",
                        c == '\'' ? "unterminated string " : "unterminated identifier ",
                        c == '\'' ? "literal" : "", line, col);
        return -1;
      }
      t = lx_push(&lx, c == '\'' ? QL_TK_STRING : QL_TK_QIDENT, start, line, col);
      if (!t) goto oom;
      if (c != '\'' && !*v) {
        ql_syntax_error(err, line, col, "Syntax error at or near '%c%c' at line %d:%d", c, c,
                        line, col);
        return -1;
      }
      t->value = v;
      t->length = len;
      lx_advance(&lx, len);
    } else if (isdigit(c) || (c == '.' && isdigit((unsigned char)sql[lx.i + 1]))) {
      size_t j = lx.i;
      int dec = 0;
      while (isdigit((unsigned char)sql[j])) j++;
      if (sql[j] == '.') {
        dec = 1;
        j++;
        while (isdigit((unsigned char)sql[j])) j++;
      }
      if ((sql[j] == 'e' || sql[j] == 'E') &&
          (isdigit((unsigned char)sql[j + 1]) ||
           ((sql[j + 1] == '+' || sql[j + 1] == '-') && isdigit((unsigned char)sql[j + 2])))) {
        dec = 1;
        j += 2;
        while (isdigit((unsigned char)sql[j])) j++;
      }
      t = lx_push(&lx, dec ? QL_TK_DECIMAL : QL_TK_INT, start, line, col);
      if (!t || !(t->value = ql_arena_strndup(a, sql + start, j - start))) goto oom;
      t->length = j - start;
      lx_advance(&lx, j - start);
    } else {
      static const char *const two[] = {"<>", "!=", "<=", ">=", NULL};
      size_t len = 0;
      for (int k = 0; two[k]; k++)
        if (sql[lx.i] == two[k][0] && sql[lx.i + 1] == two[k][1]) len = 2;
      if (!len && strchr("=<>+-*/%(),;.", c)) len = 1;
      if (!len) {
        ql_syntax_error(err, line, col, "Syntax error at or near '%c' at line %d:%d", c, line,
                        col);
        return -1;
      }
      t = lx_push(&lx, QL_TK_OP, start, line, col);
      if (!t || !(t->value = ql_arena_strndup(a, sql + start, len))) goto oom;
      t->length = len;
      lx_advance(&lx, len);
    }
  }
  ql_token *t = lx_push(&lx, QL_TK_EOF, lx.i, lx.line, lx.col);
  if (!t) goto oom;
  t->value = "<EOF>";
  *out = lx.toks;
  *count = lx.n;
  return 0;
oom:
  ql_set_error(err, 50000, "out of memory");
  return -1;
}
