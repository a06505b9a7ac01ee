"""The shared pacing primitives (``taxmeter.resilience``) and the one secret reader
(``taxmeter.credentials``). Fake clock, seeded random source, no patching."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from taxmeter.credentials import SecretSource, StaticSecret, load_secret, read_secret
from taxmeter.errors import ConfigError
from taxmeter.judges.remote.credentials import CallAuth
from taxmeter.resilience import Backoff, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def monotonic(self) -> float:
        return self.now


def test_backoff_without_jitter_doubles_up_to_its_cap_and_starts_over_on_reset() -> None:
    backoff = Backoff(0.5, 3.0, jitter=False)
    assert [backoff.next_s() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.attempts == 5
    backoff.reset()
    assert backoff.attempts == 0 and backoff.next_s() == 0.5


def test_backoff_with_jitter_stays_in_the_upper_half_of_each_step() -> None:
    backoff = Backoff(0.1, 1.0, rng=random.Random(3))
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [backoff.delay_s(attempt) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in delays)
        assert max(delays) - min(delays) > base / 4  # really spread, not a constant
    assert backoff.delay_s(10_000) <= 1.0  # no overflow far out


@pytest.mark.parametrize(("initial", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_backoff_rejects_bounds_out_of_order(initial: float, cap: float) -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(initial, cap)


def test_token_bucket_starts_full_refills_from_the_clock_and_is_capped() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, capacity=4.0, clock=clock)
    assert bucket.available(4.0) and not bucket.available(4.1)
    bucket.take(4.0)
    assert not bucket.available(1.0)
    clock.now += 0.5
    assert bucket.tokens == pytest.approx(1.0)
    clock.now += 100.0
    assert bucket.tokens == pytest.approx(4.0)  # capped, a quiet spell banks no more
    bucket.take(6.0)  # a debt, paid back by time
    assert bucket.tokens == pytest.approx(-2.0)
    clock.now += 1.5
    assert bucket.tokens == pytest.approx(1.0)


def test_token_bucket_try_take_and_deposit() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=0.0, capacity=2.0, clock=clock)
    assert bucket.try_take(1.0) and bucket.try_take(1.0)
    assert not bucket.try_take(1.0)
    for _ in range(10):
        bucket.deposit(0.1)  # 10 x 0.1 sums to 0.9999999999999999 in floats
    assert not bucket.try_take(1.0)
    assert bucket.try_take(1.0, tolerance=1e-9)
    assert bucket.tokens == 0.0  # never below zero through try_take
    bucket.deposit(10.0)
    assert bucket.tokens == 2.0


def test_secret_from_env_is_stripped_and_a_missing_one_names_the_field() -> None:
    source = SecretSource(env="POOL_TOKEN", env_field="judges.kserve.auth.token_env")
    assert read_secret(source, {"POOL_TOKEN": "  s3cret\n"}) == "s3cret"
    for environ in ({}, {"POOL_TOKEN": "  "}):
        with pytest.raises(ConfigError) as info:
            read_secret(source, environ)
        assert info.value.field == "judges.kserve.auth.token_env"
        assert "POOL_TOKEN" in info.value.message


def test_secret_from_file_and_unreadable_or_empty_files_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("sk-1\n")
    source = SecretSource(file=path, file_field="shadow.guarded.api_key_file")
    assert read_secret(source, {}) == "sk-1"
    path.write_text("\n")
    with pytest.raises(ConfigError, match="is empty") as info:
        read_secret(source, {})
    assert info.value.field == "shadow.guarded.api_key_file"
    missing = SecretSource(file=tmp_path / "nope", file_field="shadow.guarded.api_key_file")
    with pytest.raises(ConfigError, match="cannot read") as info:
        read_secret(missing, {})
    assert info.value.field == "shadow.guarded.api_key_file"


def test_no_source_is_no_secret_and_two_sources_are_refused() -> None:
    assert read_secret(SecretSource(), {"X": "y"}) is None
    assert load_secret(SecretSource(), {}) is None
    with pytest.raises(ValueError, match="not both"):
        SecretSource(env="X", file=Path("/k"))


def test_a_loaded_secret_never_shows_its_value() -> None:
    secret = load_secret(SecretSource(env="K", env_field="f"), {"K": "hunter2"})
    assert secret is not None and secret.value() == "hunter2"
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)


class RotatingSecret:
    """A secret whose value changes (what a file re-read on change would do)."""

    def __init__(self, *values: str) -> None:
        self._values = list(values)

    def value(self) -> str:
        return self._values.pop(0) if len(self._values) > 1 else self._values[0]


def test_call_auth_asks_the_secret_for_its_value_on_every_call() -> None:
    auth = CallAuth("authorization", "Bearer", RotatingSecret("old", "new"))
    assert auth.metadata() == (("authorization", "Bearer old"),)
    assert auth.metadata() == (("authorization", "Bearer new"),)
    raw = CallAuth("x-api-key", None, StaticSecret("k"))
    assert raw.metadata() == (("x-api-key", "k"),)
