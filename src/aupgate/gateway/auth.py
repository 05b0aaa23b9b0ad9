"""Who is asking: a registry API key, or an OIDC JWT (RS256/ES256) whose claim names the org.

Both paths are synchronous (a database lookup, a JWKS fetch): the app calls them in a thread.
Every failure is an `AuthFailure` whose message says what to fix without echoing the token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import jwt

from aupgate.identity.keys import PREFIX
from aupgate.identity.registry import AuthenticationError, Registry

# Asymmetric only: `none` and the HMAC family (a public key used as a shared secret) never pass.
ALGORITHMS: Final = ("RS256", "ES256")


class AuthFailure(Exception):
    """The credential is missing, malformed, unknown, expired or not for us."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller; `subject` is safe to log and keys the rate limit."""

    kind: Literal["key", "oidc"]
    subject: str
    org_ref: str
    key_id: str | None
    allowed_models: tuple[str, ...] | None  # None: any model
    allowed_purposes: tuple[str, ...] | None  # None: any purpose the pack knows
    default_purpose: str | None


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str | None
    jwks_file: Path | None
    org_claim: str
    purposes_claim: str
    models_claim: str


class OidcVerifier:
    """Verifies signed JWTs against a JWKS (fetched from a URL and cached, or read from a file)."""

    def __init__(self, config: OidcConfig) -> None:
        # `service.oidc_verifier` checks that exactly one JWKS source is configured.
        self.config = config
        self._client = jwt.PyJWKClient(config.jwks_url) if config.jwks_url else None
        self._file_keys: dict[str, jwt.PyJWK] | None = None

    def _file_key(self, kid: str | None) -> jwt.PyJWK:
        if self._file_keys is None:
            assert self.config.jwks_file is not None
            data = json.loads(self.config.jwks_file.read_text("utf-8"))
            self._file_keys = {k.key_id or "": k for k in jwt.PyJWKSet.from_dict(data).keys}
        if kid is None and len(self._file_keys) == 1:
            return next(iter(self._file_keys.values()))
        key = self._file_keys.get(kid or "")
        if key is None:
            raise AuthFailure("the token's signing key (kid) is not in the configured JWKS")
        return key

    def _signing_key(self, token: str, kid: str | None) -> Any:
        if self._client is None:
            return self._file_key(kid).key
        try:
            return self._client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise AuthFailure("the identity provider's JWKS could not be fetched") from None
        except jwt.PyJWKClientError:
            raise AuthFailure("the token's signing key (kid) is not in the JWKS") from None

    def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthFailure(
                "the bearer token is neither an API key nor a well-formed JWT"
            ) from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthFailure(
                f"JWT algorithm {alg!r} is not accepted; use {' or '.join(ALGORITHMS)}"
            )
        cfg = self.config
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._signing_key(token, header.get("kid")),
                algorithms=list(ALGORITHMS),
                audience=cfg.audience,
                issuer=cfg.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailure("the token has expired; get a new one") from None
        except jwt.InvalidAudienceError:
            raise AuthFailure(
                f"the token is not for this gateway (audience {cfg.audience})"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthFailure(f"the token was not issued by {cfg.issuer}") from None
        except jwt.InvalidSignatureError:
            raise AuthFailure("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"the token is invalid: {exc}") from None
        org = claims.get(cfg.org_claim)
        if not isinstance(org, str) or not org:
            raise AuthFailure(f"the token has no {cfg.org_claim!r} claim naming the organisation")
        return Caller(
            kind="oidc",
            subject=f"oidc:{claims['sub']}",
            org_ref=org,
            key_id=None,
            allowed_models=_str_list(claims, cfg.models_claim),
            allowed_purposes=_str_list(claims, cfg.purposes_claim),
            default_purpose=None,
        )


def _str_list(claims: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthFailure(f"the token's {name!r} claim must be a list of strings")
    return tuple(value)


class Authenticator:
    """Turns an `Authorization` header into a Caller (API keys first, then OIDC if configured)."""

    def __init__(self, registry: Registry, oidc: OidcVerifier | None) -> None:
        self._registry = registry
        self._oidc = oidc

    def authenticate(self, authorization: str | None, now: datetime) -> Caller:
        if not authorization:
            raise AuthFailure("no credential: send 'Authorization: Bearer <API key or token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure("use 'Authorization: Bearer <API key or token>'")
        if token.startswith(f"{PREFIX}_") or self._oidc is None:
            return self._key(token, now)
        return self._oidc.verify(token)

    def _key(self, secret: str, now: datetime) -> Caller:
        try:
            key = self._registry.authenticate(secret, now)
        except AuthenticationError as exc:
            raise AuthFailure(f"{exc}; check the key or ask your administrator") from None
        return Caller(
            kind="key",
            subject=f"key:{key.id}",
            org_ref=key.org_id,
            key_id=key.id,
            allowed_models=key.allowed_models,
            allowed_purposes=key.allowed_purposes,
            default_purpose=key.default_purpose,
        )
