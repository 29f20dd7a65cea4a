"""``bench/ingestion.py --ray``: documents/s of the serial pipeline and of the Ray stage with 1 and 2
embedding actors on a local cluster, in one run, interleaved, medians, with the driver's share of each Ray
run (the run minus the time the driver waits for Ray's tasks and actors: planning, hashing, writing)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ray

from ingest.distributed import RayStage
from ingest.pending import Pending
from ingest.pipeline import IngestOptions, Ingestor
from ingest.stages import Embedded, Loaded
from rag.embedding.base import ApiUsage
from rag.embedding.factory import ModelOptions, load_embedder
from rag.fingerprint import EmbedderFingerprint
from rag.store import Library


class _Waiting:
    """A stage that adds up the seconds the driver spends waiting on the stage it wraps."""

    def __init__(self, inner: RayStage) -> None:
        self.inner = inner
        self.seconds = 0.0

    @property
    def fingerprint(self) -> EmbedderFingerprint:
        return self.inner.fingerprint

    @property
    def api_usage(self) -> ApiUsage:
        return self.inner.api_usage

    def count_truncated(self, documents: list[list[str]]) -> list[int]:
        return self.inner.count_truncated(documents)

    @property
    def max_input_tokens(self) -> int | None:
        return self.inner.max_input_tokens

    def load(
        self,
        paths: Sequence[Path],
        include: Sequence[str],
        exclude: Sequence[str],
        stored: dict[str, str],
        *,
        max_file_bytes: int,
    ) -> Loaded:
        started = time.perf_counter()
        try:
            return self.inner.load(paths, include, exclude, stored, max_file_bytes=max_file_bytes)
        finally:
            self.seconds += time.perf_counter() - started

    def embed(self, pending: list[Pending], budget: int, keep_floats: bool) -> Iterator[list[Embedded]]:
        batches = self.inner.embed(pending, budget, keep_floats)
        while True:
            started = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - started
            yield batch


def run(corpus: Path, model: str, threads: int, repeats: int, options: IngestOptions) -> dict[str, Any]:
    models = ModelOptions(doc_model=model, query_model=model, torch_threads=threads)
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
    try:
        serial = load_embedder(models)
        stages = {actors: RayStage(None, models, options, actors=actors) for actors in (1, 2)}
        seconds: dict[str, list[float]] = {"serial": [], "ray-1": [], "ray-2": []}
        driver: dict[str, list[float]] = {"ray-1": [], "ray-2": []}
        documents = 0
        with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
            for repeat in range(repeats):
                order = ["serial", "ray-1", "ray-2"]
                for name in order if repeat % 2 == 0 else order[::-1]:
                    data = Path(scratch) / f"{name}-{repeat}"
                    stage = serial if name == "serial" else _Waiting(stages[int(name[-1])])
                    started = time.perf_counter()
                    library = Library(data)
                    try:
                        summary = Ingestor(library, stage, options).ingest_paths([corpus], collection="b")
                    finally:
                        library.close()
                    seconds[name].append(time.perf_counter() - started)
                    documents = summary.added
                    if isinstance(stage, _Waiting):
                        driver[name].append(1 - stage.seconds / seconds[name][-1])
    finally:
        ray.shutdown()
    return _result(documents, seconds, driver)


def _result(
    documents: int, seconds: dict[str, list[float]], driver: dict[str, list[float]]
) -> dict[str, Any]:
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "documents": documents,
        "documents_per_s": {name: round(documents / value, 2) for name, value in median.items()},
        "ratio_over_serial": {name: round(median["serial"] / value, 3) for name, value in median.items()},
        "ratio_2_over_1_actors": round(median["ray-1"] / median["ray-2"], 3),
        "driver_share_percent": {name: round(100 * statistics.median(v), 1) for name, v in driver.items()},
        "runs_s": {name: [round(v, 2) for v in values] for name, values in seconds.items()},
    }


def table(result: dict[str, Any]) -> list[str]:
    lines = [f"documents: {result['documents']} (each run ingests all of them into a fresh collection)"]
    for name, rate in result["documents_per_s"].items():
        share = result["driver_share_percent"].get(name)
        lines.append(
            f"{name:<7} {rate:>8.2f} documents/s  x{result['ratio_over_serial'][name]:.2f} of serial"
            + (f"  driver {share:.1f}% of the run" if share is not None else "")
            + f"  (runs {result['runs_s'][name]} s)"
        )
    lines.append(f"2 actors / 1 actor: x{result['ratio_2_over_1_actors']:.2f}")
    return lines
