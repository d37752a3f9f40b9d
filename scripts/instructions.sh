#!/usr/bin/env bash
# Instructions per operation, counted with valgrind's callgrind on a fixed amount of work: a
# stable measure beside the wall-clock benchmarks (which swing 2x between runs here). Each
# figure is the slope between two amounts of work, so start-up and shut-down cancel out:
#   per op = (instructions(2N) - instructions(N)) / N
# Operations: a spin-lock acquire + release and a DPC issue + run (one live processor, which
# parks when idle, so nothing spins), and one I/O of the main job through the whole path on
# the simulated platform (NVMe miniport, verified randrw, slope between two virtual run times),
# checked and unchecked; and the same I/O through the C NVMe sample miniport (miniports/nvme,
# built with the documented command at -O2) beside it, for the C interface's cost.
#
# Usage: bash scripts/instructions.sh [BINARY]   (default: builds -c release)
# valgrind 3.19 cannot read the DWARF 5 the toolchain emits: the binary is copied without
# debug information first.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq valgrind; }
source scripts/release-binary.sh "${1:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
strip --strip-debug -o "$work/storport" "$bin"

count() {  # count <args...>: total instructions of one run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/storport" "$@" >"$work/out" 2>"$work/err" \
    || { cat "$work/err" >&2; exit 1; }
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/err"
}
ios() {  # total I/Os of the JSON result in $work/out
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["read"]["total_ios"]+d["write"]["total_ios"])' "$work/out"
}

n=200000
printf '%-52s %12s\n' "operation" "instr/op"
for mode in checked unchecked; do
  flag=""; [ "$mode" = unchecked ] && flag="--unchecked"
  for op in lock dpc; do
    a=$(count bench work --operation $op --count $n $flag)
    b=$(count bench work --operation $op --count $((2 * n)) $flag)
    printf '%-52s %12s\n' "$op ($mode)" "$(( (b - a) / n ))"
  done
  io=(bench io --simulated --seed 7 --miniport nvme --rw randrw --verify crc32c --iodepth 32 --numjobs 2 --json $flag)
  a=$(count "${io[@]}" --runtime 10ms); ia=$(ios)
  b=$(count "${io[@]}" --runtime 20ms); ib=$(ios)
  swift=$(( (b - a) / (ib - ia) ))
  printf '%-52s %12s\n' "I/O, main job on the simulated platform ($mode)" "$swift"
  cc=$("$work/storport" --include-dir >/dev/null 2>&1 && echo "${CC:-clang}")
  [ -f "$work/nvme.so" ] || "$cc" -shared -fPIC -O2 -I "$("$work/storport" --include-dir)" miniports/nvme/nvme.c -o "$work/nvme.so"
  cio=("${io[@]/nvme/$work/nvme.so}")
  a=$(count "${cio[@]}" --runtime 10ms); ia=$(ios)
  b=$(count "${cio[@]}" --runtime 20ms); ib=$(ios)
  c=$(( (b - a) / (ib - ia) ))
  printf '%-52s %12s  (%s of the Swift sample)\n' "  the same through the C NVMe sample ($mode)" "$c" \
    "$(python3 -c "print(f'{$c/$swift:.2f}x')")"
done
