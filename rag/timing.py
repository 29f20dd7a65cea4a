"""Stage timings, in the milliseconds every ``timings`` dict of the project reports."""

from __future__ import annotations

import time


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - started) * 1000.0
