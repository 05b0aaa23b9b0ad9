"""The fast canonical-JSON path gives exactly the bytes of the reference rfc8785 package."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from aupgate.audit.canonical import canonical
from aupgate.errors import InvalidInputError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-4, max_value=1.0)
    | st.integers(min_value=-(2**60), max_value=2**60).map(float)  # integral floats: 0.0 -> 0
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_same_bytes_as_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(InvalidInputError):
            canonical(value)
        return
    assert canonical(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1.0,
        2.0**53 - 1,
        2.0**53,
        2.0**60 + 2**9,
        1e-7,
        0.00001,
        1e16,
        1e21,
        123456789.125,
        -0.5,
        {"\U0001f600": 1, "\ufb01": 2},
    ],
)
def test_edge_numbers_and_keys(value: Any) -> None:
    assert canonical({"x": value}) == rfc8785.dumps({"x": value})


def test_nan_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        canonical({"score": float("nan")})
