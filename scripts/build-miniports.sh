#!/usr/bin/env bash
# Builds the in-tree C miniports with the one documented command, into .build/miniports/:
#
#   cc -shared -fPIC -g -O2 -I "$(storport --include-dir)" miniport.c -o miniport.so
#
# and, with -fsanitize=thread added, an instrumented copy of each (NAME-tsan.so) whose plain
# loads and stores reach the explorer's race detector. Usage: bash scripts/build-miniports.sh [CC]
set -euo pipefail
cd "$(dirname "$0")/.."
cc="${1:-${CC:-}}"
if [ -z "$cc" ]; then
  for candidate in "$(dirname "$(command -v swift)")/clang" clang cc; do
    if command -v "$candidate" >/dev/null 2>&1; then cc="$candidate"; break; fi
  done
fi
include="$(pwd)/Sources/CStorportMiniport/include"
out=.build/miniports
mkdir -p "$out"
build() {  # build NAME SOURCE
  "$cc" -shared -fPIC -g -O2 -Wall -Wextra -Werror -I "$include" "$2" -o "$out/$1.so"
  "$cc" -shared -fPIC -g -O1 -fsanitize=thread -Wall -Wextra -Werror -I "$include" "$2" -o "$out/$1-tsan.so"
  echo "$out/$1.so  $out/$1-tsan.so"
}
build ramdisk miniports/ramdisk.c
build nvme miniports/nvme/nvme.c
build timer-startio-race miniports/fixtures/timer_startio_race.c
build timer-startio-race-fixed miniports/fixtures/timer_startio_race_fixed.c
