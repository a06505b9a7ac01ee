"""Replay against endpoints that fail: a transient 503 is retried and the prompt scored; a
prompt that keeps failing is left out, counted by reason, and the exit code says so; a bad
invocation is refused before anything is sent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web
from app_fixtures import FAIL_MARKER, ScriptedEndpoint, tiny_judges
from replay_fixtures import replay, write_config
from taxmeter.cli import main

FLAKY = "flaky-once"


class FlakyEndpoint(ScriptedEndpoint):
    """Fails the first call of each prompt containing ``FLAKY`` with a 503, and every call of
    a prompt containing ``FAIL_MARKER`` with a 500."""

    def __init__(self) -> None:
        super().__init__(fail_marked=True)
        self.seen: set[str] = set()
        self.by_prompt: dict[str, int] = {}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        text = body["messages"][-1]["content"]
        self.by_prompt[text] = self.by_prompt.get(text, 0) + 1
        if FLAKY in text and text not in self.seen:
            self.seen.add(text)
            self.count += 1
            return web.json_response({"error": {"message": "busy"}}, status=503)
        return await super()._handle(request)


async def test_transient_failures_are_retried_and_lasting_ones_counted(tmp_path: Path) -> None:
    g, u = FlakyEndpoint(), ScriptedEndpoint()
    await g.start()
    await u.start()
    try:
        prompts = tmp_path / "prompts.txt"
        lines = [f"question {i}" for i in range(8)] + [f"{FLAKY} a", f"{FAIL_MARKER} b"]
        prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cfg = write_config(
            tmp_path / "c.yaml",
            {
                "shadow": {
                    "guarded": {"base_url": g.base_url, "timeout_s": 10},
                    "unguarded": {"base_url": u.base_url, "timeout_s": 10},
                    "noise_floor_rate": 0.0,
                },
                "judges": {"repository": str(tiny_judges(tmp_path)), "providers": ["cpu"]},
            },
        )
        argv = (
            str(prompts),
            "-c",
            str(cfg),
            "--retries",
            "2",
            "--report",
            str(tmp_path / "r.html"),
        )
        code = await replay(*argv)
        report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert "guarded:http_5xx" in (tmp_path / "r.md").read_text(encoding="utf-8")
        # The endpoint recovers; the same command retries only the prompt that failed.
        g.fail_marked = False
        calls = dict(g.by_prompt)
        assert await replay(*argv) == 0
        again = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    finally:
        await g.aclose()
        await u.aclose()
    assert again["counts"]["scored"] == 10 and again["counts"]["failed"] == 0
    assert {k: v - calls.get(k, 0) for k, v in g.by_prompt.items() if v != calls.get(k)} == {
        f"{FAIL_MARKER} b": 1
    }
    assert code == 1
    assert report["counts"]["scored"] == 9
    assert report["counts"]["failed_by_reason"] == {"guarded:http_5xx": 1}
    assert report["overall"]["pairs"] == 9
    assert report["run"]["retries"] == 3  # one for the flaky prompt, two for the failing one
    assert calls[f"{FLAKY} a"] == 2
    assert calls[f"{FAIL_MARKER} b"] == 3


async def test_show_text_without_a_record_is_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hi\n", encoding="utf-8")
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "shadow": {
                "guarded": {"base_url": "http://127.0.0.1:9/v1"},
                "unguarded": {"base_url": "http://127.0.0.1:9/v1"},
            },
            "judges": {"repository": str(tmp_path)},
        },
    )
    # main() runs its own event loop: call it from a worker thread.
    code = await asyncio.to_thread(
        main,
        [
            "replay",
            str(prompts),
            "-c",
            str(cfg),
            "--show-text",
            "--report",
            str(tmp_path / "r.html"),
        ],
    )
    assert code == 2
    assert "show_text: --show-text needs --record DIR" in capsys.readouterr().err
    assert not (tmp_path / "r.resume.jsonl").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--concurrency", "0"),
        ("--rate", "0"),
        ("--retries", "-1"),
        ("--noise-floor-rate", "2"),
        ("--concurrency", "many"),
    ],
)
def test_a_bad_number_is_a_usage_error_naming_the_flag(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "p.txt", flag, value])
    assert exc.value.code == 2
    assert flag in capsys.readouterr().err


def test_a_config_file_that_is_not_yaml_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hi\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text('{"messages": [\n  "unclosed"\n', encoding="utf-8")  # a JSONL line cut short
    code = main(["replay", str(prompts), "-c", str(cfg), "--report", str(tmp_path / "r.html")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{cfg} is not valid YAML (line " in err
    assert "Traceback" not in err
