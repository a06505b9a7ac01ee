"""The front door: TLS, mutual TLS and a bearer token on both listeners, with real certificates
made in the test, and secret rotation (certificates, client CA and token files replaced the way
a Kubernetes secret volume does) picked up without a restart or a dropped request."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from ingress_fixtures import RecordingIntake
from prometheus_client import CollectorRegistry
from taxmeter.errors import ConfigError
from taxmeter.ingress import GrpcIngress, HttpSink, IngressConfig, RouteNormalizer
from taxmeter.ingress.auth import BearerAuth
from taxmeter.ingress.config import TlsConfig
from taxmeter.ingress.tls import ServerTls
from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.rotation import ReloadCounter, RotatingFileSecret
from tls_fixtures import Authority, Issued, write_atomically

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]}).encode()
TOKEN = "tok-first-0123456789"
NEW_TOKEN = "tok-second-9876543210"


def _message(i: int = 0) -> bytes:
    raw: bytes = mirror_pb2.MirrorRequest(
        request_id=f"r{i}".encode(), route=b"chat", body=BODY
    ).SerializeToString()
    return raw


@dataclass
class Files:
    root: Path
    server_ca: Authority
    client_ca: Authority

    @property
    def cert(self) -> Path:
        return self.root / "tls.crt"

    @property
    def key(self) -> Path:
        return self.root / "tls.key"

    @property
    def ca(self) -> Path:
        return self.root / "client-ca.crt"

    @property
    def token(self) -> Path:
        return self.root / "token"

    def install_server(self, authority: Authority) -> Issued:
        issued = authority.issue("localhost", server=True)
        # key first, then chain: a handshake in between sees a mismatched pair, which the
        # reloader refuses (keeps the last good pair) and retries
        write_atomically(self.key, issued.key_pem)
        write_atomically(self.cert, issued.cert_pem)
        return issued


@pytest.fixture
def files(tmp_path: Path) -> Files:
    f = Files(tmp_path, Authority.create("server CA 1"), Authority.create("client CA 1"))
    f.install_server(f.server_ca)
    f.ca.write_bytes(f.client_ca.cert_pem)
    f.token.write_text(TOKEN + "\n")
    return f


def _config(files: Files, *, mutual: bool = False, token: bool = False) -> IngressConfig:
    tls = TlsConfig(
        cert_file=files.cert, key_file=files.key, client_ca_file=files.ca if mutual else None
    )
    return IngressConfig(
        host="127.0.0.1",
        http_host="127.0.0.1",
        grpc_port=0,
        http_port=0,
        tls=tls,
        bearer_token_file=files.token if token else None,
    )


@dataclass
class FrontDoor:
    grpc_port: int
    http_port: int
    intake: RecordingIntake
    registry: CollectorRegistry

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def door(request: pytest.FixtureRequest, files: Files) -> AsyncIterator[FrontDoor]:
    mutual, token = request.param
    cfg = _config(files, mutual=mutual, token=token)
    registry = CollectorRegistry()
    reloads = ReloadCounter(registry)
    assert cfg.tls is not None
    tls = ServerTls(cfg.tls, counter=reloads)
    auth = (
        BearerAuth(
            RotatingFileSecret("ingress_token", files.token, field="f", counter=reloads), registry
        )
        if token
        else None
    )
    intake = RecordingIntake()
    normalizer = RouteNormalizer(frozenset({"chat"}))
    g = GrpcIngress(cfg, intake, normalizer, tls=tls, auth=auth)
    h = HttpSink(cfg, intake, normalizer, tls=tls, auth=auth)
    gp, hp = await g.start(), await h.start()
    try:
        yield FrontDoor(gp, hp, intake, registry)
    finally:
        await g.stop(0.5)
        await h.stop()


# -- clients -------------------------------------------------------------------------------


def _grpc_channel(port: int, trust: Authority, client: Issued | None = None) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=trust.cert_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    )


async def _grpc_mirror(channel: grpc.aio.Channel, token: str | None = None) -> grpc.StatusCode:
    call = channel.unary_unary(
        "/taxmeter.v1.MirrorService/Mirror",
        request_serializer=None,
        response_deserializer=mirror_pb2.MirrorAck.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    try:
        await call(_message(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _ssl(trust: Authority, client: Issued | None = None, tmp: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=trust.cert_pem.decode())
    if client is not None and tmp is not None:
        (tmp / "client.crt").write_bytes(client.cert_pem)
        (tmp / "client.key").write_bytes(client.key_pem)
        ctx.load_cert_chain(tmp / "client.crt", tmp / "client.key")
    return ctx


async def _http_post(
    port: int,
    ctx: ssl.SSLContext,
    token: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, str]:
    headers = {"content-type": "application/json", "x-taxmeter-route": "chat"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    own = session is None
    s = session or aiohttp.ClientSession()
    try:
        async with s.post(
            f"https://localhost:{port}/v1/chat/completions", data=BODY, headers=headers, ssl=ctx
        ) as resp:
            return resp.status, await resp.text()
    finally:
        if own:
            await s.close()


# -- TLS and rotation ------------------------------------------------------------------------


@pytest.mark.parametrize("door", [(False, False)], indirect=True)
async def test_tls_serves_both_listeners_and_picks_up_a_rotated_certificate(
    door: FrontDoor, files: Files
) -> None:
    old_ca = files.server_ca
    async with _grpc_channel(door.grpc_port, old_ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
    assert (await _http_post(door.http_port, _ssl(old_ca)))[0] == 202
    # a plaintext client gets nothing from the TLS listener
    async with grpc.aio.insecure_channel(f"127.0.0.1:{door.grpc_port}") as plain:
        assert await _grpc_mirror(plain) is grpc.StatusCode.UNAVAILABLE

    new_ca = Authority.create("server CA 2")
    files.install_server(new_ca)  # rotation: a certificate from another CA

    async with _grpc_channel(door.grpc_port, new_ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
    async with _grpc_channel(door.grpc_port, old_ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.UNAVAILABLE
    assert (await _http_post(door.http_port, _ssl(new_ca)))[0] == 202
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _http_post(door.http_port, _ssl(old_ca))
    assert (
        door.value("taxmeter_credential_reloads_total", credential="ingress_tls", outcome="ok") >= 1
    )


@pytest.mark.parametrize("door", [(False, False)], indirect=True)
async def test_connections_open_across_a_rotation_keep_working(
    door: FrontDoor, files: Files
) -> None:
    old_ca = files.server_ca
    async with (
        _grpc_channel(door.grpc_port, old_ca) as channel,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
    ):
        stream = channel.stream_unary(
            "/taxmeter.v1.MirrorService/MirrorStream",
            request_serializer=None,
            response_deserializer=mirror_pb2.MirrorStreamSummary.FromString,
        )
        call = stream()
        await call.write(_message(1))
        trust_old = _ssl(old_ca)  # one context: aiohttp keys its pooled connections by it
        assert (await _http_post(door.http_port, trust_old, session=session))[0] == 202

        files.install_server(Authority.create("server CA 2"))

        # a request in flight across the rotation, and a new one on the open connections
        await call.write(_message(2))
        await call.done_writing()
        summary = await call
        assert summary.received == 2 and summary.rejected == 0
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
        assert (await _http_post(door.http_port, trust_old, session=session))[0] == 202
    assert len(door.intake.submitted) == 5


@pytest.mark.parametrize("door", [(False, False)], indirect=True)
async def test_a_broken_rotation_keeps_the_last_good_certificate_and_is_counted(
    door: FrontDoor, files: Files
) -> None:
    write_atomically(files.cert, b"-----BEGIN CERTIFICATE-----\nnot a cert\n")
    async with _grpc_channel(door.grpc_port, files.server_ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
    assert (await _http_post(door.http_port, _ssl(files.server_ca)))[0] == 202
    assert (
        door.value("taxmeter_credential_reloads_total", credential="ingress_tls", outcome="failed")
        >= 1
    )
    new_ca = Authority.create("server CA 2")
    files.install_server(new_ca)  # the next good files are picked up
    assert (await _http_post(door.http_port, _ssl(new_ca)))[0] == 202


# -- mutual TLS ------------------------------------------------------------------------------


@pytest.mark.parametrize("door", [(True, False)], indirect=True)
async def test_mutual_tls_requires_a_client_certificate_from_the_rotating_client_ca(
    door: FrontDoor, files: Files, tmp_path: Path
) -> None:
    ca = files.server_ca
    good = files.client_ca.issue("app", server=False)
    stranger = Authority.create("someone else").issue("app", server=False)

    async with _grpc_channel(door.grpc_port, ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.UNAVAILABLE
    async with _grpc_channel(door.grpc_port, ca, stranger) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.UNAVAILABLE
    async with _grpc_channel(door.grpc_port, ca, good) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
    assert (await _http_post(door.http_port, _ssl(ca, good, tmp_path)))[0] == 202
    with pytest.raises(aiohttp.ClientError):
        await _http_post(door.http_port, _ssl(ca))
    with pytest.raises(aiohttp.ClientError):
        await _http_post(door.http_port, _ssl(ca, stranger, tmp_path))
    accepted = len(door.intake.submitted)

    rotated = Authority.create("client CA 2")
    write_atomically(files.ca, rotated.cert_pem)
    fresh = rotated.issue("app", server=False)
    async with _grpc_channel(door.grpc_port, ca, fresh) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.OK
    async with _grpc_channel(door.grpc_port, ca, good) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.UNAVAILABLE
    assert (await _http_post(door.http_port, _ssl(ca, fresh, tmp_path)))[0] == 202
    with pytest.raises(aiohttp.ClientError):
        await _http_post(door.http_port, _ssl(ca, good, tmp_path))
    assert len(door.intake.submitted) == accepted + 2


# -- bearer token ----------------------------------------------------------------------------


@pytest.mark.parametrize("door", [(False, True)], indirect=True)
async def test_token_is_required_answered_without_detail_counted_and_rotates(
    door: FrontDoor, files: Files
) -> None:
    ca = files.server_ca
    async with _grpc_channel(door.grpc_port, ca) as channel:
        assert await _grpc_mirror(channel) is grpc.StatusCode.UNAUTHENTICATED
        try:
            await channel.unary_unary("/taxmeter.v1.MirrorService/Mirror", request_serializer=None)(
                _message(), metadata=(("authorization", "Bearer wrong"),), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAUTHENTICATED
            assert exc.details() == "unauthenticated"
        assert await _grpc_mirror(channel, TOKEN) is grpc.StatusCode.OK
        status, text = await _http_post(door.http_port, _ssl(ca))
        assert (status, json.loads(text)) == (401, {"error": {"message": "unauthenticated"}})
        status, text = await _http_post(door.http_port, _ssl(ca), token="Bearer " + TOKEN[:-1])
        assert (status, json.loads(text)) == (401, {"error": {"message": "unauthenticated"}})
        assert (await _http_post(door.http_port, _ssl(ca), token=TOKEN))[0] == 202
        # failed attempts never reach the intake: they are not received mirrors
        assert door.intake.calls == 2
        assert (
            door.value("taxmeter_ingress_auth_failures_total", transport="grpc", reason="missing")
            == 1
        )
        assert (
            door.value("taxmeter_ingress_auth_failures_total", transport="grpc", reason="invalid")
            == 1
        )
        assert (
            door.value("taxmeter_ingress_auth_failures_total", transport="http", reason="missing")
            == 1
        )
        assert (
            door.value("taxmeter_ingress_auth_failures_total", transport="http", reason="invalid")
            == 1
        )

        write_atomically(files.token, (NEW_TOKEN + "\n").encode())  # rotation
        assert await _grpc_mirror(channel, TOKEN) is grpc.StatusCode.UNAUTHENTICATED
        assert await _grpc_mirror(channel, NEW_TOKEN) is grpc.StatusCode.OK
        assert (await _http_post(door.http_port, _ssl(ca), token=NEW_TOKEN))[0] == 202
        assert door.intake.calls == 4


# -- startup errors --------------------------------------------------------------------------


def test_unreadable_or_mismatched_tls_files_stop_startup_naming_the_field(files: Files) -> None:
    with pytest.raises(ConfigError) as err:
        ServerTls(TlsConfig(cert_file=files.root / "missing.crt", key_file=files.key))
    assert "ingress.tls" in str(err.value)
    other = Authority.create().issue("localhost", server=True)
    (files.root / "other.key").write_bytes(other.key_pem)
    with pytest.raises(ConfigError) as err:
        ServerTls(TlsConfig(cert_file=files.cert, key_file=files.root / "other.key"))
    assert "ingress.tls" in str(err.value)
    assert "PRIVATE KEY" not in str(err.value)
    files.token.write_text("  \n")
    with pytest.raises(ConfigError) as err:
        RotatingFileSecret("ingress_token", files.token, field="ingress.bearer_token_file")
    assert "ingress.bearer_token_file" in str(err.value)


def test_http_host_follows_host_in_configs_written_for_one_host() -> None:
    assert IngressConfig().host == "127.0.0.1"
    assert IngressConfig().http_host == "0.0.0.0"
    assert IngressConfig(host="127.0.0.1").http_host == "127.0.0.1"
    assert IngressConfig(host="127.0.0.1", http_host="0.0.0.0").http_host == "0.0.0.0"


# -- the app wires it from the configuration -----------------------------------------------------


async def test_the_app_serves_tls_and_token_from_its_configuration(
    files: Files, tmp_path: Path
) -> None:
    from app_fixtures import ScriptedEndpoint, app_document, tiny_judges
    from taxmeter.app import App
    from taxmeter.config import config_from_dict

    guarded, unguarded = ScriptedEndpoint(), ScriptedEndpoint()
    await guarded.start()
    await unguarded.start()
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        tiny_judges(tmp_path),
        ingress={
            "host": "127.0.0.1",
            "grpc_port": 0,
            "http_port": 0,
            "tls": {"cert_file": str(files.cert), "key_file": str(files.key), "http": False},
            "bearer_token_file": str(files.token),
        },
    )
    registry = CollectorRegistry()
    app = App(config_from_dict(doc), env={}, registry=registry)
    ports = await app.start()
    try:
        async with _grpc_channel(ports.grpc, files.server_ca) as channel:
            assert await _grpc_mirror(channel) is grpc.StatusCode.UNAUTHENTICATED
            assert await _grpc_mirror(channel, TOKEN) is grpc.StatusCode.OK
        async with (
            aiohttp.ClientSession() as session,
            session.post(  # plain HTTP: tls.http off
                f"http://127.0.0.1:{ports.http}/v1/chat/completions",
                data=BODY,
                headers={"authorization": f"Bearer {TOKEN}"},
            ) as resp,
        ):
            assert resp.status == 202
    finally:
        await app.stop()
        await guarded.aclose()
        await unguarded.aclose()
    assert (
        registry.get_sample_value(
            "taxmeter_ingress_auth_failures_total", {"transport": "grpc", "reason": "missing"}
        )
        == 1
    )
    assert registry.get_sample_value("taxmeter_mirror_received_total", {"transport": "grpc"}) == 1


@pytest.mark.parametrize("door", [(False, True)], indirect=True)
async def test_the_python_client_speaks_tls_and_a_rotating_token(
    door: FrontDoor, files: Files
) -> None:
    from taxmeter.client import AsyncMirrorClient

    creds = grpc.ssl_channel_credentials(root_certificates=files.server_ca.cert_pem)
    secret = RotatingFileSecret("client_token", files.token, field="client")
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    async with AsyncMirrorClient(
        f"localhost:{door.grpc_port}", credentials=creds, token=secret.value
    ) as client:
        client.mirror(body, route="chat")
        assert await client.flush(10)
        write_atomically(files.token, NEW_TOKEN.encode())  # both sides rotate
        client.mirror(body, route="chat")
        assert await client.flush(10)
        stats = client.stats()
    assert stats.sent == 2 and stats.dropped_send_error == 0
    async with AsyncMirrorClient(
        f"localhost:{door.grpc_port}", credentials=creds, token="wrong", backoff_initial_s=0.01
    ) as client:
        client.mirror(body, route="chat")
        await client.flush(5)
        assert client.stats().sent == 0
    assert len(door.intake.submitted) == 2
