"""PNG figures of a report, for papers: timeline and utilisation, and their comparisons.

Contract: draws the values of :mod:`tandem.trace.timeline` with matplotlib's Agg canvas (no
pyplot, no display, no global state) and writes PNG files; the only I/O is writing them. The
colours are :func:`kind_colours`, the same as the HTML report's.

- ``timeline.png``: one lane per core and GPU (grouped lanes as in the HTML), one rectangle per
  drawn bar coloured by kind; failed bars outlined in red, cancelled ones in black, dashed.
- ``utilisation.png``: busy share of cores and GPUs over time.
- With a second run: ``compare_timeline.png`` (the two timelines on one time axis) and
  ``compare_utilisation.png`` (both runs' curves, one panel per resource).
Imports: tandem.errors, tandem.trace.timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tandem.errors import SpecError
from tandem.trace.timeline import MIXED, Bar, Curve, Timeline

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2")
MIXED_COLOUR = "#9e9e9e"
MARK_STYLE: dict[str, tuple[str, Literal["solid", "dashed"]]] = {
    "failed": ("#d62728", "solid"), "cancelled": ("#000000", "dashed")}
DPI = 150
_RES = {"cores": "cores", "gpus": "GPUs"}


STEER_COLOURS = {"cancel": "#d62728", "pause": "#ff7f0e", "resume": "#2ca02c",
                 "preempt": "#9467bd", "priority": "#8c564b", "move": "#17becf"}
"""The colour of each steering action's mark on the timelines."""
STEER_LINES = 300
"""At most this many steering marks are drawn as vertical lines."""


def kind_colours(kinds: Sequence[str]) -> dict[str, str]:
    """One colour per kind (sorted), the same in the HTML and the PNGs; :data:`MIXED` grey."""
    out = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(kinds)))}
    out[MIXED] = MIXED_COLOUR
    return out


def _rect(b: Bar) -> list[tuple[float, float]]:
    return [(b.start, b.lane - 0.4), (b.end, b.lane - 0.4), (b.end, b.lane + 0.4),
            (b.start, b.lane + 0.4)]


def _draw_timeline(ax: Axes, tl: Timeline, colours: dict[str, str], xmax: float,
                   title: str) -> None:
    by_kind: dict[str, list[Bar]] = {}
    for b in tl.bars:
        by_kind.setdefault(b.kind, []).append(b)
    for kind, bars in sorted(by_kind.items()):
        c = colours.get(kind, MIXED_COLOUR)
        ax.add_collection(PolyCollection([_rect(b) for b in bars], facecolors=c,
                                         edgecolors=c, linewidths=0.2))
    for mark, (colour, style) in MARK_STYLE.items():
        marked = [_rect(b) for b in tl.bars if b.mark == mark]
        if marked:
            ax.add_collection(PolyCollection(marked, facecolors="none", edgecolors=colour,
                                             linewidths=1.2, linestyles=style))
    n = len(tl.lanes)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, xmax or 1.0)
    step = max(1, -(-n // 30))
    ax.set_yticks(range(0, n, step), [tl.lanes[i].label for i in range(0, n, step)],
                  fontsize=6 if n > 12 else 8)
    gpu0 = next((i for i, lane in enumerate(tl.lanes) if lane.resource == "gpus"), None)
    if gpu0:
        ax.axhline(gpu0 - 0.5, color="#444444", linewidth=0.6)
    if len(tl.steering) <= STEER_LINES:
        for m in tl.steering:
            ax.axvline(m.t, color=STEER_COLOURS.get(m.action, "#444444"), linewidth=0.8,
                       linestyle=":")
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("time since the first task began (s)")


def _legend(fig: Figure, tl_kinds: Sequence[str], colours: dict[str, str],
            marks: set[str], mixed: bool) -> None:
    handles = [Patch(facecolor=colours[k], label=k) for k in sorted(tl_kinds)]
    if mixed:
        handles.append(Patch(facecolor=MIXED_COLOUR, label=MIXED + " (merged)"))
    for mark in sorted(marks):
        colour, style = MARK_STYLE[mark]
        handles.append(Patch(facecolor="none", edgecolor=colour, linestyle=style, label=mark))
    fig.legend(handles=handles, loc="outside upper right", fontsize=7,
               ncols=min(6, len(handles) or 1))


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    except OSError as e:
        raise SpecError(f"{path}: cannot write the figure: {e}") from None
    return path


def _timelines_png(path: Path, runs: Sequence[tuple[str, Timeline]],
                   colours: dict[str, str]) -> Path:
    lanes = sum(max(4, len(tl.lanes)) for _, tl in runs)
    fig = Figure(figsize=(10, min(12.0, 1.2 + 0.12 * lanes + 0.8 * len(runs))),
                 layout="constrained")
    axes = fig.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    xmax = max(tl.span for _, tl in runs)
    for ax, (title, tl) in zip(axes, runs, strict=True):
        _draw_timeline(ax, tl, colours, xmax, title)
    kinds = sorted({k for _, tl in runs for k in tl.kinds})
    marks = {b.mark for _, tl in runs for b in tl.bars if b.mark}
    mixed = any(b.kind == MIXED for _, tl in runs for b in tl.bars)
    _legend(fig, kinds, colours, marks, mixed)
    return _save(fig, path)


def _steps(c: Curve) -> tuple[list[float], list[float]]:
    return [*c.t, c.span], [*c.value, c.value[-1]]


def _utilisation_png(path: Path, runs: Sequence[tuple[str, Sequence[Curve]]]) -> Path:
    resources = [r for r in ("cores", "gpus")
                 if any(c.resource == r and c.capacity for _, cs in runs for c in cs)] or ["cores"]
    fig = Figure(figsize=(10, 2.2 + 1.6 * len(resources)), layout="constrained")
    axes = fig.subplots(len(resources), 1, sharex=True, squeeze=False)[:, 0]
    styles = ("solid", "dashed")
    for ax, res in zip(axes, resources, strict=True):
        for (name, curves), style in zip(runs, styles, strict=False):
            for c in curves:
                if c.resource == res and c.capacity:
                    x, y = _steps(c)
                    how = f", {c.bin_width:.3g} s bins" if c.bin_width else ""
                    ax.step(x, y, where="post", linestyle=style, linewidth=1,
                            label=f"{name}: {c.capacity} {_RES[res]}{how}")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"busy {_RES[res]}")
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.legend(fontsize=7, loc="lower right")
    axes[-1].set_xlabel("time since the first task began (s)")
    return _save(fig, path)


def write_pngs(out_dir: Path, runs: Sequence[tuple[str, Timeline, Sequence[Curve]]]
               ) -> list[Path]:
    """Write the PNGs of one run (``runs[0]``), and the comparison ones if there are two."""
    colours = kind_colours([k for _, tl, _ in runs for k in tl.kinds])
    name, tl, curves = runs[0]
    written = [_timelines_png(out_dir / "timeline.png", [(name, tl)], colours),
               _utilisation_png(out_dir / "utilisation.png", [(name, curves)])]
    if len(runs) > 1:
        written.append(_timelines_png(out_dir / "compare_timeline.png",
                                      [(n, t) for n, t, _ in runs], colours))
        written.append(_utilisation_png(out_dir / "compare_utilisation.png",
                                        [(n, c) for n, _, c in runs]))
    return written
