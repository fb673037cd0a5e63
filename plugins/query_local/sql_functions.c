/* ksqlDB's common scalar functions (math, strings, NULL handling): a type check that
 * sets the call's result type at plan time, and an evaluator over already-evaluated
 * arguments. Strings they make go to the per-row scratch arena. Also the aggregate names. */
#include "ql_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const sd_value null_value = {.type = SD_NULL};

static ql_type argt(const ql_expr *call, size_t k) {
  return call->args[k]->type;
}

static int want(const ql_expr *call, size_t k, int (*ok)(ql_type), const char *what, char *msg,
                size_t len) {
  ql_type t = argt(call, k);
  if (t == QL_T_NULL || ok(t)) return 0;
  snprintf(msg, len, "Function '%s' does not accept parameters (%s): argument %zu must be %s",
           call->name, ql_type_name(t), k + 1, what);
  return -1;
}
static int is_num(ql_type t) {
  return ql_type_numeric(t);
}
static int is_str(ql_type t) {
  return t == QL_T_STRING;
}
static int is_int(ql_type t) {
  return t == QL_T_INTEGER || t == QL_T_BIGINT;
}

/* The type both fit in, or QL_T_NULL when they do not mix. */
static int common_type(ql_type a, ql_type b, ql_type *out) {
  if (a == QL_T_NULL) {
    *out = b;
    return 0;
  }
  if (b == QL_T_NULL || a == b) {
    *out = a;
    return 0;
  }
  if (ql_type_numeric(a) && ql_type_numeric(b)) {
    *out = (a == QL_T_DOUBLE || b == QL_T_DOUBLE) ? QL_T_DOUBLE : QL_T_BIGINT;
    return 0;
  }
  return -1;
}

/* Widens an integer value to the call's DOUBLE type when needed. */
static void widen(const ql_expr *call, const sd_value *in, sd_value *out) {
  *out = *in;
  if (call->type == QL_T_DOUBLE && in->type == SD_INT) {
    out->type = SD_DOUBLE;
    out->as.d = (double)in->as.i;
  }
}

static double num(const sd_value *v) {
  return v->type == SD_DOUBLE ? v->as.d : (double)v->as.i;
}

static int any_null(const sd_value *a, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (a[k].type == SD_NULL) return 1;
  return 0;
}

static void set_str(sd_value *out, const char *p, size_t n) {
  out->type = SD_STRING;
  out->as.s.ptr = p;
  out->as.s.len = n;
}

/* ---- Math ---------------------------------------------------------------------------------
 */
static int check_same_num(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_num, "numeric", m, l)) return -1;
  c->type = argt(c, 0) == QL_T_NULL ? QL_T_DOUBLE : argt(c, 0);
  return 0;
}
static int check_double_num(ql_expr *c, char *m, size_t l) {
  for (size_t k = 0; k < c->nargs; k++)
    if (want(c, k, is_num, "numeric", m, l)) return -1;
  c->type = QL_T_DOUBLE;
  return 0;
}

static void f_abs(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  if (a[0].type == SD_NULL)
    *o = null_value;
  else if (a[0].type == SD_DOUBLE) {
    o->type = SD_DOUBLE;
    o->as.d = fabs(a[0].as.d);
  } else {
    o->type = SD_INT;
    uint64_t u = (uint64_t)a[0].as.i;
    o->as.i = a[0].as.i < 0 ? (int64_t)(0 - u) : a[0].as.i;
    if (c->type == QL_T_INTEGER) o->as.i = (int32_t)(uint32_t)o->as.i;
  }
}

static int check_round(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_num, "numeric", m, l)) return -1;
  if (c->nargs == 2 && want(c, 1, is_int, "an integer", m, l)) return -1;
  ql_type t = argt(c, 0) == QL_T_NULL ? QL_T_DOUBLE : argt(c, 0);
  c->type = (t == QL_T_DOUBLE && c->nargs == 1) ? QL_T_BIGINT : t;
  return 0;
}
/* Half away from zero, like BigDecimal HALF_UP. */
static void f_round(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  if (any_null(a, c->nargs)) {
    *o = null_value;
    return;
  }
  if (a[0].type != SD_DOUBLE) {
    int64_t v = a[0].as.i;
    if (c->nargs == 2 && a[1].as.i < 0) {
      int64_t p = 1;
      for (int64_t k = 0; k < -a[1].as.i && k < 18; k++) p *= 10;
      int64_t q = v / p, r = v % p;
      if (r * 2 >= p)
        q++;
      else if (r * 2 <= -p)
        q--;
      v = q * p;
    }
    o->type = SD_INT;
    o->as.i = v;
    return;
  }
  double d = a[0].as.d;
  if (c->nargs == 1) {
    o->type = SD_INT;
    o->as.i = (int64_t)llround(d);
    return;
  }
  double p = pow(10.0, (double)a[1].as.i);
  o->type = SD_DOUBLE;
  o->as.d = round(d * p) / p;
}

static void f_floor(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  *o = a[0];
  if (a[0].type == SD_DOUBLE) o->as.d = floor(a[0].as.d);
}
static void f_ceil(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  *o = a[0];
  if (a[0].type == SD_DOUBLE) o->as.d = ceil(a[0].as.d);
}

static void unary_double(const sd_value *a, sd_value *o, double (*fn)(double), int neg_ok,
                         int zero_ok) {
  if (a[0].type == SD_NULL) {
    *o = null_value;
    return;
  }
  double v = num(&a[0]);
  if ((!neg_ok && v < 0) || (!zero_ok && v == 0)) {
    *o = null_value; /* NaN or -Infinity have no JSON form */
    return;
  }
  o->type = SD_DOUBLE;
  o->as.d = fn(v);
}
static void f_sqrt(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  unary_double(a, o, sqrt, 0, 1);
}
static void f_exp(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  unary_double(a, o, exp, 1, 1);
}
static void f_ln(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  unary_double(a, o, log, 0, 0);
}
static void f_power(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  if (any_null(a, 2)) {
    *o = null_value;
    return;
  }
  double r = pow(num(&a[0]), num(&a[1]));
  if (isnan(r) || isinf(r))
    *o = null_value;
  else {
    o->type = SD_DOUBLE;
    o->as.d = r;
  }
}

static int check_sign(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_num, "numeric", m, l)) return -1;
  c->type = QL_T_INTEGER;
  return 0;
}
static void f_sign(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  if (a[0].type == SD_NULL) {
    *o = null_value;
    return;
  }
  double v = num(&a[0]);
  o->type = SD_INT;
  o->as.i = v > 0 ? 1 : v < 0 ? -1 : 0;
}

static int check_common(ql_expr *c, char *m, size_t l) {
  ql_type t = QL_T_NULL;
  for (size_t k = 0; k < c->nargs; k++)
    if (common_type(t, argt(c, k), &t)) {
      snprintf(m, l, "Function '%s' cannot mix parameter types %s and %s", c->name,
               ql_type_name(t), ql_type_name(argt(c, k)));
      return -1;
    }
  c->type = t == QL_T_NULL ? QL_T_STRING : t;
  return 0;
}
static int check_common_ordered(ql_expr *c, char *m, size_t l) {
  if (check_common(c, m, l)) return -1;
  if (c->type == QL_T_BOOLEAN) {
    snprintf(m, l, "Function '%s' does not accept BOOLEAN parameters", c->name);
    return -1;
  }
  return 0;
}
static void extreme(const ql_expr *c, const sd_value *a, sd_value *o, int greatest) {
  int have = 0;
  sd_value best = null_value;
  for (size_t k = 0; k < c->nargs; k++) {
    if (a[k].type == SD_NULL) continue;
    sd_value v;
    widen(c, &a[k], &v);
    int better;
    if (!have)
      better = 1;
    else if (v.type == SD_STRING) {
      size_t n = v.as.s.len < best.as.s.len ? v.as.s.len : best.as.s.len;
      int r = memcmp(v.as.s.ptr, best.as.s.ptr, n);
      if (!r) r = (v.as.s.len > best.as.s.len) - (v.as.s.len < best.as.s.len);
      better = greatest ? r > 0 : r < 0;
    } else if (v.type == SD_DOUBLE)
      better = greatest ? v.as.d > best.as.d : v.as.d < best.as.d;
    else
      better = greatest ? v.as.i > best.as.i : v.as.i < best.as.i;
    if (better) {
      best = v;
      have = 1;
    }
  }
  *o = best;
}
static void f_greatest(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  extreme(c, a, o, 1);
}
static void f_least(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  extreme(c, a, o, 0);
}

/* ---- NULL handling
 * --------------------------------------------------------------------------- */
static void f_coalesce(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  for (size_t k = 0; k < c->nargs; k++)
    if (a[k].type != SD_NULL) {
      widen(c, &a[k], o);
      return;
    }
  *o = null_value;
}

/* ---- Strings
 * ---------------------------------------------------------------------------------- */
static int check_str_to_str(ql_expr *c, char *m, size_t l) {
  for (size_t k = 0; k < c->nargs; k++)
    if (want(c, k, is_str, "STRING", m, l)) return -1;
  c->type = QL_T_STRING;
  return 0;
}

static void case_map(const sd_value *a, ql_eval_ctx *x, sd_value *o, int upper) {
  if (a[0].type == SD_NULL) {
    *o = null_value;
    return;
  }
  char *p = ql_arena_strndup(x->scratch, a[0].as.s.ptr, a[0].as.s.len);
  if (!p) {
    *o = null_value;
    return;
  }
  for (size_t k = 0; k < a[0].as.s.len; k++)
    p[k] = (char)(upper ? toupper((unsigned char)p[k]) : tolower((unsigned char)p[k]));
  set_str(o, p, a[0].as.s.len);
}
static void f_ucase(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c;
  case_map(a, x, o, 1);
}
static void f_lcase(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c;
  case_map(a, x, o, 0);
}

static void trim_impl(const sd_value *a, sd_value *o, int left, int right) {
  if (a[0].type == SD_NULL) {
    *o = null_value;
    return;
  }
  const char *p = a[0].as.s.ptr;
  size_t n = a[0].as.s.len;
  while (left && n && isspace((unsigned char)*p)) p++, n--;
  while (right && n && isspace((unsigned char)p[n - 1])) n--;
  set_str(o, p, n);
}
static void f_trim(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  trim_impl(a, o, 1, 1);
}
static void f_ltrim(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  trim_impl(a, o, 1, 0);
}
static void f_rtrim(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  trim_impl(a, o, 0, 1);
}

/* Code points in UTF-8 text. */
static size_t cp_count(const char *s, size_t n) {
  size_t c = 0;
  for (size_t k = 0; k < n; k++)
    if (((unsigned char)s[k] & 0xC0) != 0x80) c++;
  return c;
}
/* Byte offset of code point `idx` (clamped to n). */
static size_t cp_offset(const char *s, size_t n, size_t idx) {
  size_t k = 0, c = 0;
  for (; k < n; k++) {
    if (((unsigned char)s[k] & 0xC0) != 0x80) {
      if (c == idx) return k;
      c++;
    }
  }
  return n;
}

static int check_len(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_str, "STRING", m, l)) return -1;
  c->type = QL_T_INTEGER;
  return 0;
}
static void f_len(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)c, (void)x;
  if (a[0].type == SD_NULL) {
    *o = null_value;
    return;
  }
  o->type = SD_INT;
  o->as.i = (int64_t)cp_count(a[0].as.s.ptr, a[0].as.s.len);
}

static int check_substring(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_str, "STRING", m, l) || want(c, 1, is_int, "an integer", m, l)) return -1;
  if (c->nargs == 3 && want(c, 2, is_int, "an integer", m, l)) return -1;
  c->type = QL_T_STRING;
  return 0;
}
/* 1-based; a negative start counts from the end, as in ksqlDB. */
static void f_substring(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  if (any_null(a, c->nargs)) {
    *o = null_value;
    return;
  }
  const char *s = a[0].as.s.ptr;
  size_t n = a[0].as.s.len;
  int64_t len = (int64_t)cp_count(s, n), pos = a[1].as.i;
  int64_t start = pos > 0 ? pos - 1 : pos < 0 ? len + pos : 0;
  if (start < 0) start = 0;
  if (start > len) start = len;
  int64_t end = len;
  if (c->nargs == 3) {
    int64_t want_len = a[2].as.i < 0 ? 0 : a[2].as.i;
    if (start + want_len < end) end = start + want_len;
  }
  size_t b0 = cp_offset(s, n, (size_t)start), b1 = cp_offset(s, n, (size_t)end);
  set_str(o, s + b0, b1 - b0);
}

static void f_concat(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  size_t total = 0;
  for (size_t k = 0; k < c->nargs; k++)
    if (a[k].type == SD_STRING) total += a[k].as.s.len;
  char *p = ql_arena_alloc(x->scratch, total + 1);
  if (!p) {
    *o = null_value;
    return;
  }
  size_t off = 0;
  for (size_t k = 0; k < c->nargs; k++)
    if (a[k].type == SD_STRING && a[k].as.s.len) {
      memcpy(p + off, a[k].as.s.ptr, a[k].as.s.len);
      off += a[k].as.s.len;
    }
  set_str(o, p, off);
}

static void f_replace(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  if (any_null(a, c->nargs)) {
    *o = null_value;
    return;
  }
  const char *s = a[0].as.s.ptr, *from = a[1].as.s.ptr, *to = a[2].as.s.ptr;
  size_t n = a[0].as.s.len, fn = a[1].as.s.len, tn = a[2].as.s.len;
  if (!fn) {
    *o = a[0];
    return;
  }
  size_t hits = 0;
  for (size_t k = 0; k + fn <= n;)
    if (!memcmp(s + k, from, fn))
      hits++, k += fn;
    else
      k++;
  size_t out_len = n - hits * fn + hits * tn;
  char *p = ql_arena_alloc(x->scratch, out_len + 1);
  if (!p) {
    *o = null_value;
    return;
  }
  size_t w = 0;
  for (size_t k = 0; k < n;) {
    if (k + fn <= n && !memcmp(s + k, from, fn)) {
      if (tn) memcpy(p + w, to, tn);
      w += tn;
      k += fn;
    } else {
      p[w++] = s[k++];
    }
  }
  set_str(o, p, w);
}

static int check_instr(ql_expr *c, char *m, size_t l) {
  if (want(c, 0, is_str, "STRING", m, l) || want(c, 1, is_str, "STRING", m, l)) return -1;
  c->type = QL_T_INTEGER;
  return 0;
}
static void f_instr(const ql_expr *c, const sd_value *a, ql_eval_ctx *x, sd_value *o) {
  (void)x;
  if (any_null(a, c->nargs)) {
    *o = null_value;
    return;
  }
  const char *s = a[0].as.s.ptr, *sub = a[1].as.s.ptr;
  size_t n = a[0].as.s.len, sn = a[1].as.s.len;
  o->type = SD_INT;
  o->as.i = 0;
  for (size_t k = 0; k + sn <= n; k++)
    if (!memcmp(s + k, sub, sn)) {
      o->as.i = (int64_t)cp_count(s, k) + 1;
      return;
    }
}

static const ql_func functions[] = {
    {"ABS", 1, 1, check_same_num, f_abs},
    {"CEIL", 1, 1, check_same_num, f_ceil},
    {"COALESCE", 1, QL_MAX_ARGS, check_common, f_coalesce},
    {"CONCAT", 1, QL_MAX_ARGS, check_str_to_str, f_concat},
    {"EXP", 1, 1, check_double_num, f_exp},
    {"FLOOR", 1, 1, check_same_num, f_floor},
    {"GREATEST", 1, QL_MAX_ARGS, check_common_ordered, f_greatest},
    {"IFNULL", 2, 2, check_common, f_coalesce},
    {"INSTR", 2, 2, check_instr, f_instr},
    {"LCASE", 1, 1, check_str_to_str, f_lcase},
    {"LEAST", 1, QL_MAX_ARGS, check_common_ordered, f_least},
    {"LEN", 1, 1, check_len, f_len},
    {"LN", 1, 1, check_double_num, f_ln},
    {"LTRIM", 1, 1, check_str_to_str, f_ltrim},
    {"POWER", 2, 2, check_double_num, f_power},
    {"REPLACE", 3, 3, check_str_to_str, f_replace},
    {"ROUND", 1, 2, check_round, f_round},
    {"RTRIM", 1, 1, check_str_to_str, f_rtrim},
    {"SIGN", 1, 1, check_sign, f_sign},
    {"SQRT", 1, 1, check_double_num, f_sqrt},
    {"SUBSTRING", 2, 3, check_substring, f_substring},
    {"TRIM", 1, 1, check_str_to_str, f_trim},
    {"UCASE", 1, 1, check_str_to_str, f_ucase},
};

const ql_func *ql_func_find(const char *upper_name) {
  /* Aliases ksqlDB also accepts. */
  if (!strcmp(upper_name, "CEILING"))
    upper_name = "CEIL";
  else if (!strcmp(upper_name, "UPPER"))
    upper_name = "UCASE";
  else if (!strcmp(upper_name, "LOWER"))
    upper_name = "LCASE";
  else if (!strcmp(upper_name, "LENGTH"))
    upper_name = "LEN";
  else if (!strcmp(upper_name, "SUBSTR"))
    upper_name = "SUBSTRING";
  else if (!strcmp(upper_name, "POW"))
    upper_name = "POWER";
  for (size_t k = 0; k < sizeof functions / sizeof functions[0]; k++)
    if (!strcmp(functions[k].name, upper_name)) return &functions[k];
  return NULL;
}

int ql_agg_lookup(const char *upper_name, ql_agg_kind *out) {
  static const struct {
    const char *name;
    ql_agg_kind kind;
  } aggs[] = {{"COUNT", QL_AGG_COUNT},
              {"SUM", QL_AGG_SUM},
              {"AVG", QL_AGG_AVG},
              {"MIN", QL_AGG_MIN},
              {"MAX", QL_AGG_MAX},
              {"LATEST_BY_OFFSET", QL_AGG_LATEST},
              {"EARLIEST_BY_OFFSET", QL_AGG_EARLIEST}};
  for (size_t k = 0; k < sizeof aggs / sizeof aggs[0]; k++)
    if (!strcmp(aggs[k].name, upper_name)) {
      *out = aggs[k].kind;
      return 1;
    }
  return 0;
}
