"""The composition root: builds every component from its slice of the configuration, wires
them together and owns their lifecycle (``startup → serve → shutdown``, like uvicorn's Server).

    ingress (gRPC, HTTP sink) ─▶ sampler ─▶ shadow dispatcher ─▶ JudgingSink
                                                                   ├─▶ judge engine
                                                                   └─▶ tax aggregator
    registry ◀── every component's metrics; /metrics on its own port

Nothing else in the package wires components or reads the environment after startup.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import prometheus_client
import structlog
from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from taxmeter import __version__
from taxmeter.audit import AuditMetrics, AuditStage, LlmAuditor
from taxmeter.audit.people import PendingStore, PeopleDesk
from taxmeter.config import Config
from taxmeter.errors import ConfigError
from taxmeter.ingress.auth import BearerAuth
from taxmeter.ingress.grpc_server import GrpcIngress
from taxmeter.ingress.http_sink import HttpSink
from taxmeter.ingress.labels import RouteNormalizer
from taxmeter.ingress.tls import ServerTls
from taxmeter.judges.engine import JudgeEngine
from taxmeter.pipeline import JudgingSink
from taxmeter.rotation import ReloadCounter, RotatingFileSecret
from taxmeter.sampling import LoopScheduler, Sampler
from taxmeter.shadow.dispatcher import ShadowDispatcher
from taxmeter.shadow.endpoint import build_endpoints
from taxmeter.shadow.metrics import ShadowMetrics
from taxmeter.shadow.tokens import TokenizerCounter, find_judge_tokenizer
from taxmeter.tax.aggregator import TaxAggregator
from taxmeter.tax.collector import TaxCollector
from taxmeter.telemetry.ledger import Ledger
from taxmeter.telemetry.server import MetricsServer, build_info_family
from taxmeter.telemetry.tracing import build_tracer_provider, tracer_from
from taxmeter.types import PairObserver, SystemClock

log = structlog.get_logger("taxmeter.app")


@dataclass(frozen=True, slots=True)
class BoundPorts:
    grpc: int
    http: int
    metrics: int


def check_tax_heads(config: Config, available: set[str]) -> None:
    """The heads the statistics read must exist in the loaded judges, or no tax is exported."""
    wanted = [
        ("tax.refusal_head", config.tax.refusal_head),
        ("tax.unsafe_head", config.tax.unsafe_head),
    ]
    wanted += [(f"tax.quality_heads[{i}]", h) for i, h in enumerate(config.tax.quality_heads)]
    for field, head in wanted:
        if head not in available:
            raise ConfigError(
                field,
                f"head {head!r} is not in the loaded judges (available: "
                f"{', '.join(sorted(available)) or 'none'})",
            )


class _BuildInfo(Collector):
    def __init__(self, provider: Callable[[], str]) -> None:
        self._provider = provider

    def collect(self) -> Iterator[Metric]:
        yield build_info_family(__version__, self._provider())


class App:
    """One taxmeter sidecar. ``await start()``, then ``await wait_for_shutdown()``/``stop()``."""

    def __init__(
        self,
        config: Config,
        *,
        env: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None,
        serve_metrics: bool = True,
    ) -> None:
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.config = config
        env = os.environ if env is None else env
        self.registry = registry or CollectorRegistry(auto_describe=True)
        clock = SystemClock()
        self.tracer_provider = build_tracer_provider(config.telemetry.service_name, env)
        tracer = tracer_from(self.tracer_provider)

        self.ledger = Ledger(self.registry)
        self.engine = JudgeEngine.from_config(config.judges, self.registry, environ=env)
        check_tax_heads(config, {h.key for h in self.engine.heads})
        # One category allowlist: the top-level one, unless the tax section names its own.
        tax = config.tax
        if not tax.categories and config.categories:
            tax = tax.model_copy(update={"categories": list(config.categories)})
        audit = config.audit
        self.aggregator = TaxAggregator(
            tax,
            clock=clock,
            audit_min_pairs=audit.min_pairs_for_corrected if audit.enabled else None,
        )
        self.registry.register(TaxCollector(self.aggregator))
        observer: PairObserver = self.aggregator
        self.audit: AuditStage | None = None
        self.audit_desk: PeopleDesk | None = None
        if audit.enabled:
            audit_metrics = AuditMetrics(self.registry)
            auditor = (
                LlmAuditor(audit.auditor, audit_metrics, environ=env)
                if audit.auditor is not None
                else None
            )
            store = None
            if audit.people is not None:
                store = PendingStore(audit.people, audit_metrics, clock)
                self.audit_desk = PeopleDesk(audit.people, store, self.aggregator, audit_metrics)
            self.audit = AuditStage(
                audit, auditor, self.aggregator, audit_metrics, clock=clock, people=store
            )
            observer = self.audit
        sink = JudgingSink(self.engine, observer)
        self.guarded, self.unguarded = build_endpoints(config.shadow, env)
        token_counter = self._token_counter(config)
        self.dispatcher = ShadowDispatcher(
            config.shadow,
            self.guarded,
            self.unguarded,
            sink,
            self.ledger,
            ShadowMetrics(self.registry),
            tracer=tracer,
            clock=clock,
            token_counter=token_counter,
        )
        self.sampler = Sampler(
            config.sampling,
            self.dispatcher,
            self.ledger,
            self.registry,
            clock=clock,
            scheduler=LoopScheduler(),
        )
        normalizer = RouteNormalizer(
            frozenset(config.routes), frozenset(config.categories), registry=self.registry
        )
        tls, auth = self._front_door(config)
        tls_cfg = config.ingress.tls
        self.grpc = GrpcIngress(
            config.ingress,
            self.sampler,
            normalizer,
            tls=tls if tls_cfg is not None and tls_cfg.grpc else None,
            auth=auth,
        )
        self.http = (
            HttpSink(
                config.ingress,
                self.sampler,
                normalizer,
                readiness=self.is_ready,
                tls=tls if tls_cfg is not None and tls_cfg.http else None,
                auth=auth,
            )
            if config.ingress.http_enabled
            else None
        )
        self.registry.register(_BuildInfo(self.judge_provider))
        self._metrics = (
            MetricsServer(
                self.registry, config.telemetry.metrics_host, config.telemetry.metrics_port
            )
            if serve_metrics
            else None
        )
        self._serving = False
        self._stopping = asyncio.Event()
        self.ports = BoundPorts(0, 0, 0)

    @staticmethod
    def _token_counter(config: Config) -> TokenizerCounter | None:
        """Counts answer tokens an endpoint reports no usage for: ``shadow.tokenizer``, else
        the first judge's tokenizer, else none (such answers then have no token count)."""
        if config.shadow.tokenizer is not None:
            return TokenizerCounter(config.shadow.tokenizer)
        found = find_judge_tokenizer(config.judges.repository, config.judges.judges)
        if found is None:
            log.info("shadow_token_counter", source="none")
            return None
        return TokenizerCounter(found, field_path="judges.repository")

    def _front_door(self, config: Config) -> tuple[ServerTls | None, BearerAuth | None]:
        """TLS material and the bearer token, from files re-read when they change."""
        reloads = ReloadCounter(self.registry)
        ingress = config.ingress
        tls = ServerTls(ingress.tls, counter=reloads) if ingress.tls is not None else None
        auth = None
        if ingress.bearer_token_file is not None:
            token = RotatingFileSecret(
                "ingress_token",
                ingress.bearer_token_file,
                field="ingress.bearer_token_file",
                counter=reloads,
            )
            auth = BearerAuth(token, self.registry)
        return tls, auth

    def judge_provider(self) -> str:
        """The judges' active provider(s): ``cpu``, ``cuda``, ``remote``; ``none`` before load."""
        providers = set()
        for judge in self.engine.judge_names:
            with contextlib.suppress(Exception):
                providers.add(self.engine.provider(judge))
        return ",".join(sorted(providers)) or "none"

    def is_ready(self) -> bool:
        """Readiness: the ingress is up and not draining. Judges warm in the background."""
        return self._serving

    async def start(self) -> BoundPorts:
        metrics_port = self._metrics.start() if self._metrics is not None else 0
        await self.engine.start()
        if self.audit_desk is not None:
            await self.audit_desk.start()
        await self.dispatcher.start()
        grpc_port = await self.grpc.start()
        http_port = await self.http.start() if self.http is not None else 0
        self._serving = True
        self.ports = BoundPorts(grpc_port, http_port, metrics_port)
        log.info(
            "taxmeter_started",
            version=__version__,
            grpc_port=grpc_port,
            http_port=http_port,
            metrics_port=metrics_port,
            routes=len(self.config.routes),
        )
        return self.ports

    async def discard(self) -> None:
        """Release what the constructor built, for an App that never started (check-config)."""
        await self.engine.aclose()
        for endpoint in (self.guarded, self.unguarded):
            await endpoint.aclose()
        self.tracer_provider.shutdown()

    def request_shutdown(self) -> None:
        self._stopping.set()

    async def wait_for_shutdown(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        """Stop accepting, drain in-flight shadows within the grace period, release all."""
        grace = self.config.shadow.drain_grace_s
        self._serving = False
        await self.grpc.set_serving(False)
        if self.http is not None:
            self.http.set_draining()
        log.info("taxmeter_draining", grace_s=grace)
        await self.grpc.stop(1.0)
        if self.http is not None:
            await self.http.stop()
        # One grace period for the whole drain: audits of pairs that completed while draining
        # get what the shadow drain left of it, not a second period (a pod must be gone within
        # its terminationGracePeriodSeconds).
        deadline = asyncio.get_running_loop().time() + grace
        await self.dispatcher.drain(grace)
        if self.audit is not None:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            await self.audit.aclose(left)
        if self.audit_desk is not None:
            await self.audit_desk.aclose()
        await self.engine.aclose()
        for endpoint in (self.guarded, self.unguarded):
            await endpoint.aclose()
        self.tracer_provider.shutdown()
        if self._metrics is not None:
            self._metrics.stop()
        log.info("taxmeter_stopped")


@contextlib.contextmanager
def handle_signals(app: App) -> Iterator[None]:
    """SIGTERM/SIGINT request a graceful shutdown; the previous handlers come back on exit."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, app.request_shutdown)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
