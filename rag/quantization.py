"""Pure quantization functions (numpy only, no I/O).

pplx-embed's own fixed quantizer (EMBEDDINGS.md section 6): ``int8 = clamp(round(tanh(x) * 127))`` and
sign bits ``x >= 0`` packed big-endian with ``np.packbits``. Other encoders use a calibrated global scale
instead of tanh (their pooled values are not trained for it); the scale is recorded with the collection.
Matryoshka truncation is a prefix slice and commutes with both quantizers (they are element-wise).
"""

from __future__ import annotations

import numpy as np

from rag.types import Embeddings, Float32Array, Int8Array, UInt8Array

INT8_LIMIT = 127


def _as_float32(x: np.ndarray) -> Float32Array:
    return np.asarray(x, dtype=np.float32)


def truncate(x: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Matryoshka truncation: the first ``dimensions`` columns of ``x`` (n, d); None keeps all."""
    if dimensions is None or dimensions == x.shape[-1]:
        return x
    if not 0 < dimensions <= x.shape[-1]:
        raise ValueError(f"dimensions must be in 1..{x.shape[-1]}, got {dimensions}.")
    return x[..., :dimensions]


def tanh_int8(x: np.ndarray) -> Int8Array:
    """pplx-embed int8 codes of pooled vectors ``x`` (n, d) float: round(tanh(x) * 127), clamped.

    Rounds before casting (casting alone would truncate toward zero). numpy rounds half to even,
    as torch does.
    """
    soft = np.tanh(_as_float32(x)) * np.float32(INT8_LIMIT)
    return np.clip(np.rint(soft), -128, 127).astype(np.int8)


def scaled_int8(x: np.ndarray, scale: float) -> Int8Array:
    """int8 codes with one global scale: round(x / scale * 127), clamped to [-127, 127].

    ``scale`` is the calibrated magnitude that maps to 127 (see ``calibrate_scale``).
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}.")
    codes = np.rint(_as_float32(x) / np.float32(scale) * np.float32(INT8_LIMIT))
    result: Int8Array = np.clip(codes, -INT8_LIMIT, INT8_LIMIT).astype(np.int8)
    return result


def calibrate_scale(samples: np.ndarray, quantile: float = 0.999) -> float:
    """The global int8 scale for an encoder: the ``quantile`` of |x| over calibration vectors (n, d).

    A high quantile (not the max) keeps one outlier from wasting the int8 range; values above it saturate.
    """
    values = np.abs(_as_float32(samples)).ravel()
    if values.size == 0:
        raise ValueError("calibration needs at least one vector.")
    scale = float(np.quantile(values, quantile))
    return scale if scale > 0 else 1.0


def sign_bits(x: np.ndarray) -> UInt8Array:
    """Packed sign bits of ``x`` (n, d): bit = x >= 0, big-endian (dimension 0 = MSB of byte 0)."""
    return np.packbits(np.asarray(x) >= 0, axis=-1)


def bits_to_pm1(bits: np.ndarray, dimensions: int) -> Int8Array:
    """Unpack big-endian sign bits (n, d/8) into ±1 int8 values (n, d) (the 'binary' format)."""
    unpacked = np.unpackbits(np.asarray(bits, dtype=np.uint8), axis=-1, count=dimensions)
    return (unpacked.astype(np.int8) * 2 - 1).astype(np.int8)


def msb_to_lsb_bits(bits: np.ndarray) -> UInt8Array:
    """Repack big-endian sign bits as LSB-first bytes (the hosted pplx API's ``base64_binary`` order)."""
    unpacked = np.unpackbits(np.asarray(bits, dtype=np.uint8), axis=-1)
    return np.packbits(unpacked, axis=-1, bitorder="little")


def quantize_tanh(x: np.ndarray, *, keep_floats: bool = False) -> Embeddings:
    """pplx-embed quantization of pooled vectors ``x`` (n, d) float32 into an ``Embeddings``."""
    floats = _as_float32(x)
    return Embeddings(tanh_int8(floats), sign_bits(floats), floats.copy() if keep_floats else None)


def quantize_scaled(x: np.ndarray, scale: float, *, keep_floats: bool = False) -> Embeddings:
    """Calibrated-scale quantization of pooled vectors ``x`` (n, d) float32 into an ``Embeddings``."""
    floats = _as_float32(x)
    return Embeddings(scaled_int8(floats, scale), sign_bits(floats), floats.copy() if keep_floats else None)


def cosine_int8(query: np.ndarray, rows: np.ndarray) -> Float32Array:
    """Cosine between one int8 query (d,) and int8 rows (m, d), as float32 (m,); zero vectors score 0. The
    numpy reference of the search's rescoring kernel (``rag._int8``), which tests hold to these bits."""
    q = np.asarray(query, dtype=np.float32)
    r = np.asarray(rows, dtype=np.float32)
    # einsum: the same sums of squares as np.linalg.norm without its per-call overhead (~35 us at 200 rows)
    norms = np.sqrt(np.einsum("ij,ij->i", r, r)) * np.sqrt(np.float32(q @ q))
    dots = r @ q
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(norms > 0, dots / norms, np.float32(0.0))
    return scores.astype(np.float32)


def hamming_distances(query_bits: np.ndarray, rows_bits: np.ndarray) -> np.ndarray:
    """Hamming distances (m,) int64 between packed bits (d/8,) and packed rows (m, d/8)."""
    xor = np.bitwise_xor(np.asarray(rows_bits, dtype=np.uint8), np.asarray(query_bits, dtype=np.uint8))
    distances: np.ndarray = np.unpackbits(xor, axis=-1).sum(axis=-1, dtype=np.int64)
    return distances
