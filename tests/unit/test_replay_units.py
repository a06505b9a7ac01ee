"""Pure parts of ``taxmeter replay``: prompt files, the resume log, retry rules, the noise-floor
choice, aggregation order and the report's schema and rendering (a synthetic aggregator)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from replay_fixtures import fixed_judges_info, fixed_run_info
from taxmeter.errors import ConfigError, InvalidRequestError
from taxmeter.replay.offline import aggregate, entry_of
from taxmeter.replay.progress import Progress
from taxmeter.replay.prompts import builtin_demo, load_prompts, prompts_digest
from taxmeter.replay.render import render_html, render_markdown
from taxmeter.replay.report import build_report, load_schema
from taxmeter.replay.runner import TokenBucket, noise_repeat_arm, retryable
from taxmeter.replay.store import JsonlLog, arm_from_json, arm_to_json
from taxmeter.tax.config import TaxConfig
from taxmeter.types import Arm, ArmOutcome, ArmResult, HeadScore, ScoredPair, ShadowPair

# -- prompt files ---------------------------------------------------------------------------


def test_jsonl_prompts_keep_the_body_and_take_route_and_category_out(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(
        json.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function"}],
                "route": "chat",
                "category": "support",
            }
        )
        + "\n\n"
        + json.dumps({"messages": [{"role": "user", "content": "yo"}]})
        + "\n",
        encoding="utf-8",
    )
    items = load_prompts(str(f), default_route="r0")
    assert [(i.index, i.line, i.route, i.category) for i in items] == [
        (0, 1, "chat", "support"),
        (1, 3, "r0", None),
    ]
    assert items[0].body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function"}],
    }


def test_plain_text_prompts_become_one_user_message_each(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("How do I boil an egg?\n\nWhat is 2+2?\n", encoding="utf-8")
    items = load_prompts(str(f))
    assert [i.body for i in items] == [
        {"messages": [{"role": "user", "content": "How do I boil an egg?"}]},
        {"messages": [{"role": "user", "content": "What is 2+2?"}]},
    ]
    assert {i.route for i in items} == {"replay"}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"messages": []}', "line 2: messages"),
        ('{"messages": [{"content": "x"}]}', "line 2: messages[0]"),
        ('{"messages": [{"role": "user", "content": "x"}], "route": "a b"}', "line 2: route"),
        ('{"messages": [{"role": "user", "content": "x"}], "category": 3}', "line 2: category"),
        ('{"messages": [{"role": "user", "content": "x"}], "category": "a/b"}', "line 2: category"),
        ('{"messages": [', "line 2"),
        ("[1, 2]", "line 2"),
    ],
)
def test_a_bad_prompt_line_is_an_error_naming_the_line(
    tmp_path: Path, line: str, field: str
) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "ok"}]}\n' + line + "\n")
    with pytest.raises(InvalidRequestError) as err:
        load_prompts(str(f))
    assert err.value.field == field


def test_the_builtin_set_is_the_demos_traffic_with_a_category_per_route() -> None:
    items = builtin_demo(200)
    assert {i.category for i in items} == {"support", "coding", "health", "writing"}
    assert all(i.body["metadata"]["route"] == i.route for i in items)
    assert prompts_digest(items) == prompts_digest(builtin_demo(200))
    assert prompts_digest(items) != prompts_digest(builtin_demo(199))
    with pytest.raises(InvalidRequestError):
        load_prompts("builtin:nope")


# -- resume log -----------------------------------------------------------------------------

HEADER = {"version": 1, "prompts": "abc", "n": 3}


def test_a_cut_off_last_line_is_dropped_and_the_log_continues(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    log = JsonlLog(path, HEADER)
    log.append({"i": 0, "status": "failed", "reason": "x"})
    log.append({"i": 2, "status": "failed", "reason": "y"})
    log.close()
    with path.open("a", encoding="utf-8") as f:
        f.write('{"i": 1, "status": "fai')  # killed mid-write
    again = JsonlLog(path, HEADER)
    assert again.status == {0: "failed", 2: "failed"}
    again.append({"i": 1, "status": "failed", "reason": "z"})
    again.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and all(json.loads(ln) for ln in lines)
    with again.reading() as entries:
        assert [entries[i]["reason"] for i in sorted(entries)] == ["x", "z", "y"]


def test_a_log_of_another_prompt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    JsonlLog(path, HEADER).close()
    with pytest.raises(ConfigError, match="--fresh"):
        JsonlLog(path, {**HEADER, "prompts": "other"})
    JsonlLog(path, {**HEADER, "prompts": "other"}, fresh=True).close()


def test_an_answer_survives_the_log_with_every_field() -> None:
    full = ArmResult(
        Arm.UNGUARDED,
        ArmOutcome.GUARD_BLOCK,
        text="no",
        finish_reason="stop",
        latency_s=0.25,
        ttft_s=0.1,
        prompt_tokens=12,
        completion_tokens=3,
        status_code=400,
        error_reason=None,
        reused_production=False,
        model="m",
    )
    assert arm_from_json(json.loads(json.dumps(arm_to_json(full, with_text=True)))) == full
    no_text = arm_from_json(arm_to_json(full, with_text=False))
    assert no_text.text == "" and no_text.outcome is ArmOutcome.GUARD_BLOCK


# -- retries and the noise floor ------------------------------------------------------------


def _fail(outcome: ArmOutcome, status: int | None, reason: str | None) -> ArmResult:
    return ArmResult(Arm.GUARDED, outcome, status_code=status, error_reason=reason)


def test_only_failures_that_may_pass_on_another_try_are_retried() -> None:
    assert retryable(_fail(ArmOutcome.TIMEOUT, None, "timeout"))
    assert retryable(_fail(ArmOutcome.ERROR, 503, "http_5xx"))
    assert retryable(_fail(ArmOutcome.ERROR, 429, "http_4xx"))
    assert retryable(_fail(ArmOutcome.ERROR, None, "connect"))
    assert retryable(_fail(ArmOutcome.ERROR, 200, "truncated_stream"))
    assert not retryable(_fail(ArmOutcome.ERROR, 200, "response_too_large"))
    assert not retryable(_fail(ArmOutcome.ERROR, 404, "http_4xx"))
    assert not retryable(_fail(ArmOutcome.ERROR, 200, "empty_answer"))
    assert not retryable(ArmResult(Arm.GUARDED, ArmOutcome.GUARD_BLOCK, status_code=400))


class _FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


async def test_the_rate_limit_allows_a_burst_then_one_prompt_per_interval() -> None:
    t = _FakeTime()
    bucket = TokenBucket(4.0, burst=2, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        await bucket.acquire()
    # 2 at once, then 8 more at 4/s: 2 s of waiting in all, each wait 0.25 s
    assert sum(t.slept) == pytest.approx(2.0)
    assert len(t.slept) == 8 and all(s == pytest.approx(0.25) for s in t.slept)
    t.now += 10.0  # idle: the bucket refills up to its burst, no more
    for _ in range(3):
        await bucket.acquire()
    assert len(t.slept) == 9


def test_noise_floor_prompts_are_the_same_on_every_run_at_the_set_rate() -> None:
    picks = [noise_repeat_arm(i, 0.1) for i in range(20_000)]
    assert picks == [noise_repeat_arm(i, 0.1) for i in range(20_000)]
    share = sum(p is not None for p in picks) / len(picks)
    assert 0.09 < share < 0.11
    assert {p for p in picks if p is not None} == {Arm.GUARDED, Arm.UNGUARDED}
    assert all(noise_repeat_arm(i, 0.0) is None for i in range(100))


# -- aggregation and the report -------------------------------------------------------------


def _scored(i: int, rng: random.Random) -> ScoredPair:
    cat = ["support", "coding", None][i % 3]

    def arm(a: Arm, refusal: bool) -> tuple[ArmResult, dict[str, HeadScore]]:
        lat = 0.05 + rng.random() * (0.2 if a is Arm.GUARDED else 0.1)
        result = ArmResult(
            a,
            ArmOutcome.OK,
            text="t",
            latency_s=lat,
            ttft_s=lat / 3,
            completion_tokens=rng.randint(5, 50),
        )
        q = rng.random()
        return result, {
            "default.refusal": HeadScore(0.9 if refusal else 0.1, refusal),
            "default.unsafe": HeadScore(0.1, rng.random() < 0.05),
            "default.quality": HeadScore(q, q >= 0.5),
        }

    g, gs = arm(Arm.GUARDED, rng.random() < 0.2)
    u, us = arm(Arm.UNGUARDED, rng.random() < 0.02)
    pair = ShadowPair(str(i), "r", cat, "p", g, u)
    return ScoredPair(pair, gs, us)


TAX = TaxConfig(categories=["support", "coding"])


def _report(entries: dict[int, dict[str, Any]]) -> dict[str, Any]:
    agg = aggregate(TAX, entries)
    return build_report(
        agg,
        counts={"prompts": 300, "scored": 300, "failed": 0, "shed": 0, "failed_by_reason": {}},
        run=fixed_run_info(),
        judges=fixed_judges_info(),
        gallery=None,
    )


def test_the_report_depends_on_the_log_not_on_the_order_pairs_finished() -> None:
    rng = random.Random(5)
    entries = {i: entry_of(_scored(i, rng), with_text=False) for i in range(300)}
    shuffled = list(entries.items())
    random.Random(1).shuffle(shuffled)
    assert _report(entries) == _report(dict(shuffled))


def test_the_report_matches_its_schema_and_renders_every_section() -> None:
    rng = random.Random(6)
    report = _report({i: entry_of(_scored(i, rng), with_text=False) for i in range(300)})
    jsonschema.validate(report, load_schema())
    assert [g["name"] for g in report["categories"]] == ["support", "coding", "other"]
    assert report["overall"]["pairs"] == 300
    html = render_html(report)
    for needle in (
        'id="plot-forest"',
        'id="plot-scatter"',
        'id="plot-latency"',
        'id="plot-ttft"',
        'id="disclosure"',
        "--show-text",
    ):
        assert needle in html
    md = render_markdown(report)
    assert "| support |" in md and "## Disclosure" in md
    broken = json.loads(json.dumps(report))
    broken["overall"]["over_refusal"]["point"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())


# -- progress -------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_with_eta_on_a_terminal_and_plain_lines_otherwise() -> None:
    tty = _Terminal()
    bar = Progress(50_000, 30_000, stream=tty, bar_interval_s=0.0)
    bar.advance()
    bar.close()
    out = tty.getvalue()
    assert out.startswith("\r[") and "30001/50000" in out and "ETA" in out
    assert out.endswith("\n") and out.count("\n") == 1  # the bar redraws one line
    pipe = io.StringIO()
    lines = Progress(10, 0, stream=pipe, line_interval_s=0.0)
    for _ in range(10):
        lines.advance()
    lines.close()
    written = pipe.getvalue().splitlines()
    assert written[-1].startswith("replay: 10/10 prompts (100.0%)")
    assert all("\r" not in ln for ln in written) and len(written) == 11
    silent = io.StringIO()
    quiet = Progress(10, 0, mode="none", stream=silent)
    quiet.advance()
    quiet.close()
    assert silent.getvalue() == ""
