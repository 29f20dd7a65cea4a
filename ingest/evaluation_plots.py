"""PNG plots of evaluation results (``rag eval --plot DIR``, ``make eval`` into ``docs/``).

Three figures, each over one or more results (the ``rag eval --json`` objects):

- ``eval-modes.png``: nDCG@10 and, where the data set has answer spans, answer_hit@10 per search mode;
- ``eval-rescore.png``: the share of int8-exact's nDCG@10 (and answer_hit@10) that ``binary+int8`` keeps
  against the average rescoring depth (candidates rescored per query) of the fixed pools, with the adaptive
  default and the former fixed default marked (the ``rescore`` section);
- ``eval-hybrid.png``: the convex fusion of ``binary+int8`` and ``bm25`` at each dense weight, with RRF and
  the collection's hybrid weight marked (the ``hybrid.sweep`` section).

matplotlib is optional (the ``plot`` extra): it is imported only here, with the Agg backend, which draws
without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.evaluation_modes import EVAL_MODES
from rag.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

METRICS = (("ndcg@10", "nDCG@10"), ("answer_hit@10", "answer_hit@10"))
DPI = 120


def require_matplotlib() -> None:
    """Raise ``ConfigError`` naming the extra when matplotlib is not installed (check before a long run)."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'pplx-rag[plot]'.") from None
    matplotlib.use("Agg")


def write_plots(results: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    """Write the figures the results have data for into ``folder`` (created); returns their paths."""
    require_matplotlib()
    if not results:
        raise ValueError("no evaluation results to plot")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (
        ("eval-modes.png", _modes),
        ("eval-rescore.png", _rescore),
        ("eval-hybrid.png", _hybrid),
    ):
        figure = draw(results)
        if figure is not None:
            written.append(_save(figure, folder / name))
    return written


def _save(figure: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def _label(result: dict[str, Any]) -> str:
    return f"{result['dataset']} ({result.get('document_mode', '?')})"


def _modes(results: Sequence[dict[str, Any]]) -> Figure:
    import matplotlib.pyplot as plt

    modes = [mode for mode in EVAL_MODES if any(mode in r["modes"] for r in results)]
    metrics = [
        (key, title) for key, title in METRICS if any(key in v for r in results for v in r["modes"].values())
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.2), squeeze=False)
    width = 0.8 / len(results)
    for ax, (key, title) in zip(axes[0], metrics, strict=True):
        for offset, result in enumerate(results):
            values = [result["modes"].get(mode, {}).get(key) for mode in modes]
            xs = [index + (offset - (len(results) - 1) / 2) * width for index in range(len(modes))]
            bars = ax.bar(xs, [v or 0.0 for v in values], width, label=_label(result))
            ax.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in values], fontsize=7)
        ax.set_xticks(range(len(modes)), modes, rotation=20)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{title} per search mode")
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    return figure


def _rescore(results: Sequence[dict[str, Any]]) -> Figure | None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.ticker import NullFormatter

    swept = [r for r in results if r.get("rescore")]
    if not swept:
        return None
    figure, ax = plt.subplots(figsize=(6.5, 4.2))
    # nDCG@10 is measured at the documents' top_k, answer_hit@10 at top_k 10: each against its own depth
    depth_keys = {"ndcg@10": "depth", "answer_hit@10": "depth_top10"}
    for result in swept:
        sweep = result["rescore"]
        for (key, title), style in zip(METRICS, ("-o", "--s"), strict=True):
            points = _retention_points(sweep["multipliers"], key, depth_keys[key])
            if not points:
                continue
            (line,) = ax.plot(*zip(*points, strict=True), style, label=f"{_label(result)}, {title}")
            colour = to_hex(line.get_color())
            for name, marker, size in (("adaptive", "*", 14), ("fixed_default", "D", 7)):
                marked = _retention_points([sweep[name]] if sweep.get(name) else [], key, depth_keys[key])
                if marked:
                    ax.plot(*marked[0], marker, color=colour, markersize=size)
    ax.plot([], [], "*", color="black", markersize=12, label="adaptive depth (default)")
    ax.plot([], [], "D", color="black", markersize=6, label="fixed x4, pool floor 100 (former default)")
    ax.axhline(100, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ticks = sorted({row["depth"] for result in swept for row in result["rescore"]["multipliers"]})
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks], fontsize=7)
    ax.set_xlabel("average rescoring depth (binary candidates rescored per query; fixed: top_k x m)")
    ax.set_ylabel(f"% of {swept[0]['rescore']['reference']}")
    ax.set_title("binary+int8 retention against the rescoring depth")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return figure


def _retention_points(rows: Sequence[dict[str, Any]], key: str, depth: str) -> list[tuple[float, float]]:
    """(average depth, retention in %) of the rows that measured ``key``."""
    return [
        (float(row[depth]), 100 * row[f"retention_{key}"])
        for row in rows
        if row.get(f"retention_{key}") is not None and row.get(depth)
    ]


def _hybrid(results: Sequence[dict[str, Any]]) -> Figure | None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    swept = [r for r in results if r.get("hybrid", {}).get("sweep")]
    if not swept:
        return None
    figure, ax = plt.subplots(figsize=(6.5, 4.2))
    titles = []
    for result in swept:
        sweep = result["hybrid"]["sweep"]
        key, title = _target(sweep)
        titles.append(title)
        convex = sorted((float(name.split("@", 1)[1]), v[key]) for name, v in sweep.items() if name != "rrf")
        (line,) = ax.plot(*zip(*convex, strict=True), "-o", label=f"{_label(result)}, {title}")
        _mark_rrf_and_setting(ax, result, key, to_hex(line.get_color()))
    ax.set_xlabel("convex weight (dense share: 0 = bm25 only, 1 = binary+int8 only)")
    ax.set_ylabel(" / ".join(dict.fromkeys(titles)))
    ax.set_title("Hybrid fusion: weight sweep")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def _target(sweep: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The measure the sweep is read by: answer_hit@10 where measured, else nDCG@10 (as the tuning does)."""
    first = next(iter(sweep.values()))
    return next(((key, title) for key, title in reversed(METRICS) if key in first), METRICS[0])


def _mark_rrf_and_setting(ax: Axes, result: dict[str, Any], key: str, colour: str) -> None:
    """RRF as a dotted line, the weight the collection's hybrid mode uses as a star."""
    sweep = result["hybrid"]["sweep"]
    if "rrf" in sweep:
        ax.axhline(
            sweep["rrf"][key], color=colour, linestyle=":", linewidth=1, label=f"RRF, {_label(result)}"
        )
    settings = result["hybrid"].get("settings", {})
    chosen = f"convex@{float(settings.get('weight', -1)):.1f}"
    if settings.get("method") == "convex" and chosen in sweep:
        source = settings.get("source", "default")
        ax.plot(
            [float(settings["weight"])],
            [sweep[chosen][key]],
            "*",
            color=colour,
            markersize=14,
            label=f"hybrid setting ({source}), {_label(result)}",
        )
