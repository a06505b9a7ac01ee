"""Files re-read when they change: certificates, keys and tokens under secret rotation.

A Kubernetes secret volume is updated by writing the new files and swapping a symlink; a
cert-manager or Vault agent rewrites files in place. Either way a file's *stamp* (device,
inode, size, mtime in ns, after following symlinks) changes. :class:`WatchedFiles` stats its
files when asked for the value (on use: a TLS handshake, a request; no polling task), and
re-runs its loader when any stamp moved. A reload that fails (a half-written file, a key that
does not match the new certificate) keeps the last good value, is counted and logged without
content, and is retried on the next use; the first load at startup raises instead, as a
``ConfigError`` naming the field.

:class:`RotatingFileSecret` is the small wrapper for one-line secrets (bearer tokens, API keys):
it has the ``value()`` of ``taxmeter.credentials.Secret`` and can replace a value read once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import structlog
from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from taxmeter.errors import ConfigError

__all__ = ["ReloadCounter", "RotatingFileSecret", "WatchedFiles", "read_token"]

T = TypeVar("T")
Stamp = tuple[int, int, int, int] | None

_log = structlog.get_logger("taxmeter.rotation")


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ReloadCounter:
    """``taxmeter_credential_reloads_total{credential, outcome}`` on the registry passed in."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._counter = (
            Counter(
                "taxmeter_credential_reloads",
                "Certificates, keys and tokens re-read after their files changed, by outcome "
                "(ok; failed: the last good value is kept and the reload retried on next use).",
                ["credential", "outcome"],
                registry=registry,
            )
            if registry is not None
            else None
        )

    def count(self, credential: str, ok: bool) -> None:
        if self._counter is not None:
            self._counter.labels(credential, "ok" if ok else "failed").inc()


class WatchedFiles(Generic[T]):
    """A value loaded from files and reloaded when any of them changes. Thread-safe (gRPC
    calls its certificate fetcher from a core thread)."""

    def __init__(
        self,
        name: str,
        paths: Sequence[Path],
        load: Callable[[], T],
        *,
        field: str,
        counter: ReloadCounter | None = None,
    ) -> None:
        self._name = name
        self._paths = tuple(paths)
        self._load = load
        self._counter = counter or ReloadCounter(None)
        self._lock = threading.Lock()
        stamps = self._stamps()
        try:
            self._value = load()
        except ConfigError:
            raise
        except (OSError, ValueError) as exc:
            raise ConfigError(field, f"cannot load {name}: {_describe(exc)}") from None
        self._loaded = stamps
        self._failed: tuple[Stamp, ...] | None = None
        self._generation = 0

    def _stamps(self) -> tuple[Stamp, ...]:
        return tuple(_stamp(p) for p in self._paths)

    @property
    def generation(self) -> int:
        """Incremented by every successful reload."""
        return self._generation

    def get(self) -> T:
        """The current value, reloaded first if a file changed since the last load."""
        stamps = self._stamps()
        with self._lock:
            if stamps == self._loaded or stamps == self._failed:
                return self._value
            try:
                value = self._load()
            except (OSError, ValueError) as exc:
                # Mid-rotation (one file new, the other old) or a broken file: keep serving
                # the last good value; retried when the stamps move again.
                self._failed = stamps
                self._counter.count(self._name, ok=False)
                _log.warning(
                    "credential_reload_failed", credential=self._name, error=_describe(exc)
                )
                return self._value
            self._value, self._loaded, self._failed = value, stamps, None
            self._generation += 1
        self._counter.count(self._name, ok=True)
        _log.info("credential_reloaded", credential=self._name)
        return value


def _describe(exc: BaseException) -> str:
    """An error's kind and file, never file content."""
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}" + (
            f" ({exc.filename})" if exc.filename else ""
        )
    return f"{type(exc).__name__}: {exc}"


def read_token(path: Path) -> str:
    """A one-line secret file, stripped; an empty file is an error."""
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"{path} is empty")
    return value


class RotatingFileSecret:
    """A secret in a file, re-read when the file changes (``value()`` like ``Secret``)."""

    __slots__ = ("_files",)

    def __init__(
        self, name: str, path: Path, *, field: str, counter: ReloadCounter | None = None
    ) -> None:
        self._files = WatchedFiles(
            name, [path], lambda: read_token(path), field=field, counter=counter
        )

    def value(self) -> str:
        return self._files.get()

    def __repr__(self) -> str:  # never the value
        return "RotatingFileSecret(***)"
