"""The tamper-evident audit log: an RFC 9162 Merkle tree with signed C2SP checkpoints."""

from __future__ import annotations

from sqlalchemy import Engine

from aupgate.audit.entries import admin_body, decision_body, refusal_body
from aupgate.audit.errors import AuditError, VerificationError
from aupgate.audit.keys import load_hmac_secret, load_signer
from aupgate.audit.model import Checkpoint, ConsistencyProof, InclusionProof, Receipt
from aupgate.audit.storage.log import AuditLog
from aupgate.config import Settings

__all__ = [
    "AuditError",
    "AuditLog",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "Receipt",
    "VerificationError",
    "admin_body",
    "decision_body",
    "open_audit_log",
    "refusal_body",
]


def open_audit_log(engine: Engine, settings: Settings) -> AuditLog:
    """Open the deployment's log (keys under `<home>/audit/`) after checking its consistency.

    Raises AuditError if the stored tree does not extend its last signed checkpoint.
    `settings.audit_prompt_key` enables storing encrypted prompt text.
    """
    prompt_key = settings.audit_prompt_key
    hmac_secret = load_hmac_secret(settings.home)  # before the signer: see load_hmac_secret
    log = AuditLog(
        engine,
        load_signer(settings.home, settings.audit_origin),
        settings.audit_origin,
        hmac_secret,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        prompt_key=bytes.fromhex(prompt_key) if prompt_key else None,
    )
    log.check()
    return log
