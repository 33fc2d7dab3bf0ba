#!/usr/bin/env bash
# Mutation testing of the whole package with mutmut (the `mutation` extra). Not part of CI (hours on
# 2 cores); the pre-merge routine runs the changed-lines mode. Usage:
#   bash scripts/mutation.sh                     # every group: one per package of src/entitune, and base
#   bash scripts/mutation.sh tags data           # some groups
#   bash scripts/mutation.sh --changed main      # only the lines changed since main (exit 1 on a survivor)
# Each group mutates its modules in build/mutation/<group>/ and runs the tests that reach them;
# results: bench/results/mutation_kill_rate.json, survivors' diffs: build/mutation/<group>/survivors.diff;
# survivors explained as equivalent: tests/mutations/equivalent.toml. See docs/testing.md.
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
