"""tandem: asynchronous, adaptive execution of heterogeneous ML-coupled HPC workflows.

The public API, re-exported; nothing else lives here. Names are imported on first use
(PEP 562), so a worker process that imports ``tandem.backends.worker`` does not pay for the
whole API at start-up.
Imports: tandem.config, tandem.core, tandem.errors, tandem.journal, tandem.lazy, tandem.runtime,
tandem.spec, tandem.surrogate, tandem.trace, tandem.version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tandem.lazy import lazy_getattr
from tandem.version import __version__

_WHERE = {
    "load_workflow": "tandem.config", "run_workflow": "tandem.runtime.workflow",
    "Workflow": "tandem.spec", "TaskSet": "tandem.spec", "Duration": "tandem.spec",
    "Mock": "tandem.spec",
    "Mode": "tandem.core.policy", "Order": "tandem.core.policy", "Policy": "tandem.core.policy",
    "Fit": "tandem.core.pool", "TaskState": "tandem.core.states",
    "BackendError": "tandem.errors", "DependencyFailed": "tandem.errors",
    "InfeasibleRequest": "tandem.errors", "SpecError": "tandem.errors",
    "TandemError": "tandem.errors", "TandemInternalError": "tandem.errors",
    "TaskCancelled": "tandem.errors", "TaskError": "tandem.errors",
    "TaskFailed": "tandem.errors", "TaskTimedOut": "tandem.errors",
    "TaskFuture": "tandem.runtime.future", "ProcessResult": "tandem.runtime.session",
    "Session": "tandem.runtime.session", "open_session": "tandem.runtime.open",
    "SyncSession": "tandem.runtime.sync", "as_completed": "tandem.runtime.waiting",
    "gather": "tandem.runtime.waiting", "Executable": "tandem.spec", "FunctionCall": "tandem.spec",
    "Network": "tandem.spec", "Node": "tandem.spec", "Platform": "tandem.spec",
    "Quota": "tandem.spec", "Resources": "tandem.spec",
    "TaskSpec": "tandem.spec", "Instrument": "tandem.trace", "read_trace": "tandem.trace",
    "Agent": "tandem.runtime.agents", "Free": "tandem.runtime.agents",
    "on_start": "tandem.runtime.agents", "on_result": "tandem.runtime.agents",
    "on_free": "tandem.runtime.agents", "on_event": "tandem.runtime.agents",
    "AgentSession": "tandem.runtime.agent_session", "run_agents": "tandem.runtime.agent_run",
    "TaskRecord": "tandem.core.record", "load_trace": "tandem.trace.records",
    "default_run_dir": "tandem.runtime.open",
    "JournalError": "tandem.errors", "read_journal": "tandem.journal.summary",
    "Surrogate": "tandem.surrogate.wrapper",
}

# Literal, so type checkers see the exports; tests/test_api.py checks it against _WHERE.
__all__ = [
    "Agent", "AgentSession", "BackendError", "DependencyFailed", "Duration", "Executable", "Fit",
    "Free", "FunctionCall", "InfeasibleRequest", "Instrument", "JournalError", "Mock", "Mode",
    "Network", "Node", "Order",
    "Platform", "Policy", "ProcessResult", "Quota", "Resources", "Session", "SpecError",
    "SyncSession", "TandemError", "TandemInternalError", "TaskCancelled", "TaskError",
    "TaskFailed", "TaskFuture", "TaskRecord", "TaskSet", "TaskSpec", "TaskState", "TaskTimedOut",
    "Workflow", "as_completed", "default_run_dir", "gather", "load_trace", "load_workflow",
    "on_event", "on_free", "on_result", "on_start", "open_session", "read_journal",
    "read_trace", "run_agents",
    "run_workflow", "Surrogate", "__version__",
]


__getattr__ = lazy_getattr(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tandem.config import load_workflow
    from tandem.core.policy import Mode, Order, Policy
    from tandem.core.pool import Fit
    from tandem.core.record import TaskRecord
    from tandem.core.states import TaskState
    from tandem.errors import (
        BackendError,
        DependencyFailed,
        InfeasibleRequest,
        JournalError,
        SpecError,
        TandemError,
        TandemInternalError,
        TaskCancelled,
        TaskError,
        TaskFailed,
        TaskTimedOut,
    )
    from tandem.journal.summary import read_journal
    from tandem.runtime.agent_run import run_agents
    from tandem.runtime.agent_session import AgentSession
    from tandem.runtime.agents import Agent, Free, on_event, on_free, on_result, on_start
    from tandem.runtime.future import TaskFuture
    from tandem.runtime.open import default_run_dir, open_session
    from tandem.runtime.session import ProcessResult, Session
    from tandem.runtime.sync import SyncSession
    from tandem.runtime.waiting import as_completed, gather
    from tandem.runtime.workflow import run_workflow
    from tandem.spec import (
        Duration,
        Executable,
        FunctionCall,
        Mock,
        Network,
        Node,
        Platform,
        Quota,
        Resources,
        TaskSet,
        TaskSpec,
        Workflow,
    )
    from tandem.surrogate.wrapper import Surrogate
    from tandem.trace import Instrument, read_trace
    from tandem.trace.records import load_trace
