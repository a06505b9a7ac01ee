"""Bearer-token authentication of mirror senders, answered without detail and counted.

The token is compared in constant time with the current value of a secret (a
:class:`taxmeter.rotation.RotatingFileSecret`, re-read when its file changes). A sender that
presents no token or a wrong one gets ``UNAUTHENTICATED`` (gRPC) or ``401`` (HTTP) with the
message ``unauthenticated`` and nothing else; the failure is counted in
``taxmeter_ingress_auth_failures_total{transport, reason}`` and is not a received mirror (the
accounting identities are over authenticated requests). Health and readiness stay open.
"""

from __future__ import annotations

import hmac
from typing import Final, Protocol

from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from taxmeter.types import Transport

__all__ = ["UNAUTHENTICATED", "BearerAuth", "TokenSource"]

UNAUTHENTICATED: Final = "unauthenticated"


class TokenSource(Protocol):
    """The expected token, now (``taxmeter.credentials.Secret``)."""

    def value(self) -> str: ...


class BearerAuth:
    def __init__(self, token: TokenSource, registry: CollectorRegistry | None = None) -> None:
        self._token = token
        self._failures = Counter(
            "taxmeter_ingress_auth_failures",
            "Mirror requests refused for authentication (no bearer token, or a wrong one), "
            "by transport; answered without detail and not counted as received.",
            ["transport", "reason"],
            registry=registry,
        )
        for transport in Transport:
            for reason in ("missing", "invalid"):
                self._failures.labels(transport.value, reason)

    def check(self, transport: Transport, authorization: str | None) -> bool:
        """True when ``authorization`` is ``Bearer <the current token>``; counts a failure."""
        if not authorization:
            self._failures.labels(transport.value, "missing").inc()
            return False
        scheme, _, given = authorization.strip().partition(" ")
        expected = self._token.value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogatepass"), expected.encode("utf-8")
        ):
            self._failures.labels(transport.value, "invalid").inc()
            return False
        return True
