/* The SQL front end's data: tokens, expression trees and parsed statements, plus the arena
 * every one of them lives in (one arena per statement, freed in one go).
 * Shared by the lexer, parser, planner, evaluator and the engine. */
#ifndef QL_SQL_AST_H
#define QL_SQL_AST_H

#include "engine.h"
#include <stddef.h>
#include <stdint.h>

/* ---- Arena: bump allocation in chunks; reset keeps the chunks for reuse ---------------- */
typedef struct ql_arena_chunk ql_arena_chunk;
typedef struct ql_arena {
  ql_arena_chunk *head;  /* current chunk (most recent) */
  ql_arena_chunk *full;  /* filled chunks still holding live allocations */
  ql_arena_chunk *spare; /* chunks a reset emptied, reused before malloc */
} ql_arena;

void ql_arena_init(ql_arena *a);
void *ql_arena_alloc(ql_arena *a, size_t n); /* zeroed, 8-aligned; NULL only on OOM */
char *ql_arena_strndup(ql_arena *a, const char *s, size_t n);
void ql_arena_reset(ql_arena *a);
void ql_arena_free(ql_arena *a);

/* ---- Types ----------------------------------------------------------------------------- */
typedef enum ql_type {
  QL_T_NULL = 0, /* the NULL literal: fits any type */
  QL_T_BOOLEAN,
  QL_T_INTEGER,
  QL_T_BIGINT,
  QL_T_DOUBLE,
  QL_T_STRING,
  QL_T_TIMESTAMP /* epoch milliseconds, carried as SD_INT */
} ql_type;

const char *ql_type_name(ql_type t);
int ql_type_numeric(ql_type t); /* INTEGER, BIGINT, DOUBLE */

/* ---- Tokens ----------------------------------------------------------------------------- */
typedef enum ql_tok_kind {
  QL_TK_EOF = 0,
  QL_TK_IDENT,  /* unquoted: text upper-cased in `value` */
  QL_TK_QIDENT, /* `quoted` or "quoted": kept as written */
  QL_TK_STRING, /* 'text' with '' unescaped in `value` */
  QL_TK_INT,
  QL_TK_DECIMAL,
  QL_TK_OP /* punctuation and operators: = <> != < <= > >= + - * / % ( ) , ; . */
} ql_tok_kind;

typedef struct ql_token {
  ql_tok_kind kind;
  int line, col;   /* 1-based */
  size_t offset;   /* byte offset of the first character */
  size_t length;   /* bytes in the source */
  const char *src; /* points into the source text */
  char *value;     /* NUL-terminated: upper-cased ident, unquoted ident, unescaped string */
} ql_token;

/* Splits sql into tokens (the last one is QL_TK_EOF). On a bad character or an unclosed
 * quote: -1 and err (40001, ksqlDB-style position). */
int ql_lex(ql_arena *a, const char *sql, ql_token **out, size_t *count, ql_error *err);

/* ---- Expressions --------------------------------------------------------------------------
 */
typedef enum ql_op {
  QL_E_LIT,
  QL_E_COL, /* name resolved to index into the stream's columns */
  QL_E_ROWTIME,
  QL_E_WINDOWSTART,
  QL_E_WINDOWEND,
  QL_E_NEG,
  QL_E_NOT,
  QL_E_AND,
  QL_E_OR,
  QL_E_ADD,
  QL_E_SUB,
  QL_E_MUL,
  QL_E_DIV,
  QL_E_MOD,
  QL_E_EQ,
  QL_E_NE,
  QL_E_LT,
  QL_E_LE,
  QL_E_GT,
  QL_E_GE,
  QL_E_IS_NULL, /* negated: IS NOT NULL */
  QL_E_IN,      /* args[0] IN (args[1..]); negated: NOT IN */
  QL_E_BETWEEN, /* args[0] BETWEEN args[1] AND args[2]; negated */
  QL_E_LIKE,    /* args[0] LIKE args[1]; negated */
  QL_E_CASE,    /* args: [operand] (when, then)* [else]; see has_operand/has_else */
  QL_E_CALL,    /* scalar function or aggregate (before planning) */
  QL_E_CAST,
  QL_E_STAR,    /* COUNT(*) argument */
  QL_E_AGGREF,  /* planned: value of aggregate slot `index` */
  QL_E_GROUPREF /* planned: value of GROUP BY key `index` */
} ql_op;

struct ql_func;

typedef struct ql_expr {
  ql_op op;
  ql_type type;  /* result type, set by the planner */
  int line, col; /* where the expression starts */
  int negated;
  int has_operand, has_else; /* CASE */
  int index;                 /* column / aggregate slot / group key */
  char *name;   /* column or function name as resolved (upper-cased unless quoted) */
  char *text;   /* source text of the expression, for names and messages */
  sd_value lit; /* QL_E_LIT */
  ql_type lit_type;
  ql_type cast_to;          /* QL_E_CAST */
  const struct ql_func *fn; /* QL_E_CALL after planning */
  int agg;                  /* QL_E_CALL: an aggregate function */
  struct ql_expr **args;
  size_t nargs;
} ql_expr;

/* ---- Statements ------------------------------------------------------------------------- */
typedef enum ql_stmt_kind {
  QL_S_SELECT,
  QL_S_CREATE_STREAM,
  QL_S_DROP_STREAM,
  QL_S_SHOW_STREAMS,
  QL_S_SHOW_TABLES,
  QL_S_SHOW_QUERIES,
  QL_S_DESCRIBE,
  QL_S_DESCRIBE_STREAMS,
  QL_S_TERMINATE
} ql_stmt_kind;

typedef struct ql_select_item {
  ql_expr *expr; /* NULL for * */
  char *alias;
  int star;
} ql_select_item;

typedef struct ql_column_def {
  char *name;
  ql_type type;
  int is_key;
} ql_column_def;

typedef enum ql_window_kind { QL_W_NONE = 0, QL_W_TUMBLING, QL_W_HOPPING } ql_window_kind;

typedef struct ql_window_def {
  ql_window_kind kind;
  int64_t size_ms, advance_ms, grace_ms;
  int has_grace;
} ql_window_def;

typedef struct ql_stmt {
  ql_stmt_kind kind;
  char *text; /* the statement as written, ending in ';' */
  int line, col;
  /* SELECT */
  ql_select_item *items;
  size_t nitems;
  char *from;
  int from_line, from_col;
  ql_expr *where;
  ql_window_def window;
  ql_expr **group_by;
  size_t ngroup;
  ql_expr *having;
  int emit_changes;
  int64_t limit; /* -1: none */
  /* CREATE / DROP / DESCRIBE / TERMINATE */
  char *name;
  int if_not_exists, if_exists, extended;
  ql_column_def *cols;
  size_t ncols;
  char *topic;        /* KAFKA_TOPIC */
  char *value_format; /* VALUE_FORMAT, upper-cased */
  char *key_format;
  int partitions;
  struct ql_stmt *next;
} ql_stmt;

/* Parses one or more statements (each ending in ';', the last one's ';' optional) into the
 * arena. Returns the first statement, or NULL with err (40001, ksqlDB-style message). An
 * empty text gives NULL with err->code == 0. */
ql_stmt *ql_parse(ql_arena *a, const char *sql, ql_error *err);

/* Formats "line L:C: Syntax Error\n<detail>" into err (code 40001). */
void ql_syntax_error(ql_error *err, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ql_set_error(ql_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
