"""A small client an application uses to mirror its LLM calls to the taxmeter sidecar.

Fire-and-forget: :meth:`AsyncMirrorClient.mirror` serializes the request, puts it in a bounded
buffer and returns; it never blocks and never raises into the app. A background task sends the
buffer in batches, one ``MirrorStream`` call per batch (at most ``batch_max`` items, or what
arrived within ``flush_interval_s`` of the first). When the sidecar is down, the failed batch is
dropped and counted, and the sender backs off (``taxmeter.resilience.Backoff``) while the
buffer fills; once full, new mirrors are dropped and counted. :meth:`stats` says what happened.

    client = AsyncMirrorClient("localhost:50051")
    client.mirror(request_body, route="support-chat")   # after each production LLM call
    await client.aclose()                               # at shutdown

:class:`MirrorClient` is the same for non-async apps: its sender runs in a background thread
with its own event loop, and ``mirror`` may be called from any thread.

Modules: ``client/aio.py`` (the buffer and the sender), ``client/sync.py`` (the thread
wrapper), ``client/messages.py`` (the values the app passes and reads, and their encoding
as a ``taxmeter.v1.MirrorRequest``).
"""

from __future__ import annotations

from taxmeter.client.aio import AsyncMirrorClient
from taxmeter.client.messages import ClientStats, ProductionInfo
from taxmeter.client.sync import MirrorClient

__all__ = ["AsyncMirrorClient", "ClientStats", "MirrorClient", "ProductionInfo"]
