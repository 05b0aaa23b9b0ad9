"""API key secrets: generated once, shown once, stored only as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "aupk"


def new_key_id() -> str:
    """A short public identifier, safe to log and to show in listings."""
    return secrets.token_hex(6)


def new_secret(key_id: str) -> str:
    """The bearer token handed to the caller: `aupk_<key id>_<random>` (256 bits of entropy)."""
    return f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """SHA-256 of the whole token; the token is random, so no slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The key id embedded in a token, or None if the token is not of our shape."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time comparison of a presented token with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_sha256)
