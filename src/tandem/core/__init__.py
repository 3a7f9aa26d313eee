"""The pure scheduler core: events in, actions out, time passed in.

Contract: no asyncio, no threads, no clock reads, no I/O. Imports only ``tandem.spec``,
``tandem.errors`` and the standard library.
"""

from tandem.core.actions import Action, Kill, Launch, Resolve
from tandem.core.events import (
    CancelRequested,
    Event,
    Exited,
    Started,
    Submitted,
    TimerFired,
)
from tandem.core.pool import Fit, ResourcePool
from tandem.core.states import FINAL, TaskState
from tandem.core.values import Failure, FailureKind, Placement, Slot

__all__ = [
    "FINAL", "Action", "CancelRequested", "Event", "Exited", "Failure", "FailureKind", "Fit",
    "Kill", "Launch", "Placement", "ResourcePool", "Resolve", "Slot", "Started", "Submitted",
    "TaskState", "TimerFired",
]
