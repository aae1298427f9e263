"""From a validated workflow file to a ``Graph``, with every error located.

``${inputs.x}`` is substituted here (inputs are known before the run);
``${node...}`` and ``${item...}`` stay references for the core. Each error names
the file, line and column, and the key at fault.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graphflow import (
    CycleError,
    Graph,
    Ref,
    ReferenceResolutionError,
    Retry,
    RunOptions,
    RunOptionsArgs,
    SpecError,
    compile_args,
    resolve_path,
)

from ._loader import Document, Loc, load_file, load_text
from ._registry import DuplicateToolError, ToolModuleError, ToolRegistry, import_modules
from ._spec import NodeModel, RetrySpec, WorkflowModel, fields_at

INPUTS = "inputs"


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


class WorkflowCycleError(CycleError, SpecError):
    """A cycle in a workflow file: a ``CycleError`` located like every ``SpecError``.

    ``path``, ``line`` and ``column`` are where the cycle's first edge is written
    (``key`` its dotted key), so the message starts ``FILE:LINE:COL: cycle: ...``.
    """

    def __init__(
        self,
        cycle: Sequence[str],
        detail: str,
        *,
        path: str,
        line: int | None,
        column: int | None,
        key: str | None,
    ) -> None:
        self.cycle = list(cycle)
        message = f"cycle: {' -> '.join(self.cycle)} ({detail})"
        SpecError.__init__(self, message, path=path, line=line, column=column, key=key)


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

    Raises:
        SpecError, ToolNotFoundError: what is wrong, and where.
        CycleError: the nodes' dependencies form a cycle (also a ``SpecError``
            located at the cycle's first edge).
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
    if not isinstance(doc.data, dict):
        raise doc.error("a workflow is a mapping with at least 'name' and 'nodes'", ())
    model = _validate(doc)
    values = _inputs(doc, model, inputs)
    registry = _registry(doc, model, tools, folder)
    builder = _GraphBuilder(doc, model, values, registry)
    graph = builder.build()
    defaults = model.defaults
    return Workflow(
        model,
        graph,
        values,
        doc.path,
        doc,
        default_timeout=defaults.timeout,
        default_retries=_retry(defaults.retries),
    )


def _validate(doc: Document) -> WorkflowModel:
    try:
        return WorkflowModel.model_validate(doc.data)
    except ValidationError as exc:
        raise _spec_error(doc, exc) from None


def _spec_error(doc: Document, exc: ValidationError) -> SpecError:
    # in a union (retries: int | {...}) the deepest error is the one about what was written
    # (and an unknown key beats the missing one it was probably meant to be)
    err = max(exc.errors(), key=lambda e: (len(e["loc"]), e["type"] == "extra_forbidden"))
    loc: Loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        allowed = fields_at(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
        return doc.error(f"unknown key {key!r}{hint}", loc)
    if err["type"] == "missing":
        return doc.error(
            f"missing required key {str(loc[-1])!r}", loc[:-1], key=".".join(map(str, loc))
        )
    message = err["msg"].removeprefix("Value error, ")
    return doc.error(f"{'.'.join(map(str, loc)) or 'workflow'}: {message}", loc)


def _is_union_tag(part: Any) -> bool:
    """pydantic puts the union member tried into error locations: drop it."""
    return isinstance(part, str) and (
        part in ("int", "str", "float", "RetrySpec", "constrained-int")
        or part.startswith(("list[", "function-"))
    )


def _inputs(doc: Document, model: WorkflowModel, given: Mapping[str, Any]) -> dict[str, Any]:
    for name in given:
        if name not in model.inputs:
            known = ", ".join(model.inputs) or "none"
            raise SpecError(
                f"unknown input {name!r} (this workflow's inputs: {known})",
                path=doc.path,
                key=f"inputs.{name}",
            )
    values: dict[str, Any] = {}
    for name, spec in model.inputs.items():
        if name in given:
            values[name] = given[name]
        elif spec.required:
            raise doc.error(
                f"input {name!r} is required: pass --input {name}=...", ("inputs", name)
            )
        else:
            values[name] = spec.default
    return values


def _registry(
    doc: Document, model: WorkflowModel, extra: tuple[str, ...], folder: Path | None
) -> ToolRegistry:
    registry = ToolRegistry()
    for i, name in enumerate([*model.tools, *extra]):
        loc: Loc = ("tools", i) if i < len(model.tools) else ()
        try:
            (module,) = import_modules([name], folder)
            registry.add_module(module)
        except ToolModuleError as exc:
            raise doc.error(str(exc), loc, key="tools") from None
        except DuplicateToolError as exc:
            raise doc.error(str(exc), loc, key="tools") from None
    return registry


def _retry(spec: int | RetrySpec | None) -> int | Retry | None:
    if isinstance(spec, RetrySpec):
        return Retry(spec.attempts - 1, spec.backoff, spec.max_backoff, spec.jitter)
    return spec


class _GraphBuilder:
    def __init__(
        self, doc: Document, model: WorkflowModel, inputs: dict[str, Any], registry: ToolRegistry
    ) -> None:
        self.doc = doc
        self.model = model
        self.inputs = inputs
        self.registry = registry

    def build(self) -> Graph:
        graph = Graph()
        for node_id, node in self.model.nodes.items():
            self._add(graph, node_id, node)
        try:
            graph.validate()
        except CycleError as exc:
            raise self._locate_cycle(exc) from None
        return graph

    def _add(self, graph: Graph, node_id: str, node: NodeModel) -> None:
        loc: Loc = ("nodes", node_id)
        line, column = self.doc.where((*loc, "tool"))
        where = f"{self.doc.path}:{line}:{column}" if line else self.doc.path
        tool = self.registry.resolve(node.tool, where)
        args = self._substitute(node.args, (*loc, "args"), node_id, node.for_each is not None)
        for_each = node.for_each
        if for_each is not None:
            for_each = self._substitute(for_each, (*loc, "for_each"), node_id, False)
        depends = [node.depends_on] if isinstance(node.depends_on, str) else node.depends_on
        for k, dep in enumerate(depends):
            if dep not in self.model.nodes:
                raise self._unknown(
                    node_id,
                    dep,
                    (*loc, "depends_on", k)
                    if isinstance(node.depends_on, list)
                    else (*loc, "depends_on"),
                    "depends on",
                )
        try:
            graph.add(
                node_id,
                tool,
                args=args,
                depends_on=depends,
                timeout=node.timeout,
                retries=_retry(node.retries),
                trigger=node.trigger,
                for_each=for_each,
                max_parallel=node.max_parallel,
            )
        except SpecError as exc:
            raise self.doc.error(exc.reason, loc, key=exc.key) from None

    def _substitute(self, value: Any, loc: Loc, node_id: str, has_item: bool) -> Any:
        """Replace ``${inputs...}`` now; check every other reference names a node."""
        if isinstance(value, str):
            if "${" not in value:
                return value
            try:
                template = compile_args(value)
            except ValueError as exc:
                raise self.doc.error(str(exc), loc) from None
            for r in template.refs:
                self._check_ref(r, loc, node_id, has_item)
            if all(r.node_id != INPUTS for r in template.refs):
                return value  # the core reads it as written (a "$${" escape included)
            return template.render(functools.partial(self._lookup, loc))
        if isinstance(value, dict):
            return {k: self._substitute(v, (*loc, k), node_id, has_item) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, (*loc, i), node_id, has_item) for i, v in enumerate(value)]
        return value

    def _lookup(self, loc: Loc, r: Ref) -> Any:
        """An input's value now; any other reference as its own text, for the core."""
        if r.node_id != INPUTS:
            return str(r)
        try:
            return resolve_path(self.inputs, r)
        except ReferenceResolutionError as exc:
            raise self.doc.error(str(exc), loc) from None

    def _check_ref(self, r: Ref, loc: Loc, node_id: str, has_item: bool) -> None:
        if r.node_id == INPUTS:
            if not r.path or r.path[0] not in self.inputs:
                known = ", ".join(self.inputs) or "none"
                name = r.path[0] if r.path else ""
                raise self.doc.error(f"{r} names unknown input {name!r} (inputs: {known})", loc)
        elif r.node_id == "item":
            if not has_item:
                raise self.doc.error(f"{r} is only defined in a node with for_each", loc)
        elif r.node_id not in self.model.nodes:
            raise self._unknown(node_id, r.node_id, loc, "references")

    def _unknown(self, node_id: str, missing: str, loc: Loc, how: str) -> SpecError:
        close = difflib.get_close_matches(missing, list(self.model.nodes), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return self.doc.error(f"node {node_id!r} {how} unknown node {missing!r}{hint}", loc)

    def _locate_cycle(self, exc: CycleError) -> WorkflowCycleError:
        """``exc`` located at its first edge, naming the line of each edge."""
        edges = [(node, upstream) for upstream, node in zip(exc.cycle, exc.cycle[1:], strict=False)]
        locs = [self._edge_loc(node, upstream) for node, upstream in edges]
        detail = "; ".join(
            f"{node!r} needs {upstream!r} at line {self.doc.where(loc)[0]}"
            for (node, upstream), loc in zip(edges, locs, strict=True)
        )
        line, column = self.doc.where(locs[0])
        key = ".".join(map(str, locs[0]))
        return WorkflowCycleError(
            exc.cycle, detail, path=self.doc.path, line=line, column=column, key=key
        )

    def _edge_loc(self, node_id: str, upstream: str) -> Loc:
        node = self.model.nodes.get(node_id)
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
