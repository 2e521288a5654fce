#!/usr/bin/env bash
# Times `trainer gen` against the reference VideoSSR generators on the same
# videos, both as whole processes, one worker, rounds interleaved (A B A B ...),
# and prints min and median seconds per configuration.
#
#   scripts/bench-datagen.sh REF_CHECKOUT [ROUNDS] [VIDEOS...]
#
# REF_CHECKOUT is a checkout of github.com/lcqysl/VideoSSR (its pretext_tasks/
# are imported by scripts/bench_reference.py, which needs python3-opencv,
# python3-pil and python3-numpy; set PYTHON to pick the interpreter that has
# them, e.g. PYTHON=/usr/bin/python3). VIDEOS default to the opencv-doc samples in
# third_party/videos. Measured at our default 256x256 budget and at full
# resolution (what the reference stores), end to end (48-frame sampling + one
# grounding, one counting, one jigsaw sample per video) and per sample: the
# extra time of --per-video 9 over --per-video 1 for one task, divided by
# 8 x videos (decoding and start-up cancel out).
set -euo pipefail
ref=${1:?usage: bench-datagen.sh REF_CHECKOUT [ROUNDS] [VIDEOS...]}
rounds=${2:-5}
shift $(( $# >= 2 ? 2 : 1 ))
root=$(cd "$(dirname "$0")/.." && pwd)
videos=("$@")
[ ${#videos[@]} -gt 0 ] || videos=("$root"/third_party/videos/*.avi)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/trainer" "$root/trainer"
csv=$(IFS=,; echo "${videos[*]}")

ours() { # budget per-video tasks
  rm -rf "$work/out"
  "$work/trainer" gen --videos "$csv" --out "$work/out" --workers 1 --quiet \
    --max-pixels "$1" --min-pixels 0 --per-video "$2" --tasks "$3" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
}
theirs() { # budget(0 = full) per-task tasks
  "${PYTHON:-python3}" "$root/scripts/bench_reference.py" --ref "$ref" --video "${videos[@]}" \
    --work "$work/ref" --max-pixels "$1" --per-task "$2" --tasks "$3" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
}
# stat COLUMN: min and median of a column of numbers.
stat() { awk -v c="$1" '{print $c}' | sort -n | awk '{a[NR]=$1} END {printf "min %.3f median %.3f", a[1], (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# timeit CMD...: prints "cpu wall" seconds (cpu = user + sys of the children).
timeit() { local TIMEFORMAT='%3R %3U %3S'; { time "$@"; } 2>&1 | awk '{print $2 + $3, $1}'; }

for budget in 65536 full; do
  ob=$budget; rb=$budget
  [ "$budget" = full ] && { ob=100000000; rb=0; }
  for cfg in "1 grounding,counting,jigsaw" "1 grounding" "9 grounding" "1 counting" "9 counting"; do
    set -- $cfg
    : >"$work/a"; : >"$work/b"
    for _ in $(seq "$rounds"); do
      timeit ours "$ob" "$1" "$2" >>"$work/a"
      timeit theirs "$rb" "$1" "$2" >>"$work/b"
    done
    echo "budget $budget, per video $1 x $2: cpu s: ours $(stat 1 <"$work/a"), reference $(stat 1 <"$work/b");" \
      "wall s: ours $(stat 2 <"$work/a"), reference $(stat 2 <"$work/b")"
  done
done
