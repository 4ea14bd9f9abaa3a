"""
A throwaway PKI made at test time: CA -> intermediate -> leaf for
C{localhost} and C{127.0.0.1}, so a server that forgets its chain fails.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _san(host):
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _certificate(subject, key, issuer, issuerKey, ca, sans=(), notAfter=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(notAfter or now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(sans)), critical=False
        ).add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
    return builder.sign(issuerKey, hashes.SHA256())


def _pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def _keyPem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class PKI:
    """
    Files in C{directory}: C{ca.pem}; C{server.key}; C{leaf.pem} (leaf
    alone); C{chain.pem} (the intermediate); C{fullchain.pem} (leaf then
    intermediate); C{other.key} (a key that matches nothing).
    """

    def __init__(self, directory, expired=False, hosts=("localhost", "127.0.0.1")):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        caKey, interKey, self.key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        self.ca = _certificate("wss test CA", caKey, "wss test CA", caKey, True)
        self.intermediate = _certificate("wss test intermediate", interKey, "wss test CA", caKey, True)
        sans = [_san(host) for host in hosts]
        notAfter = None
        if expired:
            notAfter = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
        self.leaf = _certificate(hosts[0], self.key, "wss test intermediate", interKey,
                                 False, sans, notAfter)
        self._write("ca.pem", _pem(self.ca))
        self._write("server.key", _keyPem(self.key))
        self._write("leaf.pem", _pem(self.leaf))
        self._write("chain.pem", _pem(self.intermediate))
        self._write("fullchain.pem", _pem(self.leaf) + _pem(self.intermediate))
        self._write("other.key", _keyPem(ec.generate_private_key(ec.SECP256R1())))

    def _write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)

    def path(self, name):
        return os.path.join(self.directory, name)

    def endpoint(self, port, certKey="fullchain.pem", key="server.key", extra=""):
        """An ssl: endpoint string on loopback for these files."""
        return (
            f"ssl:{port}:interface=127.0.0.1:privateKey={self.path(key)}"
            f":certKey={self.path(certKey)}{extra}"
        )

    def clientContext(self):
        """A client SSL context that trusts only the test CA."""
        import ssl

        context = ssl.create_default_context(cafile=self.path("ca.pem"))
        return context
