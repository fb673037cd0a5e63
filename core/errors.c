/* The error list (see errors.h): messages are formatted once, kept in the order added and
 * printed together, so a config with five mistakes is fixed in one round instead of five. */
#include "errors.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The line number of a "path:LINE: ..." message, or 0 (messages with no line sort first). */
static long message_line(const char *msg) {
  for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
    char *end;
    long line = strtol(c + 1, &end, 10);
    if (end != c + 1 && *end == ':') return line;
  }
  return 0;
}

void sd_errors_sort_by_line(sd_errors *errs) {
  if (!errs || errs->count < 2) return;
  struct item {
    long line;
    char *msg;
  } *items = xcalloc(errs->count, sizeof *items);
  for (size_t i = 0; i < errs->count; i++)
    items[i] = (struct item){message_line(errs->messages[i]), errs->messages[i]};
  for (size_t i = 1; i < errs->count; i++) { /* insertion sort: stable, and lists are short */
    struct item it = items[i];
    size_t j = i;
    while (j > 0 && items[j - 1].line > it.line) {
      items[j] = items[j - 1];
      j--;
    }
    items[j] = it;
  }
  for (size_t i = 0; i < errs->count; i++) errs->messages[i] = items[i].msg;
  free(items);
}

void sd_errors_print(const sd_errors *errs, FILE *out) {
  if (!errs) return;
  /* A message spanning lines (ksqlDB-style SQL errors) keeps its continuation lines
   * indented, so each error still starts with its file:line. */
  for (size_t i = 0; i < errs->count; i++) {
    for (const char *c = errs->messages[i]; *c; c++) {
      fputc(*c, out);
      if (*c == '\n' && c[1]) fputs("    ", out);
    }
    fputc('\n', out);
  }
  fflush(out);
}
