"""From a validated workflow file to a ``Graph``, with every error located.

``${inputs.x}`` is substituted here (inputs are known before the run);
``${node...}`` and ``${item...}`` stay references for the core. Every mistake
found is reported, in file order, each naming the file, line and column (see
``_errors``): schema errors first found by pydantic, then, for the parts that
validated, tools, references, arguments and finally cycles.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphflow import (
    CycleError,
    DuplicateNodeError,
    Graph,
    Ref,
    ReferenceResolutionError,
    Retry,
    RunOptions,
    RunOptionsArgs,
    SpecError,
    ToolNotFoundError,
    compile_args,
    resolve_path,
)

from . import _template as tpl
from ._arguments import check_arguments
from ._errors import Problems, WorkflowCycleError, WorkflowToolNotFoundError
from ._loader import Document, Loc, load_file, load_text
from ._registry import DuplicateToolError, ToolModuleError, ToolRegistry, import_modules
from ._spec import NodeModel, RetrySpec, WorkflowModel
from ._text import quote
from ._validate import Checked, check_schema

INPUTS = tpl.INPUTS


@dataclass(slots=True)
class Workflow:
    """A loaded workflow: its spec, the inputs used, and the graph to run."""

    model: WorkflowModel
    graph: Graph
    inputs: dict[str, Any]
    path: str
    doc: Document = field(repr=False)
    default_timeout: float | None = None
    default_retries: int | Retry | None = None

    def run_options(self) -> RunOptions:
        """The run options the file sets: concurrency, fail_fast, default timeout and retries.

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
        return RunOptions.build(None, given)


def load_workflow(
    path: str | Path,
    inputs: Mapping[str, Any] | None = None,
    tools: tuple[str, ...] = (),
) -> Workflow:
    """Load, validate and build a workflow file.

    Args:
        path: the YAML file.
        inputs: values for the file's ``inputs`` (others keep their defaults).
        tools: more modules to take tools from (as ``--tools`` does).

    Returns:
        The ``Workflow``, its graph ready to run.

    Raises:
        SpecError: what is wrong, and where (``FILE:LINE:COL: ...``, one short
            line). Several mistakes raise ``WorkflowErrors``, a ``SpecError``
            listing each in file order; one raises that one, which may be a
            ``WorkflowToolNotFoundError`` (also a ``ToolNotFoundError``) or a
            ``WorkflowCycleError`` (also a ``CycleError``).
    """
    return _build(load_file(path), inputs or {}, tools, Path(path).parent)


def load_workflow_text(
    text: str, inputs: Mapping[str, Any] | None = None, tools: tuple[str, ...] = ()
) -> Workflow:
    """As ``load_workflow``, from a string (the file name reads ``<string>``)."""
    return _build(load_text(text), inputs or {}, tools, None)


def _build(
    doc: Document, inputs: Mapping[str, Any], tools: tuple[str, ...], folder: Path | None
) -> Workflow:
    problems = Problems(doc)
    if not isinstance(doc.data, dict):
        problems.at("a workflow is a mapping with at least 'name' and 'nodes'", ())
        problems.raise_if_any()
    checked = check_schema(doc, problems)
    values = _inputs(doc, checked, inputs, problems)
    registry, complete = _registry(doc, checked, tools, folder, problems)
    graph = _GraphBuilder(doc, checked, values, registry, complete, problems).build()
    problems.raise_if_any()
    model = checked.model
    assert model is not None and values is not None  # else a problem was recorded
    return Workflow(
        model,
        graph,
        values,
        doc.path,
        doc,
        default_timeout=model.defaults.timeout,
        default_retries=_retry(model.defaults.retries),
    )


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


def _retry(spec: int | RetrySpec | None) -> int | Retry | None:
    if isinstance(spec, RetrySpec):
        return Retry(spec.attempts - 1, spec.backoff, spec.max_backoff, spec.jitter)
    return spec


class _GraphBuilder:
    """Builds the graph node by node, recording every problem instead of stopping."""

    def __init__(
        self,
        doc: Document,
        checked: Checked,
        inputs: dict[str, Any] | None,
        registry: ToolRegistry,
        complete: bool,
        problems: Problems,
    ) -> None:
        self.doc = doc
        self.node_ids = checked.node_ids
        self.model = checked.model
        self.inputs = inputs  # None: the file's inputs are wrong; references to them go unchecked
        self.registry = registry
        self.complete = complete
        self.problems = problems

    def build(self) -> Graph:
        graph = Graph()
        if self.model is None:
            return graph
        for node_id, node in self.model.nodes.items():
            self._add(graph, node_id, node)
        if not self.problems:  # a graph with nodes left out may look cyclic or unknown
            self._check_whole(graph)
        return graph

    def _check_whole(self, graph: Graph) -> None:
        """What the core checks across nodes: cycles, and item ids taken by a node."""
        try:
            graph.validate()
        except CycleError as exc:
            self.problems.add(self._locate_cycle(exc))
        except DuplicateNodeError as exc:  # "m[0]" beside a for_each node "m"
            message = (
                f"node id {quote(exc.node_id)} is taken by a for_each item "
                "(a for_each node m runs as m[0], m[1], ...): rename the node"
            )
            self.problems.at(message, ("nodes", exc.node_id))

    def _add(self, graph: Graph, node_id: str, node: NodeModel) -> None:
        loc: Loc = ("nodes", node_id)
        before = len(self.problems.found)
        tool = self._tool(node_id, node)
        args = self._substitute(node.args, (*loc, "args"), node.for_each is not None)
        for_each = self._for_each(node.for_each, (*loc, "for_each"))
        self._check_depends(node_id, node)
        if tool is None:  # reported, or its module failed to import (reported)
            return
        if len(self.problems.found) == before:
            self._check_arguments(node_id, node, tool, args)
        if len(self.problems.found) > before:
            return
        try:
            graph.add(
                node_id,
                tool,
                args=args,
                depends_on=_depends(node),
                timeout=node.timeout,
                retries=_retry(node.retries),
                trigger=node.trigger,
                for_each=for_each,
                max_parallel=node.max_parallel,
            )
        except (SpecError, ValueError) as exc:
            self.problems.at(getattr(exc, "reason", str(exc)), _field_loc(loc, exc))

    def _tool(self, node_id: str, node: NodeModel) -> Callable[..., Any] | None:
        try:
            return self.registry.resolve(node.tool)
        except ToolNotFoundError as exc:
            if self.complete:  # else the name may come from a module that failed
                line, column = self.doc.where(("nodes", node_id, "tool"))
                self.problems.add(
                    WorkflowToolNotFoundError(
                        node.tool, exc.close_matches, path=self.doc.path, line=line, column=column
                    )
                )
        except Exception as exc:  # an installed entry point that fails to load
            message = f"cannot load tool {quote(node.tool)}: {exc!r}"
            self.problems.at(message, ("nodes", node_id, "tool"))
        return None

    def _substitute(self, value: Any, loc: Loc, has_item: bool) -> Any:
        """``value`` for the core: inputs substituted, every reference checked."""
        if isinstance(value, str):
            pieces = self._pieces(value, loc, has_item)
            if pieces is None or not any(p.is_input for p in pieces) or self.inputs is None:
                return value  # the core reads it as written (a "$${" escape included)
            return tpl.for_core(pieces, functools.partial(self._lookup, loc))
        if isinstance(value, dict):
            return {k: self._substitute(v, (*loc, k), has_item) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, (*loc, i), has_item) for i, v in enumerate(value)]
        return value

    def _pieces(self, text: str, loc: Loc, has_item: bool) -> list[tpl.Piece] | None:
        """The pieces of ``text``, its references checked; ``None`` after a problem."""
        if "${" not in text:
            return None
        try:
            pieces = tpl.split(text)
        except tpl.TemplateError as exc:
            self.problems.at(str(exc), loc)
            return None
        before = len(self.problems.found)
        for r in tpl.refs(pieces):
            self._check_ref(r, loc, has_item)
        return pieces if len(self.problems.found) == before else None

    def _for_each(self, value: Any, loc: Loc) -> Any:
        """A static list (rendered completely: the core reads items as they are) or a reference."""
        if isinstance(value, list):
            return [self._item(v, (*loc, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        if "${" not in value:
            self.problems.at(f"for_each must be a list or one reference, got {quote(value)}", loc)
            return value
        pieces = self._pieces(value, loc, False)
        if pieces is None:
            return value
        if len(pieces) != 1 or pieces[0].ref is None:
            self.problems.at(f"for_each must be a list or one reference, got {quote(value)}", loc)
            return value
        if not pieces[0].is_input or self.inputs is None:
            return value
        got = tpl.final(pieces, functools.partial(self._lookup, loc))
        if not isinstance(got, list):
            self.problems.at(f"for_each: {value} is {type(got).__name__}, not a list", loc)
        return got

    def _item(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            return {k: self._item(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._item(v, (*loc, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        pieces = self._pieces(value, loc, False)
        if pieces is None:
            return value
        if any(not p.is_input for p in pieces if p.ref is not None):
            self.problems.at(
                "a for_each list holds values, not references: write for_each: ${node.path}", loc
            )
            return value
        if self.inputs is None:
            return value
        return tpl.final(pieces, functools.partial(self._lookup, loc))

    def _lookup(self, loc: Loc, r: Ref) -> Any:
        """An input's value now (``r`` names an input: checked before)."""
        try:
            return resolve_path(self.inputs, r)
        except ReferenceResolutionError as exc:
            self.problems.at(str(exc), loc)
            return ""

    def _check_ref(self, r: Ref, loc: Loc, has_item: bool) -> None:
        if r.node_id == INPUTS:
            if self.inputs is not None and (not r.path or r.path[0] not in self.inputs):
                known = ", ".join(self.inputs) or "none"
                name = r.path[0] if r.path else ""
                self.problems.at(f"{r} names unknown input {quote(name)} (inputs: {known})", loc)
        elif r.node_id == "item":
            if not has_item:
                self.problems.at(f"{r} is only defined in a node with for_each", loc)
        elif r.node_id not in self.node_ids:
            self.problems.add(self._unknown(str(loc[1]), r.node_id, loc, "references"))

    def _check_depends(self, node_id: str, node: NodeModel) -> None:
        listed = isinstance(node.depends_on, list)
        for k, dep in enumerate(_depends(node)):
            if dep not in self.node_ids:
                at: Loc = ("nodes", node_id, "depends_on", *((k,) if listed else ()))
                self.problems.add(self._unknown(node_id, dep, at, "depends on"))

    def _check_arguments(
        self, node_id: str, node: NodeModel, tool: Callable[..., Any], args: dict[str, Any]
    ) -> None:
        constant: dict[str, Any] = {}
        for key, value in args.items():
            if not _any_string(value, _has_dollar_brace):
                constant[key] = value  # the common case: as the tool will get it
            elif not _any_string(value, tpl.holds_reference):  # only "$${" escapes
                constant[key] = compile_args(value).render(lambda r: r)  # as the tool gets it
        given = {**args, **constant}
        loc: Loc = ("nodes", node_id, "args" if node.args else "tool")
        for problem in check_arguments(node.tool, tool, given, constant):
            at = loc if problem.name is None else ("nodes", node_id, "args", problem.name)
            self.problems.at(problem.message, at)

    def _unknown(self, node_id: str, missing: str, loc: Loc, how: str) -> SpecError:
        close = difflib.get_close_matches(missing[:100], sorted(self.node_ids), n=1, cutoff=0.6)
        hint = f" (did you mean {quote(close[0])}?)" if close else ""
        message = f"node {quote(node_id)} {how} unknown node {quote(missing)}{hint}"
        return self.doc.error(message, loc)

    def _locate_cycle(self, exc: CycleError) -> WorkflowCycleError:
        """``exc`` located at its first edge, naming the line of each edge."""
        edges = [(node, upstream) for upstream, node in zip(exc.cycle, exc.cycle[1:], strict=False)]
        locs = [self._edge_loc(node, upstream) for node, upstream in edges]
        detail = "; ".join(
            f"{quote(node)} needs {quote(upstream)} at line {self.doc.where(loc)[0]}"
            for (node, upstream), loc in zip(edges, locs, strict=True)
        )
        line, column = self.doc.where(locs[0])
        key = ".".join(map(str, locs[0]))
        return WorkflowCycleError(
            exc.cycle, detail, path=self.doc.path, line=line, column=column, key=key
        )

    def _edge_loc(self, node_id: str, upstream: str) -> Loc:
        node = self.model.nodes.get(node_id) if self.model is not None else None
        base: Loc = ("nodes", node_id)
        if node is None:
            return base
        deps = [node.depends_on] if isinstance(node.depends_on, str) else node.depends_on
        if upstream in deps:
            return (
                (*base, "depends_on", deps.index(upstream))
                if isinstance(node.depends_on, list)
                else (*base, "depends_on")
            )
        for field_name in ("for_each", "args"):
            found = _find_ref(getattr(node, field_name), upstream, (*base, field_name))
            if found is not None:
                return found
        return base


def _depends(node: NodeModel) -> list[str]:
    return [node.depends_on] if isinstance(node.depends_on, str) else list(node.depends_on)


def _field_loc(loc: Loc, exc: Exception) -> Loc:
    """Where the core's complaint about a node points: the field its ``key`` names."""
    key = getattr(exc, "key", None)
    name = key.rsplit(".", 1)[-1] if isinstance(key, str) else ""
    return (*loc, name) if name in NodeModel.model_fields else loc


def _any_string(value: Any, test: Callable[[str], bool]) -> bool:
    """Whether a string anywhere in ``value`` passes ``test``."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(_any_string(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_any_string(v, test) for v in value)
    return False


def _has_dollar_brace(text: str) -> bool:
    return "${" in text


def _find_ref(value: Any, target: str, loc: Loc) -> Loc | None:
    if isinstance(value, str) and "${" in value:
        if any(r.node_id == target for r in compile_args(value).refs):
            return loc
    elif isinstance(value, dict):
        for k, v in value.items():
            if (found := _find_ref(v, target, (*loc, k))) is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _find_ref(v, target, (*loc, i))) is not None:
                return found
    return None
