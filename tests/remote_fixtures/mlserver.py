"""Run Seldon MLServer (from ``.venv-mlserver``) as a subprocess on free loopback ports.

``start_mlserver(repo)`` serves every model folder of ``repo`` that has a
``model-settings.json`` (``write_model_settings`` adds one to a folder that
``taxmeter judges export-triton`` wrote), and returns once every model answers ModelReady.
MLServer runs with ``parallel_workers: 0`` (inference in the server process: quick to start,
light on a 2-core machine) and without its metrics server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb
from taxmeter.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
MLSERVER_VENV = Path(os.environ.get("MLSERVER_VENV", REPO_ROOT / ".venv-mlserver"))
RUNTIME_DIR = Path(__file__).resolve().parent / "mlserver_runtime"
RUNTIME_IMPLEMENTATION = "onnx_judge_runtime.OnnxJudgeRuntime"


def mlserver_available() -> bool:
    return (MLSERVER_VENV / "bin" / "mlserver").is_file()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_model_settings(
    model_dir: Path,
    name: str,
    *,
    uri: str = "1/model.onnx",
    delay_file: Path | None = None,
    intra_op_threads: int = 1,
) -> None:
    extra: dict[str, str | int] = {"intra_op_threads": intra_op_threads}
    if delay_file is not None:
        extra["delay_file"] = str(delay_file)
    settings = {
        "name": name,
        "implementation": RUNTIME_IMPLEMENTATION,
        "parameters": {"uri": uri, "extra": extra},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(settings), encoding="utf-8")


@dataclass
class MLServerProcess:
    repo: Path
    grpc_port: int
    http_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    models: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def kill(self) -> None:
        """SIGKILL: the server dies mid-run, as a crashed pod would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_mlserver(
    repo: Path, models: list[str], *, grpc_port: int | None = None, timeout_s: float = 90.0
) -> MLServerProcess:
    """Start MLServer on ``repo``; wait until every model in ``models`` is ready."""
    grpc_port = grpc_port or free_port()
    http_port = free_port()
    settings = {
        "debug": False,
        "parallel_workers": 0,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "host": "127.0.0.1",
        "metrics_endpoint": None,
        "load_models_at_startup": True,
    }
    (repo / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(RUNTIME_DIR)
    env.pop("VIRTUAL_ENV", None)
    log_path = repo / "mlserver.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(MLSERVER_VENV / "bin" / "mlserver"), "start", str(repo)],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = MLServerProcess(repo, grpc_port, http_port, process, log_path, list(models))
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        pending = list(models)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlserver exited ({process.returncode}):\n{server.log_tail()}")
            try:
                if stub.ServerReady(pb.ServerReadyRequest(), timeout=1.0).ready:
                    pending = [
                        m
                        for m in pending
                        if not stub.ModelReady(pb.ModelReadyRequest(name=m), timeout=1.0).ready
                    ]
                    if not pending:
                        return server
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"mlserver not ready in {timeout_s} s:\n{server.log_tail()}")
            time.sleep(0.2)


if __name__ == "__main__":  # manual check: python -m tests.remote_fixtures.mlserver REPO MODEL
    srv = start_mlserver(Path(sys.argv[1]), sys.argv[2:])
    print(f"ready on {srv.target}")
    srv.stop()
