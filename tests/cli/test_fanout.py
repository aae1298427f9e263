"""The CLI's view of for_each, over real runs."""

from __future__ import annotations

import pytest

import graphflow as gf
from graphflow.builtin_tools import echo
from graphflow.cli._fanout import ItemCount, complete, group_items
from graphflow.cli._view import final_outputs, table_rows

pytestmark = pytest.mark.anyio


def runtime_graph() -> gf.Graph:
    graph = gf.Graph()
    graph.add("listing", echo, args={"names": ["a", "b", "c"]})
    graph.add("each", echo, for_each="${listing.names}", args={"name": "${item}"})
    graph.add("again", echo, for_each="${each}", args={"name": "${item.name}"})
    graph.add("total", echo, args={"all": "${again}"})
    return graph


async def test_the_live_total_counts_items_created_at_run_time() -> None:
    graph = runtime_graph()
    count = ItemCount(graph)
    before = count.total
    result = await gf.run(graph, observers=[count])
    assert before == 4
    assert len(result) == count.total == 10  # 4 declared + 2 maps x 3 items


async def test_complete_adds_each_runtime_items_wait_for_its_source() -> None:
    graph = runtime_graph()
    deps = complete(await gf.run(graph), graph).dependencies()
    assert "listing" in deps["each[1]"]
    assert "each[1]" in deps["again[1]"]  # chained: item k waits for item k


async def test_complete_gives_an_interrupted_record_the_graphs_edges() -> None:
    graph = runtime_graph()
    run = await gf.run(graph)
    bare = gf.RunResult(
        run.run_id, dict(run), run.started_at, run.finished_at
    )  # as the CLI records
    deps = complete(bare, graph).dependencies()
    assert deps["each"] == ("each[0]", "each[1]", "each[2]")
    assert "listing" in deps["each[0]"] and deps["total"] == ("again",)


async def test_only_the_end_of_the_chain_is_a_final_output() -> None:
    graph = runtime_graph()
    result = complete(await gf.run(graph), graph)
    assert [node_id for node_id, _ in final_outputs(result)] == ["total"]


async def test_rows_fold_items_unless_expanded() -> None:
    graph = runtime_graph()
    result = complete(await gf.run(graph), graph)
    assert [row.node for row in table_rows(result, expand=False)] == [
        "listing",
        "each (3 items)",
        "again (3 items)",
        "total",
    ]
    assert len(list(table_rows(result, expand=True))) == len(result)


def test_group_items_needs_the_map_node() -> None:
    assert group_items(["a[0]", "a[1]", "a", "b[0]"]) == {"a": ["a[0]", "a[1]"]}
