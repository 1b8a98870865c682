"""The project's import graph, lazy imports included: module cycles and two-way folder pairs.

``python -m tools.import_graph`` prints both; the architecture test asserts there are none.
Every ``import`` statement counts, wherever it sits (functions, ``TYPE_CHECKING`` blocks), so a
lazy import cannot hide an edge.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "schemas",
    "streams",
    "warehouse",
    "agents",
    "connectors",
    "observability",
    "services",
    "factory",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every module of the product (tests and tools excluded)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            found[_module_name(path)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (by any import statement)."""
    modules = source_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    graph[name].add(resolved)
                    break
        graph.setdefault(name, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def two_way_folder_pairs(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of top-level folders that import each other."""
    edges = {
        (a.split(".")[0], b.split(".")[0])
        for a, targets in graph.items()
        for b in targets
        if a.split(".")[0] != b.split(".")[0]
    }
    return sorted((a, b) for a, b in edges if a < b and (b, a) in edges)


def main() -> int:
    graph = import_graph()
    found = cycles(graph)
    pairs = two_way_folder_pairs(graph)
    largest = max(source_modules().items(), key=lambda kv: len(kv[1].read_text().splitlines()))
    print(f"modules: {len(graph)}")
    print(f"module cycles: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))
    print(f"two-way folder pairs: {len(pairs)}")
    for a, b in pairs:
        print(f"  {a} <-> {b}")
    lines = len(largest[1].read_text().splitlines())
    print(f"largest module: {largest[0]} ({lines} lines)")
    return 1 if found or pairs else 0


if __name__ == "__main__":
    raise SystemExit(main())
