#!/usr/bin/env bash
# Server instructions per I/O of `storport serve`, counted with valgrind's callgrind: the
# stable measure beside scripts/serve-bench.sh's wall-clock figures (which swing 2x here).
# The server runs under callgrind (all its threads: event loop, processors, timer); after a
# warm-up its counters are zeroed, a client drives 4 KiB random reads at QD32 for SECONDS,
# the counters are dumped, and the instructions are divided by the requests the server
# counted (its Prometheus counter storport_requests_total). Processors park at once when idle
# (--spin-us 0), so no instruction is spent spinning. iSCSI: iscsi-perf; NBD: fio's nbd engine.
#
# Caveats: callgrind counts each byte of a `rep stosb` (glibc's memset for large sizes: the
# zeroing of a 4 KiB read buffer, ~4,160 per I/O) as an instruction, though it takes ~100
# cycles; under valgrind a 4 KiB memcpy runs a vector loop (~500). A vDSO clock read counts ~25
# instructions though it takes ~28 ns here. Compare figures of this script with each other.
#
# Usage: bash scripts/serve-instructions.sh [BINARY] [SECONDS] [-- serve options…]
# With CALLGRIND_KEEP=DIR the dumps (cg.out.1 iSCSI, cg.out.2 NBD) are kept in DIR for
# callgrind_annotate (--inclusive=yes, --tree=caller) to say where the instructions go.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for t in valgrind:valgrind iscsi-perf:libiscsi-bin fio:fio curl:curl python3:python3; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
# Positional BINARY and SECONDS, each optional, then `--` and serve options.
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
source scripts/release-binary.sh "${positional[0]:-}"
seconds="${positional[1]:-10}"
work=$(mktemp -d)
vp=""
cleanup() {
  [ -n "$vp" ] && kill -9 "$vp" 2>/dev/null || true
  if [ -n "${CALLGRIND_KEEP:-}" ]; then mkdir -p "$CALLGRIND_KEEP" && cp "$work"/cg.out.* "$CALLGRIND_KEEP"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
strip --strip-debug -o "$work/storport" "$bin"
port=$((20000 + RANDOM % 20000))
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$work/storport" serve --miniport nvme --size 64m \
  --lun1 off --iscsi "127.0.0.1:$port" --nbd "127.0.0.1:$((port + 1))" --metrics "127.0.0.1:$((port + 2))" \
  --spin-us 0 "$@" >"$work/serve.log" 2>&1 &
vp=$!
for _ in $(seq 1 300); do grep -q "iSCSI: iscsi" "$work/serve.log" && break; sleep 0.2; done
grep -q "iSCSI: iscsi" "$work/serve.log" || { cat "$work/serve.log"; echo "the server did not start" >&2; exit 1; }
requests() {  # requests the server counted for front end $1
  curl -s "http://127.0.0.1:$((port + 2))/metrics" \
    | awk -v fe="$1" '$0 ~ "^storport_requests_total\\{frontend=\"" fe "\"" {s += $2} END {print s + 0}'
}
iscsi() {
  timeout $(($1 + 60)) iscsi-perf -m 32 -b 1 -r -t "$1" \
    "iscsi://127.0.0.1:$port/iqn.2026-11.org.swift-storport:storport/0" >/dev/null 2>&1 || true
}
nbd() {
  timeout $(($1 + 60)) fio --ioengine=nbd --uri="nbd://127.0.0.1:$((port + 1))/storport" --rw=randread --bs=4k \
    --iodepth=32 --runtime="$1" --time_based --name=r >/dev/null 2>&1 || true
}
dumps=0
measure() {  # measure NAME FRONTEND: instructions per request of one run
  "$2" 2  # warm-up
  local n0 n1 ir
  n0=$(requests "$2")
  callgrind_control -z "$vp" >/dev/null 2>&1
  "$2" "$seconds"
  callgrind_control -d "$vp" >/dev/null 2>&1
  n1=$(requests "$2")
  dumps=$((dumps + 1))
  for _ in $(seq 1 50); do [ -s "$work/cg.out.$dumps" ] && break; sleep 0.2; done
  ir=$(callgrind_annotate "$work/cg.out.$dumps" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  [ -n "$ir" ] || { echo "no callgrind dump for $1 (see $work/serve.log)" >&2; cat "$work/serve.log" >&2; exit 1; }
  python3 -c "print(f'  {\"$1\":40s} {$n1 - $n0:>8,} requests   {$ir / max($n1 - $n0, 1):>8,.0f} instructions per I/O')"
}
echo "server instructions per I/O (4 KiB random reads, QD32, callgrind, ${seconds} s each)"
measure "iSCSI (iscsi-perf)" iscsi
measure "NBD (fio --ioengine=nbd)" nbd
