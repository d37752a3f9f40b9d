#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. every test (conformance suite on the simulated platform, live-platform tests, …);
#   2. real clients against storport serve (NBD and iSCSI), the parsers under libFuzzer, and
#      libiscsi's conformance suite with its justified expected-failure list;
#   3. the live-platform tests again under ThreadSanitizer.
# Benchmarks are not tests: `swift run -c release storport bench runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "== swift test (all suites)"
swift test --disable-xctest
echo "== real NBD and iSCSI clients against storport serve"
swift build --product storport
bash scripts/serve-clients.sh .build/debug/storport
echo "== the iSCSI and NBD parsers under libFuzzer (20 s)"
bash scripts/fuzz.sh 20 1
echo "== libiscsi's conformance suite against storport serve (one suite per process), 512-byte blocks"
bash scripts/iscsi-conformance.sh .build/debug/storport "$(mktemp -d)" -- --logical-block-size 512
echo "== the same, 4096-byte blocks (the Debian test tool's 512-byte writes: scripts/iscsi-expected-failures-4k.txt)"
ISCSI_EXPECTED_FAILURES=scripts/iscsi-expected-failures-4k.txt bash scripts/iscsi-conformance.sh .build/debug/storport
echo "== swift test under ThreadSanitizer (live platform)"
swift test --disable-xctest --sanitize=thread --scratch-path .build-tsan --filter LiveTests
