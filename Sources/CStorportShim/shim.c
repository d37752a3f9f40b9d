#define _GNU_SOURCE
#include "CStorportShim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

_Thread_local void *storport_tls_current = 0;
_Thread_local void *storport_tls_allocating = 0;

uint32_t storport_load_acquire(uint32_t *w) { return __atomic_load_n(w, __ATOMIC_ACQUIRE); }
uint32_t storport_load_relaxed(uint32_t *w) { return __atomic_load_n(w, __ATOMIC_RELAXED); }
void storport_store_release(uint32_t *w, uint32_t v) { __atomic_store_n(w, v, __ATOMIC_RELEASE); }
uint32_t storport_exchange(uint32_t *w, uint32_t v) {
  return __atomic_exchange_n(w, v, __ATOMIC_ACQ_REL);
}
uint32_t storport_fetch_or(uint32_t *w, uint32_t bits) {
  return __atomic_fetch_or(w, bits, __ATOMIC_ACQ_REL);
}
bool storport_cas(uint32_t *w, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(w, &expected, desired, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}
bool storport_try_lock(uint32_t *w) {
  if (__atomic_load_n(w, __ATOMIC_RELAXED) != 0) return false;
  return __atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE) == 0;
}
void storport_unlock(uint32_t *w) { __atomic_store_n(w, 0, __ATOMIC_RELEASE); }

uint64_t storport_load64_relaxed(uint64_t *w) { return __atomic_load_n(w, __ATOMIC_RELAXED); }
uint64_t storport_add64(uint64_t *w, uint64_t delta) { return __atomic_add_fetch(w, delta, __ATOMIC_RELAXED); }

void storport_or64(uint64_t *w, uint64_t bits) { __atomic_fetch_or(w, bits, __ATOMIC_RELAXED); }
void storport_and64(uint64_t *w, uint64_t bits) { __atomic_fetch_and(w, bits, __ATOMIC_RELAXED); }
int storport_open(const char *path, int flags, int mode) { return open(path, flags, mode); }
int storport_o_direct(void) { return O_DIRECT; }
int storport_punch_hole(int fd, int64_t offset, int64_t length) {
  return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

bool storport_mutex_trylock(uint32_t *w) {
  uint32_t expected = 0;
  return __atomic_compare_exchange_n(w, &expected, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void storport_spin_lock(uint32_t *w) {
  if (__atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE) == 0) return;
  for (unsigned attempt = 0;; attempt++) {
    if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 && __atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE) == 0)
      return;
    if (attempt < 128) {
      storport_cpu_relax();  // a hold is a few instructions: the holder is usually running
    } else if (attempt & 1) {
      sched_yield();
    } else {
      // The holder may be a thread this one preempted and keeps off its core: the timer thread
      // runs SCHED_FIFO, and sched_yield gives way only to its peers. Sleep briefly.
      struct timespec pause = {0, 2000};
      nanosleep(&pause, 0);
    }
  }
}

void storport_mutex_lock(uint32_t *w) {
  for (int i = 0; i < 100; i++) {
    if (storport_mutex_trylock(w)) return;
    storport_cpu_relax();
  }
  // Slow path: mark "locked with sleepers" and sleep until the holder hands over.
  while (__atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE) != 0) {
    storport_futex_wait(w, 2, 0);
  }
}

void storport_mutex_unlock(uint32_t *w) {
  if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) == 2) storport_futex_wake(w, 1);
}

uint32_t *storport_words_alloc(int count) {
  void *p = 0;
  size_t size = (size_t)(count > 0 ? count : 1) * 128;
  if (posix_memalign(&p, 128, size) != 0) abort();
  memset(p, 0, size);
  return (uint32_t *)p;
}

void storport_words_free(uint32_t *words) { free(words); }

int storport_futex_wait(uint32_t *w, uint32_t expected, uint64_t deadline_ns) {
  struct timespec ts;
  struct timespec *tsp = 0;
  if (deadline_ns != 0) {
    ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
    ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
    tsp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline.
  long r = syscall(SYS_futex, w, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, 0,
                   FUTEX_BITSET_MATCH_ANY);
  if (r == 0) return 0;
  if (errno == ETIMEDOUT) return 1;
  if (errno == EAGAIN || errno == EINTR) return 0;
  return -1;
}

int storport_futex_wake(uint32_t *w, int n) {
  return (int)syscall(SYS_futex, w, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, 0, 0, 0);
}

uint64_t storport_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t storport_monotonic_coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t storport_monotonic_resolution_ns(void) {
  struct timespec ts;
  clock_getres(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void storport_sleep_until(uint64_t deadline_ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
  ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, 0) == EINTR) {
  }
}

int storport_set_timer_slack(unsigned long ns) { return prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0); }

void storport_set_thread_name(const char *name) {
  char buf[16];
  strncpy(buf, name, 15);
  buf[15] = 0;
  prctl(PR_SET_NAME, buf, 0, 0, 0);
}

int storport_timerfd_sleep_until(uint64_t deadline_ns) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) return -1;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ull);
  its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ull);
  if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, 0) != 0) {
    close(fd);
    return -1;
  }
  uint64_t expirations = 0;
  ssize_t n;
  do {
    n = read(fd, &expirations, sizeof expirations);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n == (ssize_t)sizeof expirations ? 0 : -1;
}

uint64_t storport_process_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int storport_join_within(pthread_t thread, uint64_t nanoseconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  uint64_t ns = (uint64_t)deadline.tv_nsec + nanoseconds % 1000000000ull;
  deadline.tv_sec += (time_t)(nanoseconds / 1000000000ull + ns / 1000000000ull);
  deadline.tv_nsec = (long)(ns % 1000000000ull);
  int rc = pthread_timedjoin_np(thread, 0, &deadline);
  if (rc == ETIMEDOUT) {
    pthread_detach(thread);
    return 1;
  }
  return rc == 0 ? 0 : -1;
}
