"""Durable runs: the embedded SQLite run store.

``RunOptions(store="runs.db")`` (or ``store=SQLiteStore(...)``) records every
run and every node's transitions in one SQLite file (WAL mode), and commits each
success before the nodes that depend on it start. A run that dies — a crash,
``kill -9``, a closed laptop — is resumed with ``resume=RUN_ID`` (or
``"last"``): its succeeded nodes are not run again, their stored outputs feed
their dependents, and every other node runs.

The contract is the one of Temporal and DBOS steps: a node runs *at least once*
and never again once its success was committed. A tool with side effects that
crashed after acting but before that commit runs again; ``current_call()``
gives it an idempotency key, stable across retries and resumes, to detect it.

The same file keeps durable agents' conversations (``open_conversation``):
what ``graphflow.llm.agent``'s loops record between their runs.
"""

from __future__ import annotations

from ._conversations import Conversation as Conversation
from ._conversations import open_conversation as open_conversation
from ._sqlite import DEFAULT_STORE as DEFAULT_STORE
from ._sqlite import RunRecord as RunRecord
from ._sqlite import SQLiteStore as SQLiteStore
from ._sqlite import StoreError as StoreError
from ._sqlite import UnstorableOutputError as UnstorableOutputError

__all__ = [
    "Conversation",
    "DEFAULT_STORE",
    "RunRecord",
    "SQLiteStore",
    "StoreError",
    "UnstorableOutputError",
    "open_conversation",
]
