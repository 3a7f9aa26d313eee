"""The streaming stages (``data: stream``): segments publish their frames while they run.

Contract: :func:`simulate_stream` is :func:`~tandem_apps.ddmd.stages.simulate_memory` that also
puts every frame, as soon as OpenMM has written it, into its round's tandem stream as a
:class:`~tandem_apps.ddmd.types.StreamedFrame` (contact map, RMSD, fnc, time and the frame's
coordinates); it still returns its :class:`SegmentFrames` by reference, from which the
lineage's next segment continues when it does not restart. :func:`aggregate_stream` reads a
round's stream while the round's segments run, and when the stream ends (every segment of
the round closed its writer) returns the previous round's :class:`FrameSet` (by reference)
extended with the round's frames, in the order :func:`~tandem_apps.ddmd.stages.
aggregate_memory` gives (segment, then lineage, then frame), so training and the agent see
the same data as with ``data: memory``. Nothing here touches the filesystem but the DCD.
Imports tandem's stream client, numpy, and this package's stages, md, aggregate and types.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem_apps.ddmd.fsio import counted
from tandem_apps.ddmd.stages import Origin, Prepared, simulate_memory, start_of
from tandem_apps.ddmd.types import FrameSet, SegmentFrames, StreamedFrame

if TYPE_CHECKING:
    from tandem_apps.ddmd.config import MD
    from tandem_apps.ddmd.md import SegmentArrays


def simulate_stream(prepared: Prepared, md: MD, lineage: int, segment: int,
                    start: Origin | None, out_dir: str, seed: int, stream: str
                    ) -> SegmentFrames:
    """One OpenMM segment, as :func:`~tandem_apps.ddmd.stages.simulate_memory`, publishing
    each frame to ``stream`` as it is written (a failure fails the stream for its reader)."""
    import os

    from tandem.data.stream import writer

    point, _ = start_of(start)
    dcd = str(Path(out_dir) / "segment.dcd")
    topology = os.path.abspath(point.topology if point is not None else prepared.initial_pdb)
    with writer(stream) as w:
        def put(k: int, a: SegmentArrays) -> None:
            w.put(StreamedFrame(
                lineage=lineage, segment=segment, frame=k, dcd=dcd, topology=topology,
                contact_map=a.contact_map[0], rmsd=float(a.rmsd[0]), fnc=float(a.fnc[0]),
                time_ps=float(a.time_ps[0]), positions=a.positions[0]))

        return simulate_memory(prepared, md, lineage, segment, start, out_dir, seed,
                               on_frame=put)


def parts_of(frame_set: FrameSet) -> list[tuple[dict[str, Any], Any]]:
    """``frame_set`` cut back into its segments: (the dict :func:`~tandem_apps.ddmd.aggregate.
    combine` takes, the segment's coordinates), in order."""
    import numpy as np

    f = frame_set.frames
    out = []
    start = 0
    for j, n in enumerate(np.bincount(f.source[:, 0], minlength=len(f.files)).tolist()):
        cut = slice(start, start + n)
        out.append(({"contact_map": f.contact_map[cut], "rmsd": f.rmsd[cut],
                     "fnc": f.fnc[cut], "time_ps": f.time_ps[cut], "file": f.files[j],
                     "dcd": f.dcds[j], "topology": f.topologies[j],
                     "lineage": f.lineages[j], "segment": f.segments[j]},
                    frame_set.positions[cut]))
        start += n
    return out


def gather(items: list[StreamedFrame], where: str) -> list[tuple[dict[str, Any], Any]]:
    """Streamed frames grouped into their segments, ordered by segment, lineage, frame; a
    segment whose frames are not 0, 1, ... n-1 is an error naming ``where`` and the segment."""
    import numpy as np

    groups: dict[tuple[int, int], list[StreamedFrame]] = {}
    for it in items:
        groups.setdefault((it.segment, it.lineage), []).append(it)
    out = []
    for (seg, lin), got in sorted(groups.items()):
        got.sort(key=lambda it: it.frame)
        if [it.frame for it in got] != list(range(len(got))):
            raise ValueError(f"{where}: lineage {lin} segment {seg} sent frames "
                             f"{[it.frame for it in got]}, not 0..{len(got) - 1}")
        out.append(({"contact_map": np.stack([it.contact_map for it in got]),
                     "rmsd": np.array([it.rmsd for it in got], np.float32),
                     "fnc": np.array([it.fnc for it in got], np.float32),
                     "time_ps": np.array([it.time_ps for it in got], np.float32),
                     "file": got[0].dcd, "dcd": got[0].dcd, "topology": got[0].topology,
                     "lineage": lin, "segment": seg},
                    np.stack([it.positions for it in got])))
    return out


def aggregate_stream(previous: FrameSet | None, out: str, stream: str, last_n: int = 0
                     ) -> FrameSet:
    """The previous round's frames and every frame read from ``stream`` until it ends, as
    :func:`~tandem_apps.ddmd.stages.aggregate_memory` would concatenate them (only the
    newest ``last_n`` segments when it is not 0); ``out`` (the file-based mode's file) is
    not written."""
    import numpy as np

    from tandem.data.stream import reader
    from tandem_apps.ddmd import aggregate as agg

    with counted() as c:
        with reader(stream) as r:
            items = list(r)
        parts = [*(parts_of(previous) if previous is not None else []),
                 *gather(items, f"stream {stream}")]
        if last_n:
            parts = parts[-last_n:]
        if not parts:
            raise ValueError(f"stream {stream}: no frames came, and no earlier round's")
        frames = agg.combine([p for p, _ in parts])
        positions = np.concatenate([x for _, x in parts])
    return FrameSet(frames=frames, positions=positions, io=c.io)
