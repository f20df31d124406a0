"""Union-find over string keys whose group root is always the group's smallest member, so a group's id
does not depend on the order in which links were seen (used for content groups and split groups)."""

from __future__ import annotations


class SmallestRootUnionFind:
    """Disjoint sets of strings; ``find(x)`` is the smallest member of ``x``'s set."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo
