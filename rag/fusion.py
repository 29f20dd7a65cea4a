"""Fusion of a dense and a lexical ranking into one (pure; no I/O).

Two methods:

- ``rrf``: reciprocal rank fusion, ``2 * (w / (k + rank_dense) + (1 - w) / (k + rank_lexical))`` with ranks
  from 1; at ``w = 0.5`` this is the classic unweighted RRF (Cormack et al., k = 60). A document missing from
  a list contributes nothing for that list. Kept as the baseline.
- ``convex``: ``w * norm(dense) + (1 - w) * norm(lexical)`` where each list's scores are min-max normalized
  per query: the best becomes 1 and the score at rank ``norm_depth`` (or the last, in a shorter list)
  becomes 0. Min-max rather than z-score: it needs no assumption about the score distribution, and BM25 and
  cosine lists then share one range. Anchoring 0 at a fixed rank rather than at the end of the list keeps a
  document's normalized score independent of how deep the lists were retrieved (so a weight tuned with
  deep lists holds for a top-10 query); deeper entries go below 0. A document missing from one list gets
  that list's floor (its lowest normalized score): it ranked below everything the list returned.

``weight`` is always the dense share. Ties are broken by the rank in the list with the larger weight, then
the other list, then the id, so that ``weight = 1`` (``0``) reproduces the dense (lexical) order exactly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Any

from rag.errors import InvalidInputError
from rag.types import Scored

FUSION_METHODS = ("rrf", "convex")

# Used when a collection has no tuned weight (`rag eval --tune` stores one). 0.3 is the minimax choice over
# the sweeps in docs/evaluation.md (offline MiniLM; SciFact, COVID-QA isolated and contextual): at most 1.0
# point below each set's best weight, and above the better single retriever on all three.
DEFAULT_HYBRID: dict[str, Any] = {"method": "convex", "weight": 0.3, "source": "default"}


def fuse(
    dense: Scored,
    lexical: Scored,
    *,
    method: str,
    weight: float,
    top_k: int,
    k: int = 60,
    norm_depth: int = 100,
) -> Scored:
    """The fused ranking of the ids in either list, best first, at most ``top_k`` of them.

    Both inputs are ``(id, score)`` best first with higher scores better (as the Searcher produces them).
    """
    if method not in FUSION_METHODS:
        raise InvalidInputError(f"unknown fusion method {method!r}; use one of {', '.join(FUSION_METHODS)}.")
    if not 0.0 <= weight <= 1.0 or math.isnan(weight):
        raise InvalidInputError(f"fusion weight must lie in [0, 1], got {weight}.")
    if top_k < 1:
        raise InvalidInputError(f"top_k must be at least 1, got {top_k}.")
    if k < 0:
        raise InvalidInputError(f"the RRF constant k must not be negative, got {k}.")
    if norm_depth < 1:
        raise InvalidInputError(f"norm_depth must be at least 1, got {norm_depth}.")
    dense_rank = _ranks(dense)
    lexical_rank = _ranks(lexical)
    if method == "rrf":
        fused = _rrf(dense_rank, lexical_rank, weight, k)
    else:
        fused = _convex(_minmax(dense, norm_depth), _minmax(lexical, norm_depth), weight)
    missing = len(dense_rank) + len(lexical_rank) + 1

    def order(item: tuple[int, float]) -> tuple[float, int, int, int]:
        doc, score = item
        d, lx = dense_rank.get(doc, missing), lexical_rank.get(doc, missing)
        first, second = (d, lx) if weight >= 0.5 else (lx, d)
        return (-score, first, second, doc)

    # only items scoring at least the top_k-th best score can be in the answer: order those alone (the
    # tie-breaking key costs two lookups per item; a hybrid query fuses ~200 items to keep 10)
    cutoff = heapq.nlargest(top_k, fused.values())[-1] if len(fused) > top_k else -math.inf
    return sorted((item for item in fused.items() if item[1] >= cutoff), key=order)[:top_k]


def resolve_hybrid(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The hybrid settings a collection stored (``settings["hybrid"]``) over ``DEFAULT_HYBRID``."""
    stored = (settings or {}).get("hybrid") or {}
    return {**DEFAULT_HYBRID, **stored}


def _ranks(scored: Scored) -> dict[int, int]:
    """id -> 1-based rank; an id listed twice keeps its first (best) rank."""
    ranks: dict[int, int] = {}
    for position, (doc, _) in enumerate(scored, start=1):
        ranks.setdefault(doc, position)
    return ranks


def _rrf(dense: dict[int, int], lexical: dict[int, int], weight: float, k: int) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranks, share in ((dense, weight), (lexical, 1.0 - weight)):
        for doc, rank in ranks.items():
            fused[doc] = fused.get(doc, 0.0) + 2.0 * share / (k + rank)
    return fused


def _convex(
    dense: tuple[dict[int, float], float], lexical: tuple[dict[int, float], float], weight: float
) -> dict[int, float]:
    (dense_scores, dense_floor), (lexical_scores, lexical_floor) = dense, lexical
    fused: dict[int, float] = {}
    for doc in dense_scores.keys() | lexical_scores.keys():
        d = dense_scores.get(doc, dense_floor)
        lx = lexical_scores.get(doc, lexical_floor)
        fused[doc] = weight * d + (1.0 - weight) * lx
    return fused


def _best_scores(scored: Scored) -> dict[int, float]:
    best: dict[int, float] = {}
    for doc, score in scored:
        if doc not in best or score > best[doc]:
            best[doc] = float(score)
    return best


def _minmax(scored: Scored, depth: int) -> tuple[dict[int, float], float]:
    """Scores mapped so the best is 1 and the one at rank ``depth`` is 0, and the floor (the lowest).

    When the scores down to rank ``depth`` are all equal, those count as the list's best (1) and any deeper
    ones as 0.
    """
    best = _best_scores(scored)
    if not best:
        return {}, 0.0
    ranked = sorted(best.values(), reverse=True)
    high, low = ranked[0], ranked[min(depth, len(ranked)) - 1]
    span = high - low
    if span <= 0.0:
        return {doc: 1.0 if score >= high else 0.0 for doc, score in best.items()}, 0.0
    normalized = {doc: (score - low) / span for doc, score in best.items()}
    return normalized, min(0.0, min(normalized.values()))
