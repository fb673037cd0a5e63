/* A list of error messages collected so that every problem in a config or plugin set is
 * reported at once, not just the first. */
#ifndef SD_CORE_ERRORS_H
#define SD_CORE_ERRORS_H

#include <stddef.h>
#include <stdio.h>

typedef struct sd_errors sd_errors;

sd_errors *sd_errors_new(void);
void sd_errors_free(sd_errors *errs);
void sd_errors_add(sd_errors *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t sd_errors_count(const sd_errors *errs);
const char *sd_errors_at(const sd_errors *errs, size_t index);
/* Orders messages by their file line ("path:LINE: ..."), keeping the order added among
 * messages of one line. */
void sd_errors_sort_by_line(sd_errors *errs);
/* Prints each message in turn; continuation lines of a multi-line message are indented. */
void sd_errors_print(const sd_errors *errs, FILE *out);

#endif
