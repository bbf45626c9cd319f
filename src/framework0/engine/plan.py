"""The ready set: which steps may start, given which have finished and how (pure bookkeeping)."""

from __future__ import annotations

from framework0.graph.dag import Dag

DONE_OK = frozenset({"succeeded", "cached"})


class Plan:
    """Tracks final statuses and hands out steps whose upstream steps are all final.

    A ``tolerated`` step (``continue_on_error: true``) that failed blocks nothing: its dependents
    run as if it had passed, as GitHub Actions' ``continue-on-error`` and Ansible's ``ignore_errors``.
    """

    __slots__ = ("dag", "status", "tolerated", "_waiting")

    def __init__(self, dag: Dag, tolerated: frozenset[str] = frozenset()) -> None:
        self.dag = dag
        self.status: dict[str, str] = {}
        self.tolerated = tolerated
        self._waiting = {node: len(ups) for node, ups in dag.upstream.items()}

    def initial(self) -> list[str]:
        """Steps with no upstream, in recipe order."""
        return [node for node in self.dag.nodes if self._waiting[node] == 0]

    def complete(self, node: str, status: str) -> list[str]:
        """Record ``node``'s final status; return the steps that became ready because of it."""
        self.status[node] = status
        ready: list[str] = []
        waiting = self._waiting
        for child in self.dag.downstream[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
        return ready

    def blocker(self, node: str) -> str | None:
        """The first upstream step that did not succeed (failed, skipped ...), or None."""
        for up in self.dag.upstream[node]:
            status = self.status.get(up)
            if status not in DONE_OK and not (status == "failed" and up in self.tolerated):
                return up
        return None

    @property
    def finished(self) -> bool:
        return len(self.status) == len(self.dag.nodes)
