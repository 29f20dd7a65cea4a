# Types of the C extension rag/_hamming.c (the exact Hamming top-k scan); rag.hamming is its Python face.
from typing import Any

import numpy as np

# Any C-contiguous buffer; the Python face always passes numpy arrays.
Buffer = np.ndarray[Any, Any]

def top_k(
    codes: Buffer,
    n: int,
    code_bytes: int,
    queries: Buffer,
    nq: int,
    k: int,
    mask: Buffer | None,
    mask_stride: int,
    chunk_rows: int,
    out_slots: Buffer,
    out_dists: Buffer,
    out_counts: Buffer,
) -> None: ...
def distances(codes: Buffer, n: int, code_bytes: int, queries: Buffer, nq: int, out: Buffer) -> None: ...
def variant() -> str: ...
def variants() -> list[str]: ...
def use_variant(name: str, /) -> None: ...
