"""graphflow under an LLM planner: batches of tool calls in, tool results out.

- ``execute_openai`` / ``execute_openai_responses`` (``graphflow.llm.openai``)
- ``execute_anthropic`` (``graphflow.llm.anthropic``)
- ``parse_plan`` / ``run_plan``: LLMCompiler-style numbered plans, streamed
- ``run_agent``: the loop around a planner and a toolbox

No SDK is imported: SDK objects and plain dicts are read alike.
"""

from ._batch import Call as Call
from ._batch import Outcome as Outcome
from ._batch import execute_calls as execute_calls
from .anthropic import execute_anthropic as execute_anthropic
from .openai import execute_openai as execute_openai
from .openai import execute_openai_responses as execute_openai_responses

__all__ = [
    "Call",
    "Outcome",
    "execute_anthropic",
    "execute_calls",
    "execute_openai",
    "execute_openai_responses",
]
