import os

from OpenSSL import SSL
from twisted.trial.unittest import TestCase

from tests.support.pki import PKI
from wss_service.endpoints import listeningEndpoint
from wss_service.errors import ConfigurationError
from wss_service.tls import KeyPair, ServerTLS


class KeyPairTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())

    def load(self, key="server.key", cert="fullchain.pem", extra=None):
        p = self.pki.path
        return KeyPair(p(key), p(cert), extra and p(extra)).load()

    def test_fullchain(self):
        _, certificates = self.load()
        self.assertEqual(certificates, [self.pki.leaf, self.pki.intermediate])

    def test_extraChain(self):
        _, certificates = self.load(cert="leaf.pem", extra="chain.pem")
        self.assertEqual(certificates, [self.pki.leaf, self.pki.intermediate])

    def assertRefused(self, fragment, **files):
        e = self.assertRaises(ConfigurationError, self.load, **files)
        self.assertIn(fragment, str(e))

    def test_missingFiles(self):
        self.assertRefused("cannot read private key", key="absent.key")
        self.assertRefused("No such file", cert="absent.pem")

    def test_unreadable(self):
        if os.getuid() == 0:
            self.pki._write("garbage.key", b"\x00not a key")
            self.assertRefused("no unencrypted PEM private key", key="garbage.key")
            return
        os.chmod(self.pki.path("server.key"), 0)
        self.assertRefused("Permission denied", key="server.key")

    def test_notPEM(self):
        self.assertRefused("no PEM certificate", cert="server.key")
        self.assertRefused("no unencrypted PEM private key", key="leaf.pem")

    def test_mismatch(self):
        self.assertRefused("does not match the certificate", key="other.key")


class PolicyTests(TestCase):
    def test_context(self):
        pki = PKI(self.mktemp())
        tls = ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))
        self.assertTrue(tls._context.set_options(0) & SSL.OP_NO_COMPRESSION)
        connection = tls.serverConnectionForTLS(None)
        ciphers = connection.get_cipher_list()
        tls12 = [c for c in ciphers if not c.startswith("TLS_")]
        self.assertTrue(tls12)
        for name in tls12:
            self.assertTrue(name.startswith("ECDHE-"), name)
            self.assertTrue("GCM" in name or "CHACHA20" in name, name)

    def test_reloadKeepsOldOnFailure(self):
        pki = PKI(self.mktemp())
        tls = ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))
        before = tls._context
        os.remove(pki.path("server.key"))
        self.assertFalse(tls.reload())
        self.assertIs(tls._context, before)
        self.flushLoggedErrors()


class EndpointTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.made = []

    def tlsFor(self, keyPair):
        self.made.append(keyPair)
        return ServerTLS(keyPair)

    def parse(self, description):
        return listeningEndpoint(None, description, self.tlsFor)

    def test_plain(self):
        _, tls = self.parse("tcp:8282")
        self.assertIsNone(tls)

    def test_sslDefaultsKeyToCert(self):
        combined = self.pki.path("combined.pem")
        with open(combined, "wb") as f:
            for name in ("server.key", "fullchain.pem"):
                f.write(open(self.pki.path(name), "rb").read())
        _, tls = self.parse(f"ssl:8443:certKey={combined}")
        self.assertEqual(self.made, [KeyPair(combined, combined, None)])

    def test_forms(self):
        p = self.pki.path
        files = f"privateKey={p('server.key')}:certKey={p('leaf.pem')}:extraCertChain={p('chain.pem')}"
        for description in [f"ssl:8443:{files}", f"tls:tcp:8443:{files}",
                            f"haproxy:ssl:8443:{files}",
                            f"tls:unix:{p('sock')}:{files}"]:
            endpoint, tls = self.parse(description)
            self.assertIsNotNone(tls, description)
            self.assertEqual(self.made[-1], KeyPair(p("server.key"), p("leaf.pem"), p("chain.pem")))

    def test_escapedColon(self):
        _, tls = self.parse(f"ssl:8443:privateKey={self.pki.path('server.key')}"
                            f":certKey={self.pki.path('fullchain.pem')}:interface=\\:\\:1")
        self.assertIsNotNone(tls)

    def test_certificateOptionsNeedTLS(self):
        e = self.assertRaises(ConfigurationError, self.parse, "tcp:8443:certKey=x.pem")
        self.assertIn("not a TLS endpoint", str(e))

    def test_sslNeedsCertificate(self):
        e = self.assertRaises(ConfigurationError, self.parse, "ssl:8443")
        self.assertIn("needs certKey=", str(e))


class InheritedDescriptionTests(TestCase):
    def test_forms(self):
        from wss_service.endpoints import inheritedDescription

        self.assertEqual(inheritedDescription("tcp:8282:interface=127.0.0.1", 0, "INET"),
                         "systemd:domain=INET:index=0")
        self.assertEqual(
            inheritedDescription("ssl:443:privateKey=/a\\:b/k.pem:certKey=/c.pem", 1, "INET6"),
            "tls:systemd:domain=INET6:index=1:privateKey=/a\\:b/k.pem:certKey=/c.pem")
        self.assertEqual(
            inheritedDescription("haproxy:ssl:443:certKey=/c.pem", 2, "INET"),
            "tls:haproxy:systemd:domain=INET:index=2:privateKey=/c.pem:certKey=/c.pem")
