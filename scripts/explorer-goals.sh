#!/usr/bin/env bash
# The explorer's goals, measured by `storport explore` (never by timed tests): prints each
# figure. Usage: bash scripts/explorer-goals.sh [BINARY] [SEEDS] [CLEAN_SCHEDULES]
#   defaults: a release build, 100 seeds, 100000 schedules per correct harness.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${2:-100}
clean=${3:-100000}
source scripts/release-binary.sh "${1:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${SKIP_FIND:-}" ]; then
echo "== find the timer/StartIo race: PCT d=2, at most 2000 schedules, seeds 1..$seeds"
for races in on off; do
  found=0; worst=0; total=0
  for s in $(seq 1 "$seeds"); do
    out=$("$bin" explore timer-startio-race --strategy pct --depth 2 --schedules 2000 --seed "$s" \
      --race-detection "$races" --output-format json || true)
    n=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); f=d.get("failure"); print(f["schedule_index"]+1 if f else 0)' "$out")
    if [ "$n" -gt 0 ]; then found=$((found + 1)); total=$((total + n)); [ "$n" -gt "$worst" ] && worst=$n; fi
  done
  echo "race detection $races: found on $found/$seeds seeds; schedules to find: mean $((total / (found > 0 ? found : 1))), worst $worst"
done
for k in 0 1 2; do
  line=$({ "$bin" explore timer-startio-race --strategy dfs --preemptions "$k" --schedules 100000 --race-detection off || true; } | head -2 | tr '\n' ' ')
  echo "bounded search k=$k: $line"
done
fi

echo "== shrinking: the double completion the race leads to (race detection off), seeds 1..$seeds"
worst=0; total=0; n=0
for s in $(seq 1 "$seeds"); do
  out=$({ "$bin" explore timer-startio-race --strategy pct --schedules 2000 --seed "$s" --race-detection off \
    --output-format json || true; })
  p=$(python3 -c 'import json,sys; f=json.loads(sys.argv[1]).get("failure"); print(" ".join(str(f[k]) for k in ("original_preemptions","shrunk_preemptions","original_decisions","shrunk_decisions")) if f else "")' "$out")
  [ -z "$p" ] && continue
  set -- $p
  n=$((n + 1)); total=$((total + $2)); [ "$2" -gt "$worst" ] && worst=$2
done
echo "shrunk preemptions over $n failures: mean $(python3 -c "print(round($total/max($n,1),2))"), worst $worst"
minimal=""
for k in 0 1 2 3; do
  out=$({ "$bin" explore timer-startio-race --strategy dfs --preemptions "$k" --schedules 100000 --race-detection off \
    --output-format json || true; })
  minimal=$(python3 -c 'import json,sys; f=json.loads(sys.argv[1]).get("failure"); print(f["shrunk_preemptions"] if f else "")' "$out")
  [ -n "$minimal" ] && { echo "minimal (bounded search, first k that finds it: $k): $minimal preemption(s)"; break; }
done

echo "== the fixed twin over $clean schedules in one run (PCT d=2)"
{ "$bin" explore timer-startio-race-fixed --strategy pct --schedules "$clean" --seed 1 --jobs 2 || true; } | head -2 | tr '\n' ' '
echo

echo "== no false alarms: $clean schedules per correct harness (PCT d=2 and random, half each)"
half=$((clean / 2))
for h in timer-startio-race-fixed dpc-redirection-race-fixed isr-reacquires-interrupt-lock-fixed \
  restart-uninitialised-dpc-fixed reset-double-completion-fixed resetbus-spins-for-dpc-fixed ramdisk nvme demo; do
  for st in pct random; do
    { "$bin" explore "$h" --strategy "$st" --schedules "$half" --seed 1 --jobs 2 || true; } | head -2 | tr '\n' ' '
    echo
  done
done

echo "== replay: failing schedules from $((seeds * 10)) seeds replayed (self-check on)"
bad=0
for s in $(seq 1 $((seeds * 10))); do
  out=$("$bin" explore timer-startio-race --strategy random --schedules 200 --seed "$s" --out "$work/r" --output-format json || true)
  ok=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); f=d.get("failure"); print("none" if not f else ("yes" if f["replay_reproduced"] else "no"))' "$out")
  if [ "$ok" = no ]; then bad=$((bad + 1)); fi
  if [ "$ok" = yes ] && ! { "$bin" replay "$work/r/schedule.json" || true; } | grep -q REPRODUCED; then bad=$((bad + 1)); fi
done
echo "replays that did not reproduce: $bad of $((seeds * 10))"

echo "== speed (one job, then two): timer-startio-race-fixed, 20000 PCT schedules"
{ "$bin" explore timer-startio-race-fixed --strategy pct --schedules 20000 --seed 1 --jobs 1 || true; } | head -1
{ "$bin" explore timer-startio-race-fixed --strategy pct --schedules 20000 --seed 1 --jobs 2 || true; } | head -1
