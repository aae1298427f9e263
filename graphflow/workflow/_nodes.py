"""The nodes of a validated file, added to a ``Graph`` one by one, every problem located.

For each node: its tool; its arguments, ``for_each``, ``if:`` and ``env:``
with ``${inputs...}`` and ``${env...}`` substituted and every other reference
checked; its ``limits`` against the file's pools; then the node's constant
arguments against the tool. ``env:`` (the file's, then the node's) is merged
under a ``shell`` node's ``args.env``. Last, what the core checks across
nodes (cycles). The file's ``outputs:`` are checked like arguments.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from typing import Any, Final

from graphflow import (
    Cache,
    CycleError,
    DuplicateNodeError,
    Graph,
    Ref,
    ReferenceResolutionError,
    Retry,
    SpecError,
    Tool,
    ToolNotFoundError,
    compile_args,
    resolve_path,
)
from graphflow._condition import parse_condition  # (not public yet: see the module's note)

from ..builtin_tools import BUILTINS, CHECKS
from . import _template as tpl
from ._arguments import Render, check_arguments, item_problem
from ._env import read_env
from ._errors import Problems, WorkflowCycleError, WorkflowToolNotFoundError
from ._loader import Document, Loc
from ._mcp import transport_only
from ._registry import ToolRegistry
from ._spec import CacheSpec, NodeModel, RetrySpec, WorkflowModel
from ._text import quote
from ._validate import Checked

SHELL: Final = BUILTINS["shell"]
_ABSENT: Final = object()
_ITEM: Final = "item"  # the reference a for_each item is read by: ${item...}
NO_ITEM: Final = "${item} is only defined in a node with for_each"
_ITEM_IN_IF: Final = "${item} cannot be read in if: (the condition holds for every item alike)"


_HINTED: Final = 20  # unknown node ids given a "did you mean": one per name, the first ones
# (a renamed node that 10,000 references still name cost 10,000 difflib walks of 10,000
# ids: 385 s; the report shows 20 problems anyway)

class GraphBuilder:
    """Builds the graph node by node, recording every problem instead of stopping."""

    def __init__(
        self,
        doc: Document,
        checked: Checked,
        inputs: dict[str, Any] | None,
        environ: Mapping[str, str],
        registry: ToolRegistry,
        complete: bool,
        problems: Problems,
    ) -> None:
        self.doc = doc
        self.node_ids = checked.node_ids
        self.model: WorkflowModel | None = checked.model
        self.inputs = inputs  # None: the file's inputs are wrong; references to them go unchecked
        declared = list(checked.model.inputs) if checked.model is not None else []
        self.declared = declared
        # required but not given: said once where declared, not again where read
        self.unset = frozenset(declared) - frozenset(inputs or ())
        self.environ = environ
        self.registry = registry
        self.complete = complete
        self.problems = problems
        model = checked.model
        self.pools = None if model is None or "limits" in checked.broken else model.limits
        self.env: dict[str, Any] = {}  # the file's env:, substituted
        self.hints: dict[str, str] = {}  # unknown node id -> its "did you mean" (``_unknown``)

    def build(self) -> Graph:
        """The graph of every node that has no problem (all of them, if none has)."""
        graph = Graph(limits=self.pools)
        for node_id in sorted(self.node_ids & tpl.STATIC):
            what = (
                "${env.NAME} reads the environment"
                if node_id == tpl.ENV
                else "${inputs.x} reads an input"
            )
            self.problems.at(f"node id {quote(node_id)} is reserved: {what}", ("nodes", node_id))
        if self.model is None:
            return graph
        self.env = self._file_env(self.model.env)
        for node_id, node in self.model.nodes.items():
            self._add(graph, node_id, node)
        if not self.problems:  # a graph with nodes left out may look cyclic or unknown
            self._check_whole(graph)
        return graph

    def outputs(self) -> dict[str, Any]:
        """The file's ``outputs:`` as the core reads them, their references checked."""
        if self.model is None:
            return {}
        return {
            name: self._substitute(value, ("outputs", name), NO_ITEM)
            for name, value in self.model.outputs.items()
        }

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
        item = None if node.for_each is not None else NO_ITEM
        args = self._substitute(node.args, (*loc, "args"), item)
        for_each = self._for_each(node.for_each, (*loc, "for_each"))
        when = self._condition(node.if_, (*loc, "if"), node.for_each is not None)
        self._check_depends(node_id, node)
        if node.partial and node.for_each is None:
            self.problems.at(
                "partial: true keeps a for_each node's item results: add for_each",
                (*loc, "partial"),
            )
        if tool is None:  # reported, or its module failed to import (reported)
            return
        args = self._with_env(node_id, node, tool, args, item)
        limits = self._limits(node_id, node, tool)
        if len(self.problems.found) == before:
            self._check_arguments(node_id, node, tool, args)
        if len(self.problems.found) == before and isinstance(for_each, list):
            self._check_items(node_id, node, tool, args, for_each)
        if len(self.problems.found) > before:
            return
        try:
            graph.add(
                node_id,
                tool,
                args=args,
                depends_on=_depends(node),
                timeout=node.timeout,
                retries=self._retries(node),
                trigger=node.trigger,
                for_each=for_each,
                max_parallel=node.max_parallel,
                partial=node.partial,
                limits=limits,
                when=when,
                executor=node.executor,
                cache=cache_of(node.cache),
                idempotency_key=node.idempotency_key,
                resources=node.resources,
            )
        except (SpecError, ValueError) as exc:
            self.problems.at(getattr(exc, "reason", str(exc)), _field_loc(loc, exc))

    def _retries(self, node: NodeModel) -> int | Retry | None:
        """The node's retries; an MCP tool's (the file's default too) on transport errors only."""
        if not self.registry.is_mcp(node.tool):
            return retry_of(node.retries)
        spec = node.retries
        if spec is None and self.model is not None:
            spec = self.model.defaults.retries
        return transport_only(retry_of(spec))

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

    def _substitute(self, value: Any, loc: Loc, item: str | None) -> Any:
        """``value`` for the core: static references substituted, every reference checked.

        ``item``: why ``${item}`` may not be read here (``None``: it may).
        """
        if isinstance(value, str):
            pieces = self._pieces(value, loc, item)
            if pieces is None or not any(p.is_static for p in pieces) or self.inputs is None:
                return value  # the core reads it as written (a "$${" escape included)
            return tpl.for_core(pieces, functools.partial(self._lookup, loc))
        if isinstance(value, dict):
            return {k: self._substitute(v, (*loc, k), item) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, (*loc, i), item) for i, v in enumerate(value)]
        return value

    def _pieces(self, text: str, loc: Loc, item: str | None) -> list[tpl.Piece] | None:
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
            self._check_ref(r, loc, item)
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
        pieces = self._pieces(value, loc, NO_ITEM)
        if pieces is None:
            return value
        if len(pieces) != 1 or pieces[0].ref is None:
            self.problems.at(f"for_each must be a list or one reference, got {quote(value)}", loc)
            return value
        if not pieces[0].is_static or self.inputs is None:
            return value
        got = tpl.final(pieces, functools.partial(self._lookup, loc))
        if got is None and pieces[0].ref.path and pieces[0].ref.path[0] in self.unset:
            return value
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
        pieces = self._pieces(value, loc, NO_ITEM)
        if pieces is None:
            return value
        if any(not p.is_static for p in pieces if p.ref is not None):
            self.problems.at(
                "a for_each list holds values, not references: write for_each: ${node.path}", loc
            )
            return value
        if self.inputs is None:
            return value
        return tpl.final(pieces, functools.partial(self._lookup, loc))

    def _condition(self, text: str | None, loc: Loc, is_map: bool) -> str | None:
        """``if:`` for the core: static values written as literals, the expression checked."""
        if text is None:
            return None
        pieces = [tpl.Piece(text)]
        if "${" in text:
            found = self._pieces(text, loc, _ITEM_IN_IF if is_map else NO_ITEM)
            if found is None or self.inputs is None:
                return None  # reported
            pieces = found
        when = tpl.condition(pieces, functools.partial(self._lookup, loc))
        try:
            parse_condition(when)
        except ValueError as exc:
            self.problems.at(f"if: {exc}", loc)
            return None
        return when

    def _file_env(self, env: dict[str, str]) -> dict[str, Any]:
        """The file's ``env:``: it reads inputs and the environment, never a node."""
        out: dict[str, Any] = {}
        for name, value in env.items():
            loc: Loc = ("env", name)
            pieces = self._pieces(value, loc, NO_ITEM)
            if pieces is not None and not all(p.is_static for p in pieces if p.ref is not None):
                message = "the file's env: reads only ${inputs...} and ${env...}: "
                self.problems.at(message + "a node's output belongs in that node's env:", loc)
            out[name] = _text(self._substitute(value, loc, NO_ITEM))
        return out

    def _with_env(
        self,
        node_id: str,
        node: NodeModel,
        tool: Callable[..., Any],
        args: dict[str, Any],
        item: str | None,
    ) -> dict[str, Any]:
        """A shell node's ``args``, with the file's and then the node's ``env:`` under its own."""
        loc: Loc = ("nodes", node_id, "env")
        if tool is not SHELL:
            if node.env:
                tool_name = quote(node.tool)
                message = f"env: sets a shell node's environment; tool {tool_name} is not shell"
                self.problems.at(message, loc)
            return args
        mine = self._substitute(node.env, loc, item)
        env = {**self.env, **{k: _text(v) for k, v in mine.items()}}
        given = args.get("env")
        if not env:
            return args
        if given is None or isinstance(given, dict):
            return {**args, "env": {**env, **(given or {})}}
        message = "args.env is not a mapping, so env: cannot be added to it: set one or the other"
        self.problems.at(message, ("nodes", node_id, "args", "env"))
        return args

    def _limits(self, node_id: str, node: NodeModel, tool: Callable[..., Any]) -> list[str]:
        """The pools the node claims, each sized in the file's ``limits:``."""
        names = list(node.limits)
        if self.pools is None:  # the file's limits: are wrong (reported): nothing to check against
            return names
        for k, name in enumerate(names):
            if name not in self.pools:
                at: Loc = ("nodes", node_id, "limits", k)  # (limits: api is located at limits)
                self.problems.at(f"node {quote(node_id)} claims {self._unknown_pool(name)}", at)
        pool = getattr(tool, "limit", None)
        if isinstance(pool, str) and pool not in self.pools:
            message = f"tool {quote(node.tool)} claims {self._unknown_pool(pool)}"
            self.problems.at(message, ("nodes", node_id, "tool"))
        return names

    def _unknown_pool(self, name: str) -> str:
        assert self.pools is not None
        close = difflib.get_close_matches(name[:100], sorted(self.pools), n=1, cutoff=0.6)
        hint = f"did you mean {quote(close[0])}? or size it" if close else "size it"
        return f"a slot in the unknown pool {quote(name)} ({hint} under limits: {{{name}: N}})"

    def _lookup(self, loc: Loc, r: Ref) -> Any:
        """A static reference's value now (``r`` was checked before)."""
        try:
            if r.node_id == tpl.ENV:
                return read_env(r, self.environ)
            if r.path and r.path[0] in self.unset:
                return None  # (not given: said where it is declared)
            return resolve_path(self.inputs, r)
        except (ReferenceResolutionError, ValueError) as exc:
            self.problems.at(str(exc), loc)
            return ""

    def _check_ref(self, r: Ref, loc: Loc, item: str | None) -> None:
        if r.node_id == tpl.INPUTS:
            if self.inputs is not None and (not r.path or r.path[0] not in self.declared):
                known = ", ".join(self.declared) or "none"
                name = r.path[0] if r.path else ""
                self.problems.at(f"{r} names unknown input {quote(name)} (inputs: {known})", loc)
        elif r.node_id == tpl.ENV:
            try:
                read_env(r, self.environ)
            except ValueError as exc:
                self.problems.at(str(exc), loc)
        elif r.node_id == "item":
            if item is not None:
                self.problems.at(item.replace("${item}", str(r), 1), loc)
        elif r.node_id not in self.node_ids:
            user = f"node {quote(loc[1])}" if loc[0] == "nodes" else f"output {quote(loc[1])}"
            self.problems.add(self._unknown(user, r.node_id, loc, "references"))

    def _check_depends(self, node_id: str, node: NodeModel) -> None:
        listed = isinstance(node.depends_on, list)
        for k, dep in enumerate(_depends(node)):
            if dep not in self.node_ids:
                at: Loc = ("nodes", node_id, "depends_on", *((k,) if listed else ()))
                self.problems.add(self._unknown(f"node {quote(node_id)}", dep, at, "depends on"))

    def _check_arguments(
        self, node_id: str, node: NodeModel, tool: Callable[..., Any], args: dict[str, Any]
    ) -> None:
        constant: dict[str, Any] = {}
        for key, value in args.items() if isinstance(tool, Tool) else ():  # (others: names only)
            if not _any_string(value, _has_dollar_brace):
                constant[key] = value  # the common case: as the tool will get it
            elif not _any_string(value, tpl.holds_reference):  # only "$${" escapes
                constant[key] = compile_args(value).render(lambda r: r)  # as the tool gets it
        given = {**args, **constant}
        loc: Loc = ("nodes", node_id, "args" if node.args else "tool")
        problems = check_arguments(node.tool, tool, given, constant)
        for problem in problems:
            at = loc if problem.name is None else ("nodes", node_id, "args", problem.name)
            self.problems.at(problem.message, at)
        checks = CHECKS.get(node.tool) if BUILTINS.get(node.tool) is tool else None
        if checks and not problems:  # a built-in's own checks, on what is constant
            for key, check in checks.items():
                value = args.get(key, _ABSENT)
                if value is _ABSENT or _any_string(value, _has_dollar_brace):
                    continue
                if self._reads_unset(node.args.get(key)):
                    continue  # (None for now: an input not given is said where declared)
                try:
                    check(value)
                except (TypeError, ValueError) as exc:
                    written = node.args.get(key)
                    read = _any_string(written, _has_dollar_brace)  # (an input, or the env)
                    since = f" (read from {quote(written, 60)})" if read else ""
                    message = f"tool {quote(node.tool)}: {exc}{since}"
                    self.problems.at(message, ("nodes", node_id, "args", key))

    def _check_items(
        self,
        node_id: str,
        node: NodeModel,
        tool: Callable[..., Any],
        args: dict[str, Any],
        items: list[Any],
    ) -> None:
        """A ``for_each`` list written in the file: each item's arguments that read
        only ``${item...}`` checked as constants are (``item_problem``), up to the
        first item at fault. Not with ``partial: true``, whose items may fail by
        design."""
        if node.partial:
            return
        renders: dict[str, Render] = {}
        for key, value in args.items():
            if _any_string(value, _has_dollar_brace):
                template = compile_args(value)
                if template.refs and all(r.node_id == _ITEM for r in template.refs):
                    renders[key] = template.render
        if not renders:
            return
        checks = CHECKS.get(node.tool) if BUILTINS.get(node.tool) is tool else None
        constant = [k for k, v in args.items() if not _any_string(v, _has_dollar_brace)]
        for i, item in enumerate(items):
            problem = item_problem(node.tool, tool, args, constant, renders, item, checks)
            if problem is None:
                continue
            key = str(problem.name)
            if key in (node.args or {}):
                where: Loc = ("nodes", node_id, "args", key)
                since = f" (read from {quote(node.args[key], 60)})" if problem.checked else ""
            else:  # (a shell node's env:, merged into its args.env)
                where, since = ("nodes", node_id, "env"), ""
            message = f"for_each item {i} ({quote(item, 60)}): {problem.message}{since}"
            self.problems.at(message, where)
            return

    def _reads_unset(self, written: Any) -> bool:
        """Whether ``written`` (an argument as the file has it) reads an input not given."""
        return bool(self.unset) and _any_string(
            written, lambda text: any(f"${{inputs.{name}" in text for name in self.unset)
        )

    def _unknown(self, user: str, missing: str, loc: Loc, how: str) -> SpecError:
        hint = self.hints.get(missing)
        if hint is None:
            hint = ""
            if len(self.hints) < _HINTED:  # (each is a walk of every node id with difflib)
                ids = sorted(self.node_ids)
                close = difflib.get_close_matches(missing[:100], ids, n=1, cutoff=0.6)
                hint = f" (did you mean {quote(close[0])}?)" if close else ""
            self.hints[missing] = hint
        return self.doc.error(f"{user} {how} unknown node {quote(missing)}{hint}", loc)

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
        for key, value in (("for_each", node.for_each), ("if", node.if_), ("env", node.env)):
            found = _find_ref(value, upstream, (*base, key))
            if found is not None:
                return found
        return _find_ref(node.args, upstream, (*base, "args")) or base


def retry_of(spec: int | RetrySpec | None) -> int | Retry | None:
    """The core's ``retries=`` for a file's ``retries:``."""
    if isinstance(spec, RetrySpec):
        return Retry(spec.attempts - 1, spec.backoff, spec.max_backoff, spec.jitter)
    return spec


def cache_of(spec: bool | CacheSpec | None) -> Cache | None:
    """The core's ``cache=`` for a file's ``cache:``."""
    if isinstance(spec, CacheSpec):
        version = None if spec.version is None else str(spec.version)
        return Cache(spec.ttl, spec.key, version)
    return Cache() if spec else None


def _depends(node: NodeModel) -> list[str]:
    return [node.depends_on] if isinstance(node.depends_on, str) else list(node.depends_on)


def _text(value: Any) -> Any:
    """An ``env:`` value that an input made something else than text, written as text."""
    return value if isinstance(value, str) else tpl.escape(tpl.to_text(value))


_CORE_KEYS: Final = {"when": "if"}  # the core's name for an option -> the file's


def _field_loc(loc: Loc, exc: Exception) -> Loc:
    """Where the core's complaint about a node points: the field its ``key`` names."""
    key = getattr(exc, "key", None)
    name = key.rsplit(".", 1)[-1] if isinstance(key, str) else ""
    name = _CORE_KEYS.get(name, name)
    fields = {f.alias or n for n, f in NodeModel.model_fields.items()}
    return (*loc, name) if name in fields else loc


def _find_ref(value: Any, target: str, loc: Loc) -> Loc | None:
    if isinstance(value, str) and "${" in value:
        if any(r.node_id == target for r in _refs_in(value)):
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


def _refs_in(text: str) -> list[Ref]:
    try:
        return tpl.refs(tpl.split(text))
    except tpl.TemplateError:
        return []


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
