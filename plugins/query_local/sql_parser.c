/* Recursive-descent parser for the ksqlDB subset query_local runs: SELECT push queries,
 * CREATE/DROP STREAM, SHOW/LIST, DESCRIBE, TERMINATE. Syntax errors read like ksqlDB's:
 * "line L:C: Syntax Error" plus what was expected, or the statement a typo resembles. */
#include "sql_ast.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QL_MAX_EXPECT 8
/* Bounds against hostile statements, each refused with its own message: expression depth
 * (recursion in the parser, planner and evaluator: parentheses, operators in a row, NOT,
 * unary minus), columns of a CREATE STREAM, GROUP BY expressions, and the bytes of an
 * expression's text kept for messages. */
#define QL_MAX_DEPTH    200
#define QL_MAX_COLUMNS  1000
#define QL_MAX_GROUP_BY 64
#define QL_TEXT_MAX     160

typedef struct parser {
  ql_arena *a;
  const char *sql;
  ql_token *t;
  size_t n, i;
  ql_error *err;
  int failed;
  int depth;     /* open parentheses, for the "is missing" message at EOF */
  int nest;      /* expression recursion, bounded against hostile input */
  size_t exp_at; /* token index the expectations below refer to */
  const char *exp[QL_MAX_EXPECT];
  size_t nexp;
} parser;

static ql_token *cur(parser *p) {
  return &p->t[p->i];
}

static void expect_note(parser *p, const char *what) {
  if (p->exp_at != p->i) {
    p->exp_at = p->i;
    p->nexp = 0;
  }
  for (size_t k = 0; k < p->nexp; k++)
    if (!strcmp(p->exp[k], what)) return;
  if (p->nexp < QL_MAX_EXPECT)
    p->exp[p->nexp++] = what;
  else
    p->nexp = QL_MAX_EXPECT + 1; /* too many to list */
}

/* The error at the current token, in ksqlDB's three shapes. */
static void fail_here(parser *p) {
  if (p->failed) return;
  p->failed = 1;
  ql_token *t = cur(p);
  if (t->kind == QL_TK_EOF && p->depth > 0) {
    ql_syntax_error(p->err, t->line, t->col,
                    "Syntax error at or near \";\"\n'}', ']', or ')' is missing");
    return;
  }
  if (p->exp_at == p->i && p->nexp >= 1 && p->nexp <= 3) {
    char buf[256];
    size_t off = 0;
    if (p->nexp == 1) {
      snprintf(buf, sizeof buf, "%s", p->exp[0]);
    } else {
      off += (size_t)snprintf(buf + off, sizeof buf - off, "{");
      for (size_t k = 0; k < p->nexp; k++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", k ? ", " : "", p->exp[k]);
      snprintf(buf + off, sizeof buf - off, "}");
    }
    ql_syntax_error(p->err, t->line, t->col, "Expecting %s", buf);
    return;
  }
  ql_syntax_error(p->err, t->line, t->col, "Syntax error at or near '%.*s' at line %d:%d",
                  t->kind == QL_TK_EOF ? 5 : (int)t->length,
                  t->kind == QL_TK_EOF ? "<EOF>" : t->src, t->line, t->col);
}

static void fail_msg(parser *p, ql_token *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_msg(parser *p, ql_token *t, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = 1;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ql_syntax_error(p->err, t->line, t->col, "%s", buf);
}

static int is_kw(ql_token *t, const char *kw) {
  return t->kind == QL_TK_IDENT && !strcmp(t->value, kw);
}
static int is_op(ql_token *t, const char *op) {
  return t->kind == QL_TK_OP && !strcmp(t->value, op);
}

/* accept_*: consume when it matches, else note it as expected here. */
static int accept_kw(parser *p, const char *kw, const char *shown) {
  if (is_kw(cur(p), kw)) {
    p->i++;
    return 1;
  }
  expect_note(p, shown);
  return 0;
}
static int accept_op(parser *p, const char *op, const char *shown) {
  if (is_op(cur(p), op)) {
    p->i++;
    return 1;
  }
  expect_note(p, shown);
  return 0;
}
static int expect_kw(parser *p, const char *kw, const char *shown) {
  if (accept_kw(p, kw, shown)) return 1;
  fail_here(p);
  return 0;
}
static int expect_op(parser *p, const char *op, const char *shown) {
  if (accept_op(p, op, shown)) return 1;
  fail_here(p);
  return 0;
}

/* Words that end a clause, so they are never taken as an implicit alias or identifier. */
static const char *const reserved_words[] = {
    "SELECT",  "FROM",  "WHERE", "WINDOW", "GROUP", "BY",   "HAVING", "EMIT", "LIMIT",
    "AS",      "AND",   "OR",    "NOT",    "IN",    "IS",   "NULL",   "LIKE", "BETWEEN",
    "CASE",    "WHEN",  "THEN",  "ELSE",   "END",   "TRUE", "FALSE",  "CAST", "PARTITION",
    "CHANGES", "FINAL", "JOIN",  "ON",     "WITH",  NULL};

static int is_reserved(const char *upper) {
  for (int k = 0; reserved_words[k]; k++)
    if (!strcmp(reserved_words[k], upper)) return 1;
  return 0;
}

/* An identifier: unquoted (not reserved) or quoted. */
static char *parse_identifier(parser *p, const char *shown) {
  ql_token *t = cur(p);
  if (t->kind == QL_TK_QIDENT || (t->kind == QL_TK_IDENT && !is_reserved(t->value))) {
    p->i++;
    return t->value;
  }
  if (t->kind == QL_TK_IDENT && is_reserved(t->value)) {
    fail_msg(p, t,
             "\"%s\" is a reserved keyword and it can't be used as an identifier. You can use "
             "it as an identifier by escaping it as `%s`",
             t->value, t->value);
    return NULL;
  }
  expect_note(p, shown);
  fail_here(p);
  return NULL;
}

/* Marks the parse failed for memory, so ql_parse does not report it as a syntax error. */
static void *out_of_memory(parser *p) {
  p->failed = 1;
  ql_set_error(p->err, 50000, "out of memory");
  return NULL;
}

/* Makes room for element n of an arena array that doubles as it fills. */
static void *room_for(parser *p, void *arr, size_t n, size_t *cap, size_t elem) {
  if (n < *cap) return arr;
  size_t grown = *cap ? *cap * 2 : 8;
  void *na = ql_arena_alloc(p->a, grown * elem);
  if (!na) return out_of_memory(p);
  if (n) memcpy(na, arr, n * elem);
  *cap = grown;
  return na;
}

static ql_expr *new_expr(parser *p, ql_op op, ql_token *at) {
  ql_expr *e = ql_arena_alloc(p->a, sizeof *e);
  if (!e) return out_of_memory(p);
  e->op = op;
  e->line = at->line;
  e->col = at->col;
  return e;
}

/* Arguments grow by doubling: the capacity is the power of two at or above nargs (only the
 * parser adds arguments), so a long IN list or CASE costs linear time and memory. */
static int add_arg(parser *p, ql_expr *e, ql_expr *arg) {
  if (e->nargs == 0 || (e->nargs & (e->nargs - 1)) == 0) {
    size_t cap = e->nargs ? e->nargs * 2 : 2;
    ql_expr **na = ql_arena_alloc(p->a, cap * sizeof *na);
    if (!na) return out_of_memory(p) != NULL;
    if (e->nargs) memcpy(na, e->args, e->nargs * sizeof *na);
    e->args = na;
  }
  e->args[e->nargs++] = arg;
  return 1;
}

/* Records the source text an expression spans (tokens from..i-1), for messages. Every
 * infix node spans from its chain's start, so a whole copy each would be quadratic in a
 * long `a + b + c ...`: past QL_TEXT_MAX bytes the text is cut (at a character boundary)
 * and ends in "...". */
static void set_text(parser *p, ql_expr *e, size_t from) {
  if (!e || p->i == 0 || from >= p->i) return;
  ql_token *a = &p->t[from], *b = &p->t[p->i - 1];
  size_t n = b->offset + b->length - a->offset;
  if (n <= QL_TEXT_MAX) {
    e->text = ql_arena_strndup(p->a, a->src, n);
    return;
  }
  n = QL_TEXT_MAX;
  while (n > 0 && ((unsigned char)a->src[n] & 0xC0) == 0x80) n--;
  if ((e->text = ql_arena_alloc(p->a, n + 4))) {
    memcpy(e->text, a->src, n);
    memcpy(e->text + n, "...", 4);
  }
}

static ql_expr *parse_expr(parser *p);

static int parse_type(parser *p, ql_type *out) {
  ql_token *t = cur(p);
  if (t->kind == QL_TK_IDENT) {
    static const struct {
      const char *name;
      ql_type type;
    } types[] = {{"BOOLEAN", QL_T_BOOLEAN}, {"INT", QL_T_INTEGER},
                 {"INTEGER", QL_T_INTEGER}, {"BIGINT", QL_T_BIGINT},
                 {"DOUBLE", QL_T_DOUBLE},   {"STRING", QL_T_STRING},
                 {"VARCHAR", QL_T_STRING},  {"TIMESTAMP", QL_T_TIMESTAMP}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
      if (!strcmp(t->value, types[k].name)) {
        p->i++;
        *out = types[k].type;
        return 1;
      }
    static const char *const unsupported[] = {"DECIMAL", "ARRAY", "MAP",  "STRUCT",
                                              "BYTES",   "DATE",  "TIME", NULL};
    for (int k = 0; unsupported[k]; k++)
      if (!strcmp(t->value, unsupported[k])) {
        fail_msg(p, t,
                 "Type %s is not supported by sensord's query engine (supported: BOOLEAN, "
                 "INTEGER, BIGINT, DOUBLE, STRING, VARCHAR, TIMESTAMP)",
                 t->value);
        return 0;
      }
    fail_msg(p, t, "Unknown type: %s", t->value);
    return 0;
  }
  expect_note(p, "a type");
  fail_here(p);
  return 0;
}

static ql_expr *parse_literal_number(parser *p, ql_token *t, int negative) {
  ql_expr *e = new_expr(p, QL_E_LIT, t);
  if (!e) return NULL;
  errno = 0;
  if (t->kind == QL_TK_INT) {
    char *end;
    unsigned long long u = strtoull(t->value, &end, 10);
    if (errno ||
        u > (negative ? (unsigned long long)INT64_MAX + 1ull : (unsigned long long)INT64_MAX)) {
      fail_msg(p, t, "Invalid numeric literal: %s%s", negative ? "-" : "", t->value);
      return NULL;
    }
    int64_t v = negative ? (int64_t)(0ull - u) : (int64_t)u;
    e->lit.type = SD_INT;
    e->lit.as.i = v;
    e->lit_type = (v >= INT32_MIN && v <= INT32_MAX) ? QL_T_INTEGER : QL_T_BIGINT;
  } else {
    double d = strtod(t->value, NULL);
    e->lit.type = SD_DOUBLE;
    e->lit.as.d = negative ? -d : d;
    e->lit_type = QL_T_DOUBLE;
  }
  return e;
}

static ql_expr *parse_case(parser *p, ql_token *start) {
  ql_expr *e = new_expr(p, QL_E_CASE, start);
  if (!e) return NULL;
  if (!is_kw(cur(p), "WHEN")) {
    ql_expr *operand = parse_expr(p);
    if (!operand || !add_arg(p, e, operand)) return NULL;
    e->has_operand = 1;
  }
  int whens = 0;
  while (accept_kw(p, "WHEN", "'WHEN'")) {
    ql_expr *w = parse_expr(p);
    if (!w || !expect_kw(p, "THEN", "'THEN'")) return NULL;
    ql_expr *th = parse_expr(p);
    if (!th || !add_arg(p, e, w) || !add_arg(p, e, th)) return NULL;
    whens++;
  }
  if (!whens) {
    fail_here(p);
    return NULL;
  }
  if (accept_kw(p, "ELSE", "'ELSE'")) {
    ql_expr *el = parse_expr(p);
    if (!el || !add_arg(p, e, el)) return NULL;
    e->has_else = 1;
  }
  if (!expect_kw(p, "END", "'END'")) return NULL;
  return e;
}

static ql_expr *parse_primary(parser *p) {
  ql_token *t = cur(p);
  size_t from = p->i;
  ql_expr *e = NULL;
  if (t->kind == QL_TK_INT || t->kind == QL_TK_DECIMAL) {
    p->i++;
    e = parse_literal_number(p, t, 0);
  } else if (t->kind == QL_TK_STRING) {
    p->i++;
    if (!(e = new_expr(p, QL_E_LIT, t))) return NULL;
    e->lit.type = SD_STRING;
    e->lit.as.s.ptr = t->value;
    e->lit.as.s.len = strlen(t->value);
    e->lit_type = QL_T_STRING;
  } else if (is_op(t, "(")) {
    p->i++;
    p->depth++;
    e = parse_expr(p);
    if (!e || !expect_op(p, ")", "')'")) return NULL;
    p->depth--;
    return e;
  } else if (t->kind == QL_TK_IDENT && (is_kw(t, "TRUE") || is_kw(t, "FALSE"))) {
    p->i++;
    if (!(e = new_expr(p, QL_E_LIT, t))) return NULL;
    e->lit.type = SD_BOOL;
    e->lit.as.i = is_kw(t, "TRUE");
    e->lit_type = QL_T_BOOLEAN;
  } else if (is_kw(t, "NULL")) {
    p->i++;
    if (!(e = new_expr(p, QL_E_LIT, t))) return NULL;
    e->lit.type = SD_NULL;
    e->lit_type = QL_T_NULL;
  } else if (is_kw(t, "CASE")) {
    p->i++;
    e = parse_case(p, t);
  } else if (is_kw(t, "CAST")) {
    p->i++;
    if (!expect_op(p, "(", "'('")) return NULL;
    p->depth++;
    if (!(e = new_expr(p, QL_E_CAST, t))) return NULL;
    ql_expr *arg = parse_expr(p);
    if (!arg || !add_arg(p, e, arg) || !expect_kw(p, "AS", "'AS'") ||
        !parse_type(p, &e->cast_to) || !expect_op(p, ")", "')'"))
      return NULL;
    p->depth--;
  } else if (t->kind == QL_TK_QIDENT || (t->kind == QL_TK_IDENT && !is_reserved(t->value))) {
    p->i++;
    if (is_op(cur(p), "(") && t->kind == QL_TK_IDENT) {
      p->i++;
      p->depth++;
      if (!(e = new_expr(p, QL_E_CALL, t))) return NULL;
      e->name = t->value;
      if (is_op(cur(p), "*")) {
        ql_expr *star = new_expr(p, QL_E_STAR, cur(p));
        p->i++;
        if (!star || !add_arg(p, e, star)) return NULL;
      } else if (!is_op(cur(p), ")")) {
        do {
          ql_expr *arg = parse_expr(p);
          if (!arg || !add_arg(p, e, arg)) return NULL;
        } while (accept_op(p, ",", "','"));
      }
      if (!expect_op(p, ")", "')'")) return NULL;
      p->depth--;
    } else {
      if (!(e = new_expr(p, QL_E_COL, t))) return NULL;
      e->name = t->value;
      if (is_op(cur(p), ".")) { /* source.column: qualifier checked by the planner */
        p->i++;
        ql_token *c = cur(p);
        char *col = parse_identifier(p, "an identifier");
        if (!col) return NULL;
        ql_expr *q = new_expr(p, QL_E_LIT, t); /* holds the qualifier */
        if (!q) return NULL;
        q->name = e->name;
        if (!add_arg(p, e, q)) return NULL;
        e->name = col;
        (void)c;
      }
    }
  } else {
    expect_note(p, "an expression");
    fail_here(p);
    return NULL;
  }
  set_text(p, e, from);
  return e;
}

/* Every recursive expression path counts depth here, and so does each operator of a chain
 * (`a AND b AND c` is a tree as deep as it is long, walked recursively by the planner and
 * the evaluator): hostile input cannot blow the stack of any of them. */
static int enter_nested(parser *p, ql_token *at) {
  if (++p->nest <= QL_MAX_DEPTH) return 1;
  fail_msg(p, at,
           "Expression nested too deeply: at most %d levels of parentheses, function calls "
           "and operators in a row",
           QL_MAX_DEPTH);
  return 0;
}

static ql_expr *parse_unary(parser *p) {
  ql_token *t = cur(p);
  if (is_op(t, "-") || is_op(t, "+")) {
    size_t from = p->i;
    p->i++;
    ql_token *n = cur(p);
    if (is_op(t, "-") && (n->kind == QL_TK_INT || n->kind == QL_TK_DECIMAL)) {
      p->i++;
      ql_expr *e = parse_literal_number(p, n, 1);
      set_text(p, e, from);
      return e;
    }
    if (!enter_nested(p, t)) return NULL;
    ql_expr *inner = parse_unary(p);
    p->nest--;
    if (!inner || is_op(t, "+")) return inner;
    ql_expr *e = new_expr(p, QL_E_NEG, t);
    if (!e || !add_arg(p, e, inner)) return NULL;
    set_text(p, e, from);
    return e;
  }
  return parse_primary(p);
}

/* An infix node is reported at its left operand, and its text spans from there. */
static ql_expr *infix_done(parser *p, ql_expr *e, const ql_expr *l, size_t from) {
  e->line = l->line;
  e->col = l->col;
  set_text(p, e, from);
  return e;
}

static ql_expr *binary(parser *p, ql_op op, ql_token *at, ql_expr *l, ql_expr *r, size_t from) {
  ql_expr *e = new_expr(p, op, at);
  if (!e || !add_arg(p, e, l) || !add_arg(p, e, r)) return NULL;
  return infix_done(p, e, l, from);
}

/* One left-associative binary precedence level: operands from the next tighter level,
 * joined by any of this level's operators (symbols, or keywords such as AND). */
typedef struct {
  const char *text;
  int keyword;
  ql_op op;
} binary_op;

typedef struct {
  ql_expr *(*operand)(parser *p);
  binary_op ops[3];
} binary_level;

static const binary_op *level_match(const binary_level *lv, ql_token *t) {
  for (size_t k = 0; k < sizeof lv->ops / sizeof lv->ops[0] && lv->ops[k].text; k++)
    if (lv->ops[k].keyword ? is_kw(t, lv->ops[k].text) : is_op(t, lv->ops[k].text))
      return &lv->ops[k];
  return NULL;
}

static ql_expr *parse_level(parser *p, const binary_level *lv) {
  size_t from = p->i;
  int nest = p->nest;
  ql_expr *l = lv->operand(p);
  while (l) {
    ql_token *t = cur(p);
    const binary_op *o = level_match(lv, t);
    if (!o) break;
    p->i++;
    if (!enter_nested(p, t)) return NULL; /* the tree gets one level deeper */
    ql_expr *r = lv->operand(p);
    if (!r) return NULL;
    l = binary(p, o->op, t, l, r, from);
  }
  p->nest = nest;
  return l;
}

static const binary_level mul_level = {
    parse_unary, {{"*", 0, QL_E_MUL}, {"/", 0, QL_E_DIV}, {"%", 0, QL_E_MOD}}};
static ql_expr *parse_mul(parser *p) {
  return parse_level(p, &mul_level);
}

static const binary_level add_level = {parse_mul, {{"+", 0, QL_E_ADD}, {"-", 0, QL_E_SUB}}};
static ql_expr *parse_add(parser *p) {
  return parse_level(p, &add_level);
}

static ql_expr *parse_predicate(parser *p) {
  size_t from = p->i;
  ql_expr *l = parse_add(p);
  if (!l) return NULL;
  ql_token *t = cur(p);
  static const struct {
    const char *op;
    ql_op code;
  } cmps[] = {{"=", QL_E_EQ},  {"<>", QL_E_NE}, {"!=", QL_E_NE}, {"<", QL_E_LT},
              {"<=", QL_E_LE}, {">", QL_E_GT},  {">=", QL_E_GE}};
  for (size_t k = 0; k < sizeof cmps / sizeof cmps[0]; k++)
    if (is_op(t, cmps[k].op)) {
      p->i++;
      ql_expr *r = parse_add(p);
      if (!r) return NULL;
      return binary(p, cmps[k].code, t, l, r, from);
    }
  if (is_kw(t, "IS")) {
    p->i++;
    ql_expr *e = new_expr(p, QL_E_IS_NULL, t);
    if (!e) return NULL;
    e->negated = accept_kw(p, "NOT", "'NOT'");
    if (!expect_kw(p, "NULL", "'NULL'") || !add_arg(p, e, l)) return NULL;
    return infix_done(p, e, l, from);
  }
  int negated = 0;
  if (is_kw(t, "NOT") && (is_kw(&p->t[p->i + 1], "IN") || is_kw(&p->t[p->i + 1], "LIKE") ||
                          is_kw(&p->t[p->i + 1], "BETWEEN"))) {
    negated = 1;
    p->i++;
    t = cur(p);
  }
  if (is_kw(t, "IN")) {
    p->i++;
    ql_expr *e = new_expr(p, QL_E_IN, t);
    if (!e || !add_arg(p, e, l) || !expect_op(p, "(", "'('")) return NULL;
    p->depth++;
    do {
      ql_expr *v = parse_expr(p);
      if (!v || !add_arg(p, e, v)) return NULL;
    } while (accept_op(p, ",", "','"));
    if (!expect_op(p, ")", "')'")) return NULL;
    p->depth--;
    e->negated = negated;
    return infix_done(p, e, l, from);
  }
  if (is_kw(t, "BETWEEN")) {
    p->i++;
    ql_expr *e = new_expr(p, QL_E_BETWEEN, t);
    ql_expr *lo = e ? parse_add(p) : NULL;
    if (!lo || !expect_kw(p, "AND", "'AND'")) return NULL;
    ql_expr *hi = parse_add(p);
    if (!hi || !add_arg(p, e, l) || !add_arg(p, e, lo) || !add_arg(p, e, hi)) return NULL;
    e->negated = negated;
    return infix_done(p, e, l, from);
  }
  if (is_kw(t, "LIKE")) {
    p->i++;
    ql_expr *r = parse_add(p);
    if (!r) return NULL;
    ql_expr *e = binary(p, QL_E_LIKE, t, l, r, from);
    if (e) e->negated = negated;
    return e;
  }
  if (negated) {
    fail_here(p);
    return NULL;
  }
  return l;
}

static ql_expr *parse_not(parser *p) {
  ql_token *t = cur(p);
  if (is_kw(t, "NOT")) {
    size_t from = p->i;
    p->i++;
    if (!enter_nested(p, t)) return NULL;
    ql_expr *inner = parse_not(p);
    p->nest--;
    ql_expr *e = inner ? new_expr(p, QL_E_NOT, t) : NULL;
    if (!e || !add_arg(p, e, inner)) return NULL;
    set_text(p, e, from);
    return e;
  }
  return parse_predicate(p);
}

static const binary_level and_level = {parse_not, {{"AND", 1, QL_E_AND}}};
static ql_expr *parse_and(parser *p) {
  return parse_level(p, &and_level);
}

static const binary_level or_level = {parse_and, {{"OR", 1, QL_E_OR}}};

static ql_expr *parse_expr(parser *p) {
  if (!enter_nested(p, cur(p))) return NULL;
  ql_expr *e = parse_level(p, &or_level);
  p->nest--;
  return e;
}

/* "5 SECONDS" -> ms */
static int parse_duration(parser *p, int64_t *out_ms) {
  ql_token *n = cur(p);
  if (n->kind != QL_TK_INT) {
    expect_note(p, "a number");
    fail_here(p);
    return 0;
  }
  p->i++;
  ql_token *u = cur(p);
  static const struct {
    const char *name;
    int64_t ms;
  } units[] = {{"MILLISECOND", 1}, {"MILLISECONDS", 1}, {"SECOND", 1000},  {"SECONDS", 1000},
               {"MINUTE", 60000},  {"MINUTES", 60000},  {"HOUR", 3600000}, {"HOURS", 3600000},
               {"DAY", 86400000},  {"DAYS", 86400000}};
  for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
    if (is_kw(u, units[k].name)) {
      p->i++;
      long long v = strtoll(n->value, NULL, 10);
      if (v <= 0 || v > INT64_MAX / units[k].ms / 1000000) {
        fail_msg(p, n, "Invalid window duration: %s %s", n->value, u->value);
        return 0;
      }
      *out_ms = v * units[k].ms;
      return 1;
    }
  expect_note(p, "a time unit");
  fail_here(p);
  return 0;
}

static int parse_window(parser *p, ql_stmt *s) {
  ql_token *kind = cur(p);
  if (accept_kw(p, "TUMBLING", "'TUMBLING'"))
    s->window.kind = QL_W_TUMBLING;
  else if (accept_kw(p, "HOPPING", "'HOPPING'"))
    s->window.kind = QL_W_HOPPING;
  else {
    if (is_kw(kind, "SESSION")) {
      fail_msg(p, kind, "SESSION windows are not supported by sensord's query engine");
      return 0;
    }
    fail_here(p);
    return 0;
  }
  if (!expect_op(p, "(", "'('")) return 0;
  p->depth++;
  if (!expect_kw(p, "SIZE", "'SIZE'") || !parse_duration(p, &s->window.size_ms)) return 0;
  s->window.advance_ms = s->window.size_ms;
  if (s->window.kind == QL_W_HOPPING) {
    if (!expect_op(p, ",", "','") || !expect_kw(p, "ADVANCE", "'ADVANCE'") ||
        !expect_kw(p, "BY", "'BY'") || !parse_duration(p, &s->window.advance_ms))
      return 0;
  }
  while (accept_op(p, ",", "','")) {
    if (accept_kw(p, "RETENTION", "'RETENTION'")) {
      int64_t ignored;
      if (!parse_duration(p, &ignored)) return 0;
    } else if (accept_kw(p, "GRACE", "'GRACE'")) {
      if (!expect_kw(p, "PERIOD", "'PERIOD'") || !parse_duration(p, &s->window.grace_ms))
        return 0;
      s->window.has_grace = 1;
    } else {
      fail_here(p);
      return 0;
    }
  }
  if (!expect_op(p, ")", "')'")) return 0;
  p->depth--;
  return 1;
}

/* An optional alias: `AS name`, or a bare name that is not a reserved word. */
static int parse_alias(parser *p, char **out) {
  if (accept_kw(p, "AS", "'AS'")) return (*out = parse_identifier(p, "an identifier")) != NULL;
  ql_token *t = cur(p);
  if (t->kind == QL_TK_QIDENT || (t->kind == QL_TK_IDENT && !is_reserved(t->value))) {
    *out = t->value;
    p->i++;
  }
  return 1;
}

static int parse_select(parser *p, ql_stmt *s) {
  s->kind = QL_S_SELECT;
  s->limit = -1;
  size_t cap = 0;
  do {
    if (!(s->items = room_for(p, s->items, s->nitems, &cap, sizeof *s->items))) return 0;
    ql_select_item *it = &s->items[s->nitems];
    if (is_op(cur(p), "*")) {
      p->i++;
      it->star = 1;
    } else {
      if (!(it->expr = parse_expr(p))) return 0;
      if (!parse_alias(p, &it->alias)) return 0;
    }
    s->nitems++;
  } while (accept_op(p, ",", "','"));
  if (!expect_kw(p, "FROM", "'FROM'")) return 0;
  s->from_line = cur(p)->line;
  s->from_col = cur(p)->col;
  if (!(s->from = parse_identifier(p, "an identifier"))) return 0;
  if (!parse_alias(p, &s->name)) return 0; /* source alias */
  if (is_kw(cur(p), "JOIN") || is_kw(cur(p), "INNER") || is_kw(cur(p), "LEFT")) {
    fail_msg(p, cur(p), "Joins are not supported by sensord's query engine");
    return 0;
  }
  if (accept_kw(p, "WINDOW", "'WINDOW'") && !parse_window(p, s)) return 0;
  if (accept_kw(p, "WHERE", "'WHERE'") && !(s->where = parse_expr(p))) return 0;
  if (accept_kw(p, "GROUP", "'GROUP'")) {
    if (!expect_kw(p, "BY", "'BY'")) return 0;
    size_t gcap = 0;
    do {
      if (s->ngroup == QL_MAX_GROUP_BY) {
        fail_msg(p, cur(p), "GROUP BY may list at most %d expressions", QL_MAX_GROUP_BY);
        return 0;
      }
      if (!(s->group_by = room_for(p, s->group_by, s->ngroup, &gcap, sizeof *s->group_by)))
        return 0;
      if (!(s->group_by[s->ngroup++] = parse_expr(p))) return 0;
    } while (accept_op(p, ",", "','"));
  }
  if (is_kw(cur(p), "PARTITION")) {
    fail_msg(p, cur(p), "PARTITION BY is not supported by sensord's query engine");
    return 0;
  }
  if (accept_kw(p, "HAVING", "'HAVING'") && !(s->having = parse_expr(p))) return 0;
  if (accept_kw(p, "EMIT", "'EMIT'")) {
    if (is_kw(cur(p), "FINAL")) {
      fail_msg(p, cur(p), "EMIT FINAL is not supported by sensord's query engine");
      return 0;
    }
    if (!expect_kw(p, "CHANGES", "'CHANGES'")) return 0;
    s->emit_changes = 1;
  }
  if (accept_kw(p, "LIMIT", "'LIMIT'")) {
    ql_token *n = cur(p);
    if (n->kind != QL_TK_INT) {
      expect_note(p, "a number");
      fail_here(p);
      return 0;
    }
    p->i++;
    errno = 0;
    long long v = strtoll(n->value, NULL, 10);
    if (errno || v > INT32_MAX) {
      fail_msg(p, n, "Invalid LIMIT: %s", n->value);
      return 0;
    }
    s->limit = v;
  }
  return 1;
}

static int parse_with_props(parser *p, ql_stmt *s) {
  if (!expect_op(p, "(", "'('")) return 0;
  p->depth++;
  do {
    ql_token *k = cur(p);
    if (k->kind != QL_TK_IDENT && k->kind != QL_TK_QIDENT) {
      expect_note(p, "a property name");
      fail_here(p);
      return 0;
    }
    p->i++;
    if (!expect_op(p, "=", "'='")) return 0;
    ql_token *v = cur(p);
    if (v->kind != QL_TK_STRING && v->kind != QL_TK_INT) {
      expect_note(p, "a literal");
      fail_here(p);
      return 0;
    }
    p->i++;
    if (!strcmp(k->value, "KAFKA_TOPIC"))
      s->topic = v->value;
    else if (!strcmp(k->value, "VALUE_FORMAT") || !strcmp(k->value, "FORMAT")) {
      s->value_format = ql_arena_strndup(p->a, v->value, strlen(v->value));
      for (char *c = s->value_format; c && *c; c++) *c = (char)toupper((unsigned char)*c);
    } else if (!strcmp(k->value, "KEY_FORMAT")) {
      s->key_format = ql_arena_strndup(p->a, v->value, strlen(v->value));
      for (char *c = s->key_format; c && *c; c++) *c = (char)toupper((unsigned char)*c);
    } else if (!strcmp(k->value, "PARTITIONS"))
      s->partitions = atoi(v->value);
    else if (!strcmp(k->value, "REPLICAS") || !strcmp(k->value, "RETENTION_MS") ||
             !strcmp(k->value, "VALUE_DELIMITER") || !strcmp(k->value, "WRAP_SINGLE_VALUE")) {
      /* Kafka-side settings: accepted for compatibility, meaningless in process. */
    } else {
      fail_msg(p, k, "Invalid config variable(s) in the WITH clause: %s", k->value);
      p->err->code = 40001;
      return 0;
    }
  } while (accept_op(p, ",", "','"));
  if (!expect_op(p, ")", "')'")) return 0;
  p->depth--;
  return 1;
}

static int parse_create(parser *p, ql_stmt *s) {
  if (accept_kw(p, "OR", "'OR'")) {
    fail_msg(p, cur(p), "CREATE OR REPLACE is not supported by sensord's query engine");
    return 0;
  }
  if (is_kw(cur(p), "TABLE")) {
    fail_msg(p, cur(p),
             "Tables are not supported by sensord's query engine: use CREATE STREAM");
    return 0;
  }
  if (!expect_kw(p, "STREAM", "'STREAM'")) return 0;
  s->kind = QL_S_CREATE_STREAM;
  if (accept_kw(p, "IF", "'IF'")) {
    if (!expect_kw(p, "NOT", "'NOT'") || !expect_kw(p, "EXISTS", "'EXISTS'")) return 0;
    s->if_not_exists = 1;
  }
  if (!(s->name = parse_identifier(p, "an identifier"))) return 0;
  if (is_kw(cur(p), "AS")) {
    fail_msg(p, cur(p), "CREATE STREAM AS SELECT is not supported by sensord's query engine");
    return 0;
  }
  if (!expect_op(p, "(", "'('")) return 0;
  p->depth++;
  size_t cap = 0;
  do {
    ql_token *at = cur(p);
    if (s->ncols == QL_MAX_COLUMNS) {
      fail_msg(p, at, "A stream may have at most %d columns", QL_MAX_COLUMNS);
      return 0;
    }
    if (!(s->cols = room_for(p, s->cols, s->ncols, &cap, sizeof *s->cols))) return 0;
    ql_column_def *c = &s->cols[s->ncols];
    if (!(c->name = parse_identifier(p, "an identifier"))) return 0;
    if (!parse_type(p, &c->type)) return 0;
    if (accept_kw(p, "KEY", "'KEY'")) c->is_key = 1;
    for (size_t k = 0; k < s->ncols; k++)
      if (!strcmp(s->cols[k].name, c->name)) {
        fail_msg(p, at, "Duplicate column names: %s", c->name);
        return 0;
      }
    if (!strcmp(c->name, "ROWTIME") || !strcmp(c->name, "WINDOWSTART") ||
        !strcmp(c->name, "WINDOWEND")) {
      fail_msg(p, at, "'%s' is a reserved column name.", c->name);
      return 0;
    }
    s->ncols++;
  } while (accept_op(p, ",", "','"));
  if (!expect_op(p, ")", "')'")) return 0;
  p->depth--;
  if (!expect_kw(p, "WITH", "'WITH'")) return 0;
  return parse_with_props(p, s);
}

/* Statement keywords, for "Did you mean" on a typo. */
static const char *const commands[] = {"SELECT",   "CREATE",    "DROP",   "SHOW",     "LIST",
                                       "DESCRIBE", "TERMINATE", "INSERT", "PRINT",    "EXPLAIN",
                                       "SET",      "UNSET",     "DEFINE", "UNDEFINE", "PAUSE",
                                       "RESUME",   "ALTER",     "ASSERT", "RUN",      NULL};

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 31 || lb > 31) return 99;
  size_t d[32][32];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

static int parse_statement(parser *p, ql_stmt *s) {
  ql_token *t = cur(p);
  s->line = t->line;
  s->col = t->col;
  if (accept_kw(p, "SELECT", "'SELECT'")) return parse_select(p, s);
  if (accept_kw(p, "CREATE", "'CREATE'")) return parse_create(p, s);
  if (accept_kw(p, "DROP", "'DROP'")) {
    if (is_kw(cur(p), "TABLE")) {
      fail_msg(p, cur(p), "Tables are not supported by sensord's query engine");
      return 0;
    }
    if (!expect_kw(p, "STREAM", "'STREAM'")) return 0;
    s->kind = QL_S_DROP_STREAM;
    if (accept_kw(p, "IF", "'IF'")) {
      if (!expect_kw(p, "EXISTS", "'EXISTS'")) return 0;
      s->if_exists = 1;
    }
    if (!(s->name = parse_identifier(p, "an identifier"))) return 0;
    if (accept_kw(p, "DELETE", "'DELETE'") && !expect_kw(p, "TOPIC", "'TOPIC'")) return 0;
    return 1;
  }
  if (accept_kw(p, "SHOW", "'SHOW'") || accept_kw(p, "LIST", "'LIST'")) {
    if (accept_kw(p, "STREAMS", "'STREAMS'"))
      s->kind = QL_S_SHOW_STREAMS;
    else if (accept_kw(p, "TABLES", "'TABLES'"))
      s->kind = QL_S_SHOW_TABLES;
    else if (accept_kw(p, "QUERIES", "'QUERIES'"))
      s->kind = QL_S_SHOW_QUERIES;
    else {
      fail_here(p);
      return 0;
    }
    if (accept_kw(p, "EXTENDED", "'EXTENDED'")) s->extended = 1;
    return 1;
  }
  if (accept_kw(p, "DESCRIBE", "'DESCRIBE'")) {
    if (accept_kw(p, "EXTENDED", "'EXTENDED'")) s->extended = 1;
    if (accept_kw(p, "STREAMS", "'STREAMS'")) {
      s->kind = QL_S_DESCRIBE_STREAMS;
      if (accept_kw(p, "EXTENDED", "'EXTENDED'")) s->extended = 1;
      return 1;
    }
    s->kind = QL_S_DESCRIBE;
    s->from_line = cur(p)->line;
    s->from_col = cur(p)->col;
    return (s->name = parse_identifier(p, "an identifier")) != NULL;
  }
  if (accept_kw(p, "TERMINATE", "'TERMINATE'")) {
    s->kind = QL_S_TERMINATE;
    ql_token *id = cur(p);
    if (id->kind != QL_TK_IDENT && id->kind != QL_TK_QIDENT) {
      expect_note(p, "a query id");
      fail_here(p);
      return 0;
    }
    p->i++;
    /* Query ids are matched case-insensitively, so keep the text as written. */
    s->name = id->kind == QL_TK_IDENT ? ql_arena_strndup(p->a, id->src, id->length) : id->value;
    return 1;
  }
  if (t->kind == QL_TK_IDENT) {
    const char *best = NULL;
    size_t bestd = 99;
    for (int k = 0; commands[k]; k++) {
      size_t d = edit_distance(t->value, commands[k]);
      if (d < bestd) {
        bestd = d;
        best = commands[k];
      }
    }
    int known = bestd == 0;
    if (!known) {
      p->failed = 1;
      ql_syntax_error(p->err, t->line, t->col, "Unknown statement '%.*s'\nDid you mean '%s'?",
                      (int)t->length, t->src, best);
      return 0;
    }
    fail_msg(p, t, "%s statements are not supported by sensord's query engine", t->value);
    return 0;
  }
  fail_here(p);
  return 0;
}

ql_stmt *ql_parse(ql_arena *a, const char *sql, ql_error *err) {
  ql_token *toks;
  size_t n;
  if (err) {
    err->code = 0;
    err->message[0] = 0;
  }
  if (ql_lex(a, sql, &toks, &n, err)) return NULL;
  parser p = {.a = a, .sql = sql, .t = toks, .n = n, .err = err, .exp_at = (size_t)-1};
  ql_stmt *first = NULL, **tail = &first;
  while (cur(&p)->kind != QL_TK_EOF) {
    if (is_op(cur(&p), ";")) { /* empty statement */
      p.i++;
      continue;
    }
    ql_stmt *s = ql_arena_alloc(a, sizeof *s);
    if (!s) {
      ql_set_error(err, 50000, "out of memory");
      return NULL;
    }
    size_t start = p.i;
    p.depth = 0;
    if (!parse_statement(&p, s)) {
      if (!p.failed) fail_here(&p);
      return NULL;
    }
    if (!accept_op(&p, ";", "';'")) {
      if (cur(&p)->kind != QL_TK_EOF) {
        fail_here(&p);
        return NULL;
      }
    }
    ql_token *b = &toks[start], *e = &toks[p.i - 1];
    size_t len = e->offset + e->length - b->offset;
    int has_semi = is_op(e, ";");
    s->text = ql_arena_alloc(a, len + 2);
    if (!s->text) {
      ql_set_error(err, 50000, "out of memory");
      return NULL;
    }
    memcpy(s->text, b->src, len);
    if (!has_semi) s->text[len++] = ';';
    s->text[len] = 0;
    *tail = s;
    tail = &s->next;
  }
  return first;
}
