/* Test double for source_http's rb_builder: renders every record as one text line
 * (`@ts key=k | name:s=... time:i=...`) so tests compare whole records at once, and can
 * fail on the Nth call to exercise the parsers' out-of-memory path. */
#ifndef TEST_SOURCE_HTTP_RECORDER_H
#define TEST_SOURCE_HTTP_RECORDER_H

#include "../../plugins/source_http/builder.h"
#include <stddef.h>

typedef struct recorder {
  char **lines; /* one per record */
  size_t count;
  size_t cap;
  long fail_at; /* call number that fails (1-based); 0 = never */
  long calls;
  rb_builder builder;
} recorder;

void recorder_init(recorder *r);
void recorder_free(recorder *r);
/* Line of record i, or "" when there is none. */
const char *recorder_line(const recorder *r, size_t i);

#endif
