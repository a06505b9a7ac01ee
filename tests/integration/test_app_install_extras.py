"""Install what you use: the app-side client imports no judge runtime (and none of the
sidecar's stack), and the sidecar's commands, started where no runtime is installed, say what
to install instead of a traceback. Real interpreters in subprocesses; a meta-path finder hides
the modules a client-only install (`pip install taxmeter`) does not have."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"
SIDECAR_ONLY = [
    "onnxruntime",
    "onnx",
    "numpy",
    "aiohttp",
    "pydantic",
    "prometheus_client",
    "tokenizers",
    "safetensors",
    "yaml",
    "opentelemetry",
]

HIDE = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class Hide(MetaPathFinder):
        def __init__(self, names):
            self.names = set(names)

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide(sys.argv[1].split(",")))
""")


def _python(code: str, hidden: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SERVICE)}
    return subprocess.run(
        [sys.executable, "-c", HIDE + textwrap.dedent(code), ",".join(hidden) or "-", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_the_client_imports_without_any_sidecar_module() -> None:
    res = _python(
        """
        from taxmeter.client import MirrorClient
        loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
        print("loaded:", loaded)
    """,
        SIDECAR_ONLY,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "loaded: []"


@pytest.mark.parametrize(
    "command",
    [["serve", "--config", "x.yaml"], ["check-config", "x.yaml"], ["demo"], ["judges", "build"]],
)
def test_sidecar_commands_without_a_runtime_name_the_extras(command: list[str]) -> None:
    res = _python(
        """
        from taxmeter.cli import main
        raise SystemExit(main(sys.argv[2:]))
    """,
        ["onnxruntime"],
        *command,
    )
    assert res.returncode == 2, res.stderr
    assert "no judge runtime is installed (onnxruntime)" in res.stderr
    assert "taxmeter[cpu]" in res.stderr and "taxmeter[gpu]" in res.stderr
    assert "Traceback" not in res.stderr


def test_client_only_install_still_answers_version_and_help() -> None:
    res = _python(
        """
        from taxmeter.cli import main
        assert main(["version"]) == 0
        try:
            main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
    """,
        SIDECAR_ONLY,
    )
    assert res.returncode == 0, res.stderr
    assert "taxmeter 0.1.0" in res.stdout and "check-config" in res.stdout
