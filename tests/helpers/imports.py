"""Import graphs: the cycle finder the package's and the benchmarks' layout tests share, and the benchmarks' modules
(tests/bench/test_bench_layout.py and its end-to-end half)."""

from __future__ import annotations

from pathlib import Path

from helpers.recipes import REPO

BENCHMARKS = REPO / "benchmarks"


def benchmark_modules() -> dict[str, Path]:
    """Dotted module name → file for every module under benchmarks/ (a package's name maps to its __init__.py)."""
    out = {}
    for path in sorted(BENCHMARKS.rglob("*.py")):
        if "results" in path.relative_to(BENCHMARKS).parts:
            continue
        parts = ("benchmarks", *path.relative_to(BENCHMARKS).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles in `graph` (module → modules it imports), each as the path that closes it."""
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                path = trail + [node]
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return cycles
