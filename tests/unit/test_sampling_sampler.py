from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from taxmeter.sampling import Sampler, SamplingConfig
from taxmeter.sampling.sampler import sample_point
from taxmeter.telemetry.ledger import Ledger
from taxmeter.types import MirrorOutcome, MirrorRequest, Transport


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class FakeQueue:
    def __init__(self, capacity: int = 10**9) -> None:
        self.items: list[MirrorRequest] = []
        self.capacity = capacity
        self.load_value = 0.0

    def try_enqueue(self, request: MirrorRequest) -> bool:
        if len(self.items) >= self.capacity:
            return False
        self.items.append(request)
        return True

    def load(self) -> float:
        return self.load_value


def req(i: int | str, route: str = "chat", force: bool = False, size: int = 100) -> MirrorRequest:
    return MirrorRequest(
        request_id=str(i),
        route=route,
        category=None,
        body={"messages": [{"role": "user", "content": "hi"}]},
        raw_body=b"x" * size,
        force_sample=force,
        transport=Transport.GRPC,
    )


def make(cfg: SamplingConfig, queue: FakeQueue | None = None) -> tuple[Sampler, FakeQueue, Ledger]:
    q = queue or FakeQueue()
    ledger = Ledger(CollectorRegistry())
    return Sampler(cfg, q, ledger, clock=FakeClock()), q, ledger


def test_same_request_id_always_gets_the_same_decision_on_every_replica() -> None:
    cfg = SamplingConfig(rate=0.3, max_shadows_per_s=1e9, burst_shadows=1e9, adaptive=False)
    a, _, _ = make(cfg)
    b, _, _ = make(cfg)
    decisions_a = [a.submit(req(i)).sampled for i in range(500)]
    decisions_b = [b.submit(req(i)).sampled for i in range(500)]
    assert decisions_a == decisions_b
    again = [a.submit(req(i)).sampled for i in range(500)]
    assert again == decisions_a


def test_sample_rate_holds_within_binomial_tolerance() -> None:
    n, rate = 20_000, 0.1
    cfg = SamplingConfig(rate=rate, max_shadows_per_s=1e9, burst_shadows=1e9, adaptive=False)
    s, q, _ = make(cfg)
    for i in range(n):
        s.submit(req(f"id-{i}"))
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(len(q.items) - n * rate) < 4 * sd


def test_route_rates_override_the_global_rate() -> None:
    cfg = SamplingConfig(
        rate=0.0, route_rates={"canary": 1.0}, max_shadows_per_s=1e9, burst_shadows=1e9
    )
    s, q, _ = make(cfg)
    assert not s.submit(req(1, route="chat")).sampled
    assert s.submit(req(2, route="canary")).sampled
    assert [r.request_id for r in q.items] == ["2"]


def test_force_flag_samples_regardless_of_rate() -> None:
    s, _, _ = make(SamplingConfig(rate=0.0))
    adm = s.submit(req(1, force=True))
    assert adm.outcome is MirrorOutcome.SAMPLED


def test_shadow_budget_drops_and_counts_excess() -> None:
    cfg = SamplingConfig(rate=1.0, max_shadows_per_s=1.0, burst_shadows=3.0, adaptive=False)
    s, q, ledger = make(cfg)
    outcomes = [s.submit(req(i)).outcome for i in range(5)]
    assert outcomes.count(MirrorOutcome.SAMPLED) == 3
    assert outcomes.count(MirrorOutcome.DROPPED_BUDGET) == 2
    snap = ledger.snapshot()
    assert snap.requests[("chat", "dropped_budget")] == 2
    assert len(q.items) == 3


def test_token_budget_drops_long_prompts_once_the_minute_is_spent() -> None:
    cfg = SamplingConfig(
        rate=1.0,
        max_shadows_per_s=1e9,
        burst_shadows=1e9,
        max_tokens_per_min=1000,
        adaptive=False,
    )
    s, _, _ = make(cfg)
    # ~ 4000 bytes / 4 + 256 answer tokens > 1000 → over budget at once
    assert s.submit(req(1, size=4000)).outcome is MirrorOutcome.DROPPED_BUDGET
    assert s.submit(req(2, size=100)).outcome is MirrorOutcome.SAMPLED


def test_full_queue_is_counted_as_dropped_queue_full() -> None:
    cfg = SamplingConfig(rate=1.0, max_shadows_per_s=1e9, burst_shadows=1e9, adaptive=False)
    s, _, ledger = make(cfg, FakeQueue(capacity=2))
    outcomes = [s.submit(req(i)).outcome for i in range(4)]
    assert outcomes == [MirrorOutcome.SAMPLED] * 2 + [MirrorOutcome.DROPPED_QUEUE_FULL] * 2
    snap = ledger.snapshot()
    assert snap.open[("chat", "queued")] == 2
    assert sum(snap.received.values()) == sum(snap.requests.values()) == 4


def test_adaptive_scale_falls_under_load_and_recovers() -> None:
    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock)
    q.load_value = 0.9
    for _ in range(3):
        clock.now += 1.5
        s.submit(req("x"))
    assert math.isclose(s.scale, 0.7**3)
    q.load_value = 0.0
    clock.now += 1.5
    s.submit(req("y"))
    assert math.isclose(s.scale, 0.7**3 * 1.25 + 0.005)


def test_adaptive_scale_holds_while_a_full_queue_is_draining() -> None:
    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock)
    q.load_value = 0.9
    clock.now += 1.5
    s.submit(req("x"))
    assert math.isclose(s.scale, 0.7)
    q.load_value = 0.8  # still above high water, but draining
    clock.now += 1.5
    s.submit(req("x"))
    assert math.isclose(s.scale, 0.7)


def test_adaptive_scale_lowers_the_sampled_share_instead_of_dropping() -> None:
    cfg = SamplingConfig(rate=1.0, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock)
    q.load_value = 0.9
    clock.now += 2
    outcomes = [s.submit(req(i)).outcome for i in range(2000)]
    sampled = outcomes.count(MirrorOutcome.SAMPLED)
    assert 1300 < sampled < 1500  # scale 0.7
    assert MirrorOutcome.DROPPED_QUEUE_FULL not in outcomes


def test_sample_point_is_uniform_enough() -> None:
    pts = [sample_point("", str(i)) for i in range(10_000)]
    assert all(0.0 <= p < 1.0 for p in pts)
    assert abs(sum(pts) / len(pts) - 0.5) < 0.02


def test_reject_counts_received_and_rejected_together() -> None:
    registry = CollectorRegistry()
    ledger = Ledger(registry)
    s = Sampler(SamplingConfig(), FakeQueue(), ledger)
    s.reject(Transport.HTTP, "unknown", ValueError("bad"))
    assert registry.get_sample_value("taxmeter_mirror_received_total", {"transport": "http"}) == 1
    assert (
        registry.get_sample_value(
            "taxmeter_mirror_requests_total", {"route": "unknown", "outcome": "rejected"}
        )
        == 1
    )


class FakeScheduler:
    """A ``Scheduler`` on the fake clock: ``advance`` moves time and fires the due timers."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay_s: float, callback: Callable[[], None], /) -> object | None:
        self.timers.append((self.clock.now + delay_s, callback))
        return len(self.timers)

    def advance(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while True:
            due = sorted((t for t in self.timers if t[0] <= end), key=lambda t: t[0])
            if not due:
                break
            when, callback = due[0]
            self.timers.remove(due[0])
            self.clock.now = max(self.clock.now, when)
            callback()
        self.clock.now = end


def test_adaptive_scale_recovers_on_time_while_no_traffic_arrives() -> None:
    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    timers = FakeScheduler(clock)
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock, scheduler=timers)
    q.load_value = 0.9
    for _ in range(3):
        clock.now += 1.5
        s.submit(req("x"))
    assert s.scale < 0.35  # the state seen stuck on an idle sidecar
    q.load_value = 0.0  # the queue empties; no request arrives from now on
    timers.advance(1.0)
    assert math.isclose(s.scale, 0.7**3 * 1.25 + 0.005)
    timers.advance(10.0)
    assert s.scale == 1.0
    assert timers.timers == []  # at scale 1 no timer stays armed: nothing polls


def test_no_timer_is_armed_while_the_scale_is_one() -> None:
    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    timers = FakeScheduler(clock)
    s = Sampler(cfg, FakeQueue(), Ledger(), clock=clock, scheduler=timers)
    for i in range(10):
        clock.now += 0.7
        s.submit(req(i))
    assert s.scale == 1.0 and timers.timers == []


def test_idle_timer_keeps_lowering_while_a_stuck_queue_stays_full() -> None:
    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    timers = FakeScheduler(clock)
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock, scheduler=timers)
    q.load_value = 0.9
    clock.now += 1.5
    s.submit(req("x"))
    assert math.isclose(s.scale, 0.7)
    timers.advance(1.0)  # same load, not draining: the controller acts as on an arrival
    assert math.isclose(s.scale, 0.49)
    assert len(timers.timers) == 1


def test_the_loop_scheduler_off_the_loop_arms_nothing_and_arrivals_still_adjust() -> None:
    from taxmeter.sampling import LoopScheduler

    cfg = SamplingConfig(rate=0.5, max_shadows_per_s=1e9, burst_shadows=1e9)
    clock = FakeClock()
    q = FakeQueue()
    s = Sampler(cfg, q, Ledger(), clock=clock, scheduler=LoopScheduler())
    q.load_value = 0.9
    clock.now += 1.5
    s.submit(req("x"))  # no running loop here: no timer, no error
    assert math.isclose(s.scale, 0.7)
    q.load_value = 0.0
    clock.now += 1.5
    s.submit(req("y"))
    assert math.isclose(s.scale, 0.7 * 1.25 + 0.005)
