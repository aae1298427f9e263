"""graphflow under an LLM planner: batches of tool calls in, tool results out.

- ``execute_openai`` / ``execute_openai_responses`` (``graphflow.llm.openai``):
  one result per call, in call order, whatever the model sent
- ``execute_anthropic`` (``graphflow.llm.anthropic``): likewise, as one user message
- ``execute_calls``: the provider-neutral core of those, from ``Call`` to ``Outcome``
- ``describe_tools`` / ``admit_references`` (``graphflow.llm.schemas``): tool
  schemas whose parameters also take a reference to another call of the batch
  (``"${1.user_id}"``), and ``REFERENCE_INSTRUCTIONS``, the system-prompt text
  that explains them (``REFERENCE_PATTERN``: what such a string matches)
- ``parse_plan`` / ``run_plan`` (``graphflow.llm.plan``): LLMCompiler-style
  numbered plans, streamed
- ``run_agent`` / ``run_plan_agent`` (``graphflow.llm.agent``): the loops around a
  planner (OpenAI Chat Completions or Responses, Anthropic) and a toolbox;
  durable with a store (``store=..., run_id=CONVERSATION``): resumed after a
  crash without asking the model again or re-running a call that succeeded

No SDK is imported: SDK objects and plain dicts are read alike.
"""

from ._batch import Call as Call
from ._batch import Outcome as Outcome
from ._batch import execute_calls as execute_calls
from .anthropic import execute_anthropic as execute_anthropic
from .openai import execute_openai as execute_openai
from .openai import execute_openai_responses as execute_openai_responses
from .schemas import REFERENCE_INSTRUCTIONS as REFERENCE_INSTRUCTIONS
from .schemas import REFERENCE_PATTERN as REFERENCE_PATTERN
from .schemas import admit_references as admit_references
from .schemas import describe_tools as describe_tools

__all__ = [
    "Call",
    "Outcome",
    "REFERENCE_INSTRUCTIONS",
    "REFERENCE_PATTERN",
    "admit_references",
    "describe_tools",
    "execute_anthropic",
    "execute_calls",
    "execute_openai",
    "execute_openai_responses",
]
