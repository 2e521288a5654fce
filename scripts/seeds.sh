#!/usr/bin/env bash
# seeds.sh runs the default job for several seeds, with smooth rewards (the
# paper) and with the strict-reward overlay (paper Table 4), then prints the
# comparison table that the README quotes. It is scripts/ablations.sh with
# those two variants.
#
#   bash scripts/seeds.sh            # seeds 1 2 3, into runs/seeds/
#   SEEDS="1 2" OUT=/tmp/s bash scripts/seeds.sh
#   TRAINER=/path/to/built/trainer bash scripts/seeds.sh
#   ABLATIONS=smooth bash scripts/seeds.sh   # the default job only
set -euo pipefail
ABLATIONS="${ABLATIONS:-smooth strict}" exec bash "$(dirname "${BASH_SOURCE[0]}")/ablations.sh"
