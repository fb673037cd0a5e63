/* The record builder the body parsers write into: a small table of callbacks so the
 * parsers need no host. The plugin maps it onto host batch calls; unit tests and the
 * fuzzer plug in their own recorders. */
#ifndef SOURCE_HTTP_BUILDER_H
#define SOURCE_HTTP_BUILDER_H

#include <stddef.h>
#include <stdint.h>

/* Every callback returns 0 on success, non-zero when the record could not be stored
 * (out of memory): the parser then stops and reports an internal error. */
typedef struct rb_builder {
  void *ctx;
  int (*record_begin)(void *ctx, int64_t timestamp_ns, const char *key, size_t key_len);
  int (*field_null)(void *ctx, const char *name, size_t name_len);
  int (*field_bool)(void *ctx, const char *name, size_t name_len, int v);
  int (*field_int)(void *ctx, const char *name, size_t name_len, int64_t v);
  int (*field_double)(void *ctx, const char *name, size_t name_len, double v);
  int (*field_string)(void *ctx, const char *name, size_t name_len, const char *v, size_t len);
} rb_builder;

#endif
