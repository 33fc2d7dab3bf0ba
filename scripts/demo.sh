#!/usr/bin/env bash
# The main job on the bundled defaults: fine-tune the bundled MiniLM on MIT Movie eng, evaluate on
# its test set, and show a few predictions. Data: $ENTITUNE_DATA/mit_movie_eng (default
# ../shared/data), else a download from the MIT SLS site into ~/.cache/entitune.
#   bash scripts/demo.sh [extra 'entitune train' options, e.g. --epochs 1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export ENTITUNE_DATA="${ENTITUNE_DATA:-$(cd .. && pwd)/shared/data}"
PY=.venv/bin/python
data="$($PY scripts/find_data.py mit_movie_eng)" || exit 2
out="${OUT:-runs/movie}"
$PY -m entitune train --train "$data/engtrain.bio" --test "$data/engtest.bio" --out "$out" "$@"
$PY -m entitune evaluate "$out" "$data/engtest.bio" --json "$out/eval.json" > /dev/null
echo "evaluation written to $out/eval.json"
printf '%s\n' "show me films with drew barrymore from the 1980s" \
    "what pg-13 comedies did steven spielberg direct" \
    "is there a trailer for the new star wars movie" | $PY -m entitune predict "$out"
