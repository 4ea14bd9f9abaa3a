import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.trial.unittest import TestCase

from wss_service.errors import ConfigurationError
from wss_service.hub.tokens import TokenRefused, Tokens


class TokensTests(TestCase):
    def file(self, content):
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_hmac(self):
        tokens = Tokens(self.file(b"s" * 32 + b"\n"))
        good = jwt.encode({"sub": "u", "groups": ["g"], "exp": time.time() + 60}, "s" * 32)
        self.assertEqual(tokens.verify(good), ("u", ["g"]))
        for token, why in [(None, "no token"), ("x.y.z", "bad token"),
                           (jwt.encode({"sub": "u", "exp": time.time() - 1}, "s" * 32),
                            "expired"),
                           (jwt.encode({"sub": "u"}, "s" * 32), "exp"),
                           (jwt.encode({"sub": "u", "exp": time.time() + 60}, "t" * 32),
                            "Signature"),
                           (jwt.encode({"sub": "u", "groups": "g", "exp": time.time() + 60},
                                       "s" * 32), "groups")]:
            self.assertIn(why, str(self.assertRaises(TokenRefused, tokens.verify, token)))

    def test_ecPublicKey(self):
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        tokens = Tokens(self.file(public))
        self.assertEqual(tokens.verify(jwt.encode({"sub": "u", "exp": time.time() + 60}, key,
                                                  algorithm="ES256")), ("u", []))
        # An HMAC token made with the public key as the secret is refused.
        self.assertRaises(TokenRefused, tokens.verify, "e30.e30.")

    def test_badFiles(self):
        self.assertRaises(ConfigurationError, Tokens, self.file(b"short"))
        self.assertRaises(ConfigurationError, Tokens, self.file(b"-----BEGIN NOTHING-----\n"))
        self.assertRaises(ConfigurationError, Tokens, "/nonexistent")
