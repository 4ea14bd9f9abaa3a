"""
The checks, in order. Each returns a L{Result}; a check that needs what an
earlier one could not give says so instead of running.
"""

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from OpenSSL import SSL

from wss_service.doctor import certificates, probes
from wss_service.doctor.report import FAIL, OK, SKIP, WARN, Result
from wss_service.doctor.websocket import Client, Closed

EXPIRY_WARNING_DAYS = 14
CHAIN_FIX = ("serve the full chain: nginx ssl_certificate and Apache SSLCertificateFile "
             "fullchain.pem (not cert.pem), or twistd wss --endpoint "
             "ssl:...:certKey=fullchain.pem (or add extraCertChain=chain.pem)")
CDNS = ("cloudflare", "cloudfront", "akamai", "fastly", "tengine", "bunny", "cdn")


class UsageError(Exception):
    """A URL or option that cannot be checked at all."""


@dataclass
class Target:
    """What the user asked about, and what the checks learnt on the way."""

    url: str
    ca: str | None = None
    origin: str | None = None
    idle: float | None = None
    wechat: bool = False
    timeout: float = 10.0
    send: str | None = None
    # Learnt:
    address: str | None = None
    handshake: probes.Handshake | None = None
    client: Client | None = None
    found: dict = field(default_factory=dict)

    def __post_init__(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss"):
            raise UsageError(f"{self.url!r} is not a ws:// or wss:// URL, "
                             f"e.g. wss://example.com/wss")
        if not parts.hostname:
            raise UsageError(f"{self.url!r} names no host, e.g. wss://example.com/wss")
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"{self.url!r} has a port that is not a number") from None
        self.secure = parts.scheme == "wss"
        self.host = parts.hostname
        self.port = port or (443 if self.secure else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.hostHeader = parts.netloc.rpartition("@")[2]

    @property
    def isAddress(self):
        try:
            ipaddress.ip_address(self.host)
            return True
        except ValueError:
            return False

    @property
    def isDomain(self):
        return not self.isAddress and self.host != "localhost"


def checkURL(t):
    problems = []
    if not t.secure:
        problems.append(("ws:// is plain text: browsers block it on https pages and WeChat "
                         "refuses it", "use wss:// (TLS at a proxy, or an ssl: endpoint)"))
    if not t.isDomain:
        problems.append((f"the host is {t.host}: certificates name domains, and WeChat wants "
                         f"a registered domain", "use the domain the certificate is for"))
    seen = f"{'wss' if t.secure else 'ws'} to {t.host} port {t.port}, path {t.path}"
    if problems:
        return Result("url", WARN, f"{seen}; " + "; ".join(p for p, _ in problems),
                      "; ".join(f for _, f in problems))
    return Result("url", OK, seen)


def checkDNS(t):
    try:
        addresses = probes.resolve(t.host, t.port)
    except socket.gaierror as e:
        return Result("dns", FAIL, f"{t.host} does not resolve ({e.strerror})",
                      f"add an A (or AAAA) record for {t.host} at your DNS provider")
    t.found["addresses"] = addresses
    return Result("dns", OK, f"{t.host} is {', '.join(addresses)}")


def checkTCP(t):
    refused = []
    for address in t.found["addresses"]:
        try:
            probes.connect(address, t.port, t.timeout).close()
        except ConnectionRefusedError:
            refused.append(address)
            continue
        except OSError:
            continue
        t.address = address
        return Result("tcp", OK, f"{address} port {t.port} accepts connections")
    if refused:
        return Result("tcp", FAIL, f"{', '.join(refused)} port {t.port}: connection refused, "
                      f"nothing listens there",
                      f"start the service or proxy on port {t.port} (twistd wss --endpoint, "
                      f"nginx listen {t.port}), and check it listens on this address, not "
                      f"only 127.0.0.1")
    return Result("tcp", FAIL, f"port {t.port} of {', '.join(t.found['addresses'])}: no answer "
                  f"within {t.timeout:g}s",
                  f"a firewall or cloud security group drops port {t.port}: open it "
                  f"(e.g. ufw allow {t.port}/tcp)")


def checkTLS(t):
    name = None if t.isAddress else t.host
    if t.secure:
        try:
            t.handshake = probes.tlsHandshake(t.address, t.port, name, t.timeout)
        except (SSL.Error, OSError) as e:
            status = probes.plainHTTP(t.address, t.port, t.hostHeader, t.timeout)
            if status:
                return Result("tls", FAIL, f"no TLS on port {t.port}: it answers plain HTTP "
                              f"({status}), so it speaks ws, not wss",
                              f"use ws://{t.hostHeader}{t.path} there, or terminate TLS on "
                              f"this port (nginx listen {t.port} ssl, or twistd wss "
                              f"--endpoint ssl:{t.port}:privateKey=...:certKey=...)")
            return Result("tls", FAIL, f"the TLS handshake failed: {_reason(e)}",
                          "check that this port is the TLS one (443 at a proxy, or an ssl: "
                          "endpoint of the service)")
        return Result("tls", OK, f"{t.handshake.version}, {t.handshake.cipher}")
    status = probes.plainHTTP(t.address, t.port, t.hostHeader, t.timeout)
    if status:
        return Result("tls", OK, f"plain HTTP on port {t.port} ({status})")
    try:
        probes.tlsHandshake(t.address, t.port, name, t.timeout)
    except (SSL.Error, OSError):
        return Result("tls", FAIL, f"port {t.port} answers neither HTTP nor TLS",
                      "check that this is the port of the service or its proxy")
    return Result("tls", FAIL, f"port {t.port} speaks TLS, not plain HTTP",
                  f"use wss://{t.hostHeader}{t.path}")


def checkVersions(t):
    offered = []
    for version in probes.VERSIONS:
        try:
            probes.tlsHandshake(t.address, t.port, None if t.isAddress else t.host, t.timeout,
                                version)
            offered.append(version)
        except (SSL.Error, OSError):
            pass
    old = [v for v in offered if v in ("TLS 1.0", "TLS 1.1")]
    seen = f"offers {', '.join(offered) or 'none this client speaks'}"
    protocols = ("nginx ssl_protocols TLSv1.2 TLSv1.3; Apache SSLProtocol -all +TLSv1.2 "
                 "+TLSv1.3 (twistd wss allows only these)")
    if "TLS 1.2" not in offered:
        return Result("versions", FAIL, f"{seen}: no TLS 1.2, which WeChat and many clients "
                      f"need", f"allow TLS 1.2 and 1.3: {protocols}")
    if old:
        return Result("versions", WARN, f"{seen}: {' and '.join(old)} are obsolete",
                      f"turn them off: {protocols}")
    if "TLS 1.3" not in offered:
        return Result("versions", WARN, f"{seen}: no TLS 1.3", f"turn it on: {protocols}")
    return Result("versions", OK, seen)


def checkCertificate(t):
    chain = t.handshake.chain
    if not chain:
        return Result("certificate", FAIL, "the server sent no certificate",
                      "configure a certificate for this port")
    leaf = chain[0]
    store, where = certificates.trustStore(t.ca)
    t.found["store"] = (store, where)
    problems, fixes = [], []
    seen = f"{certificates.describe(leaf)} for {', '.join(certificates.names(leaf)) or 'no names'}"
    if not certificates.matches(t.host, leaf):
        problems.append(f"not for {t.host}")
        fixes.append(f"use a certificate for {t.host} (certbot certonly -d {t.host}), "
                     f"or connect with the name it is for")
    days = certificates.daysLeft(leaf)
    if days < 0:
        problems.append(f"expired {-days:.0f} days ago "
                        f"({leaf.not_valid_after_utc:%Y-%m-%d})")
        fixes.append("renew it (certbot renew) and reload the server (systemctl reload "
                     "nginx / apache2 / wss): a renewed file is not served until then")
    if certificates.isSelfSigned(leaf):
        problems.append("self-signed")
        fixes.append("use a certificate from a public CA (e.g. Let's Encrypt with certbot)")
    failure = certificates.verify(chain, store)
    t.found["verify"] = failure
    if failure and failure[0] not in certificates.NO_ISSUER and not problems:
        problems.append(f"not trusted ({failure[1]})")
        fixes.append("use a certificate from a CA that clients trust")
    if problems:
        return Result("certificate", FAIL, f"{seen}: {'; '.join(problems)}", "; ".join(fixes))
    note = f"{seen}, valid {days:.0f} more days"
    if days < EXPIRY_WARNING_DAYS:
        return Result("certificate", WARN, f"{note}: renew soon",
                      "certbot renew --deploy-hook 'systemctl reload wss' (or nginx)")
    trusted = "trusted" if not failure else "trust depends on the chain below"
    return Result("certificate", OK, f"{note}, {trusted} ({where})")


def checkChain(t):
    chain = t.handshake.chain
    sent = " <- ".join(certificates.describe(c) for c in chain)
    failure = t.found.get("verify")
    if failure is None:
        return Result("chain", OK, f"sends {sent}; complete up to a trusted root")
    code, message, stoppedAt = failure
    if code in certificates.NO_ISSUER:
        issuer = stoppedAt.issuer.rfc4514_string()
        if len(chain) == 1:
            return Result("chain", FAIL, f"sends only its own certificate ({sent}), not the "
                          f"intermediate issuer {issuer}: desktop Chrome may fetch it, Android "
                          f"and WeChat do not", CHAIN_FIX)
        return Result("chain", FAIL, f"sends {sent}; it ends at {issuer}, which this "
                      f"machine's trust store does not hold",
                      f"if {issuer} is your own CA, clients must trust it (here: --ca); "
                      f"otherwise {CHAIN_FIX}")
    return Result("chain", FAIL, f"sends {sent}; it does not verify: {message}",
                  "see the certificate check above")


def _tlsSocket(t):
    sock = probes.connect(t.address, t.port, t.timeout)
    if not t.secure:
        return sock
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock, server_hostname=None if t.isAddress else t.host)


def checkUpgrade(t):
    try:
        client = Client(_tlsSocket(t))
        response, accepted = client.handshake(t.hostHeader, t.path, t.origin)
    except Closed:
        return Result("upgrade", FAIL, "the connection closed without an HTTP answer",
                      "check the service's log for the reason (a malformed request, a limit)")
    except (OSError, ssl.SSLError) as e:
        return Result("upgrade", FAIL, f"no HTTP answer: {_reason(e)}",
                      "check the service or proxy on this port")
    status = response.status
    server = response.headers.get("server", "")
    seen = f"GET {t.path} answered {response.statusLine}" + (f" (Server: {server})"
                                                             if server else "")
    if status == 101:
        if not accepted:
            return Result("upgrade", FAIL, f"{seen} with a wrong Sec-WebSocket-Accept",
                          "something between rewrites the handshake: let it pass as it is")
        t.client = client
        return Result("upgrade", OK, f"{seen}, Sec-WebSocket-Accept correct")
    client.sock.close()
    return Result("upgrade", FAIL, seen, _upgradeFix(t, status, server, response))


def _upgradeFix(t, status, server, response):
    """What to change, for an answer other than 101."""
    if status in (200, 426, 505):
        return ("the proxy does not pass the upgrade on (or speaks HTTP/1.0 to the service): "
                "nginx needs proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
                "proxy_set_header Connection \"upgrade\"; Apache needs mod_proxy_wstunnel and "
                "ProxyPass /wss ws://127.0.0.1:8282/wss (see contrib/)")
    if status == 400:
        return ("the server refused the handshake as malformed: check that the proxy passes "
                "Upgrade and Connection (proxy_http_version 1.1 in nginx)")
    if status == 404:
        return (f"nothing serves WebSocket at {t.path}: use the path the service accepts "
                f"(twistd wss --path) and the proxy forwards (nginx location, Apache ProxyPass)")
    if status == 403:
        origin = f" {t.origin}" if t.origin else " your page's origin"
        return (f"the Origin{origin} is not allowed: add it with twistd wss --allowed-origin "
                f"(scheme://host[:port], as the browser sends it)")
    if status in (301, 302, 307, 308):
        return (f"it redirects to {response.headers.get('location', '?')}: WebSocket clients "
                f"do not follow redirects; use that URL, or serve the path without a redirect")
    if 520 <= status <= 530 or any(c in server.lower() for c in CDNS):
        return ("a CDN answers: turn on WebSockets at the CDN (e.g. Cloudflare's Network "
                "settings), or point the name at the server itself (DNS only)")
    if status in (502, 504):
        return ("the proxy cannot reach the service: start it (systemctl status wss), check "
                "the proxy_pass / ProxyPass address and port, and use ws:// (not wss://) "
                "from the proxy to a plain tcp: endpoint: TLS on both is a common cause")
    if status in (429, 503):
        return ("a limit refused it: --max-connections-per-ip / --max-connections, "
                "or the service is stopping")
    return "see the server's log for why it refused the upgrade"


def checkRoundTrip(t):
    try:
        seconds = t.client.ping(t.timeout)
        seen = f"ping answered in {seconds * 1000:.0f} ms"
        if t.send is not None:
            seen += f"; sent {t.send!r}, got {t.client.exchange(t.send, t.timeout)!r}"
    except Closed as e:
        return Result("roundtrip", FAIL, f"the connection closed (code {e.code})",
                      "see the server's log for why")
    except (OSError, ssl.SSLError) as e:
        return Result("roundtrip", FAIL, f"no pong: {_reason(e)}",
                      "something between drops WebSocket frames: check the proxy")
    return Result("roundtrip", OK, seen)


def checkIdle(t):
    ended = t.client.idle(t.idle)
    if ended is None:
        return Result("idle", OK, f"stayed open {t.idle:g}s without client traffic")
    after, code = ended
    if code is None:
        return Result("idle", FAIL, f"cut after {after:.1f}s of silence without a close frame: "
                      f"a proxy's idle timeout (nginx's proxy_read_timeout is 60s by default)",
                      "raise it (nginx proxy_read_timeout 3600s; Apache ProxyTimeout / "
                      "ProxyWebsocketIdleTimeout) and keep twistd wss --ping-interval below it")
    return Result("idle", FAIL, f"the server closed it after {after:.1f}s of silence "
                  f"(code {code})", "raise or remove twistd wss --idle-timeout, or have the "
                  "client send a heartbeat more often")


def checkWeChat(t, results):
    byName = {r.check: r for r in results}
    needs = [("wss://", t.secure), ("a domain, not an IP or localhost", t.isDomain),
             ("TLS 1.2", byName.get("versions", Result("", FAIL, "")).status != FAIL),
             ("a trusted certificate", byName.get("certificate", Result("", FAIL, "")).status
              in (OK, WARN)),
             ("the full chain", byName.get("chain", Result("", FAIL, "")).status == OK)]
    missing = [what for what, met in needs if not met]
    reminder = (f"not checkable from here: list wss://{t.hostHeader} under the mini program's "
                f"socket legal domains (mp.weixin.qq.com: Development > Development settings), "
                f"and the domain needs an ICP filing if served in mainland China")
    if missing:
        return Result("wechat", FAIL, f"WeChat needs {', '.join(missing)}: see above", reminder)
    return Result("wechat", OK, f"wss, a domain, TLS 1.2+, a trusted full chain; {reminder}")


def _reason(error):
    if isinstance(error, SSL.Error) and error.args and error.args[0]:
        return "; ".join(str(e[-1]) for e in error.args[0]) or str(error)
    return str(error) or type(error).__name__


# Each check, what it needs from those before it, and whether it runs at all.
CHECKS = [
    ("url", checkURL, None),
    ("dns", checkDNS, None),
    ("tcp", checkTCP, "dns"),
    ("tls", checkTLS, "tcp"),
    ("versions", checkVersions, "tls"),
    ("certificate", checkCertificate, "tls"),
    ("chain", checkChain, "certificate"),
    ("upgrade", checkUpgrade, "tls"),
    ("roundtrip", checkRoundTrip, "upgrade"),
    ("idle", checkIdle, "upgrade"),
]


def diagnose(t):
    """Every check's L{Result}, in order."""
    results, passed = [], set()
    for name, check, needs in CHECKS:
        if name in ("versions", "certificate", "chain") and not t.secure:
            continue
        if name == "idle" and t.idle is None:
            continue
        if name == "chain" and t.found.get("verify", 0) == 0:
            results.append(Result(name, SKIP, "not run: no certificate to follow"))
            continue
        if needs and needs not in passed:
            results.append(Result(name, SKIP, f"not run: needs the {needs} check to pass"))
            continue
        result = check(t)
        results.append(result)
        if result.status != FAIL or name in ("certificate", "chain", "url"):
            passed.add(name)
    if t.wechat:
        results.append(checkWeChat(t, results))
    if t.client is not None:
        t.client.sock.close()
    return results
