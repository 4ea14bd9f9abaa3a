"""
The TLS policy, and the certificates behind every TLS endpoint.

The policy is Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only,
forward-secret AEAD cipher suites, modern curves, no compression and no
renegotiation. OpenSSL's read and write buffers are released while a
connection is idle.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from zope.interface import implementer

from wss_service.errors import ConfigurationError
from wss_service.fastpaths.openssl import setCurves

CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
CURVES = b"X25519:prime256v1:secp384r1"

log = Logger()


def _read(path, what, option):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigurationError(
            f"cannot read {what} {path}: {e.strerror}; "
            f"check {option}= in --endpoint and the file's permissions"
        ) from None


def loadCertificates(path, option):
    try:
        return x509.load_pem_x509_certificates(_read(path, "certificate", option))
    except ValueError:
        raise ConfigurationError(
            f"no PEM certificate in {path}; {option}= must name a PEM file "
            f"(-----BEGIN CERTIFICATE-----)"
        ) from None


def loadPrivateKey(path):
    try:
        return load_pem_private_key(_read(path, "private key", "privateKey"), None)
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"no unencrypted PEM private key in {path}; privateKey= must name "
            f"one (decrypt an encrypted key with: openssl pkey -in KEY -out KEY.plain)"
        ) from None


@dataclass(frozen=True)
class KeyPair:
    """
    The files of one TLS endpoint: a key, a certificate file (the leaf,
    optionally followed by its chain) and an optional extra chain file.
    """

    privateKey: str
    certKey: str
    extraCertChain: str | None = None

    def load(self):
        """
        Read and check the files.

        @return: C{(key, [leaf, intermediate, ...])}
        @raise ConfigurationError: if they are unreadable or do not match.
        """
        key = loadPrivateKey(self.privateKey)
        certificates = loadCertificates(self.certKey, "certKey")
        if self.extraCertChain:
            certificates += loadCertificates(self.extraCertChain, "extraCertChain")
        if certificates[0].public_key() != key.public_key():
            raise ConfigurationError(
                f"the private key {self.privateKey} does not match the certificate "
                f"{self.certKey}; use the key this certificate was issued for"
            )
        return key, certificates


def makeContext(key, certificates):
    """An OpenSSL context with the service's TLS policy and these credentials."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(
        SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET | SSL.OP_SINGLE_ECDH_USE
    )
    context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    context.set_cipher_list(CIPHERS)
    if not setCurves(context, CURVES):
        log.warn("cannot restrict TLS curves to {curves} with this pyOpenSSL; OpenSSL's "
                 "defaults serve", curves=CURVES.decode())
    context.set_session_id(b"wss_service")
    context.use_privatekey(key)
    context.use_certificate(certificates[0])
    for certificate in certificates[1:]:
        context.add_extra_chain_cert(certificate)
    return context


def warnIfExpired(path, leaf, now=None):
    now = now or datetime.now(timezone.utc)
    if leaf.not_valid_after_utc < now:
        log.warn(
            "certificate {path} expired on {date}; renew it, clients will refuse it",
            path=path,
            date=leaf.not_valid_after_utc.isoformat(),
        )
    elif leaf.not_valid_before_utc > now:
        log.warn(
            "certificate {path} is not valid before {date}; check the clock",
            path=path,
            date=leaf.not_valid_before_utc.isoformat(),
        )


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """
    The TLS side of one or more endpoints that share a L{KeyPair}.

    L{reload} swaps in freshly read files for new handshakes; open
    connections keep the context they started with.
    """

    def __init__(self, keyPair):
        self.keyPair = keyPair
        self._install(*keyPair.load())

    def _stamp(self):
        stamps = []
        for path in vars(self.keyPair).values():
            try:
                status = os.stat(path) if path else None
            except OSError:
                status = None
            stamps.append(status and (status.st_mtime_ns, status.st_size, status.st_ino))
        return stamps

    def reloadIfChanged(self):
        """L{reload} if any of the files changed since they were last read."""
        if self._stamp() != self._loadedStamp:
            self.reload()

    def _install(self, key, certificates):
        self._loadedStamp = self._stamp()
        self._context = makeContext(key, certificates)
        self.notAfter = certificates[0].not_valid_after_utc
        warnIfExpired(self.keyPair.certKey, certificates[0])

    def reload(self):
        """
        Re-read the files. If they are broken, keep serving the old ones.

        @return: L{True} if the new files are now in service.
        """
        try:
            self._install(*self.keyPair.load())
        except ConfigurationError as e:
            self._loadedStamp = self._stamp()
            log.error("TLS reload failed, old certificate stays in service: {e}", e=e)
            return False
        log.info("TLS reloaded: {path} valid until {date}",
                 path=self.keyPair.certKey, date=self.notAfter.isoformat())
        return True

    def serverConnectionForTLS(self, tlsProtocol):
        return SSL.Connection(self._context, None)
