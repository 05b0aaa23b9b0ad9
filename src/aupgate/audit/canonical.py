"""RFC 8785 (JCS) canonical JSON, with a fast path for the values audit records hold.

The reference `rfc8785` package is pure Python (about 180 us for a decision record, the
largest CPU cost of an append). For JSON whose keys are ASCII, whose integers are within
+-2**53 and whose floats are non-integral with 1e-4 <= |x| < 1e16, `json.dumps` with sorted
keys and no whitespace produces the same bytes: Python's float repr and ECMAScript's
Number-to-String agree on shortest round-trip digits in that range, both escape exactly the
control characters, quote and backslash (same short forms, lowercase hex), and ASCII keys sort
identically by code point and by UTF-16 unit. Anything else goes to `rfc8785`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

from aupgate.errors import InvalidInputError

_SAFE_INT = 2**53
_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _fast_ok(value: Any) -> bool:
    # type() identity checks: this walk runs once per append, on the caller's thread.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT < value < _SAFE_INT)
    if kind is float:
        return math.isfinite(value) and not value.is_integer() and 1e-4 <= abs(value) < 1e16
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii() or not _fast_ok(v):
                return False
        return True
    if kind is list or kind is tuple:
        return all(map(_fast_ok, value))
    return False


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (refuses NaN, infinities and non-JSON types)."""
    try:
        if _fast_ok(value):
            return _encode(value).encode()
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"audit record is not canonical JSON: {exc}") from None
