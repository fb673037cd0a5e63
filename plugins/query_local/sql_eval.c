/* Evaluates planned expression trees over one row with SQL's three-valued logic: NULL in,
 * NULL out; INTEGER arithmetic wraps at 32 bits and BIGINT at 64 like Java; division by
 * zero gives NULL. Also value formatting, LIKE matching, hashing and equality for GROUP BY. */
#include "ql_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const sd_value null_value = {.type = SD_NULL};

static void set_bool(sd_value *out, int b) {
  out->type = SD_BOOL;
  out->as.i = b ? 1 : 0;
}
static void set_int(sd_value *out, int64_t v) {
  out->type = SD_INT;
  out->as.i = v;
}
static void set_double(sd_value *out, double d) {
  out->type = SD_DOUBLE;
  out->as.d = d;
}

static double as_double(const sd_value *v) {
  return v->type == SD_DOUBLE ? v->as.d : (double)v->as.i;
}

/* Compares two non-NULL values of comparable types: <0, 0, >0. */
static int compare(const sd_value *a, const sd_value *b) {
  if (a->type == SD_STRING && b->type == SD_STRING) {
    size_t n = a->as.s.len < b->as.s.len ? a->as.s.len : b->as.s.len;
    int r = n ? memcmp(a->as.s.ptr, b->as.s.ptr, n) : 0;
    if (r) return r;
    return a->as.s.len < b->as.s.len ? -1 : a->as.s.len > b->as.s.len;
  }
  if ((a->type == SD_INT || a->type == SD_BOOL) && (b->type == SD_INT || b->type == SD_BOOL))
    return a->as.i < b->as.i ? -1 : a->as.i > b->as.i;
  double x = as_double(a), y = as_double(b);
  return x < y ? -1 : x > y;
}

int ql_values_equal(const sd_value *a, const sd_value *b) {
  if (a->type == SD_NULL || b->type == SD_NULL) return a->type == b->type;
  if ((a->type == SD_STRING) != (b->type == SD_STRING)) return 0;
  return compare(a, b) == 0;
}

uint64_t ql_value_hash(const sd_value *v, uint64_t h) {
  const unsigned char *p;
  size_t n;
  int64_t i;
  double d;
  switch (v->type) {
  case SD_STRING:
    p = (const unsigned char *)v->as.s.ptr;
    n = v->as.s.len;
    break;
  case SD_DOUBLE:
    d = v->as.d == 0 ? 0.0 : v->as.d; /* -0.0 groups with 0.0 */
    p = (const unsigned char *)&d;
    n = sizeof d;
    break;
  case SD_NULL:
    return (h ^ 0x9e3779b97f4a7c15ull) * 0x100000001b3ull;
  default:
    i = v->as.i;
    p = (const unsigned char *)&i;
    n = sizeof i;
    break;
  }
  h ^= v->type;
  h *= 0x100000001b3ull;
  for (size_t k = 0; k < n; k++) {
    h ^= p[k];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---- Text ------------------------------------------------------------------------------- */
void ql_format_double(double d, char *buf, size_t len) {
  if (isnan(d)) {
    snprintf(buf, len, "NaN");
    return;
  }
  if (isinf(d)) {
    snprintf(buf, len, d > 0 ? "Infinity" : "-Infinity");
    return;
  }
  if (d == 0) {
    snprintf(buf, len, signbit(d) ? "-0.0" : "0.0");
    return;
  }
  char tmp[40];
  int prec = 1;
  for (; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    if (strtod(tmp, NULL) == d) break;
  }
  /* tmp = [-]D.DDDDe[+-]XX */
  char digits[24];
  size_t nd = 0;
  const char *q = tmp;
  int neg = 0;
  if (*q == '-') {
    neg = 1;
    q++;
  }
  for (; *q && *q != 'e'; q++)
    if (*q != '.') digits[nd++] = *q;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  digits[nd] = 0;
  int exp10 = atoi(q + 1);
  double ad = fabs(d);
  size_t o = 0;
  if (neg) o += (size_t)snprintf(buf + o, len - o, "-");
  if (ad >= 1e-3 && ad < 1e7) {
    if (exp10 >= 0) {
      for (int k = 0; k <= exp10; k++)
        o += (size_t)snprintf(buf + o, len - o, "%c", (size_t)k < nd ? digits[k] : '0');
      o += (size_t)snprintf(buf + o, len - o, ".");
      if ((size_t)exp10 + 1 >= nd)
        o += (size_t)snprintf(buf + o, len - o, "0");
      else
        o += (size_t)snprintf(buf + o, len - o, "%s", digits + exp10 + 1);
    } else {
      o += (size_t)snprintf(buf + o, len - o, "0.");
      for (int k = -1; k > exp10; k--) o += (size_t)snprintf(buf + o, len - o, "0");
      o += (size_t)snprintf(buf + o, len - o, "%s", digits);
    }
  } else {
    o += (size_t)snprintf(buf + o, len - o, "%c.%s", digits[0], nd > 1 ? digits + 1 : "0");
    snprintf(buf + o, len - o, "E%d", exp10);
  }
}

static void format_timestamp(int64_t ms, char *buf, size_t len) {
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int millis = (int)(ms - secs * 1000);
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

int ql_value_to_text(const sd_value *v, ql_type t, ql_arena *a, sd_value *out) {
  char buf[64];
  switch (v->type) {
  case SD_NULL:
    *out = null_value;
    return 0;
  case SD_STRING:
    *out = *v;
    return 0;
  case SD_BOOL:
    snprintf(buf, sizeof buf, "%s", v->as.i ? "true" : "false");
    break;
  case SD_DOUBLE:
    ql_format_double(v->as.d, buf, sizeof buf);
    break;
  default:
    if (t == QL_T_TIMESTAMP)
      format_timestamp(v->as.i, buf, sizeof buf);
    else
      snprintf(buf, sizeof buf, "%lld", (long long)v->as.i);
  }
  size_t n = strlen(buf);
  char *p = ql_arena_strndup(a, buf, n);
  if (!p) {
    *out = null_value;
    return -1;
  }
  out->type = SD_STRING;
  out->as.s.ptr = p;
  out->as.s.len = n;
  return 0;
}

/* ---- LIKE: % any run, _ one character (UTF-8 aware), case-sensitive ---------------------- */
static size_t utf8_len(const char *s, size_t left) {
  unsigned char c = (unsigned char)s[0];
  size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  return n > left ? left : n;
}

int ql_like(const char *s, size_t slen, const char *pat, size_t plen) {
  size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
  while (si < slen) {
    if (pi < plen && pat[pi] == '%') {
      star_p = pi++;
      star_s = si;
    } else if (pi < plen && pat[pi] == '_') {
      pi++;
      si += utf8_len(s + si, slen - si);
    } else if (pi < plen && pat[pi] == s[si]) {
      pi++;
      si++;
    } else if (star_p != (size_t)-1) {
      pi = star_p + 1;
      star_s += utf8_len(s + star_s, slen - star_s);
      si = star_s;
    } else {
      return 0;
    }
  }
  while (pi < plen && pat[pi] == '%') pi++;
  return pi == plen;
}

/* ---- Arithmetic ----------------------------------------------------------------------------
 */
static void arith(const ql_expr *e, const sd_value *a, const sd_value *b, sd_value *out) {
  int divides = e->op == QL_E_DIV || e->op == QL_E_MOD;
  if (a->type == SD_NULL || b->type == SD_NULL || (divides && as_double(b) == 0)) {
    *out = null_value;
    return;
  }
  if (a->type == SD_DOUBLE || b->type == SD_DOUBLE) {
    double x = as_double(a), y = as_double(b), r;
    switch (e->op) {
    case QL_E_ADD:
      r = x + y;
      break;
    case QL_E_SUB:
      r = x - y;
      break;
    case QL_E_MUL:
      r = x * y;
      break;
    case QL_E_DIV:
      r = x / y;
      break;
    default:
      r = fmod(x, y);
      break;
    }
    set_double(out, r);
    return;
  }
  /* Unsigned so overflow wraps as Java's long does instead of being undefined. */
  uint64_t x = (uint64_t)a->as.i, y = (uint64_t)b->as.i, r;
  int64_t sx = a->as.i, sy = b->as.i;
  switch (e->op) {
  case QL_E_ADD:
    r = x + y;
    break;
  case QL_E_SUB:
    r = x - y;
    break;
  case QL_E_MUL:
    r = x * y;
    break;
  case QL_E_DIV:
    r = (sy == -1) ? 0 - x : (uint64_t)(sx / sy);
    break;
  default:
    r = (sy == -1) ? 0 : (uint64_t)(sx % sy);
    break;
  }
  if (e->type == QL_T_INTEGER)
    set_int(out, (int32_t)(uint32_t)r);
  else
    set_int(out, (int64_t)r);
}

/* ---- Evaluation
 * ------------------------------------------------------------------------------ */
int ql_eval_true(const ql_expr *e, ql_eval_ctx *c) {
  /* The commonest filter, column = 'text', without the tree walk. */
  if (e->op == QL_E_EQ && e->args[0]->op == QL_E_COL && e->args[1]->op == QL_E_LIT &&
      e->args[1]->lit.type == SD_STRING) {
    const sd_value *a = &c->row[e->args[0]->index], *b = &e->args[1]->lit;
    return a->type == SD_STRING && a->as.s.len == b->as.s.len &&
           (a->as.s.len == 0 || !memcmp(a->as.s.ptr, b->as.s.ptr, a->as.s.len));
  }
  sd_value v;
  ql_eval(e, c, &v);
  return v.type == SD_BOOL && v.as.i;
}

/* Result of a comparison op on non-NULL a, b. */
static int cmp_op(ql_op op, const sd_value *a, const sd_value *b) {
  int r = compare(a, b);
  switch (op) {
  case QL_E_EQ:
    return r == 0;
  case QL_E_NE:
    return r != 0;
  case QL_E_LT:
    return r < 0;
  case QL_E_LE:
    return r <= 0;
  case QL_E_GT:
    return r > 0;
  default:
    return r >= 0;
  }
}

/* strtod/strtoll need a terminated copy of the string value: made in the scratch arena, so
 * text of any length is read whole. NULL only when memory ran out. */
static const char *text_to_cstr(const sd_value *v, ql_eval_ctx *c) {
  return ql_arena_strndup(c->scratch, v->as.s.ptr, (size_t)v->as.s.len);
}

static void cast_value(const ql_expr *e, const sd_value *v, ql_eval_ctx *c, sd_value *out) {
  ql_type from = e->args[0]->type, to = e->cast_to;
  if (v->type == SD_NULL) {
    *out = null_value;
    return;
  }
  switch (to) {
  case QL_T_STRING:
    ql_value_to_text(v, from, c->scratch, out);
    return;
  case QL_T_BOOLEAN:
    if (v->type == SD_STRING) {
      if (v->as.s.len == 4 && !strncasecmp(v->as.s.ptr, "true", 4))
        set_bool(out, 1);
      else if (v->as.s.len == 5 && !strncasecmp(v->as.s.ptr, "false", 5))
        set_bool(out, 0);
      else
        *out = null_value;
    } else {
      set_bool(out, v->as.i != 0);
    }
    return;
  case QL_T_DOUBLE:
    if (v->type == SD_STRING) {
      const char *text = text_to_cstr(v, c);
      char *end = NULL;
      double d = text ? strtod(text, &end) : 0;
      if (!text || end == text || end != text + v->as.s.len) /* all of it a number */
        *out = null_value;
      else
        set_double(out, d);
    } else {
      set_double(out, as_double(v));
    }
    return;
  default: { /* INTEGER, BIGINT, TIMESTAMP */
    int64_t r;
    if (v->type == SD_STRING) {
      const char *text = text_to_cstr(v, c);
      char *end = NULL;
      errno = 0;
      long long ll = text ? strtoll(text, &end, 10) : 0;
      if (!text || end == text || end != text + v->as.s.len || errno) {
        *out = null_value;
        return;
      }
      r = ll;
    } else if (v->type == SD_DOUBLE) {
      double d = v->as.d;
      if (isnan(d))
        r = 0;
      else if (d >= 9.2233720368547758e18)
        r = INT64_MAX;
      else if (d <= -9.2233720368547758e18)
        r = INT64_MIN;
      else
        r = (int64_t)d; /* truncates toward zero, like Java */
    } else {
      r = v->as.i;
    }
    if (to == QL_T_INTEGER) r = (int32_t)(uint32_t)(uint64_t)r;
    set_int(out, r);
    return;
  }
  }
}

void ql_eval(const ql_expr *e, ql_eval_ctx *c, sd_value *out) {
  sd_value a, b;
  switch (e->op) {
  case QL_E_LIT:
    *out = e->lit;
    return;
  case QL_E_COL:
    *out = c->row[e->index];
    return;
  case QL_E_ROWTIME:
    set_int(out, c->rowtime_ms);
    return;
  case QL_E_WINDOWSTART:
    set_int(out, c->wstart);
    return;
  case QL_E_WINDOWEND:
    set_int(out, c->wend);
    return;
  case QL_E_GROUPREF:
    *out = c->keys[e->index];
    return;
  case QL_E_AGGREF:
    *out = c->aggs[e->index];
    return;
  case QL_E_NEG:
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_NULL)
      *out = null_value;
    else if (a.type == SD_DOUBLE)
      set_double(out, -a.as.d);
    else if (e->type == QL_T_INTEGER)
      set_int(out, (int32_t)(0u - (uint32_t)a.as.i));
    else
      set_int(out, (int64_t)(0ull - (uint64_t)a.as.i));
    return;
  case QL_E_NOT:
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_NULL)
      *out = null_value;
    else
      set_bool(out, !a.as.i);
    return;
  case QL_E_AND:
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_BOOL && !a.as.i) {
      set_bool(out, 0);
      return;
    }
    ql_eval(e->args[1], c, &b);
    if (b.type == SD_BOOL && !b.as.i)
      set_bool(out, 0);
    else if (a.type == SD_NULL || b.type == SD_NULL)
      *out = null_value;
    else
      set_bool(out, 1);
    return;
  case QL_E_OR:
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_BOOL && a.as.i) {
      set_bool(out, 1);
      return;
    }
    ql_eval(e->args[1], c, &b);
    if (b.type == SD_BOOL && b.as.i)
      set_bool(out, 1);
    else if (a.type == SD_NULL || b.type == SD_NULL)
      *out = null_value;
    else
      set_bool(out, 0);
    return;
  case QL_E_ADD:
  case QL_E_SUB:
  case QL_E_MUL:
  case QL_E_DIV:
  case QL_E_MOD:
    ql_eval(e->args[0], c, &a);
    ql_eval(e->args[1], c, &b);
    arith(e, &a, &b, out);
    return;
  case QL_E_EQ:
  case QL_E_NE:
  case QL_E_LT:
  case QL_E_LE:
  case QL_E_GT:
  case QL_E_GE:
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_NULL) {
      *out = null_value;
      return;
    }
    ql_eval(e->args[1], c, &b);
    if (b.type == SD_NULL)
      *out = null_value;
    else
      set_bool(out, cmp_op(e->op, &a, &b));
    return;
  case QL_E_IS_NULL:
    ql_eval(e->args[0], c, &a);
    set_bool(out, (a.type == SD_NULL) != e->negated);
    return;
  case QL_E_IN: {
    ql_eval(e->args[0], c, &a);
    if (a.type == SD_NULL) {
      *out = null_value;
      return;
    }
    int saw_null = 0;
    for (size_t k = 1; k < e->nargs; k++) {
      ql_eval(e->args[k], c, &b);
      if (b.type == SD_NULL)
        saw_null = 1;
      else if (compare(&a, &b) == 0) {
        set_bool(out, !e->negated);
        return;
      }
    }
    if (saw_null)
      *out = null_value;
    else
      set_bool(out, e->negated);
    return;
  }
  case QL_E_BETWEEN: {
    sd_value lo, hi;
    ql_eval(e->args[0], c, &a);
    ql_eval(e->args[1], c, &lo);
    ql_eval(e->args[2], c, &hi);
    /* (a >= lo AND a <= hi), three-valued */
    int r1 = a.type == SD_NULL || lo.type == SD_NULL ? -1 : compare(&a, &lo) >= 0;
    int r2 = a.type == SD_NULL || hi.type == SD_NULL ? -1 : compare(&a, &hi) <= 0;
    int r;
    if (r1 == 0 || r2 == 0)
      r = 0;
    else if (r1 < 0 || r2 < 0)
      r = -1;
    else
      r = 1;
    if (r < 0)
      *out = null_value;
    else
      set_bool(out, e->negated ? !r : r);
    return;
  }
  case QL_E_LIKE:
    ql_eval(e->args[0], c, &a);
    ql_eval(e->args[1], c, &b);
    if (a.type == SD_NULL || b.type == SD_NULL)
      *out = null_value;
    else {
      int m = ql_like(a.as.s.ptr, a.as.s.len, b.as.s.ptr, b.as.s.len);
      set_bool(out, e->negated ? !m : m);
    }
    return;
  case QL_E_CASE: {
    size_t k = 0, end = e->nargs - (e->has_else ? 1 : 0);
    if (e->has_operand) {
      ql_eval(e->args[0], c, &a);
      k = 1;
    }
    for (; k + 1 < end + 1 && k < end; k += 2) {
      if (e->has_operand) {
        if (a.type == SD_NULL) continue;
        ql_eval(e->args[k], c, &b);
        if (b.type == SD_NULL || compare(&a, &b) != 0) continue;
      } else if (!ql_eval_true(e->args[k], c)) {
        continue;
      }
      ql_eval(e->args[k + 1], c, out);
      return;
    }
    if (e->has_else)
      ql_eval(e->args[e->nargs - 1], c, out);
    else
      *out = null_value;
    return;
  }
  case QL_E_CALL: {
    sd_value args[QL_MAX_ARGS];
    for (size_t k = 0; k < e->nargs; k++) ql_eval(e->args[k], c, &args[k]);
    e->fn->eval(e, args, c, out);
    return;
  }
  case QL_E_CAST:
    ql_eval(e->args[0], c, &a);
    cast_value(e, &a, c, out);
    return;
  default:
    *out = null_value;
    return;
  }
}
