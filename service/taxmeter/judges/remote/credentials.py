"""Credentials of the remote judge backend: the auth header (a secret from an env var or a file,
through ``taxmeter.credentials``) and the TLS channel credentials (PEM files).

Both are read at startup, when the backend factory is built; a problem raises ``ConfigError``
naming the field (``judges.kserve.auth.token_env``, ``judges.kserve.tls.ca_file``). The header
value is rebuilt from ``Secret.value()`` on every call, so a rotating secret needs no change
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import grpc

from taxmeter.credentials import Secret, SecretSource, load_secret
from taxmeter.errors import ConfigError
from taxmeter.judges.remote.config import KServeAuthConfig, KServeTLSConfig

__all__ = ["CallAuth", "load_call_auth", "load_tls_credentials", "resolve_auth_metadata"]

Metadata = tuple[tuple[str, str], ...]


class CallAuth:
    """The auth header sent with every call: ``header: [scheme ]<secret>``."""

    __slots__ = ("_header", "_scheme", "_secret")

    def __init__(self, header: str, scheme: str | None, secret: Secret) -> None:
        self._header = header
        self._scheme = scheme
        self._secret = secret

    def metadata(self) -> Metadata:
        token = self._secret.value()
        return ((self._header, f"{self._scheme} {token}" if self._scheme else token),)


def load_call_auth(
    auth: KServeAuthConfig | None,
    environ: Mapping[str, str],
    field: str = "judges.kserve.auth",
) -> CallAuth | None:
    """Read the secret named by ``auth`` now (startup); ``None`` without an auth block."""
    if auth is None:
        return None
    source = SecretSource(
        env=auth.token_env,
        file=auth.token_file,
        env_field=f"{field}.token_env",
        file_field=f"{field}.token_file",
    )
    secret = load_secret(source, environ)
    assert secret is not None  # the config model requires exactly one source
    return CallAuth(auth.header, auth.scheme, secret)


def resolve_auth_metadata(
    auth: KServeAuthConfig | None,
    environ: Mapping[str, str],
    field: str = "judges.kserve.auth",
) -> Metadata:
    """The call metadata for ``auth`` as read now (``()`` without an auth block)."""
    call_auth = load_call_auth(auth, environ, field)
    return () if call_auth is None else call_auth.metadata()


def load_tls_credentials(
    tls: KServeTLSConfig | None, field: str = "judges.kserve.tls"
) -> grpc.ChannelCredentials | None:
    """Channel credentials from the PEM files named by ``tls`` (``None``: plaintext)."""
    if tls is None:
        return None

    def read(path: Path | None, name: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{field}.{name}", f"cannot read {path}: {exc}") from exc

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls.ca_file, "ca_file"),
        private_key=read(tls.client_key_file, "client_key_file"),
        certificate_chain=read(tls.client_cert_file, "client_cert_file"),
    )
