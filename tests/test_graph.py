"""Compiling specs into the dependency graph: implicit edges, phases, exports."""

from __future__ import annotations

from pathlib import Path

from scalpel_plan.graph import compile_graph, graph_dot, graph_mermaid
from scalpel_plan.providers.registry import default_registry
from scalpel_plan.spec import load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def compiled(text: str, tmp_path: Path):
    path = tmp_path / "release.yml"
    path.write_text(text)
    registry = default_registry()
    return compile_graph(load_spec(path), registry)


def edges(graph) -> set[tuple[str, str]]:
    return set(graph.dag.edges)


def test_publish_waits_for_the_stages_and_notify_for_the_publishes(tmp_path):
    g = compiled("stages:\n  test: {run: t}\n  lint: {run: l}\n"
                 "publish:\n  git.tag: {}\nnotify:\n  console.a: {}\n", tmp_path)
    assert edges(g) == {("stage.test", "git.tag"), ("stage.lint", "git.tag"),
                        ("git.tag", "console.a")}
    assert g.order == ["stage.test", "stage.lint", "git.tag", "console.a"]


def test_explicit_needs_replace_the_implicit_ones(tmp_path):
    g = compiled("stages:\n  test: {run: t}\n  docs: {run: d}\n"
                 "publish:\n  git.tag: {needs: [stage.test]}\n", tmp_path)
    assert edges(g) == {("stage.test", "git.tag")}


def test_implicit_edges_only_reach_the_last_stages(tmp_path):
    g = compiled("stages:\n  test: {run: t}\n  build: {run: b, needs: [stage.test]}\n"
                 "publish:\n  git.tag: {}\n", tmp_path)
    assert edges(g) == {("stage.test", "stage.build"), ("stage.build", "git.tag")}


def test_list_form_stages_are_ordered_phases_with_members(tmp_path):
    g = compiled((EXAMPLES / "phases" / "release.yml").read_text(), tmp_path)
    assert edges(g) == {
        ("stage.build", "stage.test"), ("stage.test", "stage.publish"),
        ("stage.publish", "git.tag"), ("stage.publish", "console.announce"),
        ("git.tag", "console.announce")}
    assert g.nodes["git.tag"].phase == "publish"


def test_members_of_a_phase_finish_before_the_next_phase(tmp_path):
    g = compiled("stages:\n  - {name: build, timeout: 10}\n  - {name: test, timeout: 10}\n"
                 "publish:\n  git.tag: {phase: build}\n", tmp_path)
    assert ("git.tag", "stage.test") in edges(g) and ("stage.build", "git.tag") in edges(g)
    assert g.order == ["stage.build", "git.tag", "stage.test"]


def test_the_seed_example_is_three_ordered_phases(tmp_path):
    g = compiled((EXAMPLES / "seed" / "release.yml").read_text(), tmp_path)
    assert g.order == ["stage.build", "stage.test", "stage.publish"]
    assert [g.nodes[a].timeout for a in g.order] == [300, 600, 180]
    assert edges(g) == {("stage.build", "stage.test"), ("stage.test", "stage.publish")}


def test_dot_and_mermaid_list_every_node_and_edge(tmp_path):
    g = compiled((EXAMPLES / "monorepo" / "release.yml").read_text(), tmp_path)
    dot = graph_dot(g)
    assert dot.startswith("digraph release {") and dot.count(" -> ") == len(g.dag.edges)
    assert '"stage.smoke" -> "git.core";' in dot
    mermaid = graph_mermaid(g)
    assert mermaid.startswith("flowchart LR") and mermaid.count(" --> ") == len(g.dag.edges)
    assert all(f'["{a}"]' in mermaid for a in g.nodes)


def test_graph_command_prints_dot(cli):
    result = cli(EXAMPLES / "phases", "graph")
    assert result.code == 0 and '"stage.build" -> "stage.test";' in result.out
