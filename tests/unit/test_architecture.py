"""The shape of the package, as docs/architecture.md draws it: the import-linter contracts in
pyproject.toml hold (and catch a violation), no import cycle, no module over 400 lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "service" / "taxmeter"
BIN = Path(sys.executable).parent
MAX_LINES = 400

# Modules allowed over MAX_LINES for now, each with the reason and who removes it.
KNOWN_LONG_MODULES: dict[str, str] = {}
# Import cycles allowed for now (each a set of modules), with the reason.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _lint_imports(service_dir: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(service_dir)}
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache", str(config)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_contracts_hold() -> None:
    r = _lint_imports(ROOT / "service", ROOT / "pyproject.toml")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_import_contracts_catch_a_stage_importing_another_and_config_importing_the_demo(
    tmp_path: Path,
) -> None:
    service = tmp_path / "service"
    shutil.copytree(PACKAGE, service / "taxmeter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in [
        ("tax/estimators.py", "from taxmeter.judges import engine as _engine  # noqa\n"),
        ("config.py", "from taxmeter.demo import config as _demo  # noqa\n"),
        ("judges/engine.py", "from taxmeter.judgetools import repository as _tools  # noqa\n"),
        ("sampling/sampler.py", "from taxmeter.proto.taxmeter.v1 import mirror_pb2  # noqa\n"),
    ]:
        path = service / "taxmeter" / module
        path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    r = _lint_imports(service, tmp_path / "pyproject.toml")
    assert r.returncode != 0
    out = " ".join(r.stdout.split())  # rich wraps long lines
    for broken in (
        "taxmeter.tax.estimators -> taxmeter.judges.engine",
        "taxmeter.config -> taxmeter.demo.config",
        "taxmeter.judges.engine -> taxmeter.judgetools.repository",
        "taxmeter.sampling.sampler -> taxmeter.proto.taxmeter.v1.mirror_pb2",
    ):
        assert broken in out, broken
    for contract in (
        "Layers:",
        "The scoring runtime never imports the offline judge tooling",
        "Generated stubs only behind the protocol modules",
    ):
        assert f"{contract}" in out and "BROKEN" in out.split(contract, 1)[1][:200], contract


def test_loading_the_judges_config_imports_neither_grpc_nor_the_remote_backend() -> None:
    # import-linter sees import statements; this sees what Python really loads (package
    # __init__ files included).
    code = (
        "import sys, taxmeter.judges.config, taxmeter.judges.remote.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'onnxruntime') "
        "or m.startswith(('taxmeter.proto', 'taxmeter.judges.remote.backend'))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "service")}
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert r.stdout.strip() == "[]"


def _cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """Groups of two or more modules that import each other, directly or not (mutually
    reachable in the import graph)."""
    modules = sorted(m for m in graph.modules if m.startswith("taxmeter"))
    edges = {m: graph.find_modules_directly_imported_by(m) for m in modules}
    reach: dict[str, set[str]] = {}
    for start in modules:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            node = todo.pop()
            if node not in seen and node in edges:
                seen.add(node)
                todo.extend(edges[node])
        reach[start] = seen
    groups = {
        frozenset({m} | {o for o in reach[m] if m in reach[o]}) for m in modules if m in reach[m]
    }
    return sorted(groups, key=sorted)


def test_cycle_finder_finds_a_cycle() -> None:  # the check below must be able to fail
    graph = grimp.ImportGraph()
    for a, b in [
        ("taxmeter.a", "taxmeter.b"),
        ("taxmeter.b", "taxmeter.c"),
        ("taxmeter.c", "taxmeter.a"),
        ("taxmeter.c", "taxmeter.d"),
    ]:
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [frozenset({"taxmeter.a", "taxmeter.b", "taxmeter.c"})]


def test_no_import_cycle_in_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "service"))
    graph = grimp.build_graph("taxmeter", cache_dir=None)
    unexpected = [sorted(c) for c in _cycles(graph) if c not in KNOWN_CYCLES]
    assert not unexpected, f"import cycles: {unexpected}"


def test_no_module_over_400_lines_outside_generated_code() -> None:
    too_long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("proto/") or rel in KNOWN_LONG_MODULES:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long[rel] = lines
    assert not too_long, f"modules over {MAX_LINES} lines (split them): {too_long}"


def test_pre_commit_hooks_run_the_tools_of_the_dev_extras() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff", "mypy", "import-linter"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "system"
        tool = next(w for w in hook["entry"].split() if w.startswith(".venv/bin/"))
        assert (BIN / Path(tool).name).exists(), f"{tool} is not installed by the dev extras"
