"""OpenTelemetry tracing: one trace per shadow job, a span per arm.

Exported over OTLP only when the standard variables ask for it (``OTEL_TRACES_EXPORTER`` set to
``otlp``, or an ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``..._TRACES_ENDPOINT``), off otherwise: spans
are then still created (so exemplars carry trace ids) but never leave the process. The
environment is read once, here, at startup.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from taxmeter import __version__


def otlp_requested(env: Mapping[str, str]) -> bool:
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter == "otlp":
        return True
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def build_tracer_provider(service_name: str, env: Mapping[str, str]) -> TracerProvider:
    """A provider of our own (never the global one), exporting over OTLP when asked."""
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME", service_name), "service.version": __version__}
    )
    provider = TracerProvider(resource=resource)
    if otlp_requested(env):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracer_from(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("taxmeter", __version__)
