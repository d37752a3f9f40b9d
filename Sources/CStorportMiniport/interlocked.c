// The Interlocked* routines: full-barrier atomics on the miniport's own memory. Each one first
// tells the host (a scheduling point on the simulated platform, where the explorer may switch
// processors, and a synchronisation edge for the race detector), then does the operation.
#include "storport.h"
#include "storport_host.h"

const StorportHost *storport_host_table(void);

static inline void point(volatile void *address, unsigned width, unsigned op) {
  const StorportHost *h = storport_host_table();
  if (!h) return;
  uint64_t w[3] = {(uint64_t)(uintptr_t)address, width, op};
  h->routine(StorportRoutineInterlocked, NULL, w);
}

enum { OpRead = 0, OpReadModifyWrite = 1 };

#define SC __ATOMIC_SEQ_CST

LONG InterlockedIncrement(LONG volatile *a) { point(a, 4, OpReadModifyWrite); return __atomic_add_fetch(a, 1, SC); }
LONG InterlockedDecrement(LONG volatile *a) { point(a, 4, OpReadModifyWrite); return __atomic_sub_fetch(a, 1, SC); }
LONG InterlockedExchange(LONG volatile *t, LONG v) { point(t, 4, OpReadModifyWrite); return __atomic_exchange_n(t, v, SC); }
LONG InterlockedExchangeAdd(LONG volatile *a, LONG v) { point(a, 4, OpReadModifyWrite); return __atomic_fetch_add(a, v, SC); }
LONG InterlockedCompareExchange(LONG volatile *d, LONG exchange, LONG comparand) {
  point(d, 4, OpReadModifyWrite);
  __atomic_compare_exchange_n(d, &comparand, exchange, 0, SC, SC);
  return comparand;
}
LONG InterlockedOr(LONG volatile *d, LONG v) { point(d, 4, OpReadModifyWrite); return __atomic_fetch_or(d, v, SC); }
LONG InterlockedAnd(LONG volatile *d, LONG v) { point(d, 4, OpReadModifyWrite); return __atomic_fetch_and(d, v, SC); }
LONG InterlockedXor(LONG volatile *d, LONG v) { point(d, 4, OpReadModifyWrite); return __atomic_fetch_xor(d, v, SC); }
LONG64 InterlockedIncrement64(LONG64 volatile *a) { point(a, 8, OpReadModifyWrite); return __atomic_add_fetch(a, 1, SC); }
LONG64 InterlockedDecrement64(LONG64 volatile *a) { point(a, 8, OpReadModifyWrite); return __atomic_sub_fetch(a, 1, SC); }
LONG64 InterlockedExchange64(LONG64 volatile *t, LONG64 v) { point(t, 8, OpReadModifyWrite); return __atomic_exchange_n(t, v, SC); }
LONG64 InterlockedExchangeAdd64(LONG64 volatile *a, LONG64 v) { point(a, 8, OpReadModifyWrite); return __atomic_fetch_add(a, v, SC); }
LONG64 InterlockedCompareExchange64(LONG64 volatile *d, LONG64 exchange, LONG64 comparand) {
  point(d, 8, OpReadModifyWrite);
  __atomic_compare_exchange_n(d, &comparand, exchange, 0, SC, SC);
  return comparand;
}
LONG64 InterlockedOr64(LONG64 volatile *d, LONG64 v) { point(d, 8, OpReadModifyWrite); return __atomic_fetch_or(d, v, SC); }
LONG64 InterlockedAnd64(LONG64 volatile *d, LONG64 v) { point(d, 8, OpReadModifyWrite); return __atomic_fetch_and(d, v, SC); }
PVOID InterlockedExchangePointer(PVOID volatile *t, PVOID v) { point(t, 8, OpReadModifyWrite); return __atomic_exchange_n(t, v, SC); }
PVOID InterlockedCompareExchangePointer(PVOID volatile *d, PVOID exchange, PVOID comparand) {
  point(d, 8, OpReadModifyWrite);
  __atomic_compare_exchange_n(d, &comparand, exchange, 0, SC, SC);
  return comparand;
}
BOOLEAN InterlockedBitTestAndSet(LONG volatile *base, LONG offset) {
  LONG volatile *word = base + (offset >> 5);
  LONG bit = (LONG)(1u << (offset & 31));
  point(word, 4, OpReadModifyWrite);
  return (__atomic_fetch_or(word, bit, SC) & bit) != 0;
}
BOOLEAN InterlockedBitTestAndReset(LONG volatile *base, LONG offset) {
  LONG volatile *word = base + (offset >> 5);
  LONG bit = (LONG)(1u << (offset & 31));
  point(word, 4, OpReadModifyWrite);
  return (__atomic_fetch_and(word, ~bit, SC) & bit) != 0;
}
BOOLEAN InterlockedBitTestAndSet64(LONG64 volatile *base, LONG64 offset) {
  LONG64 volatile *word = base + (offset >> 6);
  LONG64 bit = (LONG64)(1ull << (offset & 63));
  point(word, 8, OpReadModifyWrite);
  return (__atomic_fetch_or(word, bit, SC) & bit) != 0;
}
BOOLEAN InterlockedBitTestAndReset64(LONG64 volatile *base, LONG64 offset) {
  LONG64 volatile *word = base + (offset >> 6);
  LONG64 bit = (LONG64)(1ull << (offset & 63));
  point(word, 8, OpReadModifyWrite);
  return (__atomic_fetch_and(word, ~bit, SC) & bit) != 0;
}
void KeMemoryBarrier(void) {
  point(NULL, 0, OpReadModifyWrite);
  __atomic_thread_fence(SC);
}
