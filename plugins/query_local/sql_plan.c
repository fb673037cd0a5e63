/* Plans a SELECT against a stream once, so rows never look anything up: column names to
 * indexes, types checked and result types fixed, aggregates and GROUP BY keys turned into
 * slot references, output names (alias, column, KSQL_COL_n) and ksqlDB type names. */
#include "ql_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct planner {
  ql_arena *a;
  ql_stmt *s;
  const ql_stream *st;
  ql_error *err;
  const char *clause; /* "SELECT", "WHERE", "GROUP BY", "HAVING" */
  int allow_agg, in_agg, windowed;
  ql_plan *plan;
} planner;

#define LOC_FMT "Line: %d, Col: %d: "

static int perr(planner *p, const ql_expr *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(planner *p, const ql_expr *at, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (at)
    ql_set_error(p->err, 40001, LOC_FMT "%s", at->line, at->col, msg);
  else
    ql_set_error(p->err, 40001, "%s", msg);
  return -1;
}

static const char *txt(const ql_expr *e) {
  return e->text ? e->text : e->name ? e->name : "?";
}

static const char *op_name(ql_op op) {
  switch (op) {
  case QL_E_EQ:
    return "EQUAL";
  case QL_E_NE:
    return "NOT_EQUAL";
  case QL_E_LT:
    return "LESS_THAN";
  case QL_E_LE:
    return "LESS_THAN_OR_EQUAL";
  case QL_E_GT:
    return "GREATER_THAN";
  case QL_E_GE:
    return "GREATER_THAN_OR_EQUAL";
  case QL_E_ADD:
    return "+";
  case QL_E_SUB:
    return "-";
  case QL_E_MUL:
    return "*";
  case QL_E_DIV:
    return "/";
  default:
    return "%";
  }
}

/* Can values of these types be compared with each other? */
static int comparable(ql_type a, ql_type b) {
  if (a == QL_T_NULL || b == QL_T_NULL) return 1;
  if (ql_type_numeric(a) && ql_type_numeric(b)) return 1;
  return a == b;
}

static int want_bool(planner *p, const ql_expr *e, const char *what) {
  if (e->type == QL_T_BOOLEAN || e->type == QL_T_NULL) return 0;
  return perr(p, e, "%s expects a BOOLEAN value, but %s is %s", what, txt(e),
              ql_type_name(e->type));
}

static int resolve(planner *p, ql_expr *e);

static int resolve_column(planner *p, ql_expr *e) {
  if (e->nargs == 1) { /* qualified: source.column */
    const char *q = e->args[0]->name;
    int ok = !strcmp(q, p->st->name) || (p->s->name && !strcmp(q, p->s->name));
    if (!ok) return perr(p, e, "%s column '%s.%s' cannot be resolved.", p->clause, q, e->name);
    e->nargs = 0;
  }
  int idx = ql_stream_column(p->st, e->name);
  if (idx >= 0) {
    e->index = idx;
    e->type = p->st->cols[idx].type;
    return 0;
  }
  if (!strcmp(e->name, "ROWTIME")) {
    e->op = QL_E_ROWTIME;
    e->type = QL_T_BIGINT;
    return 0;
  }
  if (!strcmp(e->name, "WINDOWSTART") || !strcmp(e->name, "WINDOWEND")) {
    if (!p->windowed || !p->allow_agg)
      return perr(p, e,
                  "%s can only be used in the SELECT or HAVING of a windowed aggregation.",
                  e->name);
    e->op = e->name[6] == 'S' ? QL_E_WINDOWSTART : QL_E_WINDOWEND;
    e->type = QL_T_BIGINT;
    return 0;
  }
  return perr(p, e, "%s column '%s' cannot be resolved.", p->clause, e->name);
}

static int resolve_call(planner *p, ql_expr *e) {
  ql_agg_kind kind;
  if (ql_agg_lookup(e->name, &kind)) {
    if (!p->allow_agg)
      return perr(p, e, "Aggregate functions can not be used in %s: %s", p->clause, txt(e));
    if (p->in_agg) return perr(p, e, "Aggregate functions can not be nested: %s", txt(e));
    if (e->nargs != 1)
      return perr(p, e, "Function '%s' takes exactly one argument, got %zu", e->name, e->nargs);
    e->agg = 1;
    if (e->args[0]->op == QL_E_STAR) {
      if (kind != QL_AGG_COUNT) return perr(p, e, "Only COUNT accepts *: %s", txt(e));
      e->type = QL_T_BIGINT;
      return 0;
    }
    p->in_agg = 1;
    int rc = resolve(p, e->args[0]);
    p->in_agg = 0;
    if (rc) return -1;
    ql_type t = e->args[0]->type;
    switch (kind) {
    case QL_AGG_COUNT:
      e->type = QL_T_BIGINT;
      break;
    case QL_AGG_SUM:
    case QL_AGG_AVG:
      if (!ql_type_numeric(t) && t != QL_T_NULL)
        return perr(p, e, "Function '%s' does not accept parameters (%s).", e->name,
                    ql_type_name(t));
      e->type = kind == QL_AGG_AVG ? QL_T_DOUBLE : (t == QL_T_NULL ? QL_T_BIGINT : t);
      break;
    case QL_AGG_MIN:
    case QL_AGG_MAX:
      if (t == QL_T_BOOLEAN)
        return perr(p, e, "Function '%s' does not accept parameters (BOOLEAN).", e->name);
      e->type = t == QL_T_NULL ? QL_T_BIGINT : t;
      break;
    default:
      e->type = t == QL_T_NULL ? QL_T_STRING : t;
      break;
    }
    return 0;
  }
  const ql_func *fn = ql_func_find(e->name);
  if (!fn) return perr(p, e, "Can't find any functions with the name '%s'", e->name);
  for (size_t k = 0; k < e->nargs; k++) {
    if (e->args[k]->op == QL_E_STAR) return perr(p, e, "Only COUNT accepts *: %s", txt(e));
    if (resolve(p, e->args[k])) return -1;
  }
  if ((int)e->nargs < fn->min_args || (fn->max_args >= 0 && (int)e->nargs > fn->max_args)) {
    char types[256] = "";
    size_t o = 0;
    for (size_t k = 0; k < e->nargs && o < sizeof types; k++)
      o += (size_t)snprintf(types + o, sizeof types - o, "%s%s", k ? ", " : "",
                            ql_type_name(e->args[k]->type));
    return perr(p, e, "Function '%s' does not accept parameters (%s).", e->name, types);
  }
  char msg[512];
  if (fn->check(e, msg, sizeof msg)) return perr(p, e, "%s", msg);
  e->fn = fn;
  return 0;
}

static int resolve(planner *p, ql_expr *e) {
  switch (e->op) {
  case QL_E_LIT:
    e->type = e->lit_type;
    return 0;
  case QL_E_COL:
    return resolve_column(p, e);
  case QL_E_ROWTIME:
    e->type = QL_T_BIGINT;
    return 0;
  case QL_E_STAR:
    return perr(p, e, "Only COUNT accepts *");
  case QL_E_CALL:
    return resolve_call(p, e);
  default:
    break;
  }
  for (size_t k = 0; k < e->nargs; k++)
    if (resolve(p, e->args[k])) return -1;
  ql_expr *a = e->nargs > 0 ? e->args[0] : NULL, *b = e->nargs > 1 ? e->args[1] : NULL;
  switch (e->op) {
  case QL_E_NEG:
    if (!ql_type_numeric(a->type) && a->type != QL_T_NULL)
      return perr(p, e, "Unsupported arithmetic type for negation: %s (%s)", txt(a),
                  ql_type_name(a->type));
    e->type = a->type == QL_T_NULL ? QL_T_INTEGER : a->type;
    return 0;
  case QL_E_NOT:
    if (want_bool(p, a, "NOT")) return -1;
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_AND:
  case QL_E_OR:
    if (want_bool(p, a, e->op == QL_E_AND ? "AND" : "OR") ||
        want_bool(p, b, e->op == QL_E_AND ? "AND" : "OR"))
      return -1;
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_ADD:
  case QL_E_SUB:
  case QL_E_MUL:
  case QL_E_DIV:
  case QL_E_MOD: {
    ql_type x = a->type, y = b->type;
    if ((!ql_type_numeric(x) && x != QL_T_NULL) || (!ql_type_numeric(y) && y != QL_T_NULL))
      return perr(p, e, "Error processing expression: %s. Unsupported arithmetic types. %s %s",
                  txt(e), ql_type_name(x), ql_type_name(y));
    if (x == QL_T_DOUBLE || y == QL_T_DOUBLE)
      e->type = QL_T_DOUBLE;
    else if (x == QL_T_BIGINT || y == QL_T_BIGINT)
      e->type = QL_T_BIGINT;
    else
      e->type = QL_T_INTEGER;
    return 0;
  }
  case QL_E_EQ:
  case QL_E_NE:
  case QL_E_LT:
  case QL_E_LE:
  case QL_E_GT:
  case QL_E_GE:
    if (!comparable(a->type, b->type) ||
        (a->type == QL_T_BOOLEAN && e->op != QL_E_EQ && e->op != QL_E_NE))
      return perr(p, e, "Cannot compare %s (%s) to %s (%s) with %s.", txt(a),
                  ql_type_name(a->type), txt(b), ql_type_name(b->type), op_name(e->op));
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_IS_NULL:
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_IN:
  case QL_E_BETWEEN:
    for (size_t k = 1; k < e->nargs; k++)
      if (!comparable(a->type, e->args[k]->type))
        return perr(p, e, "Cannot compare %s (%s) to %s (%s) with %s.", txt(a),
                    ql_type_name(a->type), txt(e->args[k]), ql_type_name(e->args[k]->type),
                    e->op == QL_E_IN ? "IN" : "BETWEEN");
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_LIKE:
    if ((a->type != QL_T_STRING && a->type != QL_T_NULL) ||
        (b->type != QL_T_STRING && b->type != QL_T_NULL))
      return perr(p, e, "LIKE expects STRING operands: %s (%s) LIKE %s (%s)", txt(a),
                  ql_type_name(a->type), txt(b), ql_type_name(b->type));
    e->type = QL_T_BOOLEAN;
    return 0;
  case QL_E_CASE: {
    size_t k = e->has_operand ? 1 : 0, end = e->nargs - (e->has_else ? 1 : 0);
    ql_type result = QL_T_NULL;
    for (; k < end; k += 2) {
      ql_expr *w = e->args[k], *th = e->args[k + 1];
      if (e->has_operand) {
        if (!comparable(e->args[0]->type, w->type))
          return perr(p, w, "Cannot compare %s (%s) to %s (%s) with EQUAL.", txt(e->args[0]),
                      ql_type_name(e->args[0]->type), txt(w), ql_type_name(w->type));
      } else if (want_bool(p, w, "WHEN")) {
        return -1;
      }
      if (result == QL_T_NULL)
        result = th->type;
      else if (th->type != QL_T_NULL && th->type != result) {
        if (ql_type_numeric(result) && ql_type_numeric(th->type))
          result =
              (result == QL_T_DOUBLE || th->type == QL_T_DOUBLE) ? QL_T_DOUBLE : QL_T_BIGINT;
        else
          return perr(p, th,
                      "Invalid Case expression. Type for all 'THEN' clauses should be "
                      "the same. THEN expression '%s' has type: %s.",
                      txt(th), ql_type_name(th->type));
      }
    }
    if (e->has_else) {
      ql_expr *el = e->args[e->nargs - 1];
      if (result == QL_T_NULL)
        result = el->type;
      else if (el->type != QL_T_NULL && el->type != result &&
               !(ql_type_numeric(result) && ql_type_numeric(el->type)))
        return perr(p, el,
                    "Invalid Case expression. Type for the default clause should be the "
                    "same as for 'THEN' clauses. Default expression '%s' has type: %s.",
                    txt(el), ql_type_name(el->type));
      else if (el->type != QL_T_NULL && el->type != result)
        result = (result == QL_T_DOUBLE || el->type == QL_T_DOUBLE) ? QL_T_DOUBLE : QL_T_BIGINT;
    }
    e->type = result == QL_T_NULL ? QL_T_STRING : result;
    return 0;
  }
  case QL_E_CAST:
    if (a->type == QL_T_BOOLEAN && (e->cast_to == QL_T_TIMESTAMP || e->cast_to == QL_T_DOUBLE))
      return perr(p, e, "Cast of BOOLEAN to %s is not supported", ql_type_name(e->cast_to));
    e->type = e->cast_to;
    return 0;
  default:
    return perr(p, e, "Unsupported expression: %s", txt(e));
  }
}

/* ---- Aggregation rewrite --------------------------------------------------------------------
 */
static int same_expr(const ql_expr *a, const ql_expr *b) {
  if (a->op != b->op || a->nargs != b->nargs || a->negated != b->negated) return 0;
  switch (a->op) {
  case QL_E_COL:
    if (a->index != b->index) return 0;
    break;
  case QL_E_LIT:
    if (a->lit_type != b->lit_type || !ql_values_equal(&a->lit, &b->lit)) return 0;
    break;
  case QL_E_CALL:
    if (strcmp(a->name, b->name)) return 0;
    break;
  case QL_E_CAST:
    if (a->cast_to != b->cast_to) return 0;
    break;
  default:
    break;
  }
  for (size_t k = 0; k < a->nargs; k++)
    if (!same_expr(a->args[k], b->args[k])) return 0;
  return 1;
}

static int add_agg(planner *p, ql_expr *call) {
  ql_plan *pl = p->plan;
  ql_agg_spec *na = ql_arena_alloc(p->a, (pl->naggs + 1) * sizeof *na);
  if (!na) return perr(p, NULL, "out of memory");
  if (pl->naggs) memcpy(na, pl->aggs, pl->naggs * sizeof *na);
  ql_agg_kind kind;
  ql_agg_lookup(call->name, &kind);
  na[pl->naggs].kind = kind;
  na[pl->naggs].arg = call->args[0]->op == QL_E_STAR ? NULL : call->args[0];
  na[pl->naggs].out_type = call->type;
  pl->aggs = na;
  return (int)pl->naggs++;
}

/* Rewrites a resolved SELECT/HAVING expression to read group keys and aggregate slots. */
static int to_agg(planner *p, ql_expr *e) {
  for (size_t k = 0; k < p->plan->nkeys; k++)
    if (same_expr(e, p->plan->keys[k])) {
      e->op = QL_E_GROUPREF;
      e->index = (int)k;
      e->nargs = 0;
      return 0;
    }
  if (e->op == QL_E_CALL && e->agg) {
    int slot = add_agg(p, e);
    if (slot < 0) return -1;
    e->op = QL_E_AGGREF;
    e->index = slot;
    e->nargs = 0;
    return 0;
  }
  if (e->op == QL_E_COL || e->op == QL_E_ROWTIME)
    return perr(p, e, "Non-aggregate %s expression(s) not part of GROUP BY: %s", p->clause,
                txt(e));
  for (size_t k = 0; k < e->nargs; k++)
    if (to_agg(p, e->args[k])) return -1;
  return 0;
}

static int has_agg(const ql_expr *e) {
  if (!e) return 0;
  if (e->op == QL_E_CALL) {
    ql_agg_kind k;
    if (ql_agg_lookup(e->name, &k)) return 1;
  }
  for (size_t k = 0; k < e->nargs; k++)
    if (has_agg(e->args[k])) return 1;
  return 0;
}

static ql_expr *column_ref(planner *p, size_t idx) {
  ql_expr *e = ql_arena_alloc(p->a, sizeof *e);
  if (!e) return NULL;
  e->op = QL_E_COL;
  e->index = (int)idx;
  e->name = p->st->cols[idx].name;
  e->text = e->name;
  e->type = p->st->cols[idx].type;
  e->line = p->s->line;
  e->col = p->s->col;
  return e;
}

int ql_plan_select(ql_arena *a, ql_stmt *s, const ql_stream *st, ql_plan *out, ql_error *err) {
  memset(out, 0, sizeof *out);
  planner p = {.a = a, .s = s, .st = st, .err = err, .plan = out};
  out->limit = s->limit;
  out->pull = !s->emit_changes;
  out->window = s->window;
  int any_agg = has_agg(s->having);
  for (size_t k = 0; k < s->nitems; k++) any_agg |= has_agg(s->items[k].expr);
  out->aggregate = any_agg || s->ngroup > 0 || s->window.kind != QL_W_NONE;
  p.windowed = s->window.kind != QL_W_NONE;
  if (s->window.kind == QL_W_HOPPING) {
    if (s->window.advance_ms > s->window.size_ms)
      return perr(&p, NULL,
                  "Window advance (%lld ms) must not be greater than its size (%lld ms).",
                  (long long)s->window.advance_ms, (long long)s->window.size_ms);
    if (s->window.size_ms / s->window.advance_ms > 1000)
      return perr(&p, NULL,
                  "A HOPPING window may overlap at most 1000 others (SIZE / ADVANCE "
                  "BY <= 1000).");
  }
  if (out->aggregate && s->ngroup == 0) {
    if (s->window.kind != QL_W_NONE && !any_agg)
      return perr(&p, NULL, "WINDOW clause requires a GROUP BY clause.");
    return perr(&p, NULL, "Aggregate query needs GROUP BY clause.");
  }
  if (!out->aggregate && s->having) return perr(&p, NULL, "HAVING requires a GROUP BY clause.");
  if (out->aggregate && out->pull)
    return perr(&p, NULL,
                "Pull queries on streams don't support GROUP BY or WINDOW; add EMIT "
                "CHANGES for a push query.");

  if (s->where) {
    p.clause = "WHERE";
    if (resolve(&p, s->where) || want_bool(&p, s->where, "WHERE")) return -1;
    out->where = s->where;
  }
  if (out->aggregate) {
    p.clause = "GROUP BY";
    out->nkeys = s->ngroup;
    out->keys = s->group_by;
    for (size_t k = 0; k < s->ngroup; k++)
      if (resolve(&p, s->group_by[k])) return -1;
  }

  /* Output columns: * expands to the stream's columns. */
  size_t n = 0;
  for (size_t k = 0; k < s->nitems; k++) n += s->items[k].star ? st->ncols : 1;
  out->names = ql_arena_alloc(a, (n + 1) * sizeof *out->names);
  out->types = ql_arena_alloc(a, (n + 1) * sizeof *out->types);
  out->proj = ql_arena_alloc(a, (n + 1) * sizeof *out->proj);
  if (!out->names || !out->types || !out->proj) return perr(&p, NULL, "out of memory");
  int generated = 0;
  p.clause = "SELECT";
  p.allow_agg = out->aggregate;
  for (size_t k = 0; k < s->nitems; k++) {
    ql_select_item *it = &s->items[k];
    if (it->star) {
      if (out->aggregate)
        return perr(&p, NULL, "SELECT * is not allowed in an aggregate query.");
      for (size_t c = 0; c < st->ncols; c++) {
        ql_expr *e = column_ref(&p, c);
        if (!e) return perr(&p, NULL, "out of memory");
        out->proj[out->ncols] = e;
        out->names[out->ncols] = st->cols[c].name;
        out->types[out->ncols++] = st->cols[c].type;
      }
      continue;
    }
    if (resolve(&p, it->expr)) return -1;
    const char *name = it->alias;
    ql_op op = it->expr->op;
    if (!name && (op == QL_E_COL || op == QL_E_ROWTIME || op == QL_E_WINDOWSTART ||
                  op == QL_E_WINDOWEND))
      name = op == QL_E_COL           ? it->expr->name
             : op == QL_E_ROWTIME     ? "ROWTIME"
             : op == QL_E_WINDOWSTART ? "WINDOWSTART"
                                      : "WINDOWEND";
    if (!name) {
      char buf[32];
      snprintf(buf, sizeof buf, "KSQL_COL_%d", generated++);
      name = ql_arena_strndup(a, buf, strlen(buf));
    }
    out->names[out->ncols] = (char *)name;
    out->types[out->ncols] = it->expr->type == QL_T_NULL ? QL_T_STRING : it->expr->type;
    if (out->aggregate && to_agg(&p, it->expr)) return -1;
    out->proj[out->ncols++] = it->expr;
  }
  if (s->having) {
    p.clause = "HAVING";
    if (resolve(&p, s->having) || want_bool(&p, s->having, "HAVING") || to_agg(&p, s->having))
      return -1;
    out->having = s->having;
  }
  return 0;
}
