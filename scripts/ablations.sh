#!/usr/bin/env bash
# ablations.sh runs the default job for several seeds under each named
# variant and prints the comparison (trainer report). A variant is "smooth"
# (the default config, the paper's smooth rewards), "strict" (the
# strict-reward overlay, paper Table 4) or the name of any other
# configs/ablations/*.yaml overlay. The runs of one seed share its data.
#
#   bash scripts/ablations.sh                  # smooth strict no-kl group-4 dynamic-sampling plain-grpo curriculum, seeds 1 2 3
#   ABLATIONS="smooth lora" SEEDS="1" bash scripts/ablations.sh
#   TRAINER=/path/to/built/trainer OUT=/tmp/s bash scripts/ablations.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SEEDS="${SEEDS:-1 2 3}"
ABLATIONS="${ABLATIONS:-smooth strict no-kl group-4 dynamic-sampling plain-grpo curriculum}"
OUT="${OUT:-runs/seeds}"
TRAINER="${TRAINER:-go run ./trainer}"
mkdir -p "$OUT"
dirs=()
for s in $SEEDS; do
  for a in $ABLATIONS; do
    d="$OUT/$a-seed$s"
    dirs+=("$d")
    if [ -f "$d/result.json" ]; then
      echo "[ablations] $d done"
      continue
    fi
    case "$a" in
      smooth) extra=() ;;
      strict) extra=(--config ablations/strict-reward.yaml) ;;
      *) extra=(--config "ablations/$a.yaml") ;;
    esac
    echo "[ablations] $a seed $s -> $d"
    start=$(date +%s)
    $TRAINER "${extra[@]}" --set seed="$s" --set data.dir="$OUT/data-seed$s" --run-dir "$d" --quiet > "$d.log" 2>&1 || { echo "[ablations] $d failed, see $d.log"; exit 1; }
    echo "[ablations] $d: $(( $(date +%s) - start )) s"
  done
done
$TRAINER report "${dirs[@]}"
