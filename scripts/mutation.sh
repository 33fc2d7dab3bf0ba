#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut (the `mutation` extra). Not part of CI: the whole
# run takes about 45 minutes on 2 cores. Usage:
#   bash scripts/mutation.sh                     # every group: tags heads metrics encode train predict serve
#   bash scripts/mutation.sh tags heads metrics  # some groups
#   bash scripts/mutation.sh --baseline tags     # also record the run as "before" in the JSON
# Each group mutates its modules in build/mutation/<group>/ and runs only its fast unit tests;
# results: bench/results/mutation_kill_rate.json, survivors' diffs: build/mutation/<group>/survivors.diff.
# See docs/testing.md and docs/mutation_survivors.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
want="$(sed -n 's/^mutation = \["mutmut==\(.*\)"\]$/\1/p' pyproject.toml)"
if [ "$(.venv/bin/python -c 'from importlib.metadata import version; print(version("mutmut"))' 2>/dev/null)" != "$want" ]; then
    constraint="$(mktemp)"
    trap 'rm -f "$constraint"' EXIT
    .venv/bin/python -c "import torch; print('torch==' + torch.__version__)" > "$constraint"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c "$constraint" -e ".[test,mutation]"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python scripts/mutation.py "$@"
