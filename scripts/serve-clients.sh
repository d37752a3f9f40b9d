#!/usr/bin/env bash
# Real clients against `storport serve` on loopback (run by scripts/test.sh). NBD: nbdinfo reads
# the negotiation (structured replies on), qemu-img writes a 64 MiB random image through the NVMe miniport adapter and
# compares it back, nbdcopy reads it out again, fio writes 16 MiB and verifies it (CRC-32C). iSCSI: iscsi-ls (discovery, REPORT LUNS,
# INQUIRY), iscsi-inq, iscsi-readcapacity16, and the same qemu-img round trip over iscsi://.
# (Digests: libiscsi 1.19 offers None before CRC32C, so a real client never picks them here;
# Tests/ServeTests checks them.) Then the server is stopped by its process id and must
# report a clean verifier verdict. Installs libnbd-bin, qemu-utils, qemu-block-extra,
# libiscsi-bin and fio when missing.
# Usage: bash scripts/serve-clients.sh [STORPORT-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nbdinfo >/dev/null 2>&1 || need+=(libnbd-bin)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v iscsi-ls >/dev/null 2>&1 || need+=(libiscsi-bin)
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
ls /usr/lib/x86_64-linux-gnu/qemu/block-iscsi.so >/dev/null 2>&1 || need+=(qemu-block-extra)
if [ ${#need[@]} -gt 0 ]; then
  echo "serve-clients: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
bin="${1:-.build/debug/storport}"
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
iport=$((port + 1))
mport=$((port + 3))
"$bin" serve --miniport nvme --size 64m --nbd "127.0.0.1:$port" --iscsi "127.0.0.1:$iport" \
  --metrics "127.0.0.1:$mport" --nop-interval 1 >"$work/serve.log" 2>&1 &
pid=$!
cleanup() { kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q "NBD: nbd://" "$work/serve.log" && break; sleep 0.1; done
grep -q "NBD: nbd://" "$work/serve.log" || { cat "$work/serve.log"; echo "serve-clients: the server did not start" >&2; exit 1; }
uri="nbd://127.0.0.1:$port/storport"
timeout 30 nbdinfo "$uri" >"$work/nbdinfo"
grep -q "export-size: 67108864" "$work/nbdinfo" || { echo "serve-clients: nbdinfo" >&2; exit 1; }
grep -q "using structured packets" "$work/nbdinfo" || { echo "serve-clients: structured replies" >&2; exit 1; }
head -c 67108864 /dev/urandom >"$work/image"
timeout 120 qemu-img convert -n -f raw -O raw "$work/image" "$uri"
timeout 120 qemu-img compare -f raw -F raw "$work/image" "$uri"
timeout 120 nbdcopy "$uri" "$work/back"
cmp "$work/image" "$work/back"
# fio's nbd engine: 16 MiB of random 4 KiB writes at queue depth 16, each block verified by CRC-32C.
timeout 120 fio --name=verify --ioengine=nbd --uri="$uri" --offset=32m --size=16m --rw=randwrite --bs=4k \
  --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 >"$work/fio.log" 2>&1 \
  || { cat "$work/fio.log"; echo "serve-clients: fio verify over NBD" >&2; exit 1; }
grep -q "err= 0" "$work/fio.log" || { cat "$work/fio.log"; echo "serve-clients: fio reported an error" >&2; exit 1; }
target=iqn.2026-11.org.swift-storport:storport
iurl="iscsi://127.0.0.1:$iport/$target/0"
timeout 30 iscsi-ls -s "iscsi://127.0.0.1:$iport" | grep -q "Lun:0 *Type:DIRECT_ACCESS" || { echo "serve-clients: iscsi-ls" >&2; exit 1; }
timeout 30 iscsi-inq "$iurl" | grep -q "Product:STORPORT" || { echo "serve-clients: iscsi-inq" >&2; exit 1; }
timeout 30 iscsi-readcapacity16 "$iurl" | grep -q "Total size:67108864" || { echo "serve-clients: iscsi-readcapacity16" >&2; exit 1; }
timeout 30 iscsi-ls -s "iscsi://127.0.0.1:$iport" | grep -q "Lun:1 *Type:DIRECT_ACCESS" || { echo "serve-clients: LUN 1" >&2; exit 1; }
head -c 4194304 /dev/urandom >"$work/small"
timeout 60 qemu-img convert -n -f raw -O raw "$work/small" "iscsi://127.0.0.1:$iport/$target/1"
timeout 60 qemu-img compare -f raw -F raw "$work/small" "iscsi://127.0.0.1:$iport/$target/1" >/dev/null \
  || { echo "serve-clients: LUN 1 data" >&2; exit 1; }
head -c 67108864 /dev/urandom >"$work/image2"
timeout 120 qemu-img convert -n -f raw -O raw "$work/image2" "$iurl"
timeout 120 qemu-img compare -f raw -F raw "$work/image2" "$iurl"
# NOP-In pings (every second of silence here): libiscsi (in qemu-io) answers them across a
# 2.5 s pause and its session lives on; an initiator that answers nothing is closed.
timeout 30 qemu-io -f raw -c 'sleep 2500' -c 'read 0 4k' "$iurl" | grep -q "read 4096/4096" \
  || { echo "serve-clients: a session answering NOP-In pings did not survive" >&2; exit 1; }
closed=$(timeout 30 python3 scripts/lib/iscsi-silent-initiator.py 127.0.0.1 "$iport" "$target" 10)
[ "$closed" != open ] || { echo "serve-clients: a silent initiator was not closed" >&2; exit 1; }
# The Prometheus endpoint counted what the clients did (qemu-img, nbdcopy and fio over NBD;
# qemu-img over iSCSI), and the status page has the verdict so far.
curl -sf "http://127.0.0.1:$mport/metrics" >"$work/metrics"
for series in 'storport_requests_total{frontend="nbd",op="write"}' 'storport_requests_total{frontend="nbd",op="read"}' \
  'storport_requests_total{frontend="iscsi",op="write"}' 'storport_adapter_completed_requests_total{adapter="lun0:nvme"}'; do
  value=$(grep -F "$series" "$work/metrics" | awk '{print $2}')
  [ -n "$value" ] && [ "${value%.*}" -gt 0 ] || { echo "serve-clients: metrics: $series is '${value}'" >&2; exit 1; }
done
curl -sf "http://127.0.0.1:$mport/status" | grep -q "lun0:nvme: running.*verifier: PASS" \
  || { echo "serve-clients: /status" >&2; exit 1; }
# CHAP (secrets from a file, mutual) and an initiator allow-list, on a second server.
printf 'initiator alice secret-of-alice\ntarget storport secret-of-target\n' >"$work/chap"
chmod 600 "$work/chap"
cport=$((port + 2))
"$bin" serve --miniport ramdisk --size 16m --lun1 off --nbd off --iscsi "127.0.0.1:$cport" --chap-file "$work/chap" \
  --allow-initiator iqn.2026-11.test:allowed >"$work/chap.log" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do grep -q "iSCSI: iscsi://" "$work/chap.log" && break; sleep 0.1; done
curl="127.0.0.1:$cport/$target/0"
ok=(-i iqn.2026-11.test:allowed)
timeout 30 iscsi-inq "${ok[@]}" "iscsi://alice%secret-of-alice@$curl?target_user=storport&target_password=secret-of-target" \
  | grep -q "Product:" || { echo "serve-clients: CHAP (mutual) login" >&2; exit 1; }
{ timeout 30 iscsi-inq "${ok[@]}" "iscsi://alice%wrong-secret-x@$curl" 2>&1 || true; } | grep -q "Authentication failure" \
  || { echo "serve-clients: a wrong CHAP secret was not refused" >&2; exit 1; }
{ timeout 30 iscsi-inq "iscsi://alice%secret-of-alice@$curl" 2>&1 || true; } | grep -q "Authorization failure" \
  || { echo "serve-clients: an initiator not on the allow-list was not refused" >&2; exit 1; }
if grep -q "secret-of" "$work/chap.log"; then echo "serve-clients: a CHAP secret reached the log" >&2; exit 1; fi
kill -INT "$cpid"
# A clean stop with writes flushed: a file-backed export, 4 MiB written over NBD (acknowledged),
# SIGINT, and the file itself holds the pattern.
fport=$((port + 4))
"$bin" serve --filename "$work/disk.img" --size 16m --lun1 off --iscsi off --nbd "127.0.0.1:$fport" \
  >"$work/file.log" 2>&1 &
fpid=$!
for _ in $(seq 1 100); do grep -q "NBD: nbd://" "$work/file.log" && break; sleep 0.1; done
timeout 30 qemu-io -f raw -c 'write -P 0x5a 1m 4m' "nbd://127.0.0.1:$fport/storport" | grep -q "wrote 4194304" \
  || { echo "serve-clients: write to the file-backed export" >&2; exit 1; }
kill -INT "$fpid"
for _ in $(seq 1 100); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
grep -q "stopped; verifier: PASS" "$work/file.log" || { cat "$work/file.log"; echo "serve-clients: file-backed stop" >&2; exit 1; }
timeout 30 qemu-io -f raw -r -c 'read -P 0x5a 1m 4m' "$work/disk.img" | grep -q "read 4194304" \
  || { echo "serve-clients: the acknowledged writes are not in the file after the stop" >&2; exit 1; }
kill -INT "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "serve-clients: the server did not stop on SIGINT" >&2; exit 1; fi
grep -q "stopped; verifier: PASS" "$work/serve.log" || { cat "$work/serve.log"; echo "serve-clients: verdict" >&2; exit 1; }
echo "serve-clients: NBD (nbdinfo, qemu-img convert + compare of 64 MiB, nbdcopy, fio verify=crc32c) and iSCSI (iscsi-ls, iscsi-inq,"
echo "  iscsi-readcapacity16, qemu-img convert + compare of 64 MiB; LUN 1 on the RAM disk: 4 MiB round trip) through the"
echo "  NVMe adapter: identical; CHAP (mutual) accepted, a wrong secret and an initiator off the allow-list refused,"
echo "  no secret in the log; NOP-In pings answered by libiscsi, a silent initiator closed after ${closed} s;"
echo "  Prometheus metrics counted the clients' requests; a file-backed export holds its acknowledged writes after"
echo "  SIGINT; clean stop"
