"""
Who the client really is, given the TCP peer and the forwarding headers.

Headers are believed only when the peer that sent them is a trusted proxy,
and each address in a chain only while the hop that wrote it is trusted.
Pure functions: no Twisted, no Autobahn.
"""

from ipaddress import IPv6Address, ip_address, ip_network

LOOPBACK = ("127.0.0.0/8", "::1/128")


def parseNetworks(texts):
    """
    Parse CIDR strings (or bare addresses) into networks.

    @raise ValueError: for a string that is not a network.
    """
    return tuple(ip_network(text.strip(), strict=False) for text in texts)


def parseAddress(text):
    """
    Parse one address as proxies write it: C{1.2.3.4}, C{1.2.3.4:5678},
    C{::1}, C{[::1]} or C{[::1]:5678}, IPv4-mapped IPv6 unwrapped.

    @return: an L{IPv4Address} or L{IPv6Address}, or L{None} if malformed.
    """
    text = text.strip().strip('"')
    if text.startswith("["):
        text, bracket, _ = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def isTrusted(address, trusted):
    return any(address in network for network in trusted)


def _forwardedFor(value):
    """The C{for=} values of an RFC 7239 C{Forwarded} header, in order."""
    found = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, token = pair.partition("=")
            if name.strip().lower() == "for":
                found.append(token)
    return found


def _chains(headers):
    """Candidate address chains, most specific header first."""
    if "forwarded" in headers:
        yield _forwardedFor(headers["forwarded"])
    if "x-forwarded-for" in headers:
        yield headers["x-forwarded-for"].split(",")
    if "x-real-ip" in headers:
        yield [headers["x-real-ip"]]


def _walk(chain, trusted):
    """
    Walk a chain from the right: the first address not itself a trusted
    proxy is the client. If every hop is trusted, the leftmost one is.

    @return: the client address, or L{None} if the chain is malformed where
        it matters.
    """
    client = None
    for text in reversed(chain):
        client = parseAddress(text)
        if client is None or not isTrusted(client, trusted):
            return client
    return client


def clientAddress(peer, headers, trusted):
    """
    The real client address, as a string.

    @param peer: the TCP peer's address (text), or L{None} for a peer with
        no IP address (a UNIX socket), which counts as a trusted proxy.
    @param headers: request headers with lower-case names, as Autobahn
        gives them (repeated headers joined with commas).
    @param trusted: networks of trusted proxies, from L{parseNetworks}.
    """
    if peer is not None:
        peerAddress = parseAddress(peer)
        if peerAddress is None or not isTrusted(peerAddress, trusted):
            return str(peerAddress or peer)
    for chain in _chains(headers):
        client = _walk(chain, trusted)
        if client is not None:
            return str(client)
    return peer and str(peerAddress)
