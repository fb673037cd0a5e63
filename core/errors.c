/* The error list (see errors.h): messages are formatted once, kept in the order added and
 * printed together, so a config with five mistakes is fixed in one round instead of five. */
#include "errors.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct sd_errors {
  char **messages;
  size_t count;
  size_t cap;
};

sd_errors *sd_errors_new(void) {
  return xcalloc(1, sizeof(sd_errors));
}

void sd_errors_free(sd_errors *errs) {
  if (!errs) return;
  for (size_t i = 0; i < errs->count; i++) free(errs->messages[i]);
  free(errs->messages);
  free(errs);
}

void sd_errors_add(sd_errors *errs, const char *fmt, ...) {
  if (!errs) return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = NULL;
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (n < 0) {
    fprintf(stderr, "sensord: out of memory formatting an error message\n");
    abort();
  }
  util_grow((void **)&errs->messages, &errs->cap, errs->count + 1, sizeof(char *));
  errs->messages[errs->count++] = msg;
}

size_t sd_errors_count(const sd_errors *errs) {
  return errs ? errs->count : 0;
}

const char *sd_errors_at(const sd_errors *errs, size_t index) {
  if (!errs || index >= errs->count) return NULL;
  return errs->messages[index];
}

void sd_errors_print(const sd_errors *errs, FILE *out) {
  if (!errs) return;
  for (size_t i = 0; i < errs->count; i++) fprintf(out, "%s\n", errs->messages[i]);
  fflush(out);
}
