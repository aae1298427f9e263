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
string they are interpolated as text. Positional arguments are matched to the
tool's parameters in the order of its JSON schema's ``properties`` (the names a
model sees). Lines that are not tasks ("Thought: ...") are ignored; ``join()``
ends the plan.
"""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any, Unpack

from graphflow import GraphError, Ref, RunOptions, RunOptionsArgs, RunResult, Scheduler, Toolbox

from ._batch import ToolCallError

_TASK = re.compile(r"^\s*(\d+)\s*[.):]\s*([A-Za-z_][\w.]*)\s*\((.*)\)\s*(?:#.*)?$")
# ${N}, ${N.key.0}, $N, $N.key (a bare path segment must start like a name: "$1.50" is text)
_REF = re.compile(r"\$\{(\d+)((?:\.[\w-]+)*)\}|\$(\d+)((?:\.[A-Za-z_][\w-]*)*)")
_PLACEHOLDER = re.compile(r"__gfref_(\d+)((?:__[\w-]+)*)__")


@dataclass(slots=True)
class Task:
    """One plan line: ``index. name(args)``; ``error`` if it cannot run as written."""

    index: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    deps: tuple[int, ...] = ()
    error: str | None = None
    line: str = ""

    @property
    def is_join(self) -> bool:
        return self.name == "join"


def parse_task(
    line: str, toolbox: Toolbox | None = None, defined: Iterable[int] = ()
) -> Task | None:
    """Parse one plan line, or return None when it is not a task."""
    match = _TASK.match(line)
    if match is None:
        return None
    index, name, argtext = int(match.group(1)), match.group(2), match.group(3)
    task = Task(index, name, line=line.strip())
    if task.is_join:
        return task
    known = set(defined)
    try:
        positional, keywords, refs = _parse_arguments(argtext)
    except (SyntaxError, ValueError) as exc:
        task.error = f"cannot parse the arguments of task {index} ({exc})"
        return task
    deps = sorted({r.node_id for r in refs}, key=int)  # "$N" and "${N...}": N is digits
    for dep in deps:
        if int(dep) >= index or int(dep) not in known:
            task.error = f"task {index} references ${dep}, which is not a task defined before it"
            return task
    task.deps = tuple(int(d) for d in deps)
    tool = toolbox.get(name) if toolbox is not None else None
    if positional:
        if tool is None:
            task.error = (
                f"task {index}: positional arguments need a known tool, and {name!r} is not one"
            )
            return task
        params = list(tool.parameters().get("properties", {}))  # the names a model sees
        if len(positional) > len(params):
            task.error = (
                f"task {index}: {name} takes {len(params)} arguments, got {len(positional)}"
            )
            return task
        keywords = {**dict(zip(params, positional, strict=False)), **keywords}
    task.args = keywords
    return task


def _parse_arguments(text: str) -> tuple[list[Any], dict[str, Any], list[Ref]]:
    """Positional and keyword arguments, and every ``$N`` reference they hold."""
    code = _REF.sub(_placeholder, text)
    call = ast.parse(f"f({code})", mode="eval").body
    assert isinstance(call, ast.Call)
    refs: list[Ref] = []
    positional = [_literal(a, refs) for a in call.args]
    keywords: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError("**kwargs is not allowed")
        keywords[kw.arg] = _literal(kw.value, refs)
    return positional, keywords, refs


def _placeholder(match: re.Match[str]) -> str:
    number = match.group(1) or match.group(3)
    path = (match.group(2) or match.group(4) or "").replace(".", "__")
    return f"__gfref_{number}{path}__"


def _literal(node: ast.expr, refs: list[Ref]) -> Any:
    """The value ``node`` spells; each ``$N`` becomes a ``Ref``, also added to ``refs``."""
    if isinstance(node, ast.Name):
        placeholder = _PLACEHOLDER.fullmatch(node.id)
        if placeholder is None:
            raise ValueError(f"unknown name {node.id!r}")
        return _ref_of(placeholder, refs)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):  # "$1" inside a string: interpolate as text
            return _PLACEHOLDER.sub(lambda m: str(_ref_of(m, refs)), node.value)
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, refs) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _literal(k, refs) if k is not None else None: _literal(v, refs)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return ast.literal_eval(node)
    raise ValueError(f"only literals and $N are allowed, not {ast.unparse(node)!r}")


def _ref_of(match: re.Match[str], refs: list[Ref]) -> Ref:
    path = tuple(p for p in (match.group(2) or "").split("__") if p)
    found = Ref(match.group(1), path)
    refs.append(found)
    return found


class PlanParser:
    """Feed a plan as it streams; get each task once its line is complete."""

    def __init__(self, toolbox: Toolbox | None = None) -> None:
        self.toolbox = toolbox
        self.buffer = ""
        self.defined: list[int] = []
        self.joined = False

    def feed(self, chunk: str) -> list[Task]:
        """Add text; return the tasks whose lines it completed."""
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split("\n")
        return self._tasks(lines)

    def finish(self) -> list[Task]:
        """The stream ended: parse what is left."""
        rest, self.buffer = self.buffer, ""
        return self._tasks([rest])

    def _tasks(self, lines: list[str]) -> list[Task]:
        out = []
        for line in lines:
            if self.joined:
                break
            task = parse_task(line, self.toolbox, self.defined)
            if task is None:
                continue
            if task.is_join:
                self.joined = True
                break
            if task.index in self.defined:
                task.error = f"task {task.index} is defined twice"
            else:
                self.defined.append(task.index)
            out.append(task)
        return out


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
    """Add each task as a node (node id: its number); a task that cannot run gets an error."""
    for task in new:
        repeated = any(t.index == task.index for t in tasks)
        tasks.append(task)
        node_id = f"{task.index}(again)" if repeated else str(task.index)
        tool = toolbox.get(task.name)
        if task.error is None and tool is None:
            task.error = f"unknown tool {task.name!r} (tools: {', '.join(toolbox.names) or 'none'})"
        if task.error is None and tool is not None:
            try:
                scheduler.add(node_id, tool, args=task.args)
                continue
            except GraphError as exc:
                task.error = str(exc)
        scheduler.add(node_id, _failing(task.error or "cannot run"))


def _failing(message: str) -> Any:
    async def cannot_run(**_: Any) -> None:
        raise ToolCallError(message)

    return cannot_run
