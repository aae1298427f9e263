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

The keys added to ``name``, ``tools``, ``inputs``, ``defaults``,
``concurrency``, ``fail_fast`` and ``nodes`` (each node: ``tool``, ``args``,
``depends_on``, ``for_each``, ``max_parallel``, ``timeout``, ``retries``,
``trigger``)::

    name: release
    inputs: {target: {default: staging}, urls: {default: []}}
    env: {REGION: "${env.AWS_REGION:-eu-west-1}"}  # for shell nodes
    secrets: [API_TOKEN]            # environment variables never shown
    limits: {api: 4}                # pools: at most 4 nodes hold an "api" slot
    nodes:
      check: {tool: echo, args: {ok: true}}
      deploy:
        tool: shell
        if: ${check.ok} and ${inputs.target} == 'prod'
        env: {TARGET: "${inputs.target}"}   # over the file's env:, under args.env
        limits: [api]
        args: {argv: [./deploy.sh]}
      probe:
        tool: http.get
        for_each: ${inputs.urls}
        partial: true               # probe = one record per item, failed ones too
        args: {url: "${item}"}
    outputs:
      deployed: ${deploy.stdout}

``mcp:`` names MCP servers whose tools nodes call as ``server.tool`` (see
``graphflow.workflow._mcp``).

``if:`` is a condition in the core's safe language (``graphflow._condition``):
false skips the node with the condition as the reason. ``${inputs.x}`` and
``${env.NAME}`` (``${env.NAME:-default}`` when unset or empty) are read when
the file is loaded, as data: in ``if:`` they become literals. ``partial:
true`` gives a ``for_each`` node's dependents one record per item
(``{node_id, status, output | error, reason}``) instead of skipping them
when an item fails. ``Workflow.outputs(result)`` reads ``outputs:`` from a
run (``None`` and a note for what did not succeed); ``Workflow.secrets`` are
the values of the ``secrets:`` variables and ``Workflow.redact(value)`` hides
them (``redact`` is the same as a function).
"""

from ._build import Workflow as Workflow
from ._build import load_workflow as load_workflow
from ._build import load_workflow_text as load_workflow_text
from ._build import secret_names as secret_names
from ._env import redact as redact
from ._errors import WorkflowCycleError as WorkflowCycleError
from ._errors import WorkflowErrors as WorkflowErrors
from ._errors import WorkflowToolNotFoundError as WorkflowToolNotFoundError
from ._outputs import Outputs as Outputs
from ._registry import ToolRegistry as ToolRegistry
from ._spec import parse_duration as parse_duration

__all__ = [
    "Outputs",
    "ToolRegistry",
    "Workflow",
    "WorkflowCycleError",
    "WorkflowErrors",
    "WorkflowToolNotFoundError",
    "load_workflow",
    "load_workflow_text",
    "parse_duration",
    "redact",
    "secret_names",
]
