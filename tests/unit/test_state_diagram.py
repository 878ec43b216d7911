"""The state diagram in docs/concepts.md is the code's transition table, edge for edge."""

from __future__ import annotations

import re
from pathlib import Path

from pgqueue.job import TERMINAL, TRANSITIONS, JobState

CONCEPTS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
EDGE = re.compile(r"^\s*(\[\*\]|\w+)\s*-->\s*(\[\*\]|\w+)\s*(?::.*)?$")


def diagram_edges() -> set[tuple[str, str]]:
    text = CONCEPTS.read_text()
    block = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)```", text, re.DOTALL)
    assert block, "docs/concepts.md has no mermaid stateDiagram-v2 block"
    edges = set()
    for line in block.group(1).splitlines()[1:]:
        match = EDGE.match(line)
        assert match or not line.strip(), f"unreadable diagram line: {line!r}"
        if match:
            edges.add((match.group(1), match.group(2)))
    return edges


def test_diagram_edges_are_the_transitions_table() -> None:
    edges = diagram_edges()
    between_states = {(a, b) for a, b in edges if "[*]" not in (a, b)}
    table = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert between_states == table, (
        f"only in the diagram: {sorted(between_states - table)}; "
        f"only in TRANSITIONS: {sorted(table - between_states)}"
    )


def test_diagram_names_every_state_and_its_entry_and_exit_points() -> None:
    edges = diagram_edges()
    named = {s for edge in edges for s in edge} - {"[*]"}
    assert named == {s.value for s in JobState}
    assert {b for a, b in edges if a == "[*]"} <= {JobState.QUEUED, JobState.WAITING}
    # Only a state with no way out ends the diagram.
    assert {a for a, b in edges if b == "[*]"} == {s.value for s in TERMINAL if not TRANSITIONS[s]}
