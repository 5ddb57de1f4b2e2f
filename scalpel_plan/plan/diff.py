"""The one diff both plan modes share: for every node of the graph, what is recorded, what is
live (read in parallel, read-only), what has drifted, the change a mode wants, its pre-flight,
and every problem found, collected rather than thrown one at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scalpel_plan.errors import Diagnostic, ScalpelError
from scalpel_plan.graph import Graph
from scalpel_plan.providers.base import Change, Drift, LiveCache, Node, Provider, Release
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.state.model import State

READ_WORKERS = 8

Attributes = dict[str, Any]
# A mode's wish for one node, given what is recorded: the attributes to read against
# (None: read what is recorded), and from what is then observed, the change (None: nothing).
Want = Callable[[Node, Provider, Attributes | None],
                tuple[Attributes | None, Callable[[Attributes | None], Change | None]]]


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)


def diff_graph(graph: Graph, registry: Registry, state: State, release: Release,
               secrets: SecretsManager, want: Want,
               packages: Mapping[str, Release] | None = None,
               live: LiveCache | None = None) -> Diff:
    """One Change per node that ``want`` has one for (in graph order), with its ``needs``.
    A monorepo package's node is read with its package's release (``packages``); ``live``:
    what the plan has read already (its pre-flight checks)."""
    live = live or LiveCache(secrets)

    def one(address: str) -> tuple[Change | None, str | None]:
        node = graph.nodes[address]
        provider = registry.get(node.provider)
        recorded = state.recorded(address)
        desired, change_for = want(node, provider, recorded)
        own = (packages or {}).get(node.package or "", release)
        observed = provider.read(node, own, desired, recorded, live)
        drifted = provider.drift(node, recorded, observed) if recorded else None
        change = change_for(observed)
        if change is None:
            return None, drifted
        if change.actionable:
            provider.preflight(change, graph.upstream(address))
        return change.model_copy(update={"needs": graph.needs(address)}), drifted

    found = Diff()
    with ThreadPoolExecutor(READ_WORKERS) as pool:
        futures = [(a, pool.submit(one, a)) for a in graph.order]
        for address, future in futures:
            try:
                change, drifted = future.result()
            except ScalpelError as exc:
                found.problems.append(Diagnostic(exc.message, address=address, hint=exc.hint))
                continue
            if change is not None:
                found.changes.append(change)
            if drifted:
                found.drift.append(Drift(address=address, message=drifted))
    return found
