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
                           (jwt.encode({"sub": "u", "exp": time.time() - 60}, "s" * 32),
                            "expired"),
                           (jwt.encode({"sub": "u"}, "s" * 32), "exp"),
                           (jwt.encode({"sub": "u", "exp": time.time() + 60}, "t" * 32),
                            "Signature"),
                           (jwt.encode({"sub": "u", "groups": "g", "exp": time.time() + 60},
                                       "s" * 32), "groups"),
                           (jwt.encode({"sub": "", "exp": time.time() + 60}, "s" * 32),
                            "sub must be text of 1 to 256"),
                           (jwt.encode({"sub": "u" * 5000, "exp": time.time() + 60}, "s" * 32),
                            "5000 characters"),
                           (jwt.encode({"sub": "room-\ud800", "exp": time.time() + 60},
                                       "s" * 32), "lone surrogates"),
                           (jwt.encode({"sub": "u", "groups": ["ok", "\udfff"],
                                        "exp": time.time() + 60}, "s" * 32), "lone surrogates"),
                           (jwt.encode({"sub": "u", "aud": "app", "exp": time.time() + 60},
                                       "s" * 32), "--jwt-audience")]:
            self.assertIn(why, str(self.assertRaises(TokenRefused, tokens.verify, token)))

    def test_audienceIssuerAndLeeway(self):
        path = self.file(b"s" * 32)
        tokens = Tokens(path, audience="app", issuer="https://id.example/", leeway=30)

        def token(**claims):
            return jwt.encode({"sub": "u", "exp": time.time() + 60, **claims}, "s" * 32)
        good = {"aud": ["other", "app"], "iss": "https://id.example/"}
        self.assertEqual(tokens.verify(token(**good)), ("u", []))
        # Issued by a clock 20 s ahead, or expired 20 s ago: within the leeway.
        self.assertEqual(tokens.verify(token(**good, nbf=time.time() + 20,
                                             iat=time.time() + 20)), ("u", []))
        self.assertEqual(tokens.verify(token(**good, exp=time.time() - 20)), ("u", []))
        for claims, why in [({"iss": good["iss"]}, "aud"),
                            ({**good, "aud": "other"}, "audience"),
                            ({"aud": "app"}, "iss"),
                            ({**good, "iss": "https://evil.example/"}, "issuer"),
                            ({**good, "exp": time.time() - 40}, "expired"),
                            ({**good, "nbf": time.time() + 40}, "not yet valid")]:
            self.assertIn(why, str(self.assertRaises(TokenRefused, tokens.verify,
                                                     token(**claims))).lower())
        strict = Tokens(path, leeway=0)
        self.assertRaises(TokenRefused, strict.verify, token(exp=time.time() - 1))

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
