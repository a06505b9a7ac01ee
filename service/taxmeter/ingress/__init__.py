"""The ingress edge: the gRPC Mirror service, the HTTP mirror sink and their codec.

Each received request ends in exactly one call to the :class:`taxmeter.types.MirrorIntake`
(``submit`` for a valid request, ``reject`` for an invalid one), which counts it.
"""

from __future__ import annotations

from taxmeter.ingress.codec import MirrorCodec, Rejection
from taxmeter.ingress.config import DEFAULT_STRIP_HEADERS, IngressConfig
from taxmeter.ingress.grpc_server import SERVICE_NAME, GrpcIngress
from taxmeter.ingress.http_sink import HttpSink
from taxmeter.ingress.labels import OTHER, UNKNOWN, RouteNormalizer

__all__ = [
    "DEFAULT_STRIP_HEADERS",
    "OTHER",
    "SERVICE_NAME",
    "UNKNOWN",
    "GrpcIngress",
    "HttpSink",
    "IngressConfig",
    "MirrorCodec",
    "Rejection",
    "RouteNormalizer",
]
