#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: fast unit tests on a tiny random BERT, then the
# integration tests that train the bundled MiniLM on real data from $ENTITUNE_DATA (default
# ../shared/data). scripts/browser.sh installs headless Chromium for the page test, and
# scripts/postgres.sh a PostgreSQL server for the shared tune study's test, when they can.
# Extra arguments go to pytest (e.g. -m "not integration").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
bash scripts/browser.sh
bash scripts/postgres.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export ENTITUNE_DATA="${ENTITUNE_DATA:-$(cd .. && pwd)/shared/data}"
exec .venv/bin/python -m pytest "$@"
