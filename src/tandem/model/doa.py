"""Structural degree of asynchronicity (DOA) of a workflow's DAG.

Contract: one pure function over a :class:`~tandem.spec.workflow.Workflow`; no I/O. Imports
``tandem.spec`` only.

Definition (``DOA_struct``): among the pairs of task sets at *different* levels of the
barrier-mode graph, the fraction that have no directed path between them, in either direction,
in the async-mode graph. ``0`` for a chain (or when there is no cross-level pair); it grows with
the number of independent branches.

Why this definition: the paper's own DOA formula was not recovered (see
``research/paper-model.md`` section 1.4). Stage-synchronous execution serialises every pair of
sets at different levels (the lower level's barrier must pass first); asynchronous execution
serialises only the pairs joined by a path. The pairs counted here are exactly the ones that
barriers serialise and asynchrony could overlap, so the number says how much freedom the DAG
*permits*, independently of durations and resources (DG1 and DG2 have the same DOA but gain
0 % and 26 %). Whether that freedom pays off is the duration-aware ``1 - T_async / T_seq``.
Pairs at the same level run concurrently in both modes and are left out. Levels come from the
barrier graph (what the stage-synchronous run does); paths from the async graph (what the
asynchronous run must respect), so relaxed ``async_depends_on`` edges count as freedom.

Cost: ``O(V * E / 64)`` with Python integers as bitsets (tens of thousands of sets are fine).
Imports: tandem.spec.workflow.
"""

from __future__ import annotations

from tandem.spec.workflow import Workflow


def doa_struct(workflow: Workflow) -> float:
    """The fraction of cross-level task-set pairs with no path between them (see above)."""
    sets = workflow.task_sets
    index = {s.name: i for i, s in enumerate(sets)}
    levels = workflow.levels("barrier")
    level_mask: dict[int, int] = {}
    for s in sets:
        lvl = levels[s.name]
        level_mask[lvl] = level_mask.get(lvl, 0) | (1 << index[s.name])
    # reach[i]: bitset of the sets reachable from set i in the async graph (descendants).
    children: list[list[int]] = [[] for _ in sets]
    for s in sets:
        for d in s.deps("async"):
            children[index[d]].append(index[s.name])
    reach = [0] * len(sets)
    for s in reversed(workflow.topological("async")):
        i = index[s.name]
        r = 0
        for c in children[i]:
            r |= reach[c] | (1 << c)
        reach[i] = r
    n = len(sets)
    same = sum(m.bit_count() * (m.bit_count() - 1) // 2 for m in level_mask.values())
    cross = n * (n - 1) // 2 - same
    if cross == 0:
        return 0.0
    comparable = 0
    for s in sets:
        i = index[s.name]
        comparable += (reach[i] & ~level_mask[levels[s.name]]).bit_count()
    return 1.0 - comparable / cross
