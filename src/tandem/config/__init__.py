"""The YAML workflow format: schema, loader, errors that name file, line and key path.

Contract: :func:`load_workflow` and :func:`loads_workflow` return a
:class:`~tandem.spec.workflow.Workflow` or raise :class:`~tandem.errors.SpecError`. The format
is documented in ``docs/workflows.md``.
Imports: tandem.config.loader.
"""

from tandem.config.loader import load_workflow, loads_workflow

__all__ = ["load_workflow", "loads_workflow"]
