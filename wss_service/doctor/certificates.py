"""
What a client would make of the certificates a server sends, judged offline
as Android and WeChat do (nothing is fetched): names, dates, and the chain
up to a trusted root. OpenSSL (through pyOpenSSL) verifies; cryptography
reads the certificates.
"""

import ipaddress
import os
import ssl
from datetime import datetime, timezone

from cryptography import x509
from cryptography.x509.oid import NameOID
from OpenSSL import crypto

# OpenSSL's verify codes for an issuer it could not find.
NO_ISSUER = (2, 20)


def describe(certificate):
    """A certificate's common name, or its whole subject."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={names[0].value}" if names else certificate.subject.rfc4514_string()


def names(certificate):
    """The DNS names and IP addresses a certificate is for."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([str(n) for n in san.get_values_for_type(x509.DNSName)]
            + [str(a) for a in san.get_values_for_type(x509.IPAddress)])


def matches(host, certificate):
    """Whether C{host} is one of the certificate's names (one-label wildcards too)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    host = host.lower().rstrip(".")
    for name in names(certificate):
        if address is not None:
            if name == str(address):
                return True
            continue
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def isSelfSigned(certificate):
    return certificate.issuer == certificate.subject


def daysLeft(certificate, now=None):
    now = now or datetime.now(timezone.utc)
    return (certificate.not_valid_after_utc - now).total_seconds() / 86400


def trustStore(caFile=None):
    """
    The certificates a client on this machine trusts: the system's store
    (certifi's where it has none), and C{caFile}'s.

    @return: C{(store, where)}, where naming what was loaded.
    """
    store = crypto.X509Store()
    paths = ssl.get_default_verify_paths()
    where = []
    if paths.cafile and os.path.exists(paths.cafile):
        store.load_locations(paths.cafile)
        where.append(paths.cafile)
    else:
        import certifi

        store.load_locations(certifi.where())
        where.append("certifi")
    if caFile:
        store.load_locations(caFile)
        where.append(caFile)
    return store, " and ".join(where)


def verify(chain, store):
    """
    Verify what a server sent, leaf first, against C{store}.

    @return: L{None}, or C{(OpenSSL's code, its message, the certificate it
        stopped at)}.
    """
    sent = [crypto.X509.from_cryptography(c) for c in chain]
    try:
        crypto.X509StoreContext(store, sent[0], sent[1:]).verify_certificate()
    except crypto.X509StoreContextError as e:
        code, _, message = e.errors
        return code, message, e.certificate.to_cryptography()
    return None
