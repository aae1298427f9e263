"""LLMCompiler-style numbered plans, run while the model is still writing them.

    1. search(query="graphflow")
    2. lookup(id=$1)
    3. summarize(text="found ${2.title}", n=3)
    4. join()

Each task is dispatched the moment its line is complete *and* its dependencies
are done — and a task whose dependencies finish while the planner is still
writing starts at once, not when the next line arrives: dispatch is driven by
completion events, never by polling. Unlike the reference LLMCompiler
scheduler, a tool that raises gives an error result instead of hanging the
plan, and a forward or unknown ``$N`` is an error for that task, not ignored.

``$N`` and ``${N}`` (and ``${N.key}``) reference task N's output; inside a
string they are interpolated as text. A bare ``$N`` followed by ``.`` and a
digit is text: ``"costs $1.50"`` stays as written. Positional arguments are
matched to the tool's parameters in the order of its JSON schema's
``properties`` (the names a model sees). Lines that are not tasks
("Thought: ...") are ignored; ``join()`` ends the plan, and so does
``<END_OF_PLAN>`` (LLMCompiler's few-shot plans end ``N. join()<END_OF_PLAN>``).

Arguments are parsed with ``ast``, never evaluated: literals (strings, numbers,
booleans, None, lists, tuples, dicts with literal keys) and ``$N`` only. As in
LLMCompiler, arguments that are not such literals and hold no keyword
(``search(Rosetta Stone)``) are one string, the text as written. A line that
cannot be a task as written is still a task, with an ``error``: arguments that
do not parse, a call not closed with ``)``, a task number of more than 9
digits, a repeated number. Parsing never raises and never recurses without
bound on what a model wrote.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import AsyncIterable, Container, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Unpack

from graphflow import GraphError, Ref, RunOptions, RunOptionsArgs, RunResult, Scheduler, Toolbox

from ._batch import ToolCallError
from ._input import cut, quote

END_OF_PLAN: Final = "<END_OF_PLAN>"
MAX_INDEX_DIGITS: Final = 9
_TASK = re.compile(r"^\s*(\d+)\s*[.):]\s*([A-Za-z_][\w.]*)\s*\((.*)\)\s*(?:#.*)?$")
_UNCLOSED = re.compile(r"^\s*(\d+)\s*[.):]\s*([A-Za-z_][\w.]*)\s*\(")
# ${N}, ${N.key.0}, $N, $N.key (a bare path segment must start like a name, and a
# bare $N before ".digit" is a price: "$1.50" is text)
_REF = re.compile(r"\$\{(\d+)((?:\.[\w-]+)*)\}|\$(\d+)((?:\.[A-Za-z_][\w-]*)*)(?!\.?\d)")
_PLACEHOLDER = re.compile(r"__gfref_(\d+)((?:__[\w-]+)*)__")
_KEYWORDS = re.compile(r"\s*(?:\*\*|[A-Za-z_]\w*\s*=(?!=))")  # name=..., **kwargs
_LITERALS = (str, int, float, bool, type(None))


class _NotLiteral(ValueError):
    """An argument is an expression, not a literal (``abs(x)``, ``Rosetta``)."""


@dataclass(slots=True)
class Task:
    """One plan line: ``index. name(args)``; ``error`` if it cannot run as written.

    Attributes:
        index: the task number (-1 when it has more than 9 digits).
        name: the tool's name.
        args: keyword arguments, holding a ``Ref`` for each ``$N``.
        deps: the task numbers it references.
        error: why it cannot run as written (it gets an error result).
        line: the line, stripped.
        node_id: its node id in ``run_plan``'s result (its number; a repeat is
            ``N(again)``, ``N(again 2)``...).
    """

    index: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    deps: tuple[int, ...] = ()
    error: str | None = None
    line: str = ""
    node_id: str = ""

    @property
    def is_join(self) -> bool:
        """Whether this is ``join()``, the end of the plan."""
        return self.name == "join"


def parse_task(
    line: str, toolbox: Toolbox | None = None, defined: Iterable[int] = ()
) -> Task | None:
    """Parse one plan line, or return None when it is not a task.

    Args:
        line: one line of the plan (an ``<END_OF_PLAN>`` and what follows are ignored).
        toolbox: the tools, to match positional arguments to parameters.
        defined: the task numbers defined before this line.

    Returns:
        The task (with ``error`` set if it cannot run as written), or None.
    """
    line = line.split(END_OF_PLAN, 1)[0]
    match = _TASK.match(line) or _UNCLOSED.match(line)
    if match is None:
        return None
    digits, name = match.group(1), match.group(2)
    index = int(digits) if len(digits) <= MAX_INDEX_DIGITS else -1
    task = Task(index, name, line=line.strip())
    if index < 0:
        task.error = f"task number {cut(digits, 20)} has {len(digits):,} digits (at most 9)"
    elif match.re is _UNCLOSED:
        task.error = f"task {index}: the call is not closed with ')'"
    elif not task.is_join:
        known = defined if isinstance(defined, dict | set | frozenset) else set(defined)
        _fill(task, match.group(3), toolbox, known)
    return task


def _fill(task: Task, argtext: str, toolbox: Toolbox | None, defined: Container[int]) -> None:
    """Set the task's arguments and dependencies, or its error."""
    try:
        positional, keywords, refs = _parse_arguments(argtext)
    except (SyntaxError, ValueError) as exc:
        task.error = f"cannot parse the arguments of task {task.index} ({cut(str(exc))})"
        return
    for dep in sorted({r.node_id for r in refs}, key=lambda d: (len(d), d)):
        if len(dep) > MAX_INDEX_DIGITS or not (int(dep) < task.index and int(dep) in defined):
            task.error = (
                f"task {task.index} references ${cut(dep, 20)}, "
                "which is not a task defined before it"
            )
            return
    task.deps = tuple(sorted({int(r.node_id) for r in refs}))
    if positional:
        _name_positional(task, positional, keywords, toolbox)
    else:
        task.args = keywords


def _name_positional(
    task: Task, positional: list[Any], keywords: dict[str, Any], toolbox: Toolbox | None
) -> None:
    """Match positional arguments to the tool's parameters, in its schema's order."""
    tool = toolbox.get(task.name) if toolbox is not None else None
    if tool is None:
        task.error = (
            f"task {task.index}: positional arguments need a known tool, "
            f"and {quote(task.name)} is not one"
        )
        return
    params = list(tool.parameters().get("properties", {}))  # the names a model sees
    if len(positional) > len(params):
        task.error = (
            f"task {task.index}: {task.name} takes {len(params)} arguments, got {len(positional)}"
        )
        return
    task.args = {**dict(zip(params, positional, strict=False)), **keywords}


def _parse_arguments(text: str) -> tuple[list[Any], dict[str, Any], list[Ref]]:
    """Positional and keyword arguments, and every ``$N`` reference they hold."""
    code = _REF.sub(_placeholder, text)
    refs: list[Ref] = []
    try:
        call = _parse_call(code)
        positional = [_literal(a, refs, code) for a in call.args]
        keywords: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:
                raise ValueError("**kwargs is not allowed")
            keywords[kw.arg] = _literal(kw.value, refs, code)
    except (SyntaxError, _NotLiteral):
        if _KEYWORDS.match(code):
            raise  # name=...: the model meant Python, and wrote it wrong
        refs.clear()  # as LLMCompiler: the text as written is the one argument
        return [_interpolate(code.strip(), refs)], {}, refs
    return positional, keywords, refs


def _parse_call(code: str) -> ast.Call:
    """``f(code)`` parsed; a SyntaxError for what the parser cannot take."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "\d" in a string: the text is kept as written
            tree = ast.parse(f"f({code})", mode="eval")
    except (RecursionError, MemoryError):  # the parser's own limits: 100,000 "-" in a row
        raise SyntaxError("too deeply nested") from None
    if not isinstance(tree.body, ast.Call) or not isinstance(tree.body.func, ast.Name):
        raise SyntaxError("not one call")  # "x), g(y": arguments that close the call
    return tree.body


def _placeholder(match: re.Match[str]) -> str:
    number = (match.group(1) or match.group(3)).lstrip("0") or "0"
    path = (match.group(2) or match.group(4) or "").replace(".", "__")
    return f"__gfref_{number}{path}__"


def _literal(node: ast.expr, refs: list[Ref], code: str) -> Any:
    """The value ``node`` spells; each ``$N`` becomes a ``Ref``, also added to ``refs``."""
    if isinstance(node, ast.Name):
        placeholder = _PLACEHOLDER.fullmatch(node.id)
        if placeholder is None:
            raise _NotLiteral(f"unknown name {cut(node.id)!r}")
        return _ref_of(placeholder, refs)
    if isinstance(node, ast.Constant) and isinstance(node.value, _LITERALS):
        return _interpolate(node.value, refs) if isinstance(node.value, str) else node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, refs, code) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _key(k, code): _literal(v, refs, code)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int | float):
            return ast.literal_eval(node)
    raise _NotLiteral(f"only literals and $N are allowed, not {_source(code, node)}")


def _key(node: ast.expr | None, code: str) -> Any:
    """A dict key: a literal (a list or a reference cannot be one)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, _LITERALS):
        return node.value
    shown = "**" if node is None else _source(code, node)
    raise _NotLiteral(f"a dict key must be a literal, not {shown}")


def _source(code: str, node: ast.expr) -> str:
    """The text of ``node`` (``$N`` as written), quoted and cut."""
    text = ast.get_source_segment(f"f({code})", node) or type(node).__name__
    return quote(_PLACEHOLDER.sub(lambda m: str(_ref_of(m, [])), text))


def _interpolate(text: str, refs: list[Ref]) -> str:
    """A string with each ``$N`` placeholder as ``${N.path}`` text (interpolated when run)."""
    return _PLACEHOLDER.sub(lambda m: str(_ref_of(m, refs)), text)


def _ref_of(match: re.Match[str], refs: list[Ref]) -> Ref:
    path = tuple(p for p in (match.group(2) or "").split("__") if p)
    found = Ref(match.group(1), path)
    refs.append(found)
    return found


class PlanParser:
    """Feed a plan as it streams; get each task once its line is complete.

    Linear in the text, however it is cut into chunks.
    """

    def __init__(self, toolbox: Toolbox | None = None) -> None:
        self.toolbox = toolbox
        self.pending: list[str] = []  # the start of the line being written
        self.defined: dict[int, int] = {}  # task number -> how many times it was written
        self.joined = False

    def feed(self, chunk: str) -> list[Task]:
        """Add text; return the tasks whose lines it completed."""
        if "\n" not in chunk:
            self.pending.append(chunk)
            return []
        first, *rest = chunk.split("\n")
        lines = ["".join(self.pending) + first, *rest]
        self.pending = [lines.pop()]
        return self._tasks(lines)

    def finish(self) -> list[Task]:
        """The stream ended: parse what is left."""
        rest, self.pending = "".join(self.pending), []
        return self._tasks([rest])

    def _tasks(self, lines: list[str]) -> list[Task]:
        out = []
        for line in lines:
            if self.joined:
                break
            task = parse_task(line, self.toolbox, self.defined)
            if task is not None and not task.is_join:
                self._number(task)
                out.append(task)
            if END_OF_PLAN in line or (task is not None and task.is_join):
                self.joined = True
        return out

    def _number(self, task: Task) -> None:
        """Give the task its node id; a repeated task number is an error."""
        repeats = self.defined.get(task.index, 0)
        self.defined[task.index] = repeats + 1
        task.node_id = str(task.index)
        if repeats:
            task.node_id += "(again)" if repeats == 1 else f"(again {repeats})"
            if task.index >= 0:
                task.error = f"task {task.index} is defined twice"


def parse_plan(text: str, toolbox: Toolbox | None = None) -> list[Task]:
    """Every task of a complete plan (up to ``join()``)."""
    parser = PlanParser(toolbox)
    return parser.feed(text) + parser.finish()


@dataclass(slots=True)
class PlanRun:
    """The tasks of a plan, in plan order, and the ``RunResult`` of running them."""

    tasks: list[Task]
    result: RunResult


async def run_plan(
    plan: str | AsyncIterable[str],
    toolbox: Toolbox,
    options: RunOptions | None = None,
    **overrides: Unpack[RunOptionsArgs],
) -> PlanRun:
    """Run a numbered plan, dispatching each task as soon as its line is complete.

    Args:
        plan: the whole text, or the model's stream of text chunks.
        toolbox: the tools the plan may call.
        options: how to run the tasks (a ``graphflow.RunOptions``, given to the
            ``graphflow.Scheduler`` that runs them).
        **overrides: ``RunOptions`` fields as keywords, applied on top of ``options``.

    Returns:
        The tasks and the ``RunResult`` (node ids are the task numbers, as strings).

    Raises:
        OptionError: an option is invalid or misspelt (nothing ran, no text was read).
    """
    opts = RunOptions.build(options, overrides)
    parser = PlanParser(toolbox)
    tasks: list[Task] = []
    async with Scheduler(opts, streaming=True) as scheduler:
        if isinstance(plan, str):
            _dispatch(scheduler, parser.feed(plan) + parser.finish(), toolbox, tasks)
        else:
            try:
                async for chunk in plan:
                    _dispatch(scheduler, parser.feed(chunk), toolbox, tasks)
                    if parser.joined:
                        break  # the rest of the stream is not read
            finally:
                close = getattr(plan, "aclose", None)
                if close is not None:
                    await close()
            _dispatch(scheduler, parser.finish(), toolbox, tasks)
        scheduler.close()
        result = await scheduler.wait()
    return PlanRun(tasks, result)


def _dispatch(scheduler: Scheduler, new: list[Task], toolbox: Toolbox, tasks: list[Task]) -> None:
    """Add each task as a node (``task.node_id``); a task that cannot run gets an error."""
    for task in new:
        tasks.append(task)
        tool = toolbox.get(task.name)
        if task.error is None and tool is None:
            known = ", ".join(toolbox.names) or "none"
            task.error = f"unknown tool {quote(task.name)} (tools: {known})"
        if task.error is None and tool is not None:
            try:
                scheduler.add(task.node_id, tool, args=task.args)
                continue
            except GraphError as exc:
                task.error = cut(str(exc))
        scheduler.add(task.node_id, _failing(task.error or "cannot run"))


def _failing(message: str) -> Any:
    async def cannot_run(**_: Any) -> None:
        raise ToolCallError(message)

    return cannot_run
