"""YAML workflows: load a file into a ``Graph`` with every error located.

    from graphflow.workflow import load_workflow
    wf = load_workflow("flow.yaml", inputs={"region": "us"})
    result = await graphflow.run(wf.graph, wf.run_options())

``wf.run_options()`` is a ``graphflow.RunOptions`` of what the file sets
(concurrency, fail_fast, default timeout and retries); adjust it with
``.replace(...)``, e.g. ``wf.run_options().replace(concurrency=1)``.

Every mistake in a file is reported, in file order, one ``FILE:LINE:COL:``
line each: one mistake raises that ``SpecError`` (a ``WorkflowCycleError``,
a ``WorkflowToolNotFoundError``...), several raise ``WorkflowErrors``.
"""

from ._build import Workflow as Workflow
from ._build import load_workflow as load_workflow
from ._build import load_workflow_text as load_workflow_text
from ._errors import WorkflowCycleError as WorkflowCycleError
from ._errors import WorkflowErrors as WorkflowErrors
from ._errors import WorkflowToolNotFoundError as WorkflowToolNotFoundError
from ._registry import ToolRegistry as ToolRegistry
from ._spec import parse_duration as parse_duration

__all__ = [
    "ToolRegistry",
    "Workflow",
    "WorkflowCycleError",
    "WorkflowErrors",
    "WorkflowToolNotFoundError",
    "load_workflow",
    "load_workflow_text",
    "parse_duration",
]
