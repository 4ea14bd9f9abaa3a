"""
Identity on connect: a JSON Web Token in the URL (C{?token=...}, since
browsers cannot set headers on a WebSocket), verified with PyJWT against
C{--jwt-key-file}: an HMAC secret, or an RSA or EC public key in PEM.
C{sub} becomes the connection's uid; a C{groups} claim, its groups.
"""

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from wss_service.errors import ConfigurationError


class TokenRefused(Exception):
    """A missing, malformed, badly signed or expired token: one line why."""


class Tokens:
    def __init__(self, path):
        try:
            with open(path, "rb") as f:
                material = f.read().strip()
        except OSError as e:
            raise ConfigurationError(f"cannot read --jwt-key-file {path}: {e.strerror}") from None
        if material.startswith(b"-----BEGIN"):
            try:
                self.key = load_pem_public_key(material)
            except ValueError:
                raise ConfigurationError(
                    f"--jwt-key-file {path} is PEM but not a public key; give the RSA or EC "
                    f"public key (openssl pkey -in private.pem -pubout)") from None
            if isinstance(self.key, rsa.RSAPublicKey):
                self.algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
            elif isinstance(self.key, ec.EllipticCurvePublicKey):
                self.algorithms = ["ES256", "ES384", "ES512"]
            else:
                raise ConfigurationError(f"--jwt-key-file {path}: use an RSA or EC key")
        else:
            if len(material) < 16:
                raise ConfigurationError(f"--jwt-key-file {path} holds a secret of "
                                         f"{len(material)} bytes; use at least 32 random bytes")
            self.key = material
            self.algorithms = ["HS256", "HS384", "HS512"]

    def verify(self, token):
        """
        @return: C{(uid, groups)} from the token's claims.
        @raise TokenRefused: for anything else.
        """
        if not token:
            raise TokenRefused("no token: connect with ?token=<JWT>")
        try:
            claims = jwt.decode(token, self.key, algorithms=self.algorithms,
                                options={"require": ["sub", "exp"]})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.PyJWTError as e:
            raise TokenRefused(f"bad token: {e}") from None
        groups = claims.get("groups", [])
        if not (isinstance(claims["sub"], str) and isinstance(groups, list)
                and all(isinstance(g, str) and g for g in groups)):
            raise TokenRefused("bad token: sub must be text and groups a list of texts")
        return claims["sub"], groups
