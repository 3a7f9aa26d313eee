"""The async staleness policy: newest unused restart list, else continue the own trajectory."""

from __future__ import annotations

from tandem_apps.ddmd.campaign import _State
from tandem_apps.ddmd.types import RestartPoint, SegmentResult


def _point(frame: int) -> RestartPoint:
    return RestartPoint(dcd="/r/x.dcd", topology="/r/t.pdb", frame=frame, lineage=9, segment=0,
                        rmsd=1.0 + frame)


def _segment(lineage: int) -> SegmentResult:
    return SegmentResult(lineage=lineage, segment=0, dcd=f"/m/{lineage}.dcd", h5="/m/s.h5",
                         topology="/m/t.pdb", frames=20, min_rmsd=5.0, final_rmsd=6.0,
                         max_fnc=0.1, ns_per_day=100.0, platform="CPU", threads=1,
                         started_from="initial")


def test_first_segment_starts_from_the_initial_structure() -> None:
    assert _State(t0=0.0).choose(0, None) == (None, None)


def test_newest_list_entry_by_lineage_then_own_frame() -> None:
    s = _State(t0=0.0)
    s.published.append((0, (_point(3), _point(4))))
    assert s.choose(0, _segment(0)) == (_point(3), 0)
    assert s.choose(1, _segment(1)) == (_point(4), 0)
    assert s.choose(2, _segment(2)) == (_point(3), 0)   # wraps around a short list
    # the same list is never used twice by a lineage: it continues its own trajectory
    start, rnd = s.choose(0, _segment(0))
    assert rnd is None and start is not None
    assert (start.dcd, start.frame, start.lineage) == ("/m/0.dcd", 19, 0)
    # a newer list is taken as soon as it is published
    s.published.append((1, (_point(7),)))
    assert s.choose(0, _segment(0)) == (_point(7), 1)
