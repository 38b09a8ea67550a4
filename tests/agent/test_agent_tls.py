"""The agent talks TLS 1.2+ and verifies the server: a school's own CA is taken from
ROLLSYNC_AGENT_CA_BUNDLE, an unknown certificate is refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rollsync_agent.server import tls_context

from tests.agent.conftest import LICENCE_KEY, Agent, make_tree
from tests.agent.protocol_server import ProtocolServer, State


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rollsync test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ca.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ProtocolServer, Path]]:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = ProtocolServer(State(licence_key=LICENCE_KEY, tree=make_tree()), tls=ctx).start()
    yield srv, cert
    srv.stop()


def test_tls_context_is_at_least_tls_1_2() -> None:
    ctx = tls_context()
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_https_with_the_schools_ca(agent: Agent, tls_server: tuple[ProtocolServer, Path]) -> None:
    server, ca = tls_server
    assert server.url.startswith("https://127.0.0.1:")
    agent.configure(server.url)
    done = agent("test-connection", ROLLSYNC_AGENT_CA_BUNDLE=str(ca))
    assert done.returncode == 0, done
    assert "connected to 127.0.0.1 over TLS: licence key accepted" in done.stderr
    done = agent("run", "--report", "staff", ROLLSYNC_AGENT_CA_BUNDLE=str(ca))
    assert done.returncode == 0, done
    assert [r for r, _ in server.state.stored] == ["staff"]


def test_an_unknown_certificate_is_refused(
    agent: Agent, tls_server: tuple[ProtocolServer, Path]
) -> None:
    server, _ = tls_server
    agent.configure(server.url)
    done = agent("test-connection")
    assert done.returncode == 1
    assert "could not reach 127.0.0.1: [SSL: CERTIFICATE_VERIFY_FAILED]" in done.stderr
    assert server.state.requests == []


def test_an_unreadable_ca_bundle_is_named(
    agent: Agent, tls_server: tuple[ProtocolServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_server
    agent.configure(server.url)
    bad = tmp_path / "nothing.pem"
    done = agent("test-connection", ROLLSYNC_AGENT_CA_BUNDLE=str(bad))
    assert done.returncode == 2
    assert f"ROLLSYNC_AGENT_CA_BUNDLE={bad}: not a readable file of CA certificates" in done.stderr
    done = agent("run", ROLLSYNC_AGENT_CA_BUNDLE=str(bad))
    assert done.returncode == 1
    light = agent.status()["lights"]["configuration"]
    assert light["light"] == "red"
    assert light["message"].startswith(f"ROLLSYNC_AGENT_CA_BUNDLE={bad}: not a readable file")
    assert server.state.requests == []
