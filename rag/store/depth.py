"""How many Hamming candidates ``binary+int8`` rescores: a fixed pool, or one chosen per query (adaptive).

A fixed pool (``top_k x rescore_multiplier``) is wasteful for a query whose nearest codes stand apart, and
short for one whose codes crowd together. The adaptive rule reads the crowding from the Hamming distances
themselves, out of a generous pool fetched once: it rescores every candidate within

- ``margin x sqrt(d)`` bits of the ``REFERENCE_FLOOR``-th (10th) candidate's distance: the head, which
  the first hits (and nDCG@10, answer_hit@10) come from, gets the wide margin, and
- ``tail_margin x sqrt(d)`` bits of the ``top_k``-th candidate's distance: a longer list's tail gets a
  narrower one (a miss near rank 30 costs the first ten nothing).

``sqrt(d)`` is the scale of the noise in a Hamming distance (the binomial spread of ``d`` sign agreements), so
margins in units of it carry across model widths (checked on synthetic 384- and 1024-d vectors: the same
margin gives the same depth and recall). The defaults were calibrated on real MiniLM vectors of SciFact and
COVID-QA against int8-exact (docs/evaluation.md).

Below ``REFERENCE_FLOOR`` every ``top_k`` rescores the same candidates, so a shorter result list is a prefix
of a longer one (the first hit does not depend on ``top_k``). Candidates at the same distance are all in or
all out, so the set does not depend on the order in which the scan returns ties (except at the pool's cap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# the reference rank's floor: lists up to this long are prefixes of each other
REFERENCE_FLOOR = 10


@dataclass(frozen=True)
class AdaptiveDepth:
    """The adaptive rescoring rule: ``margin`` (the head's) and ``tail_margin`` in units of ``sqrt(d)``
    Hamming bits (either ``math.inf``: the whole pool), and the pool fetched by Hamming distance,
    ``max(top_k x max_multiplier, max_floor)`` codes, that caps the depth."""

    margin: float = 0.6
    tail_margin: float = 0.35
    max_multiplier: int = 10
    max_floor: int = 200
    reference_floor: int = REFERENCE_FLOOR

    def __post_init__(self) -> None:
        if not (self.margin >= 0 and self.tail_margin >= 0):  # also refuses NaN
            raise ValueError(f"adaptive margins must be >= 0, got {self.margin} and {self.tail_margin}")
        if self.max_multiplier < 1 or self.max_floor < 1 or self.reference_floor < 1:
            raise ValueError("the adaptive pool's multiplier and floors must be positive")

    def pool(self, top_k: int) -> int:
        """How many Hamming candidates to fetch (the most that may be rescored)."""
        return max(top_k * self.max_multiplier, self.max_floor, self.reference(top_k))

    def reference(self, top_k: int) -> int:
        """The rank whose Hamming distance the tail margin is measured from."""
        return max(top_k, self.reference_floor)

    def limit(self, distances: np.ndarray, top_k: int, dimensions: int) -> float:
        """The largest Hamming distance rescored (``distances`` longer than ``reference(top_k)``)."""
        noise = math.sqrt(dimensions)
        head = float(distances[self.reference_floor - 1]) + self.margin * noise
        tail = float(distances[self.reference(top_k) - 1]) + self.tail_margin * noise
        return max(head, tail)

    def depth(self, distances: np.ndarray, top_k: int, dimensions: int) -> int:
        """How many of ``distances`` (the fetched pool, nearest first) to rescore: all those within the
        margins; every candidate when there are no more than the reference rank."""
        if len(distances) <= self.reference(top_k) or math.isinf(max(self.margin, self.tail_margin)):
            return len(distances)
        return int(np.searchsorted(distances, self.limit(distances, top_k, dimensions), side="right"))


DEFAULT_ADAPTIVE = AdaptiveDepth()
