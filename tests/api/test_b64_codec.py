"""The b64 tensor codec (pybase64's SIMD base64) accepts exactly what the standard library's strict
decoder accepts, decodes to the same bytes, and round-trips arrays of every wire dtype."""

from __future__ import annotations

import binascii
import random

import numpy as np
import pytest

from service.transport.arrays import WIRE_DTYPES, EncodingError, decode_array
from service.transport.json_out import _b64_bytes

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n@"


def _decode(text: str, shape: list[int], dtype: str) -> np.ndarray:
    return decode_array({"shape": shape, "dtype": dtype, "b64": text}, ("body", "x"),
                        max_elements=10**6)


def test_accepts_and_rejects_exactly_what_strict_binascii_does():
    rng = random.Random(0)
    for _ in range(5000):
        text = bytes(rng.choice(ALPHABET) for _ in range(8)).decode()
        try:
            expected = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            expected = None
        try:
            got = _decode(text, [1], "float64").tobytes()
        except EncodingError as exc:
            assert exc.code in ("invalid_base64", "invalid_tensor"), exc.code
            got = None
        if expected is not None and len(expected) == 8:
            assert got == expected, text
        else:  # invalid base64, or valid but not the 8 bytes one float64 needs
            assert got is None, text


@pytest.mark.parametrize("dtype", sorted(WIRE_DTYPES))
def test_round_trip(dtype):
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(7, 5)) * 1000).astype(WIRE_DTYPES[dtype])
    text = _b64_bytes(a).decode("ascii")
    assert text == binascii.b2a_base64(a.astype(WIRE_DTYPES[dtype]).tobytes(),
                                       newline=False).decode("ascii")
    back = _decode(text, [7, 5], dtype)
    assert back.dtype == a.dtype.newbyteorder("=") and np.array_equal(back, a)
