/* ThreadSanitizer builds only (SAN=thread): C11 <threads.h> calls mapped onto pthreads.
 * librdkafka starts its threads with thrd_create and locks with mtx_/cnd_, which this
 * toolchain's libtsan does not intercept: its threads then crash on their first malloc
 * and its locks order nothing. Defined in the executable, these take precedence over libc's
 * for every library, so TSan sees librdkafka's threads and synchronisation like ours. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#ifdef __SANITIZE_THREAD__
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

typedef struct tsan_c11_start {
  thrd_start_t fn;
  void *arg;
} tsan_c11_start;

static int tsan_c11_result(int err) {
  switch (err) {
  case 0:
    return thrd_success;
  case ENOMEM:
    return thrd_nomem;
  case ETIMEDOUT:
    return thrd_timedout;
  case EBUSY:
    return thrd_busy;
  default:
    return thrd_error;
  }
}

/* A C11 start routine returns int: run it from a proper pthread start routine. */
static void *tsan_c11_trampoline(void *p) {
  tsan_c11_start start = *(tsan_c11_start *)p;
  free(p);
  return (void *)(intptr_t)start.fn(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
  tsan_c11_start *start = malloc(sizeof *start);
  if (!start) return thrd_nomem;
  start->fn = fn;
  start->arg = arg;
  int err = pthread_create(thr, NULL, tsan_c11_trampoline, start);
  if (err) free(start);
  return tsan_c11_result(err);
}

int thrd_join(thrd_t thr, int *res) {
  void *value = NULL;
  int err = pthread_join(thr, &value);
  if (!err && res) *res = (int)(intptr_t)value;
  return tsan_c11_result(err);
}

int thrd_detach(thrd_t thr) {
  return tsan_c11_result(pthread_detach(thr));
}

/* glibc lays mtx_t, cnd_t and once_flag out as pthread_mutex_t, pthread_cond_t and
 * pthread_once_t, which is what its own <threads.h> functions rely on too. */
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");
_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");
int mtx_init(mtx_t *m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int err = pthread_mutex_init((pthread_mutex_t *)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return tsan_c11_result(err);
}
int mtx_lock(mtx_t *m) {
  return tsan_c11_result(pthread_mutex_lock((pthread_mutex_t *)m));
}
int mtx_trylock(mtx_t *m) {
  return tsan_c11_result(pthread_mutex_trylock((pthread_mutex_t *)m));
}
int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts) {
  return tsan_c11_result(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}
int mtx_unlock(mtx_t *m) {
  return tsan_c11_result(pthread_mutex_unlock((pthread_mutex_t *)m));
}
void mtx_destroy(mtx_t *m) {
  pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c) {
  return tsan_c11_result(pthread_cond_init((pthread_cond_t *)c, NULL));
}
int cnd_signal(cnd_t *c) {
  return tsan_c11_result(pthread_cond_signal((pthread_cond_t *)c));
}
int cnd_broadcast(cnd_t *c) {
  return tsan_c11_result(pthread_cond_broadcast((pthread_cond_t *)c));
}
int cnd_wait(cnd_t *c, mtx_t *m) {
  return tsan_c11_result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts) {
  return tsan_c11_result(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}
void cnd_destroy(cnd_t *c) {
  pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void)) {
  pthread_once((pthread_once_t *)flag, fn);
}
#else
/* Without ThreadSanitizer libc's own <threads.h> functions are used. */
typedef int tsan_c11threads_unused;
#endif
