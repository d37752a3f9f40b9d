// dladdr for the host (a GNU extension the Swift Glibc module does not expose).
#define _GNU_SOURCE
#include <dlfcn.h>

#include "storport_host.h"

int storport_symbol_of(const void *address, const char **name, const char **file, void **base) {
  Dl_info info;
  if (!dladdr(address, &info)) return 0;
  if (name) *name = info.dli_sname;
  if (file) *file = info.dli_fname;
  if (base) *base = info.dli_fbase;
  return 1;
}

#include <pthread.h>
#include <stdint.h>

static _Thread_local uintptr_t stack_low, stack_high;

int storport_on_current_stack(const void *address, size_t bytes) {
  if (!stack_high) {
    pthread_attr_t attr;
    void *base;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
    if (pthread_attr_getstack(&attr, &base, &size) != 0) {
      pthread_attr_destroy(&attr);
      return 0;
    }
    pthread_attr_destroy(&attr);
    stack_low = (uintptr_t)base;
    stack_high = (uintptr_t)base + size;
  }
  uintptr_t a = (uintptr_t)address;
  return a >= stack_low && a + bytes <= stack_high && a + bytes >= a;
}

static _Thread_local const void *cached_extension;
static _Thread_local void *cached_owner;
static _Thread_local uint64_t cached_generation;

void *storport_extension_cache_get(const void *extension, uint64_t generation) {
  return extension && extension == cached_extension && generation == cached_generation ? cached_owner : 0;
}

void storport_extension_cache_set(const void *extension, void *owner, uint64_t generation) {
  cached_extension = extension;
  cached_owner = owner;
  cached_generation = generation;
}

/* The port's lock handles of the C STOR_LOCK_HANDLEs this thread (one simulated processor)
 * holds, keyed by the C handle's address: host memory, never the miniport's. */
#define LOCK_SLOTS 16
static _Thread_local struct {
  const void *key;
  unsigned char bytes[32];
} lock_slots[LOCK_SLOTS];

int storport_lock_slot_put(const void *key, const void *bytes, size_t n) {
  if (n > sizeof lock_slots[0].bytes) return 0;
  int free = -1;
  for (int i = 0; i < LOCK_SLOTS; i++) {
    if (lock_slots[i].key == key) { free = i; break; }
    if (free < 0 && !lock_slots[i].key) free = i;
  }
  if (free < 0) return 0;
  lock_slots[free].key = key;
  __builtin_memcpy(lock_slots[free].bytes, bytes, n);
  return 1;
}

int storport_lock_slot_take(const void *key, void *bytes, size_t n) {
  if (n > sizeof lock_slots[0].bytes) return 0;
  for (int i = 0; i < LOCK_SLOTS; i++) {
    if (lock_slots[i].key == key) {
      __builtin_memcpy(bytes, lock_slots[i].bytes, n);
      lock_slots[i].key = 0;
      return 1;
    }
  }
  return 0;
}
