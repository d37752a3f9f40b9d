#!/usr/bin/env bash
# Many clients at once against `storport serve`: SESSIONS iSCSI sessions and SESSIONS NBD
# connections (default 64 each), all open together, each a qemu-io process that writes a
# pattern to its own 256 KiB region and reads it back with the pattern checked, over and over
# (a new pattern every round), SECONDS rounds each (default 30). Passes when every process ends
# with every read verified, none stalls past the time limit, and the server stops cleanly with
# a PASS verdict. Traffic stays on loopback; every loop is bounded in count and time.
# Usage: bash scripts/serve-soak.sh [STORPORT-BINARY] [SECONDS] [SESSIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/storport}"
seconds="${2:-30}"
sessions="${3:-64}"
command -v qemu-io >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq qemu-utils qemu-block-extra
}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
iport=$((port + 1))
"$bin" serve --miniport nvme --size 256m --nbd "127.0.0.1:$port" --iscsi "127.0.0.1:$iport" >"$work/serve.log" 2>&1 &
pid=$!
cleanup() { kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q "NBD: nbd://" "$work/serve.log" && break; sleep 0.1; done
iurl="iscsi://127.0.0.1:$iport/iqn.2026-11.org.swift-storport:storport/0"
nurl="nbd://127.0.0.1:$port/storport"
rounds=$seconds
start=$(date +%s)
pids=()
for i in $(seq 0 $((2 * sessions - 1))); do
  if [ "$i" -lt "$sessions" ]; then url="$iurl"; else url="$nurl"; fi
  offset=$((i * 262144))
  cmds=()
  for r in $(seq 1 $rounds); do
    p=$(((i * 7 + r) % 255 + 1))
    cmds+=(-c "write -q -P $p $offset 256k" -c "read -q -P $p $offset 256k")
  done
  timeout $((seconds * 4)) qemu-io -f raw "${cmds[@]}" "$url" >"$work/client-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed=$((failed + 1))
    echo "serve-soak: client $i failed:" >&2
    tail -3 "$work/client-$i.log" >&2
  fi
done
elapsed=$(($(date +%s) - start))
mismatches=$(cat "$work"/client-*.log | grep -c "Pattern verification failed" || true)
kill -INT "$pid"
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
verdict=$(grep "stopped; verifier:" "$work/serve.log" || echo "no verdict")
total=$((2 * sessions * rounds))
echo "serve-soak: $sessions iSCSI sessions + $sessions NBD connections, $total verified 256 KiB write+read pairs in ${elapsed}s; failed clients: $failed; mismatches: $mismatches; server: $verdict"
[ "$failed" -eq 0 ] && [ "$mismatches" -eq 0 ] && [[ "$verdict" == *PASS* ]]
