#!/usr/bin/env bash
# ablations.sh runs configs/ablations/*.yaml overlays for several seeds on
# the default job and prints the comparison (trainer report), next to the
# default runs of scripts/seeds.sh when they exist in the same OUT.
#
#   bash scripts/ablations.sh                         # no-kl group-4 dynamic-sampling, seeds 1 2 3
#   ABLATIONS="no-kl lora" SEEDS="1" bash scripts/ablations.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SEEDS="${SEEDS:-1 2 3}"
ABLATIONS="${ABLATIONS:-no-kl group-4 dynamic-sampling}"
OUT="${OUT:-runs/seeds}"
TRAINER="${TRAINER:-go run ./trainer}"
dirs=()
for s in $SEEDS; do
  [ -f "$OUT/smooth-seed$s/result.json" ] && dirs+=("$OUT/smooth-seed$s")
  for a in $ABLATIONS; do
    d="$OUT/$a-seed$s"
    dirs+=("$d")
    if [ -f "$d/result.json" ]; then
      echo "[ablations] $d done"
      continue
    fi
    echo "[ablations] $a seed $s -> $d"
    start=$(date +%s)
    mkdir -p "$OUT"
    $TRAINER --config "ablations/$a.yaml" --set seed="$s" --set data.dir="$OUT/data-seed$s" --run-dir "$d" --quiet > "$d.log" 2>&1 || { echo "[ablations] $d failed, see $d.log"; exit 1; }
    echo "[ablations] $d: $(( $(date +%s) - start )) s"
  done
done
$TRAINER report "${dirs[@]}"
