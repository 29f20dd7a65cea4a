"""Properties of the pure quantizers (EMBEDDINGS.md section 6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rag.quantization import (
    bits_to_pm1,
    calibrate_scale,
    cosine_int8,
    hamming_distances,
    msb_to_lsb_bits,
    quantize_scaled,
    quantize_tanh,
    scaled_int8,
    sign_bits,
    tanh_int8,
    truncate,
)

FLOATS = st.floats(-50, 50, allow_nan=False, width=32)


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    rows = draw(st.integers(1, 6))
    dims = draw(st.integers(1, 8)) * 8
    return draw(arrays(np.float32, (rows, dims), elements=FLOATS))


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_shapes_and_dtypes(x: np.ndarray) -> None:
    n, d = x.shape
    embeddings = quantize_tanh(x, keep_floats=True)
    assert embeddings.int8.shape == (n, d) and embeddings.int8.dtype == np.int8
    assert embeddings.bits.shape == (n, d // 8) and embeddings.bits.dtype == np.uint8
    assert embeddings.floats is not None and embeddings.floats.dtype == np.float32
    assert quantize_tanh(x).floats is None


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_tanh_int8_is_rounded_tanh_within_range(x: np.ndarray) -> None:
    codes = tanh_int8(x).astype(int)
    assert codes.min() >= -127 and codes.max() <= 127
    assert np.abs(codes - np.tanh(x.astype(np.float64)) * 127).max() <= 0.5 + 1e-3
    # Rounding, not truncation toward zero: 0.9 / 127 in tanh space must give 1.
    assert tanh_int8(np.array([[np.arctanh(0.9 / 127)]], dtype=np.float32))[0, 0] == 1


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_sign_bits_are_msb_first(x: np.ndarray) -> None:
    bits = sign_bits(x)
    unpacked = np.unpackbits(bits, axis=-1)
    assert np.array_equal(unpacked.astype(bool), x >= 0)
    # Dimension 0 is the most significant bit of byte 0.
    assert np.array_equal((bits[:, 0] >> 7) & 1, (x[:, 0] >= 0).astype(np.uint8))
    assert np.array_equal(bits_to_pm1(bits, x.shape[1]), np.where(x >= 0, 1, -1).astype(np.int8))


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_lsb_conversion_reverses_each_byte(x: np.ndarray) -> None:
    bits = sign_bits(x)
    lsb = msb_to_lsb_bits(bits)
    assert np.array_equal(np.unpackbits(lsb, axis=-1, bitorder="little"), np.unpackbits(bits, axis=-1))
    assert np.array_equal((lsb[:, 0] & 1).astype(bool), x[:, 0] >= 0)


@settings(max_examples=60, deadline=None)
@given(matrices(), st.data())
def test_prefix_slice_commutes_with_quantization(x: np.ndarray, data: st.DataObject) -> None:
    keep = data.draw(st.integers(1, x.shape[1] // 8)) * 8
    assert np.array_equal(tanh_int8(truncate(x, keep)), tanh_int8(x)[:, :keep])
    assert np.array_equal(sign_bits(truncate(x, keep)), sign_bits(x)[:, : keep // 8])
    assert np.array_equal(scaled_int8(truncate(x, keep), 2.0), scaled_int8(x, 2.0)[:, :keep])


@settings(max_examples=60, deadline=None)
@given(matrices(), st.floats(0.01, 100))
def test_scaled_int8_maps_the_scale_to_127(x: np.ndarray, scale: float) -> None:
    codes = scaled_int8(x, scale).astype(int)
    assert codes.min() >= -127 and codes.max() <= 127
    inside = np.abs(x) <= scale
    expected = np.rint(x.astype(np.float64) / scale * 127)
    assert np.abs(codes[inside] - expected[inside]).max(initial=0) <= 1
    assert np.all(codes[x > scale] == 127) and np.all(codes[x < -scale] == -127)
    assert quantize_scaled(x, scale).int8.dtype == np.int8


def test_calibrated_scale_is_a_high_quantile() -> None:
    samples = np.linspace(-1, 1, 2001, dtype=np.float32).reshape(1, -1)
    assert calibrate_scale(samples, quantile=0.5) == pytest.approx(0.5, abs=1e-3)
    assert calibrate_scale(np.zeros((2, 8), dtype=np.float32)) == 1.0
    with pytest.raises(ValueError):
        scaled_int8(samples, 0.0)


def test_cosine_and_hamming() -> None:
    rows = np.array([[1, 0], [0, 1], [0, 0], [-1, 0]], dtype=np.int8)
    np.testing.assert_allclose(cosine_int8(np.array([2, 0], dtype=np.int8), rows), [1, 0, 0, -1])
    bits = np.array([[0b10000000], [0b01111111]], dtype=np.uint8)
    assert hamming_distances(np.array([0b10000000], dtype=np.uint8), bits).tolist() == [0, 8]
