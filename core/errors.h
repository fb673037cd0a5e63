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
/* Prints each message on its own line, in the order added. */
void sd_errors_print(const sd_errors *errs, FILE *out);

#endif
