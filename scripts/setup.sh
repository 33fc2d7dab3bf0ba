#!/usr/bin/env bash
# Create or update .venv with everything entitune and its tests need: the train, runtime and onnx
# extras (the base package needs no torch), the tests and the docs. Idempotent and quick when
# nothing changed. torch is installed first and pinned (the CPU build on this machine's disk), so no
# later step can pull in a multi-GB CUDA build.
#   VENV=/path bash scripts/setup.sh      PYTHON=python3.11 bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

stamp="$VENV/.entitune-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && "$VENV/bin/python" -c "import entitune, torch, transformers, pytest, seqeval, mkdocs" 2>/dev/null; then
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" - <<'PYEOF'
import sys
assert sys.version_info >= (3, 11), f"entitune needs Python 3.11+, found {sys.version.split()[0]}"
PYEOF
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    "${PIP[@]}" "torch==$TORCH_VERSION"
fi
constraint="$(mktemp)"
trap 'rm -f "$constraint"' EXIT
"$VENV/bin/python" -c "import torch; print('torch==' + torch.__version__)" > "$constraint"
"${PIP[@]}" -c "$constraint" -e ".[train,runtime,onnx,test,docs]"
"$VENV/bin/python" - <<'PYEOF'
import torch
from entitune.artifact.model_dir import default_encoder_dir
assert not torch.version.cuda, f"a CUDA build of torch slipped in ({torch.version.cuda})"
default_encoder_dir()
PYEOF
rm -f "$VENV"/.entitune-setup-*
touch "$stamp"
echo "setup: $VENV ready (torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'))"
