#!/usr/bin/env bash
# Builds the public OFA NVMe Storport miniport (nvmewin, BSD-style licence) from a checkout of
# its repository, unchanged, against swift-storport's headers, and runs it on the emulated NVMe
# controller if it builds. Its source never enters this repository.
#
#   git clone https://github.com/gigaherz/nvmewin /tmp/nvmewin     (or any mirror of OFA trunk)
#   bash scripts/nvmewin.sh /tmp/nvmewin
#
# What the script adds, all outside the checkout (compiler flags, include paths and stubs of the
# Windows build environment — no edit to nvmewin's .c or .h files):
#   * DBG=1, so the sources take their DbgPrint path instead of WPP's generated *.tmh files
#     (empty *.tmh stubs are still provided, for the includes);
#   * nvmeMofData.h, the header the WDK's mofcomp generates from nvmeMofData.mof, written here
#     from that .mof's classes (GUIDs, data blocks, method parameters);
#   * an empty stortrce.h (Storport's WPP tracing support);
#   * SEH emulation for the three __try / __leave / __finally (finally: excpt.h's alias) blocks:
#     do { … break; … } while (0) — sound there, as no __leave sits inside a loop or switch.
#
# How far it gets at this commit (see the note on issue 9): every header the sources include is
# provided and every file parses except for declaration/definition type mismatches in nvmewin
# itself that MSVC accepts and standard C compilers reject:
#   * IsDeviceRemoved is declared as HW_TIMER_EX / HW_TIMER (PVOID DeviceExtension) and defined
#     with a PNVME_DEVICE_EXTENSION parameter;
#   * DriverEntry is declared as sp_DRIVER_INITIALIZE (PVOID, PVOID) and defined with
#     PDRIVER_OBJECT / PUNICODE_STRING parameters;
#   * SntiTranslateRead12/16, Write12/16 and TemperatureResponse are declared returning
#     SNTI_STATUS and defined returning SNTI_TRANSLATION_STATUS (two distinct enum types).
# Exit status: 0 if it built (and then ran), 1 if it did not build, 2 for a bad checkout path.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="${1:?usage: bash scripts/nvmewin.sh PATH-TO-NVMEWIN-CHECKOUT}"
src="$checkout/source"
[ -f "$src/nvmeStd.c" ] || { echo "nvmewin.sh: $src/nvmeStd.c not found (give the checkout's top directory)" >&2; exit 2; }
cc="${CC:-$(dirname "$(command -v swift)")/clang}"
include="$(pwd)/Sources/CStorportMiniport/include"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stubs="$work/stubs"
mkdir -p "$stubs"

# WPP's generated trace headers (unused with DBG=1) and Storport's tracing header.
for t in nvmestd nvmestat nvmeinit nvmeWmi nvmeSnti nvmePwrMgmt nvmeIo; do : >"$stubs/$t.tmh"; done
: >"$stubs/stortrce.h"

# What mofcomp -h generates from nvmeMofData.mof.
cat >"$stubs/nvmeMofData.h" <<'MOF'
#ifndef NVME_MOF_DATA_H
#define NVME_MOF_DATA_H
/* NVMe_DataType */
typedef struct _NVMe_DataType {
  LONG Id;
  ULONGLONG u64;
} NVMe_DataType, *PNVMe_DataType;
#define NVMe_DataType_SIZE (FIELD_OFFSET(NVMe_DataType, u64) + sizeof(ULONGLONG))
/* NVMe_QueryDevInfo */
#define NVMe_QueryDevInfoGuid {0x3865ddf9, 0x7774, 0x4cf4, {0xb5, 0xca, 0xb7, 0x56, 0x9a, 0x28, 0xfb, 0xb4}}
DEFINE_GUID(NVMe_QueryDevInfo_GUID, 0x3865ddf9, 0x7774, 0x4cf4, 0xb5, 0xca, 0xb7, 0x56, 0x9a, 0x28, 0xfb, 0xb4);
typedef struct _NVMe_QueryDevInfo {
  ULONG maxDataXferSize;
  ULONG numberOfNamespaces;
  NVMe_DataType Data;
} NVMe_QueryDevInfo, *PNVMe_QueryDevInfo;
#define NVMe_QueryDevInfo_SIZE (FIELD_OFFSET(NVMe_QueryDevInfo, Data) + NVMe_DataType_SIZE)
/* NVMe_Method */
#define NVMe_MethodGuid {0x3865ddfa, 0x7774, 0x4cf4, {0xb5, 0xca, 0xb7, 0x56, 0x9a, 0x28, 0xfb, 0xb4}}
DEFINE_GUID(NVMe_Method_GUID, 0x3865ddfa, 0x7774, 0x4cf4, 0xb5, 0xca, 0xb7, 0x56, 0x9a, 0x28, 0xfb, 0xb4);
#define GetControllerInfo 1
typedef struct _GetControllerInfo_OUT {
  USHORT pciVendorId;
  USHORT pciSsVendId;
} GetControllerInfo_OUT, *PGetControllerInfo_OUT;
#define GetControllerInfo_OUT_SIZE (FIELD_OFFSET(GetControllerInfo_OUT, pciSsVendId) + sizeof(USHORT))
#define GetNameSpaceInfo 2
typedef struct _GetNameSpaceInfo_IN {
  ULONG lunId;
} GetNameSpaceInfo_IN, *PGetNameSpaceInfo_IN;
#define GetNameSpaceInfo_IN_SIZE (FIELD_OFFSET(GetNameSpaceInfo_IN, lunId) + sizeof(ULONG))
typedef struct _GetNameSpaceInfo_OUT {
  ULONGLONG nSize;
  ULONGLONG nCap;
} GetNameSpaceInfo_OUT, *PGetNameSpaceInfo_OUT;
#define GetNameSpaceInfo_OUT_SIZE (FIELD_OFFSET(GetNameSpaceInfo_OUT, nCap) + sizeof(ULONGLONG))
#endif
MOF

flags=(-shared -fPIC -g -O1 -w -ferror-limit=0 -DDBG=1 -D'__try=do' -D'__leave=break' -D'__finally=while (0);' -D'finally=while (0);'
  -I "$stubs" -I "$include" -I "$src")
built=0
failed=0
objects=()
for f in "$src"/*.c; do
  name=$(basename "$f" .c)
  if "$cc" "${flags[@]/-shared/-c}" "$f" -o "$work/$name.o" 2>"$work/$name.err"; then
    built=$((built + 1))
    objects+=("$work/$name.o")
  else
    failed=$((failed + 1))
    echo "== $name.c: $(grep -c 'error:' "$work/$name.err") error(s)"
    grep 'error:' "$work/$name.err" | sed 's/^/   /' | head -8
  fi
done
echo "nvmewin: $built of $((built + failed)) source files compile against swift-storport's headers"
if [ "$failed" -gt 0 ]; then
  echo "nvmewin: not built (the errors above are nvmewin's own declaration/definition mismatches unless listed otherwise)"
  exit 1
fi
"$cc" -shared -o "$work/nvmewin.so" "${objects[@]}"
mkdir -p .build/miniports && cp "$work/nvmewin.so" .build/miniports/nvmewin.so
echo "nvmewin: built .build/miniports/nvmewin.so; running it"
swift run -c release storport bench io --miniport .build/miniports/nvmewin.so --verify crc32c --runtime 5s
