"""RFC 8785 (JCS) canonical JSON, with a fast path for the values audit records hold.

The reference `rfc8785` package is pure Python (about 180 us for a decision record, the
largest CPU cost of an append). For JSON whose keys are ASCII, whose integers are within
+-2**53 and whose floats are non-integral with 1e-4 <= |x| < 1e16 (integral floats below 2**53
are written as the integers they are, as ECMAScript does), `json.dumps` with sorted keys and
no whitespace produces the same bytes: Python's float repr and ECMAScript's
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


_SLOW: Any = object()  # marks a value `json.dumps` would not write canonically


def _fast_form(value: Any) -> Any:
    """`value` with integral floats as ints (ECMAScript writes 0.0 as `0`), or _SLOW."""
    # type() identity checks: this walk runs once per append, on the caller's thread.
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -_SAFE_INT < value < _SAFE_INT else _SLOW
    if kind is float:
        if not math.isfinite(value):
            return _SLOW
        if value.is_integer():  # exact below 2**53, where int digits are the shortest form
            return int(value) if abs(value) < _SAFE_INT else _SLOW
        return value if 1e-4 <= abs(value) < 1e16 else _SLOW
    if kind is dict:
        out = {}
        for k, v in value.items():
            form = _fast_form(v)
            if type(k) is not str or not k.isascii() or form is _SLOW:
                return _SLOW
            out[k] = form
        return out
    if kind is list or kind is tuple:
        items = [_fast_form(v) for v in value]
        return _SLOW if any(form is _SLOW for form in items) else items
    return _SLOW


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes (refuses NaN, infinities and non-JSON types)."""
    try:
        form = _fast_form(value)
        if form is not _SLOW:
            return _encode(form).encode()
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"audit record is not canonical JSON: {exc}") from None
