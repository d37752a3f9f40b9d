// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI digests and the
// workload's verify headers. No library kept on this machine provides it for Swift, so it
// lives here: the SSE4.2 CRC32 instruction when the processor has it, otherwise a
// slicing-by-8 table computed once at first use.
#include "CStorportShim.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = table[0][n];
    for (int s = 1; s < 8; s++) {
      c = table[0][c & 0xFF] ^ (c >> 8);
      table[s][n] = c;
    }
  }
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *p, size_t n) {
  pthread_once(&table_once, build_table);
  while (n && ((uintptr_t)p & 7)) {
    crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    n--;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w ^= crc;
    crc = table[7][w & 0xFF] ^ table[6][(w >> 8) & 0xFF] ^ table[5][(w >> 16) & 0xFF] ^
          table[4][(w >> 24) & 0xFF] ^ table[3][(w >> 32) & 0xFF] ^ table[2][(w >> 40) & 0xFF] ^
          table[1][(w >> 48) & 0xFF] ^ table[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                                size_t n) {
  uint64_t c = crc;
  while (n && ((uintptr_t)p & 7)) {
    c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    n--;
  }
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
  return (uint32_t)c;
}
#endif

static int has_sse42 = -1;

uint32_t storport_crc32c_update(uint32_t crc, const void *data, size_t length) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (has_sse42 < 0) {
    __builtin_cpu_init();
    has_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
  }
  if (has_sse42) return ~crc32c_sse42(c, p, length);
#endif
  return ~crc32c_software(c, p, length);
}

uint32_t storport_crc32c_software_update(uint32_t crc, const void *data, size_t length) {
  return ~crc32c_software(~crc, (const uint8_t *)data, length);
}
