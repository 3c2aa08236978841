"""The package's shape, proved: no import cycle anywhere in tuilab, and the lab layer headless."""

from __future__ import annotations

import subprocess
import sys

import grimp


def cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


class TestImports:
    def test_no_module_of_tuilab_is_in_an_import_cycle(self) -> None:
        # TYPE_CHECKING imports count: a cycle hidden behind one still couples the two modules.
        graph = grimp.build_graph("tuilab")
        assert cycles(graph, set(graph.modules)) == []

    def test_the_lab_layer_imports_no_textual_and_no_engine_library(self) -> None:
        code = (
            "import sys, tuilab.lab.machine, tuilab.lab.planning, tuilab.lab.launch, tuilab.lab.session; "
            "print(sorted(m for m in ('textual', 'mlx', 'llama_cpp') if m in sys.modules))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "[]"


class TestTheCycleFinder:
    def test_finds_a_cycle_it_is_shown(self) -> None:
        graph = grimp.ImportGraph()
        for name in ("a", "b", "c"):
            graph.add_module(name)
        graph.add_import(importer="a", imported="b")
        graph.add_import(importer="b", imported="a")
        graph.add_import(importer="b", imported="c")
        assert cycles(graph, {"a", "b", "c"}) == [{"a", "b"}]
