"""tandem: asynchronous, adaptive execution of heterogeneous ML-coupled HPC workflows.

The public API, re-exported; nothing else lives here.
"""

from tandem.core.policy import Mode, Order, Policy
from tandem.core.pool import Fit
from tandem.core.states import TaskState
from tandem.errors import (
    BackendError,
    DependencyFailed,
    InfeasibleRequest,
    SpecError,
    TandemError,
    TandemInternalError,
    TaskCancelled,
    TaskError,
    TaskFailed,
    TaskTimedOut,
)
from tandem.runtime.future import TaskFuture
from tandem.runtime.session import ProcessResult, Session, open_session
from tandem.runtime.sync import SyncSession
from tandem.runtime.waiting import as_completed, gather
from tandem.spec import Executable, FunctionCall, Node, Platform, Resources, TaskSpec
from tandem.trace import Instrument, read_trace

__version__ = "0.1.0"

__all__ = [
    "BackendError", "DependencyFailed", "Executable", "Fit", "FunctionCall", "InfeasibleRequest",
    "Instrument", "Mode", "Node", "Order", "Platform", "Policy", "ProcessResult", "Resources",
    "Session", "SpecError", "SyncSession", "TandemError", "TandemInternalError", "TaskCancelled",
    "TaskError", "TaskFailed", "TaskFuture", "TaskSpec", "TaskState", "TaskTimedOut",
    "__version__", "as_completed", "gather", "open_session", "read_trace",
]
