"""The one error family every part raises for conditions a user can fix.

The CLI prints such an error as one line and exits non-zero; the gateway maps it to an HTTP error.
Anything else escaping is a bug.
"""

from __future__ import annotations


class AupgateError(Exception):
    """A precise, user-facing failure (bad input, unknown name, unusable store or pack)."""

    exit_code = 2


class NotFoundError(AupgateError):
    """A named thing (organisation, key, grant, decision, pack) does not exist."""


class InvalidInputError(AupgateError):
    """Input that is malformed or out of range (country code, purpose, category, date ...)."""
