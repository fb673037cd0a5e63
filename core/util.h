/* Small helpers shared by the core: clocks, allocation that aborts on exhaustion, and
 * string formatting into fresh buffers. Nothing here knows about stages or plugins. */
#ifndef SD_CORE_UTIL_H
#define SD_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t util_now_mono_ns(void);
int64_t util_now_wall_ns(void);

/* Out of memory is not a condition the daemon can recover from: these abort with a message. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *text);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *items (of item_size) so it can hold at least need elements. */
void util_grow(void **items, size_t *cap, size_t need, size_t item_size);

/* Shortest decimal text of v that parses back exactly; returns buf. */
const char *util_shortest_double(double v, char *buf, size_t size);

#endif
