"""How many Hamming candidates ``binary+int8`` rescores: a fixed pool, or one chosen per query (adaptive).

A fixed pool (``top_k x rescore_multiplier``) is wasteful for a query whose nearest codes stand apart, and
short for one whose codes crowd together. The adaptive rule reads the crowding from the Hamming distances
themselves: it rescores every candidate within ``margin x sqrt(d)`` bits of the reference candidate's
distance (the ``max(top_k, REFERENCE_FLOOR)``-th nearest), out of a generous pool fetched once. ``sqrt(d)`` is
the scale of the noise in a Hamming distance (the binomial spread of ``d`` sign agreements), so a margin in
units of it carries across model widths; the default was calibrated on real MiniLM vectors of SciFact and
COVID-QA (docs/evaluation.md).

Because the reference candidate does not move below ``REFERENCE_FLOOR``, every ``top_k`` up to it rescores
the same candidates, so a shorter result list is a prefix of a longer one (the first hit does not depend on
``top_k``). Candidates at the same distance are all in or all out, so the set does not depend on the order
in which the scan returns ties (except at the pool's cap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# the reference rank's floor: lists up to this long are prefixes of each other
REFERENCE_FLOOR = 10


@dataclass(frozen=True)
class AdaptiveDepth:
    """The adaptive rescoring rule: ``margin`` in units of ``sqrt(d)`` Hamming bits (``math.inf``: the whole
    pool), and the pool fetched by Hamming distance, ``max(top_k x max_multiplier, max_floor)`` codes, that
    caps the depth."""

    margin: float = 0.45
    max_multiplier: int = 10
    max_floor: int = 200
    reference_floor: int = REFERENCE_FLOOR

    def __post_init__(self) -> None:
        if not self.margin >= 0:  # also refuses NaN
            raise ValueError(f"the adaptive margin must be >= 0, got {self.margin}")
        if self.max_multiplier < 1 or self.max_floor < 1 or self.reference_floor < 1:
            raise ValueError("the adaptive pool's multiplier and floors must be positive")

    def pool(self, top_k: int) -> int:
        """How many Hamming candidates to fetch (the most that may be rescored)."""
        return max(top_k * self.max_multiplier, self.max_floor, self.reference(top_k))

    def reference(self, top_k: int) -> int:
        """The rank whose Hamming distance the margin is measured from."""
        return max(top_k, self.reference_floor)

    def margin_bits(self, dimensions: int) -> float:
        return self.margin * math.sqrt(dimensions)

    def depth(self, distances: np.ndarray, top_k: int, dimensions: int) -> int:
        """How many of ``distances`` (the fetched pool, nearest first) to rescore: all those within the
        margin of the reference candidate's distance; every candidate when there are no more than that."""
        reference = self.reference(top_k)
        if len(distances) <= reference or math.isinf(self.margin):
            return len(distances)
        limit = float(distances[reference - 1]) + self.margin_bits(dimensions)
        return int(np.searchsorted(distances, limit, side="right"))


DEFAULT_ADAPTIVE = AdaptiveDepth()
