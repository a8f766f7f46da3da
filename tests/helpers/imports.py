"""Import graphs: the cycle finder the package's and the benchmarks' layout tests share."""

from __future__ import annotations


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
