#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu, Debian libiscsi-bin) against `storport serve`,
# one suite per process as ../shared/spec/iscsi-conformance.md runs it (-d -S, the URL twice so
# the multipath and two-initiator tests run), scored PASS / FAIL / SKIP per test: a test whose
# output shows a bare FAILED is a failure, one that shows [SKIPPED] before passed is a skip.
# Installs libiscsi-bin when missing. Starts its own server unless given a URL.
#
# Usage: bash scripts/iscsi-conformance.sh [STORPORT-BINARY | iscsi://URL] [OUT-DIR] [-- SERVE-OPTIONS]
# SERVE-OPTIONS are added to the server's command line (e.g. --logical-block-size 512).
# Prints per-suite lines and the total; exits 1 if a test failed that is not listed in
# scripts/iscsi-expected-failures.txt, or the file ISCSI_EXPECTED_FAILURES names (each line
# there: Suite.Test  reason).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v iscsi-test-cu >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq libiscsi-bin
}
arg="${1:-.build/debug/storport}"
out="${2:-$(mktemp -d)}"
extra=()
if [ "${3:-}" = "--" ]; then extra=("${@:4}"); fi
mkdir -p "$out"
pid=""
if [[ "$arg" == iscsi://* ]]; then
  url="$arg"
else
  port=$((20000 + RANDOM % 20000))
  "$arg" serve --miniport nvme --size 256m --iscsi "127.0.0.1:$port" --nbd off ${extra[@]+"${extra[@]}"} >"$out/serve.log" 2>&1 &
  pid=$!
  trap 'kill -9 $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do grep -q "iSCSI: iscsi://" "$out/serve.log" && break; sleep 0.1; done
  url=$(sed -n 's/.*iSCSI: \(iscsi:[^ ]*\).*/\1/p' "$out/serve.log" | head -1)
  [ -n "$url" ] || { cat "$out/serve.log"; echo "iscsi-conformance: the server did not start" >&2; exit 1; }
  # The ReadOnly suite needs a write-protected LU (the spec's section 4.2): a second server,
  # the same but --readonly.
  port2=$((port + 1))
  "$arg" serve --miniport nvme --size 256m --iscsi "127.0.0.1:$port2" --nbd off --lun1 off --readonly \
    ${extra[@]+"${extra[@]}"} >"$out/serve-readonly.log" 2>&1 &
  pid2=$!
  trap 'kill -9 $pid $pid2 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do grep -q "iSCSI: iscsi://" "$out/serve-readonly.log" && break; sleep 0.1; done
  url_readonly=$(sed -n 's/.*iSCSI: \(iscsi:[^ ]*\).*/\1/p' "$out/serve-readonly.log" | head -1)
  [ -n "$url_readonly" ] || { cat "$out/serve-readonly.log"; echo "iscsi-conformance: the read-only server did not start" >&2; exit 1; }
fi
suites=$(iscsi-test-cu --list | awk -F. 'NF==2 && $1=="ALL"{print $2}')
for s in $suites; do
  u="$url"
  [ "$s" = ReadOnly ] && [ -n "${url_readonly:-}" ] && u="$url_readonly"
  timeout 120 iscsi-test-cu -d -S --test="ALL.$s" "$u" "$u" >"$out/$s.txt" 2>&1 || true
done
python3 - "$out" "${ISCSI_EXPECTED_FAILURES:-scripts/iscsi-expected-failures.txt}" <<'EOF'
import os, re, sys
out, expected_file = sys.argv[1], sys.argv[2]
expected = {}
if os.path.exists(expected_file):
    for line in open(expected_file):
        line = line.strip()
        if line and not line.startswith('#'):
            name, _, why = line.partition(' ')
            expected[name] = why.strip()
total = {'PASS': 0, 'FAIL': 0, 'SKIP': 0}
unexpected = []
for f in sorted(os.listdir(out)):
    if not f.endswith('.txt'): continue
    suite = f[:-4]
    text = open(os.path.join(out, f), errors='replace').read()
    parts = re.split(r'\n  Test: (\S+) \.\.\.', '\n' + text)
    counts = {'PASS': 0, 'FAIL': 0, 'SKIP': 0}
    for name, body in zip(parts[1::2], parts[2::2]):
        # Output that follows a test's verdict (teardown messages such as "[FAILED] PRIN
        # command ...") is not its own: only what comes before "passed" counts.
        head = body.split('passed', 1)[0] if 'passed' in body else body
        if re.search(r'(?<!\[)FAILED(?!\])', head):
            kind = 'FAIL'
        elif '[SKIPPED]' in head:
            kind = 'SKIP'
        else:
            kind = 'PASS'
        counts[kind] += 1
        if kind == 'FAIL' and f'{suite}.{name}' not in expected:
            unexpected.append(f'{suite}.{name}')
    for k in total: total[k] += counts[k]
    print(f"{suite:28s} {counts['PASS']:3d} pass {counts['FAIL']:3d} fail {counts['SKIP']:3d} skip")
print(f"TOTAL {total['PASS']} pass / {total['FAIL']} fail / {total['SKIP']} skip")
if unexpected:
    print('unexpected failures: ' + ' '.join(unexpected))
    sys.exit(1)
EOF
