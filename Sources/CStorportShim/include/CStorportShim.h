// The few things Swift cannot do directly on Linux: variadic syscalls (futex, prctl),
// _Thread_local storage, the pause instruction, and atomics on caller-owned aligned words
// (futex words must have an address). Everything here is small and static inline where it
// sits on a hot path.
#ifndef CSTORPORT_SHIM_H
#define CSTORPORT_SHIM_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- thread-local execution context -------------------------------------------------------
// The runtime stores the current simulated processor (an unretained object pointer) here.
extern _Thread_local void *_Nullable storport_tls_current;
static inline void *_Nullable storport_get_current(void) { return storport_tls_current; }
static inline void storport_set_current(void *_Nullable p) { storport_tls_current = p; }
/// The port allocating a device extension on this thread (read by DeviceExtension's init).
extern _Thread_local void *_Nullable storport_tls_allocating;
static inline void *_Nullable storport_get_allocating(void) { return storport_tls_allocating; }
static inline void storport_set_allocating(void *_Nullable p) { storport_tls_allocating = p; }

// ---- cpu ---------------------------------------------------------------------------------
static inline void storport_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// ---- aligned atomic words (each in its own 128-byte block) --------------------------------
/// Allocates `count` 32-bit words, each alone in a 128-byte-aligned, zeroed block.
uint32_t *_Nonnull storport_words_alloc(int count);
void storport_words_free(uint32_t *_Nonnull words);
/// The i-th word of a block from storport_words_alloc.
static inline uint32_t *_Nonnull storport_word(uint32_t *_Nonnull base, int i) {
  return base + (size_t)i * 32;
}
// Out of line on purpose: compiled in this C target, they are instrumented by
// ThreadSanitizer (`swift test --sanitize=thread`), so it sees every happens-before edge.
uint32_t storport_load_acquire(uint32_t *_Nonnull w);
uint32_t storport_load_relaxed(uint32_t *_Nonnull w);
void storport_store_release(uint32_t *_Nonnull w, uint32_t v);
uint32_t storport_exchange(uint32_t *_Nonnull w, uint32_t v);
bool storport_cas(uint32_t *_Nonnull w, uint32_t expected, uint32_t desired);
/// Atomic or (acquire-release read-modify-write); returns the old value. With bits 0, a look
/// at the word ordered after the caller's earlier stores as an exchange is.
uint32_t storport_fetch_or(uint32_t *_Nonnull w, uint32_t bits);
/// Test-and-test-and-set acquire attempt: true if the word went 0 -> 1.
bool storport_try_lock(uint32_t *_Nonnull w);
void storport_unlock(uint32_t *_Nonnull w);
/// Relaxed 64-bit load (counters other threads update with storport_add64).
uint64_t storport_load64_relaxed(uint64_t *_Nonnull w);
/// Atomic add (relaxed, wrapping); returns the new value. Any thread.
uint64_t storport_add64(uint64_t *_Nonnull w, uint64_t delta);
/// Atomic bit operations on 64-bit words (mapped-block bitmaps).
void storport_or64(uint64_t *_Nonnull w, uint64_t bits);
void storport_and64(uint64_t *_Nonnull w, uint64_t bits);
/// open(2) with flags (variadic in C). Returns the fd or -1.
int storport_open(const char *_Nonnull path, int flags, int mode);
/// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE). Returns 0 or -1 (errno set).
int storport_punch_hole(int fd, int64_t offset, int64_t length);
/// O_DIRECT, O_CREAT, O_RDWR values for this platform.
int storport_o_direct(void);
/// Joins `thread` if it ends within `nanoseconds`: 0 joined, 1 still running (then detached,
/// never to be joined), -1 on another error.
int storport_join_within(pthread_t thread, uint64_t nanoseconds);
/// A spin lock for critical sections of a few instructions (0 free, 1 held): test-and-set,
/// then about 128 pauses, then alternately sched_yield and a 2 µs sleep (the holder may be a
/// descheduled thread, or one a SCHED_FIFO waiter keeps off its core). Release with
/// storport_unlock: one plain store, no locked instruction — a hold costs one atomic exchange
/// where the futex mutex below costs two.
void storport_spin_lock(uint32_t *_Nonnull w);
/// A futex mutex (0 free, 1 locked, 2 locked with sleepers): spins briefly, then sleeps.
void storport_mutex_lock(uint32_t *_Nonnull w);
bool storport_mutex_trylock(uint32_t *_Nonnull w);
void storport_mutex_unlock(uint32_t *_Nonnull w);

// ---- futex ---------------------------------------------------------------------------------
/// Sleeps while *w == expected, until woken or (if deadline_ns != 0) CLOCK_MONOTONIC reaches
/// deadline_ns. Returns 0 when woken or the value differed, 1 on timeout, -1 on other errors.
int storport_futex_wait(uint32_t *_Nonnull w, uint32_t expected, uint64_t deadline_ns);
/// Wakes up to n sleepers on w. Returns how many were woken.
int storport_futex_wake(uint32_t *_Nonnull w, int n);

// ---- clocks and threads ---------------------------------------------------------------------
/// CLOCK_MONOTONIC in nanoseconds.
uint64_t storport_monotonic_ns(void);
/// CLOCK_MONOTONIC_COARSE in nanoseconds: a few ms of resolution, a fraction of the cost.
uint64_t storport_monotonic_coarse_ns(void);
/// CLOCK_MONOTONIC resolution in nanoseconds.
uint64_t storport_monotonic_resolution_ns(void);
/// Sleeps with clock_nanosleep(TIMER_ABSTIME) until deadline_ns (monotonic).
void storport_sleep_until(uint64_t deadline_ns);
/// prctl(PR_SET_TIMERSLACK, ns). Returns 0 on success.
int storport_set_timer_slack(unsigned long ns);
/// prctl(PR_SET_NAME). Names longer than 15 bytes are cut.
void storport_set_thread_name(const char *_Nonnull name);
/// A timerfd armed once for deadline_ns (absolute, monotonic), then read (blocking).
/// Returns 0 on success. Used by the timer baseline benchmark.
int storport_timerfd_sleep_until(uint64_t deadline_ns);
/// CPU time consumed by the whole process, in nanoseconds.
uint64_t storport_process_cpu_ns(void);

// ---- CRC-32C ----------------------------------------------------------------------------------
/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start). Uses the SSE4.2
/// CRC32 instruction when available. storport_crc32c_update(0, "123456789", 9) == 0xE3069283.
uint32_t storport_crc32c_update(uint32_t crc, const void *_Nullable data, size_t length);
/// The same, always by table (for tests that compare both paths).
uint32_t storport_crc32c_software_update(uint32_t crc, const void *_Nullable data, size_t length);

// ---- stop signals ----------------------------------------------------------------------------
/// Installs SIGINT / SIGTERM handlers that only record the signal. Returns 0 or -1.
int storport_install_stop_signals(void);
/// The first stop signal received (SIGINT = 2, SIGTERM = 15), or 0.
int storport_stop_signal(void);
/// How many stop signals were received (a third one kills the process).
int storport_stop_signal_count(void);
/// Forgets a received stop signal (tests).
void storport_reset_stop_signal(void);

#ifdef __cplusplus
}
#endif
#endif
