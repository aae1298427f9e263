"""From a validated workflow file to a ``Graph``, with every error located.

``${inputs.x}`` and ``${env.NAME}`` are substituted here (both are known
before the run); ``${node...}`` and ``${item...}`` stay references for the
core. Every mistake found is reported, in file order, each naming the file,
line and column (see ``_errors``): schema errors first found by pydantic,
then, for the parts that validated, inputs, secrets, tools, references,
arguments and finally cycles (``_nodes``). A message that would quote a
secret's value quotes ``***`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphflow import Graph, Retry, RunOptions, RunOptionsArgs, RunResult, SpecError

from . import _template as tpl
from ._env import redact
from ._errors import Problems
from ._loader import Document, Loc, load_file, load_text
from ._mcp import file_toolbox
from ._nodes import GraphBuilder, retry_of
from ._outputs import Outputs, resolve_outputs
from ._registry import DuplicateToolError, ToolModuleError, ToolRegistry, import_modules
from ._spec import WorkflowModel
from ._text import quote
from ._validate import Checked, check_schema

if TYPE_CHECKING:
    from graphflow.mcp import McpToolbox

INPUTS = tpl.INPUTS


@dataclass(slots=True)
class Workflow:
    """A loaded workflow: its spec, the inputs used, and the graph to run.

    Attributes:
        secrets: the values of the environment variables the file lists in
            ``secrets:``, to keep out of anything shown (see ``redact``).
        declared_outputs: the file's ``outputs:`` as the core reads them
            (inputs and environment substituted); ``outputs()`` reads them.
    """

    model: WorkflowModel
    graph: Graph
    inputs: dict[str, Any]
    path: str
    doc: Document = field(repr=False)
    default_timeout: float | None = None
    default_retries: int | Retry | None = None
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    declared_outputs: dict[str, Any] = field(default_factory=dict, repr=False)
    mcp: McpToolbox | None = field(default=None, repr=False)
    """The file's ``mcp:`` servers (None without); ``run_options()`` opens their sessions."""

    def outputs(self, result: RunResult) -> Outputs:
        """The file's ``outputs:``, read from a run's results.

        A pure function of ``result``: an output that refers to a node that
        did not succeed (or to a key its output lacks) is ``None``, and
        ``Outputs.notes`` says why. Secrets are not hidden: pass what is shown
        through ``redact``.

        Args:
            result: the run (an interrupted run's partial result will do).

        Returns:
            ``Outputs`` with ``values`` and ``notes`` by output name, in the
            file's order; both empty when the file declares no outputs.
        """
        return resolve_outputs(self.declared_outputs, result)

    def redact(self, value: Any) -> Any:
        """``value`` with each of the file's secrets replaced by ``***``.

        Args:
            value: text — a log line, a message, a whole JSON document (a
                secret is found as JSON escapes it too; the 5 MB ``--json`` of
                a 10,000-node run takes milliseconds) — or JSON-like data such
                as ``RunResult.to_dict()`` (0.2 s for the same run: prefer text).

        Returns:
            A copy with every occurrence hidden (``value`` itself when the
            file has no secrets).
        """
        return redact(value, self.secrets)

    def run_options(self) -> RunOptions:
        """The run options the file sets: concurrency, fail_fast, default timeout and retries,
        and a session with each ``mcp:`` server for the run (a new one per call).

        Returns:
            A ``graphflow.RunOptions`` (the defaults for what the file leaves out),
            for ``await graphflow.run(wf.graph, wf.run_options())``; change it with
            ``.replace(...)``.
        """
        given: RunOptionsArgs = {
            "concurrency": self.model.concurrency,
            "fail_fast": self.model.fail_fast,
            "default_timeout": self.default_timeout,
            "default_retries": self.default_retries,
        }
        if self.mcp is not None:
            given["resources"] = (self.mcp.session(),)
        return RunOptions.build(None, given)


def load_workflow(
    path: str | Path,
    inputs: Mapping[str, Any] | None = None,
    tools: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    mcp: McpToolbox | None = None,
) -> Workflow:
    """Load, validate and build a workflow file.

    Args:
        path: the YAML file.
        inputs: values for the file's ``inputs`` (others keep their defaults).
        tools: more modules to take tools from (as ``--tools`` does).
        environ: what ``${env.NAME}`` and ``secrets:`` read (default: ``os.environ``,
            as it is now).
        mcp: the toolbox of the file's ``mcp:`` servers, already listed
            (``await wf.mcp.list_tools()`` on a first load), so that nodes are
            checked against the servers' tools and schemas; default: one built
            from the file, whose tools are checked when called.

    Returns:
        The ``Workflow``, its graph ready to run.

    Raises:
        SpecError: what is wrong, and where (``FILE:LINE:COL: ...``, one short
            line). Several mistakes raise ``WorkflowErrors``, a ``SpecError``
            listing each in file order; one raises that one, which may be a
            ``WorkflowToolNotFoundError`` (also a ``ToolNotFoundError``) or a
            ``WorkflowCycleError`` (also a ``CycleError``).
    """
    return _build(load_file(path), inputs or {}, tools, Path(path).parent, environ, mcp)


def load_workflow_text(
    text: str,
    inputs: Mapping[str, Any] | None = None,
    tools: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    mcp: McpToolbox | None = None,
) -> Workflow:
    """As ``load_workflow``, from a string (the file name reads ``<string>``)."""
    return _build(load_text(text), inputs or {}, tools, None, environ, mcp)


def secret_names(path: str | Path) -> list[str]:
    """The variables a workflow file lists under ``secrets:``, read with the loader's
    limits (size, depth, aliases) and nothing else checked: for hiding their values
    where the file's run is shown again (``graphflow runs show``).

    Raises:
        SpecError: the file cannot be read, or is not YAML.
    """
    data = load_file(path).data
    names = data.get("secrets") if isinstance(data, dict) else None
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _build(
    doc: Document,
    inputs: Mapping[str, Any],
    tools: tuple[str, ...],
    folder: Path | None,
    environ: Mapping[str, str] | None,
    mcp: McpToolbox | None = None,
) -> Workflow:
    problems = Problems(doc)
    if not isinstance(doc.data, dict):
        problems.at("a workflow is a mapping with at least 'name' and 'nodes'", ())
        problems.raise_if_any()
    environ = dict(os.environ if environ is None else environ)  # one reading for the whole file
    checked = check_schema(doc, problems)
    values = _inputs(doc, checked, inputs, problems)
    secrets = _secrets(checked, environ, problems)
    registry, complete = _registry(doc, checked, tools, folder, problems)
    builder = GraphBuilder(doc, checked, values, environ, registry, complete, problems)
    mcp = mcp or file_toolbox(builder)
    if mcp is not None:
        registry.add_mcp(mcp)
    graph = builder.build()
    outputs = builder.outputs()
    problems.raise_if_any(hide=secrets)
    model = checked.model
    assert model is not None and values is not None  # else a problem was recorded
    return Workflow(
        model,
        graph,
        values,
        doc.path,
        doc,
        default_timeout=model.defaults.timeout,
        default_retries=retry_of(model.defaults.retries),
        secrets=secrets,
        declared_outputs=outputs,
        mcp=mcp,
    )


def _secrets(checked: Checked, environ: Mapping[str, str], problems: Problems) -> frozenset[str]:
    """The values of the variables ``secrets:`` names; an unset one is a problem."""
    if checked.model is None:
        return frozenset()
    found: set[str] = set()
    for i, name in enumerate(checked.model.secrets):
        value = environ.get(name)
        if value is None:
            problems.at(f"secret {quote(name)} is not set in the environment", ("secrets", i))
        elif value:
            found.add(value)
    return frozenset(found)


def _inputs(
    doc: Document, checked: Checked, given: Mapping[str, Any], problems: Problems
) -> dict[str, Any] | None:
    """The inputs' values, or ``None`` when the file's ``inputs`` are themselves wrong."""
    model = checked.model
    if model is None or INPUTS in checked.broken:
        return None
    for name in given:
        if name not in model.inputs:
            known = ", ".join(model.inputs) or "none"
            message = f"unknown input {quote(name)} (this workflow's inputs: {known})"
            problems.add(SpecError(message, path=doc.path, key=f"inputs.{name}"))
    values: dict[str, Any] = {}
    for name, spec in model.inputs.items():
        if name in given:
            values[name] = given[name]
        elif spec.required:
            problems.at(f"input {quote(name)} is required: pass --input {name}=...", (INPUTS, name))
        else:
            values[name] = spec.default
    return values


def _registry(
    doc: Document,
    checked: Checked,
    extra: tuple[str, ...],
    folder: Path | None,
    problems: Problems,
) -> tuple[ToolRegistry, bool]:
    """The tools, and whether every module listed was read (else an unknown name may be ok)."""
    registry = ToolRegistry()
    listed = checked.model.tools if checked.model is not None else []
    complete = "tools" not in checked.broken
    for i, name in enumerate([*listed, *extra]):
        loc: Loc = ("tools", i) if i < len(listed) else ()
        try:
            (module,) = import_modules([name], folder)
            registry.add_module(module)
        except ToolModuleError as exc:
            problems.at(str(exc), loc, key="tools")
            complete = False
        except DuplicateToolError as exc:
            problems.at(str(exc), loc, key="tools")
    return registry, complete
