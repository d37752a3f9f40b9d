#!/usr/bin/env bash
# Benchmarks `storport serve` against the reference servers in the same minutes (a benchmark,
# not a test: it prints figures beside their same-run baselines and judges nothing).
#   iSCSI: iscsi-perf, 4 KiB random reads, QD32, against us and tgt (null LUN, 512-byte blocks)
#   NBD:   fio --ioengine=nbd, 4 KiB random reads, QD32, against us and nbdkit's memory plugin
# Alternating, ROUNDS rounds of SECONDS each; server CPU is the server process's utime+stime per
# I/O. Installs libiscsi-bin, tgt, fio and nbdkit when missing. Loopback only.
# Usage: bash scripts/serve-bench.sh [STORPORT-BINARY] [SECONDS] [ROUNDS] [-- serve options…]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/storport}"
seconds="${2:-10}"
rounds="${3:-2}"
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
need=()
for t in iscsi-perf:libiscsi-bin tgtd:tgt fio:fio nbdkit:nbdkit; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$bin" serve --miniport nvme --size 1g --lun1 off --iscsi "127.0.0.1:$port" --nbd "127.0.0.1:$((port + 1))" "$@" \
  >"$work/serve.log" 2>&1 &
sp=$!
disown "$sp"
tgtd -f -C 7 --iscsi "portal=127.0.0.1:$((port + 2))" >"$work/tgtd.log" 2>&1 &
tp=$!
disown "$tp"
nbdkit -f -p $((port + 3)) -i 127.0.0.1 memory 1G >"$work/nbdkit.log" 2>&1 &
np=$!
disown "$np"
cleanup() {
  tgtadm -C 7 --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C 7 --op delete --mode system >/dev/null 2>&1 || true
  kill -9 "$sp" "$np" "$tp" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sleep 3
t="tgtadm -C 7 --lld iscsi"
$t --op new --mode target --tid 1 -T iqn.2024-01.test:tgt1
$t --op new --mode logicalunit --tid 1 --lun 1 -E null -b /dev/null
$t --op bind --mode target --tid 1 -I ALL
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
measure() {  # name pid command… → prints IOPS and µs of server CPU per I/O
  local name=$1 pid=$2
  shift 2
  local c0 c1 iops
  c0=$(cpu "$pid")
  iops=$("$@")
  c1=$(cpu "$pid")
  python3 -c "print(f'  {\"$name\":34s} {$iops:>9,.0f} IOPS   {($c1-$c0)/$hz/max($iops*$seconds,1)*1e6:6.1f} µs server CPU per I/O')"
}
iscsi() { timeout $((seconds + 20)) iscsi-perf -m 32 -b "$2" -r -t "$seconds" "$1" 2>&1 | tr '\r' '\n' \
  | sed -n 's/^iops average \([0-9]*\).*/\1/p' | tail -1; }
nbd() { timeout $((seconds + 20)) fio --ioengine=nbd --uri="$1" --rw=randread --bs=4k --iodepth=32 \
  --runtime="$seconds" --time_based --name=r --output-format=json 2>/dev/null | sed -n '/^{/,$p' \
  | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))'; }
target=iqn.2026-11.org.swift-storport:storport
for r in $(seq 1 "$rounds"); do
  echo "round $r (${seconds} s each, 4 KiB random reads, QD32)"
  measure "iSCSI storport serve" "$sp" iscsi "iscsi://127.0.0.1:$port/$target/0" 1
  measure "iSCSI tgt (null LUN)" "$tp" iscsi "iscsi://127.0.0.1:$((port + 2))/iqn.2024-01.test:tgt1/1" 8
  measure "NBD storport serve" "$sp" nbd "nbd://127.0.0.1:$((port + 1))/storport"
  measure "NBD nbdkit memory" "$np" nbd "nbd://127.0.0.1:$((port + 3))/"
done
kill -INT "$sp"
for _ in $(seq 1 100); do kill -0 "$sp" 2>/dev/null || break; sleep 0.1; done
grep "stopped; verifier:" "$work/serve.log" || true
