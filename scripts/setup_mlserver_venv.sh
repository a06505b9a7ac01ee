#!/usr/bin/env bash
# Creates .venv-mlserver: Seldon MLServer + ONNX Runtime (CPU) + numpy, for the remote-judge
# integration tests (tests/integration/test_remote_*.py). MLServer pins its own fastapi,
# starlette and protobuf, so it lives apart from the project's .venv. Idempotent: a venv that
# already imports the pinned versions is left as it is. Usage: bash scripts/setup_mlserver_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${MLSERVER_VENV:-.venv-mlserver}
py=${MLSERVER_PYTHON:-python3.11}
pins=(mlserver==1.7.1 onnxruntime==1.31.1 numpy==2.2.6)
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name) == want, (name, version(name), want)
PY
  echo "$venv: up to date (${pins[*]})"
  exit 0
fi
start=$(date +%s)
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c tests/remote_fixtures/mlserver-constraints.txt "${pins[@]}"
"$venv/bin/python" -c "import mlserver, onnxruntime, numpy; print('mlserver', mlserver.__version__, 'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__)"
echo "$venv: installed in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
