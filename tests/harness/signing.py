"""A test CA, a signing key with its certificate, and a local HTTPS server that serves them: what a cloud's
notification service provides, here, so signed pushes are checked for real (bridge.verify).

The bridge trusts it with ``--signing-host <vendor>=127.0.0.1 --signing-ca-file <vendor>=<ca.pem>``
(:meth:`SigningServer.bridge_args`).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def rsa_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key (~50 ms to generate: make a TestCA once per module or session)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, *,
                 ca: bool = False, ip: str = "", days: int = 2) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class TestCA:
    """A CA (written to ``ca.pem`` for ``--signing-ca-file``), a TLS certificate for 127.0.0.1 it issued,
    and a message-signing key whose certificate it issued too."""

    directory: Path
    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    signing_key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    tls_key: rsa.RSAPrivateKey = field(default_factory=rsa_key)

    def __post_init__(self) -> None:
        self.certificate = _certificate("cloud-alarm-bridge test CA", self.key, "cloud-alarm-bridge test CA",
                                        self.key, ca=True)
        self.ca_path = self.directory / "ca.pem"
        self.ca_path.write_bytes(pem(self.certificate))
        self.signing_certificate = _certificate("sns.test signing", self.signing_key,
                                                "cloud-alarm-bridge test CA", self.key)
        tls = _certificate("127.0.0.1", self.tls_key, "cloud-alarm-bridge test CA", self.key, ip="127.0.0.1")
        self.tls_cert_path, self.tls_key_path = self.directory / "tls.pem", self.directory / "tls.key"
        self.tls_cert_path.write_bytes(pem(tls))
        self.tls_key_path.write_bytes(self.tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def sign(self, data: bytes, hash_algorithm: hashes.HashAlgorithm) -> bytes:
        """RSA PKCS#1 v1.5 over ``data`` (SHA1withRSA, SHA256withRSA) with the signing key."""
        return self.signing_key.sign(data, padding.PKCS1v15(), hash_algorithm)


class SigningServer:
    """An HTTPS server on 127.0.0.1 under the test CA: serves ``routes`` (path → (status, body, headers))
    and records every path requested, in order, in ``requests``."""

    def __init__(self, ca: TestCA) -> None:
        self.ca = ca
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                time.sleep(server.delays.get(self.path.split("?")[0], 0))
                status, body, headers = server.routes.get(self.path.split("?")[0], (404, b"no such path", {}))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca.tls_cert_path, ca.tls_key_path)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> SigningServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, path: str, body: bytes, status: int = 200, headers: dict[str, str] | None = None,
              delay: float = 0.0) -> str:
        """Serve ``body`` at ``path`` (after ``delay`` seconds); return its URL."""
        self.routes[path] = (status, body, headers or {})
        self.delays[path] = delay
        return self.base + path

    def serve_certificate(self, path: str = "/SimpleNotificationService-test.pem") -> str:
        return self.serve(path, pem(self.ca.signing_certificate))

    def fetched(self, path: str) -> int:
        """How many times ``path`` (query included, if given) was requested."""
        return sum(1 for p in self.requests if p == path or ("?" not in path and p.split("?")[0] == path))

    def bridge_args(self, vendor: str) -> list[str]:
        """The flags that make a bridge trust this server for ``vendor``'s certificates and subscribe URLs."""
        return [f"--signing-host={vendor}=127.0.0.1", f"--signing-ca-file={vendor}={self.ca.ca_path}"]
