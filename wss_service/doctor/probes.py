"""
Network probes, each on a fresh connection: DNS, TCP, a TLS handshake (with
the version range of your choice), and a plain HTTP request.
"""

import socket
import time
from dataclasses import dataclass

from OpenSSL import SSL

VERSIONS = {"TLS 1.0": SSL.TLS1_VERSION, "TLS 1.1": SSL.TLS1_1_VERSION,
            "TLS 1.2": SSL.TLS1_2_VERSION, "TLS 1.3": SSL.TLS1_3_VERSION}


def resolve(host, port):
    """The addresses C{host} resolves to, in the resolver's order."""
    found = []
    for *_, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if address[0] not in found:
            found.append(address[0])
    return found


def connect(address, port, timeout):
    """A TCP connection; L{ConnectionRefusedError} or L{TimeoutError} if not."""
    sock = socket.create_connection((address, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


@dataclass
class Handshake:
    version: str
    cipher: str
    chain: list


def tlsHandshake(address, port, serverName, timeout, version=None):
    """
    A TLS handshake that accepts any certificate and, for this probe, any
    version OpenSSL can speak (or only C{version}, one of L{VERSIONS}).

    @return: a L{Handshake}, the certificates as the server sent them.
    @raise SSL.Error: or L{OSError}, if there is no TLS to be had.
    """
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_cipher_list(b"ALL:@SECLEVEL=0")
    context.set_min_proto_version(VERSIONS.get(version, SSL.TLS1_VERSION))
    if version:
        context.set_max_proto_version(VERSIONS[version])
    with connect(address, port, timeout) as sock:
        connection = SSL.Connection(context, sock)
        if serverName:
            connection.set_tlsext_host_name(serverName.encode("idna"))
        connection.set_connect_state()
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection.do_handshake()
                break
            except SSL.WantReadError:
                if time.monotonic() > deadline:
                    raise TimeoutError("the TLS handshake timed out") from None
        chain = [c.to_cryptography() for c in connection.get_peer_cert_chain() or []]
        result = Handshake(connection.get_protocol_version_name(),
                           connection.get_cipher_name(), chain)
        try:
            connection.shutdown()
        except SSL.Error:
            pass
        return result


def plainHTTP(address, port, host, timeout):
    """
    The status line a plain HTTP request gets, or L{None} if the answer is
    not HTTP (or there is none).
    """
    try:
        with connect(address, port, timeout) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answer = sock.recv(4096)
    except OSError:
        return None
    if answer.startswith(b"HTTP/"):
        return answer.split(b"\r\n", 1)[0].decode("latin-1")
    return None
