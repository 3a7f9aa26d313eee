"""Frozen, validated value types: what the user asks for.

Contract: pure values, no I/O except ``Platform.local()`` which reads this machine once.
May import only ``tandem.errors`` and the standard library.
Imports: tandem.spec.
"""

from tandem.spec.platform import Network, Node, Platform
from tandem.spec.pools import DEFAULT_POOL, Quota
from tandem.spec.resources import Resources
from tandem.spec.task import Executable, FunctionCall, Mock, TaskSpec, Work
from tandem.spec.workflow import Duration, SurrogatePlan, TaskSet, Workflow, WorkflowTask

__all__ = [
    "DEFAULT_POOL", "Duration", "Executable", "FunctionCall", "Mock", "Network", "Node",
    "Platform", "Quota",
    "Resources", "SurrogatePlan", "TaskSet", "TaskSpec", "Work", "Workflow", "WorkflowTask",
]
