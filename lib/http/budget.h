/* A memory budget shared by the requests of one server: what request bodies (and their
 * decompression) may hold at once, so that many clients together cannot exhaust memory
 * the way one client alone cannot (its body limit). */
#ifndef SD_LIB_HTTP_BUDGET_H
#define SD_LIB_HTTP_BUDGET_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct hf_budget {
  atomic_size_t used;
  size_t limit; /* 0 = unlimited */
  atomic_size_t peak;
} hf_budget;

void hf_budget_init(hf_budget *b, size_t limit);
/* Takes n bytes; 0, or -1 (nothing taken) when that would pass the limit. */
int hf_budget_take(hf_budget *b, size_t n);
void hf_budget_give(hf_budget *b, size_t n);

#endif
