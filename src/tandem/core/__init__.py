"""The pure scheduler core: events in, actions out, time passed in.

Contract: no asyncio, no threads, no clock reads, no I/O. Only ``tandem.spec``,
``tandem.errors`` and the standard library below it.

Imports: tandem.core.actions, tandem.core.events, tandem.core.pool, tandem.core.states,
tandem.core.values, tandem.core.view.
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
from tandem.core.values import Failure, FailureKind, KillCause, Placement, Slot, SteerAction
from tandem.core.view import TaskView

__all__ = [
    "FINAL", "Action", "CancelRequested", "Event", "Exited", "Failure", "FailureKind", "Fit",
    "Kill", "KillCause", "Launch", "Placement", "ResourcePool", "Resolve", "Slot", "Started",
    "SteerAction", "Submitted", "TaskState", "TaskView", "TimerFired",
]
