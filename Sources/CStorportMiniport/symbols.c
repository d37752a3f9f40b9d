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
