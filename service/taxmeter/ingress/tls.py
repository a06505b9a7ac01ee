"""TLS and mutual TLS for the ingress listeners, with certificates re-read when they change.

One :class:`ServerTls` reads the certificate chain, its key and (for mutual TLS) the client CA
bundle through :class:`taxmeter.rotation.WatchedFiles`, so a rotated secret is picked up by the
next TLS handshake, without a restart; connections already open keep their session, so no
request in flight is dropped.

- gRPC: ``grpc.dynamic_ssl_server_credentials`` with a certificate-configuration fetcher that
  gRPC calls before each handshake; it answers a new configuration only when the files changed.
- HTTP sink: an ``ssl.SSLContext`` whose ``sni_callback`` (called for every ClientHello, with
  or without SNI) switches the connection to the context built from the current files.

With ``client_ca_file`` set, a client without a certificate signed by one of those CAs fails
the handshake (gRPC and OpenSSL answer it; no application detail is sent).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import grpc

from taxmeter.ingress.config import TlsConfig
from taxmeter.rotation import ReloadCounter, WatchedFiles

__all__ = ["ServerTls", "TlsMaterial"]


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    context: ssl.SSLContext
    """A server context built from the same files (also the check that key and chain match)."""


def _load(cfg: TlsConfig) -> TlsMaterial:
    cert = cfg.cert_file.read_bytes()
    key = cfg.key_file.read_bytes()
    ca = cfg.client_ca_file.read_bytes() if cfg.client_ca_file is not None else None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    if ca is not None:
        ctx.load_verify_locations(cadata=ca.decode("ascii"))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return TlsMaterial(cert, key, ca, ctx)


class ServerTls:
    """The server side of TLS for both listeners, from files that may rotate."""

    def __init__(self, config: TlsConfig, *, counter: ReloadCounter | None = None) -> None:
        self._config = config
        paths = [config.cert_file, config.key_file]
        if config.client_ca_file is not None:
            paths.append(config.client_ca_file)
        self._files = WatchedFiles(
            "ingress_tls",
            paths,
            lambda: _load(config),
            field="ingress.tls.cert_file",
            counter=counter,
        )

    @property
    def mutual(self) -> bool:
        return self._config.client_ca_file is not None

    def current(self) -> TlsMaterial:
        return self._files.get()

    # -- gRPC ------------------------------------------------------------------------------

    def grpc_credentials(self) -> grpc.ServerCredentials:
        material = self._files.get()
        seen = [self._files.generation]

        def fetch() -> Any:
            current = self._files.get()
            generation = self._files.generation
            if generation == seen[0]:
                return None  # unchanged: gRPC keeps the configuration it has
            seen[0] = generation
            return _grpc_configuration(current)

        return grpc.dynamic_ssl_server_credentials(
            _grpc_configuration(material), fetch, require_client_authentication=self.mutual
        )

    # -- HTTP ------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """The listening context: each handshake switches to the current files' context."""
        listener = _load(self._config).context

        def on_hello(sslobj: ssl.SSLObject, _name: str | None, ctx: ssl.SSLContext) -> None:
            current = self._files.get().context
            if current is not ctx:
                sslobj.context = current

        listener.sni_callback = on_hello
        return listener


def _grpc_configuration(material: TlsMaterial) -> Any:
    return grpc.ssl_server_certificate_configuration(
        [(material.private_key, material.cert_chain)], root_certificates=material.client_ca
    )
