"""Log entries: canonical RFC 8785 JSON, UUIDv7 ids, prompt digests and sealed prompt text.

A leaf is the canonical JSON object
`{"entry_id", "index", "record", "time", "type", "v"}` (keys in RFC 8785 order). The record is
canonicalised by the caller's thread; the writer, which learns the index only inside the
append transaction, splices the fixed members around it (byte-identical to canonicalising the
whole object, see the tests), so the serialised section of an append stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aupgate.audit.errors import AuditError
from aupgate.errors import InvalidInputError
from aupgate.ids import uuid7

ENTRY_TYPES: Final = ("decision", "refusal", "admin")
ADMIN_ACTIONS: Final = (
    "org.added",
    "org.updated",
    "org.vetted",
    "grant.issued",
    "grant.revoked",
    "key.created",
    "key.revoked",
    "screening.list_loaded",
    "screening.hit_found",
    "screening.hit_cleared",
    "pack.activated",
    "change.failed",
)
FORMAT_VERSION: Final = 1
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:-]{0,63}")
_INDEX_MARK: Final = b',"index":'
# Entry ids are restricted to _ID's characters, so the leaf's head has exactly this shape.
_ENTRY_HEAD: Final = re.compile(
    rb'\{"entry_id":"[0-9A-Za-z][0-9A-Za-z._:-]{0,63}","index":(0|[1-9][0-9]*),'
)


def check_entry_id(entry_id: str) -> str:
    if not _ID.fullmatch(entry_id):
        raise InvalidInputError(f"invalid audit entry id {entry_id!r}")
    return entry_id


def entry_id_for(entry_type: str, record: Mapping[str, Any]) -> str:
    """Decisions and refusals are logged under their decision id; anything else gets a UUIDv7."""
    if entry_type not in ENTRY_TYPES:
        raise InvalidInputError(f"unknown audit entry type {entry_type!r}; use {ENTRY_TYPES}")
    decision_id = record.get("decision_id")
    if entry_type != "admin" and isinstance(decision_id, str):
        return check_entry_id(decision_id)
    return str(uuid7())


def encode_entry(entry_id: str, index: int, record: bytes, at: str, entry_type: str) -> bytes:
    """The leaf bytes; `record` must already be canonical (see the module docstring).

    Entry ids, types and ISO times are ASCII without quotes, backslashes or control
    characters (checked when the entry is prepared), so quoting them is their canonical form.
    """
    return b"".join(
        (
            b'{"entry_id":"',
            entry_id.encode(),
            b'"',
            _INDEX_MARK,
            str(index).encode(),
            b',"record":',
            record,
            b',"time":"',
            at.encode(),
            b'","type":"',
            entry_type.encode(),
            b'","v":',
            str(FORMAT_VERSION).encode(),
            b"}",
        )
    )


def index_of(leaf: bytes) -> int | None:
    """The index a leaf claims, without parsing it (None if it is not an entry)."""
    match = _ENTRY_HEAD.match(leaf)
    return int(match[1]) if match else None


def decision_body(decision_json: Mapping[str, Any], prompt_digest: str | None) -> dict[str, Any]:
    """The record of a decision (or a refusal): the Decision's JSON plus the prompt digest."""
    if not isinstance(decision_json.get("decision_id"), str):
        raise InvalidInputError("a decision record needs a string decision_id")
    return {**decision_json, "prompt_digest": prompt_digest}


def refusal_body(
    decision_id: str,
    stage: str,
    reason: str,
    context: Mapping[str, Any],
    prompt_digest: str | None,
) -> dict[str, Any]:
    """The record of a request refused because a part failed (the classifier, the decision
    record, output moderation ...) so that no Decision could be made or kept."""
    if not stage or not reason:
        raise InvalidInputError("a refusal record needs the failing stage and a reason")
    return {
        "decision_id": check_entry_id(decision_id),
        "outcome": "refused",
        "stage": stage,
        "reason": reason,
        "context": dict(context),
        "prompt_digest": prompt_digest,
    }


def admin_body(action: str, actor: str, subject: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """The record of an administrative change."""
    if action not in ADMIN_ACTIONS:
        raise InvalidInputError(f"unknown admin action {action!r}; use one of {ADMIN_ACTIONS}")
    if not actor or not subject:
        raise InvalidInputError("an admin record needs an actor and a subject")
    return {"action": action, "actor": actor, "subject": subject, "details": dict(details)}


def prompt_digest(secret: bytes, text: str) -> str:
    """HMAC-SHA256 of the prompt: whoever holds prompt and secret can show they match."""
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


class PromptCipher:
    """AES-256-GCM for retained prompt text; the entry id is bound in as associated data."""

    NONCE = 12

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise AuditError("the prompt encryption key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def seal(self, entry_id: str, text: str) -> bytes:
        nonce = os.urandom(self.NONCE)
        return nonce + self._aead.encrypt(nonce, text.encode(), entry_id.encode())

    def open(self, entry_id: str, sealed: bytes) -> str:
        try:
            plain = self._aead.decrypt(
                sealed[: self.NONCE], sealed[self.NONCE :], entry_id.encode()
            )
        except InvalidTag:
            raise AuditError(f"stored prompt of {entry_id} does not decrypt (wrong key?)") from None
        return plain.decode()
