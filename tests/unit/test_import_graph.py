"""No import cycle in pgqueue, counting the imports inside functions and under TYPE_CHECKING.

import-linter (make lint) checks the layer contracts in pyproject.toml; this checks the
rest: the graph of every module of the package (grimp, as import-linter builds it) has no
cycle at all, of any length. The failure names each cycle's modules and the lines that close it.
"""

from __future__ import annotations

import grimp


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for a, b in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=a, imported=b)
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_pgqueue_has_no_import_cycle() -> None:
    graph = grimp.build_graph("pgqueue", cache_dir=None)
    assert len(graph.modules) > 100
    report = []
    for comp in cycles(graph):
        members = set(comp)
        for m in comp:
            for n in sorted(graph.find_modules_directly_imported_by(m) & members):
                lines = [d["line_number"] for d in graph.get_import_details(importer=m, imported=n)]
                report.append(f"{m} -> {n} (line {', '.join(map(str, lines))})")
    assert not report, "import cycles:\n" + "\n".join(report)


def test_importing_pgqueue_leaves_alembic_and_sqlalchemy_unloaded() -> None:
    """The CLI's fail-fast budget counts on a light import: Alembic loads only to migrate or
    to check a revision."""
    import subprocess
    import sys

    code = "import sys, pgqueue, pgqueue.cli; print(sorted({'alembic', 'sqlalchemy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
