"""The ``taxmeter`` command.

    taxmeter serve --config FILE        run the sidecar
    taxmeter check-config FILE [--probe]  every startup check serve makes, then exit
    taxmeter init [FILE]                write a commented starting configuration
    taxmeter replay PROMPTS -c FILE     both arms on a prompt file, offline; HTML/JSON/MD report
    taxmeter demo [--config FILE]       sidecar + simulated endpoints + traffic, live view
    taxmeter score FILE.jsonl           score prompt/response lines with the judges
    taxmeter audit export|import        move audit items to people and their labels back
    taxmeter judges build [DIR]         build the default judge repository
    taxmeter judges import HF_DIR DEST  turn a local Hugging Face classifier into a judge
    taxmeter judges export-triton DIR   write the judges as a Triton model repository
    taxmeter judges optimize DIR        write fused / fp16 / int8 variants of each judge
    taxmeter version

Heavy modules are imported by the command that needs them, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from taxmeter import __version__
from taxmeter.errors import ConfigError, JudgeLoadError, TaxmeterError


def _fail(message: str, code: int = 2) -> int:
    print(f"taxmeter: {message}", file=sys.stderr)
    return code


_SIDECAR_MODULES = (
    "aiohttp",
    "numpy",
    "onnx",
    "prometheus_client",
    "pydantic",
    "tokenizers",
    "yaml",
)
_INSTALL_SIDECAR = (
    "pip install 'taxmeter[cpu]' (ONNX Runtime for CPU) or "
    "'taxmeter[gpu]' (ONNX Runtime GPU, CUDA 13)"
)


def missing_sidecar_dependencies() -> str | None:
    """Why the sidecar's commands cannot run in this environment, or None. The base install
    is the app-side client only (``taxmeter.client``); the sidecar is ``taxmeter[cpu|gpu]``."""
    from importlib.util import find_spec

    def absent(name: str) -> bool:
        try:
            return find_spec(name) is None
        except (ImportError, ValueError):  # a finder refusing it, or sys.modules[name] = None
            return True

    if absent("onnxruntime"):
        return f"no judge runtime is installed (onnxruntime): {_INSTALL_SIDECAR}"
    missing = [m for m in _SIDECAR_MODULES if absent(m)]
    if missing:
        return (
            f"the sidecar's dependencies are not installed (missing: {', '.join(missing)}): "
            f"{_INSTALL_SIDECAR}"
        )
    return None


def _cmd_serve(args: argparse.Namespace) -> int:
    from taxmeter.config import load_config
    from taxmeter.telemetry.logging import configure_logging

    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    configure_logging(
        config.telemetry.log_level,
        config.telemetry.log_format,
        log_prompts=config.telemetry.log_prompts,
    )
    from taxmeter.startup import serve

    try:
        return asyncio.run(serve(config))
    except (JudgeLoadError, ConfigError) as exc:
        return _fail(f"startup error: {exc}")
    except OSError as exc:  # a port in use, an unreadable file
        return _fail(f"startup error: {exc}")


def _cmd_check_config(args: argparse.Namespace) -> int:
    """Every check ``serve`` makes at startup, from the same code (``taxmeter.startup``);
    ``--probe`` also reaches the endpoints and the judge backend."""
    import os

    from taxmeter.config import load_config
    from taxmeter.startup import check_startup, probe

    try:
        config = load_config(Path(args.file))
        summary = asyncio.run(check_startup(config, os.environ))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    except JudgeLoadError as exc:
        return _fail(f"startup error: {exc}")
    print(
        f"{args.file}: OK ({len(config.routes)} routes, sample rate {config.sampling.rate}, "
        f"judges {', '.join(summary.judges)} from {config.judges.repository} with heads "
        f"{', '.join(summary.heads)}; ports {', '.join(map(str, summary.ports))} free)"
    )
    if not args.probe:
        return 0
    from taxmeter.telemetry.logging import configure_logging

    configure_logging("warning", config.telemetry.log_format)  # the probe lines, not the logs
    results = asyncio.run(probe(config, os.environ, args.probe_timeout_s))
    print("probe:")
    for r in results:
        print(r.line())
    return 0 if all(r.ok for r in results) else 1


def _cmd_init(args: argparse.Namespace) -> int:
    """Write a commented starting configuration (``taxmeter/templates/taxmeter.yaml``)."""
    from importlib import resources

    path = Path(args.file)
    if path.exists() and not args.force:
        return _fail(f"{path} exists (use --force to overwrite)")
    if args.judges is not None:
        judges = args.judges.resolve()
    else:
        from taxmeter.judgetools.repository import default_repository_path

        judges = default_repository_path()
    text = (resources.files("taxmeter") / "templates" / "taxmeter.yaml").read_text("utf-8")
    text = text.replace("@JUDGES@", str(judges)).replace("@FILE@", str(path))
    path.write_text(text, encoding="utf-8")
    print(
        f"wrote {path} (judges from {judges}); edit the places marked EDIT, then run "
        f"`taxmeter check-config {path} --probe`"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from taxmeter.demo.run import run_demo

    try:
        return asyncio.run(run_demo(args))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    except KeyboardInterrupt:
        return 0


def _cmd_version(_args: argparse.Namespace) -> int:
    print(f"taxmeter {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taxmeter",
        description="Measure the alignment tax of an LLM deployment live, on production traffic.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the sidecar")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("check-config", help="validate a configuration file")
    p.add_argument("file")
    p.add_argument(
        "--probe",
        action="store_true",
        help="also reach both endpoints and load the judges on their backend",
    )
    p.add_argument(
        "--probe-timeout-s",
        type=float,
        default=60.0,
        help="how long each probe may take (default 60)",
    )
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("init", help="write a commented starting configuration")
    p.add_argument("file", nargs="?", default="taxmeter.yaml")
    p.add_argument(
        "--judges",
        type=Path,
        default=None,
        help="judge repository (default: where `taxmeter judges build` writes)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser(
        "demo", help="the sidecar with simulated guarded/unguarded endpoints and live traffic"
    )
    p.add_argument("--config", "-c", help="YAML overrides for the demo configuration")
    p.add_argument("--duration-s", type=float, default=None, help="stop after N seconds")
    p.add_argument("--rate", type=float, default=None, help="mirrored requests per second")
    p.add_argument("--no-view", action="store_true", help="log lines instead of the live view")
    p.add_argument("--grpc-port", type=int, default=None)
    p.add_argument("--http-port", type=int, default=None)
    p.add_argument("--metrics-port", type=int, default=None)
    p.add_argument("--judges", type=Path, default=None, help="judge repository (default: built)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    from taxmeter.replay.command import register as register_replay

    register_replay(sub)

    judges = sub.add_parser("judges", help="judge repositories")
    judges_sub = judges.add_subparsers(dest="judges_command", required=True, metavar="COMMAND")
    if missing_sidecar_dependencies() is not None:
        return parser  # client-only install: `main` says what to install
    from taxmeter.judgetools.cli import register as register_build

    register_build(judges_sub)
    from taxmeter.judgetools.hf_cli import register as register_import

    register_import(judges_sub)
    from taxmeter.judgetools.triton_export import register as register_export

    register_export(judges_sub)
    from taxmeter.judgetools.optimize import register as register_optimize

    register_optimize(judges_sub)
    from taxmeter.judgetools.score import register as register_score

    register_score(sub)
    from taxmeter.audit.cli import register as register_audit

    register_audit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("version", "-h", "--help"):
        # The base install is the app-side client: say what to install, not a traceback.
        why = missing_sidecar_dependencies()
        if why is not None:
            return _fail(why)
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except TaxmeterError as exc:
        return _fail(str(exc))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
