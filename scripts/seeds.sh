#!/usr/bin/env bash
# seeds.sh runs the default job for several seeds, with smooth rewards (the
# paper) and with the strict-reward overlay (paper Table 4), then prints the
# comparison table that the README quotes.
#
#   bash scripts/seeds.sh            # seeds 1 2 3, into runs/seeds/
#   SEEDS="1 2" OUT=/tmp/s bash scripts/seeds.sh
#   TRAINER=/path/to/built/trainer bash scripts/seeds.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SEEDS="${SEEDS:-1 2 3}"
OUT="${OUT:-runs/seeds}"
TRAINER="${TRAINER:-go run ./trainer}"
dirs=()
for s in $SEEDS; do
  for mode in smooth strict; do
    d="$OUT/$mode-seed$s"
    dirs+=("$d")
    if [ -f "$d/result.json" ]; then
      echo "[seeds] $d done"
      continue
    fi
    extra=()
    [ "$mode" = strict ] && extra=(--config ablations/strict-reward.yaml)
    echo "[seeds] $mode seed $s -> $d"
    start=$(date +%s)
    # Both modes of a seed share the generated data.
    $TRAINER "${extra[@]}" --set seed="$s" --set data.dir="$OUT/data-seed$s" --run-dir "$d" --quiet > "$d.log" 2>&1 || { echo "[seeds] $d failed, see $d.log"; exit 1; }
    echo "[seeds] $d: $(( $(date +%s) - start )) s"
  done
done
$TRAINER report "${dirs[@]}"
