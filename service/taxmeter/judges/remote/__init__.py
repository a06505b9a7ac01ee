"""Remote judges: the judge graphs run on a shared KServe v2 pool (NVIDIA Triton, Seldon
MLServer, KServe); the sidecar tokenizes and maps the raw head tensors to scores exactly as
in-process. See docs/judges-remote.md.

This module imports nothing, so that ``remote.config`` (pydantic only) can be loaded with the
configuration without pulling in gRPC:

- ``taxmeter.judges.remote.config``       the ``judges.kserve`` config models
- ``taxmeter.judges.remote.credentials``  auth header (a ``taxmeter.credentials.Secret``), TLS
- ``taxmeter.judges.remote.resilience``   retry budget, circuit breaker
- ``taxmeter.judges.remote.metrics``      ``KServeMetrics``
- ``taxmeter.judges.remote.tensors``      expected tensors, metadata check, message encoding
- ``taxmeter.judges.remote.backend``      ``KServeBackend``: connection, health loop, ModelInfer
- ``taxmeter.judges.remote.factory``      ``kserve_backend_factory`` (one backend per judge)
"""
