"""Pure logic of the remote judge backend: circuit breaker, retry budget, backoff, metrics,
configuration and auth resolution, metadata checks. Fake clock, fresh registries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from taxmeter.errors import ConfigError, JudgeLoadError
from taxmeter.judges.backend import TensorSpec
from taxmeter.judges.remote.config import (
    KServeAuthConfig,
    KServeBackendConfig,
    KServeBreakerConfig,
)
from taxmeter.judges.remote.credentials import resolve_auth_metadata
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.judges.remote.resilience import BreakerState, CircuitBreaker, RetryBudget
from taxmeter.judges.remote.tensors import check_remote_tensors
from taxmeter.resilience import backoff_delay_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def _state(b: CircuitBreaker) -> BreakerState:
    """The breaker's state read through a call: mypy keeps a property narrowed by an earlier
    ``assert b.state is ...`` across the calls that change it, and reads the next check as
    unreachable."""
    return b.state


def _breaker(clock: FakeClock, **kw: float) -> tuple[CircuitBreaker, list[BreakerState]]:
    seen: list[BreakerState] = []
    cfg = KServeBreakerConfig.model_validate({"failure_threshold": 3, "open_s": 5.0, **kw})
    return CircuitBreaker(cfg, clock, seen.append), seen


def test_breaker_opens_after_threshold_consecutive_failures_only() -> None:
    clock = FakeClock()
    b, seen = _breaker(clock)
    b.on_failure()
    b.on_failure()
    b.on_success()  # resets the run of failures
    b.on_failure()
    b.on_failure()
    assert _state(b) is BreakerState.CLOSED and b.allow()
    b.on_failure()
    assert _state(b) is BreakerState.OPEN
    assert not b.allow()
    assert seen == [BreakerState.OPEN]


def test_breaker_half_opens_after_open_s_and_admits_limited_probes() -> None:
    clock = FakeClock()
    b, seen = _breaker(clock, half_open_max_calls=2)
    for _ in range(3):
        b.on_failure()
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert _state(b) is BreakerState.HALF_OPEN
    assert b.allow() and b.allow()
    assert not b.allow()  # the third concurrent call is refused
    b.on_success()
    assert _state(b) is BreakerState.CLOSED
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_breaker_probe_failure_reopens_for_another_full_period() -> None:
    clock = FakeClock()
    b, seen = _breaker(clock)
    for _ in range(3):
        b.on_failure()
    clock.now += 5.0
    assert b.allow()
    b.on_failure()
    assert _state(b) is BreakerState.OPEN
    clock.now += 4.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow()
    assert seen == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
    ]


def test_breaker_neutral_result_frees_the_probe_slot_without_closing() -> None:
    clock = FakeClock()
    b, _ = _breaker(clock)
    for _ in range(3):
        b.on_failure()
    clock.now += 5.0
    assert b.allow()
    assert not b.allow()
    b.on_neutral()
    assert _state(b) is BreakerState.HALF_OPEN
    assert b.allow()


def test_retry_budget_allows_ratio_of_requests_plus_floor_rate() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.2, min_per_s=1.0, clock=clock, cap=10.0)
    # starts full (cap): ten retries, then nothing until deposits arrive
    assert sum(budget.try_retry() for _ in range(20)) == 10
    for _ in range(10):
        budget.on_request()  # 10 x 0.2 = 2 tokens
    assert sum(budget.try_retry() for _ in range(5)) == 2
    clock.now += 3.0  # 3 s x 1 token/s
    assert sum(budget.try_retry() for _ in range(5)) == 3
    clock.now += 1000.0
    assert budget.tokens == pytest.approx(10.0)  # capped


def test_retry_budget_with_zero_ratio_and_floor_forbids_retries_once_spent() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_s=0.0, clock=clock, cap=1.0)
    assert budget.try_retry()
    budget.on_request()
    clock.now += 60.0
    assert not budget.try_retry()


def test_backoff_grows_exponentially_is_capped_and_jittered_within_half() -> None:
    rng = random.Random(7)
    for attempt, base in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 1.0), (20, 1.0)):
        delays = [backoff_delay_s(attempt, 0.1, 1.0, rng) for _ in range(200)]
        assert min(delays) >= base / 2 - 1e-12
        assert max(delays) <= base + 1e-12
        assert max(delays) - min(delays) > base / 4  # really jittered


def test_metrics_collector_exports_state_outcomes_and_transitions() -> None:
    reg = CollectorRegistry()
    m = KServeMetrics(reg)
    m.attach("default")
    m.request("default", "ok")
    m.request("default", "ok")
    m.request("default", "shed")
    m.retry("default")
    m.transition("default", BreakerState.OPEN)
    m.set_ready("default", True)

    def value(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    assert value("taxmeter_judge_backend_requests_total", judge="default", outcome="ok") == 2
    assert value("taxmeter_judge_backend_requests_total", judge="default", outcome="shed") == 1
    assert value("taxmeter_judge_backend_requests_total", judge="default", outcome="timeout") == 0
    assert value("taxmeter_judge_backend_retries_total", judge="default") == 1
    assert value("taxmeter_judge_backend_state", judge="default", backend="kserve") == 2
    assert value("taxmeter_judge_backend_ready", judge="default", backend="kserve") == 1
    assert (
        value("taxmeter_judge_backend_breaker_transitions_total", judge="default", to="open") == 1
    )
    assert (
        value("taxmeter_judge_backend_breaker_transitions_total", judge="default", to="closed") == 0
    )
    assert value("taxmeter_judge_backend_requests_created", judge="default", outcome="ok") is None


def test_config_rejects_bad_values_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        KServeBackendConfig.model_validate({"target": "pool:8001", "timeout_s": 0})
    assert "timeout_s" in str(info.value)
    with pytest.raises(ValidationError) as info:
        KServeBackendConfig.model_validate({"target": "http://pool:8001"})
    assert "target" in str(info.value)
    with pytest.raises(ValidationError) as info:
        KServeBackendConfig.model_validate({"target": "pool:8001", "unknown": 1})
    assert "unknown" in str(info.value)
    with pytest.raises(ValidationError, match="model_name_template"):
        KServeBackendConfig.model_validate({"target": "pool:8001", "model_name_template": "fixed"})
    with pytest.raises(ValidationError, match="exactly one"):
        KServeAuthConfig.model_validate({"token_env": "A", "token_file": "/x"})
    with pytest.raises(ValidationError, match="client_key_file"):
        KServeBackendConfig.model_validate(
            {"target": "pool:8001", "tls": {"client_cert_file": "/c.pem"}}
        )
    cfg = KServeBackendConfig.model_validate(
        {"target": "dns:///judges.pool.svc:8001", "model_name_template": "taxmeter-{judge}"}
    )
    assert cfg.model_name("default") == "taxmeter-default"


def test_auth_token_read_from_env_or_file_never_from_config(tmp_path: Path) -> None:
    env_auth = KServeAuthConfig(token_env="POOL_TOKEN")
    assert resolve_auth_metadata(env_auth, {"POOL_TOKEN": " s3cret\n"}) == (
        ("authorization", "Bearer s3cret"),
    )
    with pytest.raises(ConfigError) as info:
        resolve_auth_metadata(env_auth, {})
    assert info.value.field == "judges.kserve.auth.token_env"
    token = tmp_path / "token"
    token.write_text("abc\n")
    file_auth = KServeAuthConfig(token_file=token, header="x-api-key", scheme=None)
    assert resolve_auth_metadata(file_auth, {}) == (("x-api-key", "abc"),)
    with pytest.raises(ConfigError) as info:
        resolve_auth_metadata(KServeAuthConfig(token_file=tmp_path / "missing"), {})
    assert info.value.field == "judges.kserve.auth.token_file"
    assert resolve_auth_metadata(None, {"POOL_TOKEN": "x"}) == ()


EXPECTED_IN = (
    TensorSpec("input_ids", "int64", (None, None)),
    TensorSpec("attention_mask", "int64", (None, None)),
)
EXPECTED_OUT = (TensorSpec("logits", "float32", (None, 3)),)


def test_metadata_check_accepts_matching_tensors_and_fp16_outputs() -> None:
    check_remote_tensors(
        "j", "input", EXPECTED_IN, EXPECTED_IN, check_shapes=True, exact_names=True
    )
    remote_out = (
        TensorSpec("logits", "float16", (None, 3)),
        TensorSpec("extra", "float32", (None, 8)),
    )
    check_remote_tensors(
        "j", "output", EXPECTED_OUT, remote_out, check_shapes=True, exact_names=False
    )


@pytest.mark.parametrize(
    ("kind", "remote", "exact", "needle"),
    [
        ("input", (TensorSpec("input_ids", "int64", (None, None)),), True, "attention_mask"),
        (
            "input",
            (*EXPECTED_IN, TensorSpec("token_type_ids", "int64", (None, None))),
            True,
            "token_type_ids",
        ),
        (
            "input",
            (TensorSpec("input_ids", "int32", (None, None)), EXPECTED_IN[1]),
            True,
            "'input_ids' is int32, expected int64",
        ),
        (
            "output",
            (TensorSpec("logits", "float32", (None, 2)),),
            False,
            "'logits' has shape [-1, 2], expected [-1, 3]",
        ),
        ("output", (TensorSpec("logits", "float32", (None,)),), False, "'logits' has shape"),
        ("output", (TensorSpec("scores", "float32", (None, 3)),), False, "'logits'"),
    ],
)
def test_metadata_mismatch_names_judge_and_tensor(
    kind: str, remote: tuple[TensorSpec, ...], exact: bool, needle: str
) -> None:
    expected = EXPECTED_IN if kind == "input" else EXPECTED_OUT
    with pytest.raises(JudgeLoadError) as info:
        check_remote_tensors(
            "myjudge", kind, expected, remote, check_shapes=True, exact_names=exact
        )
    assert info.value.judge == "myjudge"
    assert needle in str(info.value)
