"""Runs the built image and checks it from outside the container (scripts/image_ci.sh, step 3).

Two OpenAI-compatible endpoints run here on loopback; the image runs `taxmeter serve` with
host networking and a config pointing at them. From outside: gRPC health is SERVING, /metrics
answers with taxmeter series, and one Mirror request (force_sample) is shadowed to both
endpoints, judged, and counted as a completed job in /metrics.

Usage: python scripts/image_ci_check.py IMAGE WORKDIR
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc

READY_BUDGET_S = 600.0  # container start + judge load on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Endpoint(BaseHTTPRequestHandler):
    calls: ClassVar[dict[str, int]] = {}

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        arm = self.server.arm  # type: ignore[attr-defined]
        Endpoint.calls[arm] = Endpoint.calls.get(arm, 0) + 1
        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": arm,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Paris is the capital."},
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve_endpoint(arm: str) -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    server.arm = arm  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def main() -> int:
    image, work = sys.argv[1], Path(sys.argv[2])
    cfg_dir = (work / "etc").resolve()
    cfg_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(Path("deploy/base/taxmeter.yaml").read_text())
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config["ingress"].update(host="127.0.0.1", grpc_port=grpc_port, http_port=http_port)
    config["telemetry"].update(metrics_host="127.0.0.1", metrics_port=metrics_port)
    config["routes"] = ["chat"]
    config["sampling"] = {"rate": 1.0, "max_shadows_per_s": 100.0}
    for arm in ("guarded", "unguarded"):
        config["shadow"][arm]["base_url"] = serve_endpoint(arm)
        config["shadow"][arm].pop("api_key_env", None)
    (cfg_dir / "taxmeter.yaml").write_text(yaml.safe_dump(config))
    cfg_dir.chmod(0o755)
    (cfg_dir / "taxmeter.yaml").chmod(0o644)

    ctr = subprocess.run(
        ["buildah", "from", image], check=True, capture_output=True, text=True
    ).stdout.strip()
    run = subprocess.Popen(
        [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "-v",
            f"{cfg_dir}:/etc/taxmeter:ro",
            ctr,
            "--",
            "taxmeter",
            "serve",
            "--config",
            "/etc/taxmeter/taxmeter.yaml",
        ],
        stdout=open(work / "serve.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    t0 = time.monotonic()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        health = health_pb2_grpc.HealthStub(channel)
        status = None
        while time.monotonic() - t0 < READY_BUDGET_S and run.poll() is None:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            time.sleep(1)
        assert status == health_pb2.HealthCheckResponse.SERVING, (
            f"gRPC health not SERVING ({status}); serve exited {run.poll()}; "
            + (work / "serve.log").read_text()[-3000:]
        )
        print(f"image_ci: gRPC health SERVING after {time.monotonic() - t0:.0f} s")
        text = metrics(metrics_port)
        assert "taxmeter_build_info" in text, text[:500]
        print("image_ci: /metrics answers (taxmeter_build_info present)")

        # Judges warm in the background (pairs are shed until then): wait for them, so the
        # mirrored request is judged end to end.
        while 'taxmeter_judge_ready{judge="default"} 1.0' not in metrics(metrics_port):
            assert time.monotonic() - t0 < READY_BUDGET_S and run.poll() is None, (
                "judges not ready; " + (work / "serve.log").read_text()[-3000:]
            )
            time.sleep(1)
        print(f"image_ci: judges ready after {time.monotonic() - t0:.0f} s")

        body = json.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "What is the capital of France?"}],
            }
        ).encode()
        ack = mirror_pb2_grpc.MirrorServiceStub(channel).Mirror(
            mirror_pb2.MirrorRequest(route=b"chat", body=body, force_sample=True), timeout=10
        )
        print(f"image_ci: Mirror acknowledged ({ack})".replace("\n", " "))
        done = ""
        while time.monotonic() - t0 < READY_BUDGET_S:
            text = metrics(metrics_port)
            done = "\n".join(
                ln for ln in text.splitlines() if ln.startswith("taxmeter_shadow_jobs_total{")
            )
            if Endpoint.calls.get("guarded") and Endpoint.calls.get("unguarded") and done:
                break
            time.sleep(1)
        assert Endpoint.calls.get("guarded") == 1 and Endpoint.calls.get("unguarded") == 1, (
            Endpoint.calls
        )
        assert 'taxmeter_shadow_jobs_total{outcome="completed",route="chat"} 1.0' in done, done
        print(f"image_ci: the mirrored request reached both endpoints; {done}")
        return 0
    finally:
        run.terminate()
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)


if __name__ == "__main__":
    raise SystemExit(main())
