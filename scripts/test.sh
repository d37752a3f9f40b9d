#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. every test (conformance suite on the simulated platform, live-platform tests, …);
#   2. the live-platform tests again under ThreadSanitizer.
# Benchmarks are not tests: `swift run -c release storport bench runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "== swift test (all suites)"
swift test --disable-xctest
echo "== real NBD clients against storport serve"
swift build --product storport
bash scripts/serve-clients.sh .build/debug/storport
echo "== libiscsi's conformance suite against storport serve (one suite per process)"
bash scripts/iscsi-conformance.sh .build/debug/storport
echo "== swift test under ThreadSanitizer (live platform)"
swift test --disable-xctest --sanitize=thread --scratch-path .build-tsan --filter LiveTests
