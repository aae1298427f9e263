"""graphflow: run tool calls as a dependency graph, each the moment its inputs are ready.

The public face. Everything here is re-exported from private modules; edges
(``graphflow.workflow``, ``graphflow.llm``, ``graphflow.cli``, ...) are imported
by path, so ``import graphflow`` never loads yaml, rich or an SDK.
"""

from ._context import current_call as current_call
from ._event import Event as Event
from ._event import EventKind as EventKind
from ._graph import Graph as Graph
from ._options import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from ._options import RunOptions as RunOptions
from ._options import RunOptionsArgs as RunOptionsArgs
from ._refs import Ref as Ref
from ._refs import compile_args as compile_args
from ._refs import ref as ref
from ._refs import resolve_path as resolve_path
from ._refs import to_text as to_text
from ._results import Attempt as Attempt
from ._results import NodeError as NodeError
from ._results import NodeResult as NodeResult
from ._results import NodeStatus as NodeStatus
from ._results import RunResult as RunResult
from ._scheduler import run as run
from ._scheduler import run_sync as run_sync
from ._spec import Cache as Cache
from ._spec import NodeSpec as NodeSpec
from ._spec import Retry as Retry
from ._spec import Trigger as Trigger
from ._streaming import Scheduler as Scheduler
from ._tools import Tool as Tool
from ._tools import ToolArgumentError as ToolArgumentError
from ._tools import Toolbox as Toolbox
from ._tools import tool as tool
from ._types import EventSink as EventSink
from ._types import Executor as Executor
from ._types import NodeCall as NodeCall
from ._types import RunInfo as RunInfo
from ._types import RunJournal as RunJournal
from ._types import RunStore as RunStore
from .errors import CycleError as CycleError
from .errors import DuplicateNodeError as DuplicateNodeError
from .errors import EventSinkError as EventSinkError
from .errors import GraphError as GraphError
from .errors import OptionError as OptionError
from .errors import ReferenceResolutionError as ReferenceResolutionError
from .errors import SpecError as SpecError
from .errors import ToolNotFoundError as ToolNotFoundError
from .errors import UnknownNodeError as UnknownNodeError

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Cache",
    "CycleError",
    "DEFAULT_CONCURRENCY",
    "DuplicateNodeError",
    "Event",
    "EventKind",
    "EventSink",
    "EventSinkError",
    "Executor",
    "Graph",
    "GraphError",
    "NodeCall",
    "NodeError",
    "NodeResult",
    "NodeSpec",
    "NodeStatus",
    "OptionError",
    "Ref",
    "ReferenceResolutionError",
    "Retry",
    "RunInfo",
    "RunJournal",
    "RunOptions",
    "RunOptionsArgs",
    "RunResult",
    "RunStore",
    "Scheduler",
    "SpecError",
    "Tool",
    "ToolArgumentError",
    "ToolNotFoundError",
    "Toolbox",
    "Trigger",
    "UnknownNodeError",
    "__version__",
    "compile_args",
    "current_call",
    "ref",
    "resolve_path",
    "run",
    "run_sync",
    "to_text",
    "tool",
]
