"""The seam through which packages that keep aggregates of channel-data facts learn about changes.

Channel-data ingestion sits below distribution in the dependency rule, so it cannot call the coverage rollups
directly; distribution registers a listener at start-up instead (``on_facts_changed(refresh_rollups)`` in its
``init_app``). Ingestion calls :func:`facts_changed` in the same transaction as the load, after the facts of
``added_submission_id`` are in place and ``removed_submission_id`` (the version it replaces, if any) stopped being
current, so a listener sees the new state and can update its aggregates incrementally for just these months.
A listener that raises aborts the load (nothing half loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FactsChanged:
    distributor_id: int
    kind: str  # a DataKind value
    months: frozenset[date]  # first days of the calendar months whose facts changed
    added_submission_id: int | None  # facts that now count
    removed_submission_id: int | None  # facts that no longer count (a superseded version)


Listener = Callable[[FactsChanged], None]
_listeners: list[Listener] = []


def on_facts_changed(listener: Listener) -> Listener:
    """Register ``listener`` (idempotent: registering the same function twice keeps one)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def facts_changed(event: FactsChanged) -> None:
    """Tell every listener; called by ingestion inside the load's transaction."""
    for listener in list(_listeners):
        listener(event)
