"""The DAG: edges, cycles as paths, run order, target selection and drawings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ffpipe.graph import (
    UnknownTarget,
    build_graph,
    generations,
    named_nodes,
    select,
    to_dot,
    to_mermaid,
)
from ffpipe.pipeline import PipelineErrors, load_pipeline

EXAMPLES = Path(__file__).resolve().parent.parent / "pipelines" / "examples"

DIAMOND = """
    version: 1
    matrix:
      age: [30, 70]
    steps:
      look:
        uses: detect
        with: {target_media: astronaut.jpg}
      aged:
        uses: edit
        with:
          target_media: "{{ steps.look.output }}"
          face_editor_age: "{{ matrix.age }}"
      restore:
        uses: enhance
        with: {target_media: "{{ steps.aged.output }}"}
      smile:
        uses: edit
        with: {target_media: "{{ steps.look.output }}", face_editor_mouth_smile: 0.5}
"""


def test_edges_and_generations(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, DIAMOND, photos=True))
    graph = build_graph(pipeline)
    assert set(graph.edges) == {
        ("look", "aged[age=30]"),
        ("look", "aged[age=70]"),
        ("look", "smile"),
        ("aged[age=30]", "restore[age=30]"),
        ("aged[age=70]", "restore[age=70]"),
    }
    assert generations(graph) == [
        ["look"],
        ["aged[age=30]", "aged[age=70]", "smile"],
        ["restore[age=30]", "restore[age=70]"],
    ]


def test_select_by_step_or_instance_with_or_without_downstream(
    tmp_path: Path, write_pipeline
) -> None:
    graph = build_graph(load_pipeline(write_pipeline(tmp_path, DIAMOND, photos=True)))
    assert select(graph, ["aged"]) == {"look", "aged[age=30]", "aged[age=70]"}
    assert select(graph, ["restore[age=70]"]) == {"look", "aged[age=70]", "restore[age=70]"}
    assert select(graph, ["aged[age=30]"], downstream=True) == {
        "look",
        "aged[age=30]",
        "restore[age=30]",
    }
    assert select(graph, ["look"], downstream=True) == set(graph.nodes)
    with pytest.raises(UnknownTarget, match="did you mean 'aged'"):
        select(graph, ["agde"])


def test_named_nodes_expands_steps_and_words_errors_for_the_option(
    tmp_path: Path, write_pipeline
) -> None:
    graph = build_graph(load_pipeline(write_pipeline(tmp_path, DIAMOND, photos=True)))
    assert named_nodes(graph, ["aged", "look"]) == {"look", "aged[age=30]", "aged[age=70]"}
    with pytest.raises(UnknownTarget, match=r"^--force agde: no such step"):
        named_nodes(graph, ["agde"], "--force")


def test_instance_level_cycles_and_unknown_needs_are_located(
    tmp_path: Path, write_pipeline
) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, DIAMOND, photos=True))
    look = pipeline.instances["look"]
    # A hand-made instance set with a cycle (the loader would refuse the file itself).
    broken = dict(pipeline.instances)
    broken["look"] = replace(look, needs=frozenset({"smile", "ghost"}))
    with pytest.raises(PipelineErrors) as caught:
        build_graph(replace(pipeline, instances=broken))
    messages = [str(error) for error in caught.value.errors]
    assert any(
        ":5:3: steps.look: dependency cycle look -> smile -> look (smile at line 16)" in m
        for m in messages
    ), messages
    assert any("needs unknown step 'ghost'" in m for m in messages)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_draws(example: Path) -> None:
    pipeline = load_pipeline(example)
    graph = build_graph(pipeline)
    mermaid = to_mermaid(graph, pipeline)
    dot = to_dot(graph, pipeline)
    assert mermaid.startswith("flowchart TD\n")
    assert mermaid.count(" --> ") == graph.number_of_edges()
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    assert dot.count(" -> ") == graph.number_of_edges()
    for node in graph.nodes:
        assert f'"{node}"' in dot


def test_drawings_escape_quotes(tmp_path: Path, write_pipeline) -> None:
    pipeline = load_pipeline(write_pipeline(tmp_path, DIAMOND, photos=True))
    graph = build_graph(pipeline)
    graph.add_node('odd "name"', op="edit")
    assert '"odd \\"name\\""' in to_dot(graph, pipeline)
    assert "odd #quot;name#quot;" in to_mermaid(graph, pipeline)
