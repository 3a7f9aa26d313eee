"""Is a simulation lineage stuck in a basin? (IMPECCABLE kills such simulations.)

Contract: a pure, per-lineage progress tracker. A segment makes *progress* when it lowers the
lineage's best RMSD to the target by at least ``min_rmsd_gain`` Å or raises its best fraction
of native contacts by at least ``min_fnc_gain`` (new native contacts formed). A lineage whose
last ``segments`` segments made no progress is *stuck*: the campaign ends its running segment
as soon as fresh restart points exist and restarts it from an outlier, instead of letting it
sample the same basin again. Restarting resets the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tandem_apps.ddmd.types import SegmentResult


@dataclass
class Progress:
    """One lineage's best values so far and how many segments in a row made no progress."""

    best_rmsd: float = math.inf
    best_fnc: float = 0.0
    stalled: int = 0

    def update(self, seg: SegmentResult, min_rmsd_gain: float, min_fnc_gain: float) -> bool:
        """Take one finished segment into account; True if it made progress."""
        progressed = (seg.min_rmsd <= self.best_rmsd - min_rmsd_gain
                      or seg.max_fnc >= self.best_fnc + min_fnc_gain)
        self.best_rmsd = min(self.best_rmsd, seg.min_rmsd)
        self.best_fnc = max(self.best_fnc, seg.max_fnc)
        self.stalled = 0 if progressed else self.stalled + 1
        return progressed

    def stuck(self, segments: int) -> bool:
        """No progress in the last ``segments`` segments."""
        return self.stalled >= segments

    def restarted(self) -> None:
        """The lineage left its basin (restarted from an outlier): count afresh."""
        self.stalled = 0
