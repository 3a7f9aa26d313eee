"""Small builders for core tests: specs, platforms and a manual driver (no event loop)."""

from __future__ import annotations

from tandem.core.actions import Kill, Launch, Resolve
from tandem.core.events import Exited, Submitted
from tandem.core.policy import Policy
from tandem.core.scheduler import Scheduler
from tandem.spec import FunctionCall, Node, Platform, Resources, TaskSpec

NOOP = FunctionCall(fn=print)


def spec(name: str = "t", *, cores: int = 1, gpus: int = 0, ranks: int = 1,
         priority: int = 0, estimate: float | None = None, timeout: float | None = None,
         retries: int = 0, kind: str = "task") -> TaskSpec:
    return TaskSpec(name=name, work=NOOP, kind=kind,
                    resources=Resources(cores=cores, gpus=gpus, ranks=ranks),
                    priority=priority, estimate=estimate, timeout=timeout, retries=retries)


def node(name: str = "n0", cores: int = 2, gpus: int = 0) -> Node:
    return Node(name=name, cores=tuple(range(cores)), gpus=tuple(str(g) for g in range(gpus)))


def platform(cores: int = 2, gpus: int = 0, nodes: int = 1) -> Platform:
    return Platform(nodes=tuple(node(f"n{i}", cores, gpus) for i in range(nodes)))


class Driver:
    """Feeds a scheduler by hand and sorts its actions."""

    def __init__(self, plat: Platform, policy: Policy | None = None) -> None:
        self.core = Scheduler(plat, policy)
        self.now = 0.0
        self.next_id = 0
        self.launched: list[Launch] = []
        self.resolved: dict[int, Resolve] = {}
        self.killed: list[Kill] = []

    def take(self, actions: list[object]) -> list[object]:
        for a in actions:
            if isinstance(a, Launch):
                self.launched.append(a)
            elif isinstance(a, Resolve):
                self.resolved[a.task_id] = a
            elif isinstance(a, Kill):
                self.killed.append(a)
        return actions

    def submit(self, s: TaskSpec, deps: tuple[int, ...] = ()) -> int:
        tid = self.next_id
        self.next_id += 1
        self.take(self.core.handle(Submitted(task_id=tid, spec=s, deps=deps), self.now))
        return tid

    def send(self, event: object) -> list[object]:
        return self.take(self.core.handle(event, self.now))

    def finish(self, tid: int, failure: object = None) -> list[object]:
        return self.send(Exited(tid, failure))  # type: ignore[arg-type]

    def launched_ids(self) -> list[int]:
        return [a.task_id for a in self.launched]
