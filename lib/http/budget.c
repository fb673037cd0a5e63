/* The request memory budget (see budget.h): a lock-free counter, so taking from it costs
 * one compare-and-swap on the body path. */
#include "budget.h"

void hf_budget_init(hf_budget *b, size_t limit) {
  atomic_init(&b->used, 0);
  atomic_init(&b->peak, 0);
  b->limit = limit;
}

int hf_budget_take(hf_budget *b, size_t n) {
  if (!b) return 0;
  size_t cur = atomic_load_explicit(&b->used, memory_order_relaxed);
  do {
    if (b->limit && (n > b->limit || cur > b->limit - n)) return -1;
  } while (!atomic_compare_exchange_weak_explicit(&b->used, &cur, cur + n, memory_order_relaxed,
                                                  memory_order_relaxed));
  size_t peak = atomic_load_explicit(&b->peak, memory_order_relaxed);
  while (cur + n > peak &&
         !atomic_compare_exchange_weak_explicit(&b->peak, &peak, cur + n, memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
  return 0;
}

void hf_budget_give(hf_budget *b, size_t n) {
  if (b && n) atomic_fetch_sub_explicit(&b->used, n, memory_order_relaxed);
}
