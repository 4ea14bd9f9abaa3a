"""
Identity on connect: a JSON Web Token in the URL (C{?token=...}, since
browsers cannot set headers on a WebSocket), verified with PyJWT against
C{--jwt-key-file}: an HMAC secret, or an RSA or EC public key in PEM.
C{sub} becomes the connection's uid; a C{groups} claim, its groups. With
C{--jwt-audience} and C{--jwt-issuer}, C{aud} and C{iss} must name them;
C{exp}, C{nbf} and C{iat} are allowed L{LEEWAY} seconds of clock skew.
"""

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from wss_service.errors import ConfigurationError
from wss_service.hub import names
from wss_service.hub.errors import HubError

LEEWAY = 30.0


class TokenRefused(Exception):
    """A missing, malformed, badly signed or expired token: one line why."""


class Tokens:
    def __init__(self, path, audience=None, issuer=None, leeway=LEEWAY):
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
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
        required = ["sub", "exp"] + ["aud"] * bool(self.audience) + ["iss"] * bool(self.issuer)
        try:
            claims = jwt.decode(token, self.key, algorithms=self.algorithms,
                                audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": required})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.InvalidAudienceError as e:
            hint = "" if self.audience else " (start the service with --jwt-audience AUD)"
            raise TokenRefused(f"bad token: {e}{hint}") from None
        except jwt.PyJWTError as e:
            raise TokenRefused(f"bad token: {e}") from None
        groups = claims.get("groups", [])
        if not isinstance(groups, list):
            raise TokenRefused("bad token: groups must be a list of texts")
        try:
            return names.name("sub", claims["sub"]), names.names("group", groups) if groups else []
        except HubError as e:
            raise TokenRefused(f"bad token: {e}") from None
