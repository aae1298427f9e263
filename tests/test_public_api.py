"""The public face: a small, sorted, explicit surface that loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import graphflow


def test_all_is_sorted_and_every_name_exists() -> None:
    assert graphflow.__all__ == sorted(graphflow.__all__)
    assert len(set(graphflow.__all__)) == len(graphflow.__all__)
    for name in graphflow.__all__:
        assert hasattr(graphflow, name), name


def test_exported_objects_claim_to_live_in_graphflow_modules() -> None:
    for name in graphflow.__all__:
        obj = getattr(graphflow, name)
        module = getattr(obj, "__module__", None)
        if module is not None and callable(obj):
            assert module.startswith("graphflow"), (name, module)


def test_the_llm_edge_imports_no_sdk_and_no_store() -> None:
    code = (
        "import sys, graphflow.llm, graphflow.llm.agent, graphflow.llm.plan; "
        "heavy = {'openai', 'anthropic', 'httpx', 'rich', 'yaml', 'graphflow.store', 'sqlite3'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_graphflow_loads_no_edge_dependency() -> None:
    code = (
        "import sys, graphflow; "
        "heavy = {'yaml', 'rich', 'networkx', 'httpx', 'openai', 'anthropic', 'dask', "
        "'structlog', 'graphflow.cli', 'mcp', 'graphflow.mcp'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
