// Entry points for compiler instrumentation of a miniport built with `-fsanitize=thread`: the
// compiler calls these around every plain load and store the miniport makes. They are weak:
// a process that links the real ThreadSanitizer runtime keeps that runtime's definitions.
// Here each access goes to the host (a scheduling point, and a check by the explorer's race
// detector, which names the instruction's source line), but only while the host listens
// (storport_host_set_memory_hooks); otherwise each hook is one relaxed load.
#include <string.h>

#include "storport_host.h"

const StorportHost *storport_host_table(void);

static int memory_hooks;

void storport_host_set_memory_hooks(int enabled) { __atomic_store_n(&memory_hooks, enabled, __ATOMIC_RELEASE); }

#define WEAK __attribute__((weak, visibility("default")))
#define PC ((uint64_t)(uintptr_t)__builtin_return_address(0))

static inline void note(const void *address, uint64_t size, int isWrite, uint64_t pc, StorportRoutine kind) {
  if (__builtin_expect(!__atomic_load_n(&memory_hooks, __ATOMIC_RELAXED), 1)) return;
  const StorportHost *h = storport_host_table();
  if (!h) return;
  uint64_t w[4] = {(uint64_t)(uintptr_t)address, size, (uint64_t)isWrite, pc};
  h->routine(kind, NULL, w);
}

WEAK void __tsan_init(void) {}
WEAK void __tsan_func_entry(void *pc) { (void)pc; }
WEAK void __tsan_func_exit(void) {}
WEAK void __tsan_ignore_thread_begin(void) {}
WEAK void __tsan_ignore_thread_end(void) {}

#define ACCESS(n)                                                                                   \
  WEAK void __tsan_read##n(void *a) { note(a, n, 0, PC, StorportRoutineMemoryAccess); }            \
  WEAK void __tsan_write##n(void *a) { note(a, n, 1, PC, StorportRoutineMemoryAccess); }           \
  WEAK void __tsan_unaligned_read##n(void *a) { note(a, n, 0, PC, StorportRoutineMemoryAccess); }  \
  WEAK void __tsan_unaligned_write##n(void *a) { note(a, n, 1, PC, StorportRoutineMemoryAccess); } \
  WEAK void __tsan_volatile_read##n(void *a) { note(a, n, 0, PC, StorportRoutineMemoryAccess); }   \
  WEAK void __tsan_volatile_write##n(void *a) { note(a, n, 1, PC, StorportRoutineMemoryAccess); }  \
  WEAK void __tsan_read##n##_pc(void *a, void *pc) {                                                \
    note(a, n, 0, (uint64_t)(uintptr_t)pc, StorportRoutineMemoryAccess);                           \
  }                                                                                                 \
  WEAK void __tsan_write##n##_pc(void *a, void *pc) {                                               \
    note(a, n, 1, (uint64_t)(uintptr_t)pc, StorportRoutineMemoryAccess);                           \
  }
ACCESS(1)
ACCESS(2)
ACCESS(4)
ACCESS(8)
ACCESS(16)

WEAK void __tsan_read_range(void *a, unsigned long size) { note(a, size, 0, PC, StorportRoutineMemoryRange); }
WEAK void __tsan_write_range(void *a, unsigned long size) { note(a, size, 1, PC, StorportRoutineMemoryRange); }
WEAK void __tsan_vptr_read(void **p) { note(p, 8, 0, PC, StorportRoutineMemoryAccess); }
WEAK void __tsan_vptr_update(void **p, void *v) { (void)v; note(p, 8, 1, PC, StorportRoutineMemoryAccess); }

WEAK void *__tsan_memcpy(void *d, const void *s, unsigned long n) {
  note(s, n, 0, PC, StorportRoutineMemoryRange);
  note(d, n, 1, PC, StorportRoutineMemoryRange);
  return memcpy(d, s, n);
}
WEAK void *__tsan_memmove(void *d, const void *s, unsigned long n) {
  note(s, n, 0, PC, StorportRoutineMemoryRange);
  note(d, n, 1, PC, StorportRoutineMemoryRange);
  return memmove(d, s, n);
}
WEAK void *__tsan_memset(void *d, int c, unsigned long n) {
  note(d, n, 1, PC, StorportRoutineMemoryRange);
  return memset(d, c, n);
}

// C11 / __atomic operations in the miniport: sequentially consistent here, and each one a
// synchronisation point for the host exactly as the Interlocked routines are.
static inline void atomic_op(volatile void *a, unsigned width, int readModifyWrite) {
  const StorportHost *h = storport_host_table();
  if (!h) return;
  uint64_t w[3] = {(uint64_t)(uintptr_t)a, width, (uint64_t)readModifyWrite};
  h->routine(StorportRoutineInterlocked, NULL, w);
}
#define SC __ATOMIC_SEQ_CST
#define ATOMICS(bits, T)                                                                                    \
  WEAK T __tsan_atomic##bits##_load(const volatile T *a, int mo) {                                          \
    (void)mo;                                                                                               \
    atomic_op((volatile void *)a, bits / 8, 0);                                                             \
    return __atomic_load_n(a, SC);                                                                          \
  }                                                                                                         \
  WEAK void __tsan_atomic##bits##_store(volatile T *a, T v, int mo) {                                       \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    __atomic_store_n(a, v, SC);                                                                             \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_exchange(volatile T *a, T v, int mo) {                                       \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_exchange_n(a, v, SC);                                                                   \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_fetch_add(volatile T *a, T v, int mo) {                                      \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_fetch_add(a, v, SC);                                                                    \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_fetch_sub(volatile T *a, T v, int mo) {                                      \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_fetch_sub(a, v, SC);                                                                    \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_fetch_and(volatile T *a, T v, int mo) {                                      \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_fetch_and(a, v, SC);                                                                    \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_fetch_or(volatile T *a, T v, int mo) {                                       \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_fetch_or(a, v, SC);                                                                     \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_fetch_xor(volatile T *a, T v, int mo) {                                      \
    (void)mo;                                                                                               \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_fetch_xor(a, v, SC);                                                                    \
  }                                                                                                         \
  WEAK int __tsan_atomic##bits##_compare_exchange_strong(volatile T *a, T *c, T v, int mo, int fmo) {       \
    (void)mo;                                                                                               \
    (void)fmo;                                                                                              \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_compare_exchange_n(a, c, v, 0, SC, SC);                                                 \
  }                                                                                                         \
  WEAK int __tsan_atomic##bits##_compare_exchange_weak(volatile T *a, T *c, T v, int mo, int fmo) {         \
    (void)mo;                                                                                               \
    (void)fmo;                                                                                              \
    atomic_op(a, bits / 8, 1);                                                                              \
    return __atomic_compare_exchange_n(a, c, v, 0, SC, SC);                                                 \
  }                                                                                                         \
  WEAK T __tsan_atomic##bits##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo) {             \
    (void)mo;                                                                                               \
    (void)fmo;                                                                                              \
    atomic_op(a, bits / 8, 1);                                                                              \
    __atomic_compare_exchange_n(a, &c, v, 0, SC, SC);                                                       \
    return c;                                                                                               \
  }
ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)
WEAK void __tsan_atomic_thread_fence(int mo) {
  (void)mo;
  atomic_op(NULL, 0, 1);
  __atomic_thread_fence(SC);
}
WEAK void __tsan_atomic_signal_fence(int mo) { (void)mo; }
