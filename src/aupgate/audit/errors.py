"""Errors of the audit log."""

from __future__ import annotations

from aupgate.errors import AupgateError


class AuditError(AupgateError):
    """The audit log cannot record, prove or start (the caller must fail closed)."""


class VerificationError(AuditError):
    """A signature, note, checkpoint or proof does not verify."""
