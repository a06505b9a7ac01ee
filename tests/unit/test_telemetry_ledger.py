from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry
from taxmeter.telemetry.ledger import Ledger
from taxmeter.types import Arm, JobOutcome, MirrorOutcome, Transport


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    v = reg.get_sample_value(name, labels)
    return 0.0 if v is None else v


def test_job_lifecycle_keeps_sampled_equal_to_ended_plus_open() -> None:
    reg = CollectorRegistry()
    led = Ledger(reg)
    for _ in range(5):
        led.admit(Transport.GRPC, "chat", MirrorOutcome.SAMPLED)
    led.admit(Transport.HTTP, "chat", MirrorOutcome.NOT_SAMPLED)
    for _ in range(3):
        led.job_started("chat")
    led.job_finished("chat", JobOutcome.COMPLETED)
    led.job_finished("chat", JobOutcome.FAILED)
    led.pair_incomplete("chat", Arm.GUARDED, "timeout")
    led.job_finished("chat", JobOutcome.SHED, shed_reason="shutdown", from_queue=True)

    sampled = value(reg, "taxmeter_mirror_requests_total", route="chat", outcome="sampled")
    ended = sum(
        value(reg, "taxmeter_shadow_jobs_total", route="chat", outcome=o)
        for o in ("completed", "failed", "shed")
    )
    open_ = sum(
        value(reg, "taxmeter_shadow_jobs_open", route="chat", state=s)
        for s in ("queued", "in_flight")
    )
    assert sampled == 5
    assert ended == 3
    assert open_ == 2
    assert value(reg, "taxmeter_shadow_jobs_open", route="chat", state="in_flight") == 1
    assert value(reg, "taxmeter_shadow_jobs_shed_total", route="chat", reason="shutdown") == 1
    assert (
        value(reg, "taxmeter_pairs_incomplete_total", route="chat", arm="guarded", reason="timeout")
        == 1
    )
    assert value(reg, "taxmeter_effective_sample_ratio", route="chat") == 1 / 6
    assert value(reg, "taxmeter_mirror_received_total", transport="grpc") == 5
    assert value(reg, "taxmeter_mirror_received_total", transport="http") == 1


def test_identities_hold_in_every_snapshot_under_concurrent_updates() -> None:
    led = Ledger()
    stop = threading.Event()
    bad: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            led.admit(Transport.GRPC, "r", MirrorOutcome.SAMPLED)
            led.job_started("r")
            led.job_finished("r", JobOutcome.COMPLETED)
            led.admit(Transport.HTTP, "r", MirrorOutcome.NOT_SAMPLED)

    def reader() -> None:
        for _ in range(2000):
            s = led.snapshot()
            if sum(s.received.values()) != sum(s.requests.values()):
                bad.append("received")
            ended = sum(v for (r, _), v in s.jobs.items() if r == "r")
            opened = sum(v for (r, _), v in s.open.items() if r == "r")
            if s.sampled("r") != ended + opened:
                bad.append("sampled")

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    reader()
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
