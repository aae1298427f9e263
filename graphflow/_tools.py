"""Typed tools: ``@tool``, argument validation, JSON schemas, and ``Toolbox``.

A ``Tool`` wraps a sync or async function. Its name and description come from
the function and its docstring (a Google-style ``Args:`` section describes the
parameters); its arguments are validated by a pydantic model built from the
type hints, and the same model gives the JSON schema the model providers want.
Bad arguments fail *that* node with a message naming each field and what was
expected, so a model can correct itself; they are never retried.

A tool served elsewhere (an MCP server's) has a JSON schema instead of a
signature: ``Tool.from_schema`` shows that schema as it is and checks
arguments against its top level, leaving the rest to the server.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ._graph import is_async_callable
from ._schema import SchemaArguments, given_arguments, schema_model
from ._spec import Cache, cache_policy
from .errors import NodeInputError, _quoted


class ToolArgumentError(NodeInputError, ValueError):
    """Recorded when a tool's arguments do not validate; names each bad field."""

    def __init__(self, tool: str, error: ValidationError) -> None:
        self.tool = tool
        self._error = error
        self.errors = error.errors(include_url=False)
        parts = []
        for e in self.errors:
            field = ".".join(str(p) for p in e["loc"]) or "arguments"
            got = f" (got {_quoted(e['input'])})" if e["type"] != "missing" and "input" in e else ""
            parts.append(f"{field}: {e['msg']}{got}")
        super().__init__(f"invalid arguments for {tool}: " + "; ".join(parts))

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds from ``args`` (the message alone), which ``__init__``
        # rejects: the error raised by a tool in a worker process could not come back.
        return type(self), (self.tool, self._error), self.__dict__


_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)\s*(?:\([^)]*\))?:\s*(.+)$")


def _docs(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The docstring's text before ``Args:`` and each ``name: description`` under it."""
    doc = inspect.getdoc(fn) or ""
    head, _, rest = doc.partition("\nArgs:")
    params: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next section (Returns:, Raises:)
        match = _ARG_LINE.match(line)
        if match:
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    return " ".join(head.split()), params


def _args_model(name: str, fn: Callable[..., Any], described: Mapping[str, str]) -> type[BaseModel]:
    signature = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable annotations: validate what we can
        hints = {}
    fields: dict[str, Any] = {}
    extra = "forbid"
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            extra = "allow"
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=described.get(param.name)))
    config = ConfigDict(extra=extra, arbitrary_types_allowed=True)  # type: ignore[typeddict-item]
    return create_model(f"{name}_arguments", __config__=config, **fields)


class Tool:
    """A function with a name, a description, validated arguments and options.

    Attributes:
        name, description: as shown to a model.
        fn: the wrapped function.
        limit: an int (at most that many calls of this tool at once) or the
            name of a pool shared with other tools (its size is given to
            ``Graph(limits=...)`` or ``run(limits=...)``).
        writes, reads: resource keys, templated from the arguments
            (``"customer:{customer_id}"``): writers of one key never overlap
            each other or its readers.
    """

    is_async = False
    executor: str | None = None
    """Where calls of this tool run by default (a run's executor name), unless a
    node says otherwise: ``@tool(executor="process")``."""
    cache: Cache | None = None
    """When its nodes reuse an earlier call's stored output, unless a node says
    otherwise: ``@tool(cache=True, version="2")``."""
    resources: Mapping[str, float] | None = None
    """Worker resources its calls need by default (``@tool(resources={"GPU": 1})``),
    unless a node says otherwise; see ``Graph.add``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        limit: int | str | None = None,
        writes: str | Iterable[str] = (),
        reads: str | Iterable[str] = (),
    ) -> None:
        summary, described = _docs(fn)
        description = description if description is not None else summary
        self._configure(fn, name or fn.__name__, description, limit, writes, reads)
        self.model: type[BaseModel] = _args_model(self.name, fn, described)
        self.__doc__ = fn.__doc__

    def _configure(
        self,
        fn: Callable[..., Any],
        name: str,
        description: str,
        limit: int | str | None,
        writes: str | Iterable[str],
        reads: str | Iterable[str],
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        if isinstance(limit, bool) or (isinstance(limit, int) and limit < 1):
            raise ValueError(f"tool {self.name!r}: limit must be an int >= 1 or a pool name")
        self.limit = limit
        self.writes = (writes,) if isinstance(writes, str) else tuple(writes)
        self.reads = (reads,) if isinstance(reads, str) else tuple(reads)
        self.__name__ = self.name
        # As functools.wraps does: where the function lives, which pickle needs
        # to find a module-level ``@tool`` by reference (see ``__reduce__``).
        self.__module__ = getattr(fn, "__module__", None) or __name__
        self.__qualname__ = getattr(fn, "__qualname__", self.name)

    @classmethod
    def from_schema(
        cls,
        name: str,
        parameters: Mapping[str, Any],
        fn: Callable[..., Awaitable[Any]] | Callable[..., Any],
        *,
        description: str = "",
        limit: int | str | None = None,
        writes: str | Iterable[str] = (),
        reads: str | Iterable[str] = (),
    ) -> Tool:
        """A tool described by a JSON schema rather than a signature (an MCP server's tool).

        Arguments are checked at the top level only: each property's JSON
        ``type`` (a list of types is a union) or ``enum``, the ``required``
        names, and unknown keys when ``additionalProperties`` is false (they are
        passed on otherwise). What a property's own schema says further (nested
        objects, formats, patterns) is left to ``fn``, as an MCP server
        validates its own inputs. ``fn`` is called with exactly the keys the
        caller gave, converted (``"3"`` for an integer is sent as ``3``): a
        property left out is not sent, not even its schema ``default``, so the
        server applies its own defaults and never sees a null it was not sent.

        Args:
            name: the name shown to a model.
            parameters: an object schema (``properties``, ``required``, maybe
                ``additionalProperties``); shown to models unchanged.
            fn: called as ``fn(**arguments)``; a coroutine function makes an
                ``AsyncTool``.
            description: shown to a model.
            limit: at most this many calls at once, or a shared pool's name.
            writes: resource key templates this tool writes.
            reads: resource key templates this tool reads.

        Returns:
            A ``Tool``, or an ``AsyncTool`` if ``fn`` is a coroutine function.

        Raises:
            ValueError: the schema is not an object schema this can check
                (``properties`` not a mapping, ``required`` naming an unknown
                property...), or ``limit`` is bad.
        """
        kind = AsyncTool if is_async_callable(fn) else Tool
        made = kind.__new__(kind)  # no signature to read: __init__ does not apply
        made._configure(fn, name, description, limit, writes, reads)
        made.model = schema_model(name, parameters)
        made.__doc__ = description
        return made

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments, validated and converted; ``ToolArgumentError`` if they are wrong."""
        try:
            parsed = self.model.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ToolArgumentError(self.name, exc) from None
        if isinstance(parsed, SchemaArguments):
            return given_arguments(parsed, arguments)
        values = dict(parsed)
        if parsed.model_extra:
            values.update(parsed.model_extra)
        return values

    def __call__(self, **arguments: Any) -> Any:
        return self.fn(**self.validate(arguments))

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (an object schema)."""
        if issubclass(self.model, SchemaArguments):
            return copy.deepcopy(self.model.json_schema)
        schema = self.model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("properties", {})
        return schema

    def openai_schema(self) -> dict[str, Any]:
        """``{"type": "function", "function": {name, description, parameters}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters(),
            },
        }

    def anthropic_schema(self) -> dict[str, Any]:
        """``{"name", "description", "input_schema"}``."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.parameters(),
        }

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickle a module-level ``@tool`` by reference, any other tool by its parts.

        The model pydantic builds cannot be pickled, and a decorated function
        cannot either (its module attribute is the tool), so: a tool that is
        its module's attribute ``__qualname__`` is pickled as that name, as a
        function is; any other is rebuilt from ``fn`` (which pickle must
        handle: a lambda or a closure raises), its schema and its options.
        """
        if _module_attribute(self.__module__, self.__qualname__) is self:
            return self.__qualname__
        schema = self.model.json_schema if issubclass(self.model, SchemaArguments) else None
        options = {
            "name": self.name,
            "description": self.description,
            "limit": self.limit,
            "writes": self.writes,
            "reads": self.reads,
        }
        state = (self.executor, self.cache, self.resources)
        return _restore, (type(self), self.fn, schema, options, *state)


def _module_attribute(module: str, qualname: str) -> object:
    """What ``module.qualname`` names now (``None`` if nothing)."""
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _restore(
    kind: type[Tool],
    fn: Callable[..., Any],
    schema: dict[str, Any] | None,
    options: dict[str, Any],
    executor: str | None = None,
    cache: Cache | None = None,
    resources: Mapping[str, float] | None = None,
) -> Tool:
    """Unpickle a tool ``Tool.__reduce__`` took apart."""
    if schema is None:
        made = kind(fn, **options)
    else:
        made = kind.from_schema(options.pop("name"), schema, fn, **options)
    made.executor = executor
    made.cache = cache
    made.resources = resources
    return made


class AsyncTool(Tool):
    """A ``Tool`` around a coroutine function: awaited on the loop, never in a thread."""

    is_async = True

    async def __call__(self, **arguments: Any) -> Any:
        return await self.fn(**self.validate(arguments))


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    limit: int | str | None = None,
    writes: str | Iterable[str] = (),
    reads: str | Iterable[str] = (),
    executor: str | None = None,
    cache: bool | Cache | Mapping[str, Any] | None = None,
    version: str | None = None,
    resources: Mapping[str, float] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    limit: int | str | None = None,
    writes: str | Iterable[str] = (),
    reads: str | Iterable[str] = (),
    executor: str | None = None,
    cache: bool | Cache | Mapping[str, Any] | None = None,
    version: str | None = None,
    resources: Mapping[str, float] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a ``Tool``; use bare (``@tool``) or with options (``@tool(limit=2)``).

    Args:
        fn: a sync or async function.
        name: the name shown to a model (default: the function's).
        description: default: the docstring's first part.
        limit: at most this many calls at once, or a shared pool's name.
        writes: resource key templates this tool writes (``"doc:{doc_id}"``).
        reads: resource key templates this tool reads.
        executor: where its calls run by default: ``"thread"``, ``"process"``,
            ``"async"`` or a name given to ``RunOptions(executors=...)``.
        cache: reuse a stored call's output in runs with a store: ``True``, a
            ``Cache`` or ``{"ttl": seconds, "key": template}`` (see ``Cache``).
        version: the tool's version, part of every cache key: bump it when
            its outputs change meaning, and no older result is reused.
        resources: worker resources its calls need by default (``{"GPU": 1}``;
            checked when a node uses the tool): Dask runs them only on workers
            that declare them.

    Returns:
        A ``Tool`` (an ``AsyncTool`` for coroutine functions), still callable.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        cls = AsyncTool if is_async_callable(f) else Tool
        made = cls(f, name=name, description=description, limit=limit, writes=writes, reads=reads)
        made.executor = executor
        policy = cache_policy(cache)
        if version is not None:
            policy = dataclasses.replace(policy or Cache(), version=str(version))
        made.cache = policy
        if resources is not None and not isinstance(resources, Mapping):
            raise TypeError(  # (amounts are checked with each node, as a node's own are)
                f"tool {made.name!r:.100}: resources must map names to amounts"
                f" ({{'GPU': 1}}), got {type(resources).__name__}"
            )
        made.resources = dict(resources) if resources is not None else None
        return made

    return wrap(fn) if fn is not None else wrap


class Toolbox:
    """A set of tools by name, exportable in each provider's format.

    Args:
        tools: ``Tool`` objects or plain functions (wrapped with ``tool``).
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, t: Tool | Callable[..., Any]) -> Tool:
        wrapped = t if isinstance(t, Tool) else tool(t)
        if wrapped.name in self._tools and self._tools[wrapped.name] is not wrapped:
            raise ValueError(f"two tools are named {wrapped.name!r}")
        self._tools[wrapped.name] = wrapped
        return wrapped

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def openai_schemas(self) -> list[dict[str, Any]]:
        """Every tool for OpenAI's ``tools=`` parameter (Chat Completions)."""
        return [t.openai_schema() for t in self]

    def openai_responses_schemas(self) -> list[dict[str, Any]]:
        """Every tool for the Responses API (``{"type": "function", "name", ...}``, flat).

        ``strict`` is off: OpenAI's strict mode requires every property to be
        required, which tools with defaults are not.
        """
        return [
            {"type": "function", **t.openai_schema()["function"], "strict": False} for t in self
        ]

    def anthropic_schemas(self) -> list[dict[str, Any]]:
        """Every tool for Anthropic's ``tools=`` parameter."""
        return [t.anthropic_schema() for t in self]
