"""The dependency graph of a template's resources: its cycles, and an order that puts every
resource after those it depends on (ties broken by name, so the same template always renders
in the same order)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Set


def cycles(dependencies: Mapping[str, Set[str]]) -> list[list[str]]:
    """One cycle path per strongly connected group of two or more resources, each path starting
    at the group's first name and ending where it started (``[a, b, a]``)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(start: str) -> None:  # Tarjan's algorithm, iterative (a long chain must not recurse)
        work = [(start, iter(sorted(dependencies.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in dependencies:
                    continue
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(dependencies.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for name in sorted(dependencies):
        if name not in index:
            connect(name)
    return [_path_through(group, dependencies) for group in sorted(groups)]


def _path_through(group: list[str], dependencies: Mapping[str, Set[str]]) -> list[str]:
    """A cycle inside ``group`` from its first member back to it (breadth-first: the shortest)."""
    members, start = set(group), group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(dependencies.get(node, ())):
                if successor == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    return [start, *reversed(path[1:]), start]
                if successor in members and successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    return [*group, start]  # unreachable for a strongly connected group


def dependency_order(dependencies: Mapping[str, Set[str]]) -> list[str]:
    """Every name after the names it depends on, the smallest name first among the ready ones
    (Kahn's algorithm). Names in a cycle are left out."""
    waiting = {name: {d for d in needs if d in dependencies} for name, needs in dependencies.items()}
    needed_by: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, needs in waiting.items():
        for need in needs:
            needed_by[need].append(name)
    ready = [name for name, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for dependant in needed_by[name]:
            waiting[dependant].discard(name)
            if not waiting[dependant]:
                heapq.heappush(ready, dependant)
    return order
