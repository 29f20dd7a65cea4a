# Types of the C extension rag/_int8.c (int8 cosine rescoring); rag.store.scoring is its Python face.
from typing import Any

import numpy as np

# Any C-contiguous buffer; the Python face always passes numpy arrays.
Buffer = np.ndarray[Any, Any]

def cosines(
    query: Buffer, rows: Buffer, n_rows: int, d: int, picked: Buffer, m: int, out: Buffer
) -> None: ...
