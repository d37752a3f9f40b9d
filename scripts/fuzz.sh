#!/usr/bin/env bash
# Fuzzes the iSCSI and NBD parsers (the connection state machines of Sources/StorportServe)
# with libFuzzer: builds Fuzz/WireFuzz.swift with the wire files at -O with
# -sanitize=fuzzer,address (linked with swift-nio's NIOCore as a shared library), seeds a
# corpus from the unit tests' shapes, and runs for SECONDS (default 60) on JOBS processes. Prints the executions done; fails on any crash.
# Usage: bash scripts/fuzz.sh [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
seconds="${1:-60}"
jobs="${2:-1}"
out=.build/fuzz
mkdir -p "$out/corpus"
wire=(Sources/StorportServe/ISCSIPDU.swift Sources/StorportServe/ISCSINegotiation.swift
  Sources/StorportServe/ISCSIConnection.swift Sources/StorportServe/ISCSIConnection+Login.swift
  Sources/StorportServe/ISCSIConnection+Commands.swift Sources/StorportServe/ISCSIConnection+TaskManagement.swift
  Sources/StorportServe/NBDProtocol.swift
  Sources/StorportServe/NBDSession.swift Sources/StorportServe/TargetSense.swift Sources/StorportServe/ISCSIConnection+Ping.swift
  Sources/StorportServe/Transfers.swift Sources/StorportServe/ISCSISession.swift
  Sources/StorportServe/DataIn.swift Sources/StorportServe/DataBuffer.swift Sources/StorportServe/WireBuffers.swift)
clang -O2 -c Sources/CStorportShim/crc32c.c -I Sources/CStorportShim/include -o "$out/crc32c.o"
mkdir -p "$out/shim"
printf 'module CStorportShim {\n  header "%s"\n  export *\n}\n' "$PWD/Sources/CStorportShim/include/CStorportShim.h" \
  >"$out/shim/module.modulemap"
# The wire files hold their bytes in swift-nio's ByteBuffer: NIOCore and what it depends on come
# as one shared library the package builds for this (the WireFuzzSupport product, debug, not
# instrumented: only our files are fuzzed). The C modules swift-nio's interfaces name are found
# by their module maps.
swift build --product WireFuzzSupport >"$out/nio-build.log" 2>&1 || { tail -20 "$out/nio-build.log"; exit 1; }
debug=$(swift build --show-bin-path)
maps=()
while IFS= read -r -d '' m; do maps+=(-Xcc "-fmodule-map-file=$m"); done \
  < <(find "$debug" -maxdepth 2 -path '*/CNIO*.build/module.modulemap' -print0; \
    find .build/checkouts -path '*/include/module.modulemap' -print0)
swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name StorportWireFuzz -I "$out/shim" -I "$debug/Modules" \
  "${maps[@]}" "${wire[@]}" Fuzz/WireFuzz.swift "$out/crc32c.o" -L "$debug" -lWireFuzzSupport \
  -Xlinker -rpath -Xlinker "$debug" -o "$out/wire-fuzz" >"$out/build.log" 2>&1 \
  || { grep -v "Cannot export local symbol" "$out/build.log" | tail -30; exit 1; }
# Seeds: a login, an iSCSI read command, an NBD handshake start (mode byte first).
printf '\x01' > "$out/corpus/seed-login"
printf '\x03\x00\x00\x00\x03' > "$out/corpus/seed-nbd"
log="$out/fuzz.log"
rm -f fuzz-*.log
if [ "$jobs" -le 1 ]; then
  # In process: the exit status is the verdict.
  "$out/wire-fuzz" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$out/corpus" >"$log" 2>&1 \
    || { tail -40 "$log"; echo "fuzz: a crash (see $log)" >&2; exit 1; }
else
  "$out/wire-fuzz" -max_total_time="$seconds" -jobs="$jobs" -workers="$jobs" -max_len=4096 \
    -print_final_stats=1 "$out/corpus" >"$log" 2>&1 || true
  cat fuzz-*.log >>"$log" 2>/dev/null || true
  rm -f fuzz-*.log
  if grep -q "ERROR: \|==ERROR\|deadly signal" "$log"; then
    grep -m5 "ERROR" "$log"
    echo "fuzz: a crash (see $log)" >&2
    exit 1
  fi
fi
runs=$(grep "stat::number_of_executed_units" "$log" | awk '{s+=$2} END{print s+0}')
echo "fuzz: $runs executions in ${seconds}s on $jobs job(s), no crash"
