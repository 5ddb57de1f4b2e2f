"""Failure alerts: when a release or a rollback fails, say so where people will see it.

``FailureAlerter`` routes an ``Alert`` to the handlers registered per ``AlertChannel``: the
notify nodes named in ``alerts.on_failure`` (slack, email, webhook), the console, and custom
handlers (registered in Python, or installed under the ``scalpel.alert_handlers`` entry
point)::

    alerter.register_handler(AlertChannel.CUSTOM, custom_handler)

A channel that fails never hides the failure: the alert falls back to the console and the
channel's failure is journaled. The same failure (release, node, error) is alerted once per
``repeat_after`` window, so a resumed apply failing at the same point again does not page
twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from scalpel_plan.errors import ScalpelError
from scalpel_plan.files import atomic_write
from scalpel_plan.masking import mask
from scalpel_plan.observe.incidents import INTERRUPTED, Incident
from scalpel_plan.providers.message import Message
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import AlertsConfig, Spec
from scalpel_plan.state.events import EventKind

if TYPE_CHECKING:
    from scalpel_plan.apply import ApplyResult
    from scalpel_plan.plan.model import Plan
    from scalpel_plan.state import StateBackend
    from scalpel_plan.state.model import State

ENTRY_POINT_GROUP = "scalpel.alert_handlers"
HISTORY_FILE = "alerts.json"


class AlertChannel(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    CONSOLE = "console"
    CUSTOM = "custom"


Severity = Literal["warning", "error", "critical"]


@dataclass(frozen=True)
class Alert:
    """One failure, as every channel reports it."""

    project: str
    version: str
    error: str
    failed_node: str | None = None
    operation: str = "release"  # "release" | "rollback"
    severity: Severity = "error"
    done: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    report: str | None = None  # the incident report (a path or a URL)
    apply_id: str | None = None
    interrupted: bool = False  # a Ctrl-C (or a SIGTERM) stopped it, not a failure
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(
        timespec="seconds"))

    @classmethod
    def from_incident(cls, incident: Incident, report: str | None) -> Alert:
        node, error, _ = incident.failures[0] if incident.failures else \
            (None, INTERRUPTED if incident.interrupted else "failed", None)
        more = len(incident.failures) - 1
        return cls(project=incident.project, version=incident.version,
                   error=error + (f" (and {more} more failure{'s' * (more != 1)})"
                                  if more > 0 else ""),
                   failed_node=node, operation=incident.operation,
                   done=tuple(incident.done), remaining=tuple(incident.remaining),
                   report=report, apply_id=incident.apply_id,
                   interrupted=incident.interrupted and not incident.failures)

    @property
    def title(self) -> str:
        where = f" at {self.failed_node}" if self.failed_node else ""
        ended = "interrupted" if self.interrupted else "failed"
        return f"{self.project} {self.version}: {self.operation} {ended}{where}"

    @property
    def fingerprint(self) -> str:
        """The same failure has the same fingerprint, whichever apply hit it."""
        key = "\n".join((self.project, self.version, self.operation, self.failed_node or "",
                         self.error))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def message(self) -> Message:
        """The alert as a channel-neutral message (masked: it leaves Scalpel)."""
        body = [f"**Error:** {self.error}"]
        if self.done:
            body.append(f"**Done:** {', '.join(self.done)}")
        if self.remaining:
            body.append(f"**Remaining:** {', '.join(self.remaining)}")
        body.append("Run `scalpel plan` to see what remains and `scalpel apply` to finish; "
                    "what was done is not done again.")
        facts = [("Project", self.project), ("Version", self.version),
                 ("Operation", self.operation), ("Failed node", self.failed_node or "-"),
                 ("Severity", self.severity)]
        if self.report:
            facts.append(("Incident report", self.report))
        links = [("Incident report", self.report)] if self.report and \
            self.report.startswith(("http://", "https://")) else []
        data = {"event": "failure", "project": self.project, "version": self.version,
                "operation": self.operation, "failed_node": self.failed_node,
                "error": self.error, "done": list(self.done), "remaining": list(self.remaining),
                "report": self.report, "apply_id": self.apply_id, "fingerprint": self.fingerprint}
        return Message("failure", self.title, "\n\n".join(body), facts, links, data,
                       self.severity).masked()


AlertHandler = Callable[[Alert], object]


@dataclass
class AlertOutcome:
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # channel → why (masked)
    suppressed_since: str | None = None  # the same failure was alerted then
    fell_back: bool = False  # shown on the console because a channel failed


class FailureAlerter:
    """Routes alerts to the handlers registered for each channel."""

    def __init__(self, *, repeat_after: float = 3600.0, history: Path | None = None,
                 journal: Callable[..., object] | None = None,
                 fallback: AlertHandler | None = None,
                 store: StateBackend | None = None) -> None:
        """``history``: a file of who was alerted when; or, with ``store``, the state
        backend keeps it (as ``alerts.json``), wherever that backend lives."""
        self.repeat_after = repeat_after
        self.history = history
        self.store = store
        self.journal = journal or (lambda event, **fields: None)
        self.fallback = fallback
        self._handlers: list[tuple[AlertChannel, str, AlertHandler]] = []

    def register_handler(self, channel: AlertChannel, handler: AlertHandler, *,
                         name: str | None = None) -> None:
        """Send every alert to ``handler`` too (called with the Alert)."""
        label = name or getattr(handler, "__name__", None) or type(handler).__name__
        self._handlers.append((AlertChannel(channel), f"{channel.value}:{label}", handler))

    @property
    def channels(self) -> list[str]:
        return [name for _, name, _ in self._handlers]

    def send(self, alert: Alert) -> AlertOutcome:
        """Send ``alert`` to every channel that has not had this same failure within
        ``repeat_after``; a channel that failed last time is tried again."""
        outcome = AlertOutcome()
        seen = self._history()
        had = {c: t for c, t in seen.get(alert.fingerprint, {}).items()
               if _age(t) < self.repeat_after}
        todo = [(c, n, h) for c, n, h in self._handlers if n not in had]
        if self._handlers and not todo:
            outcome.suppressed_since = min(had.values())
            self.journal(EventKind.ALERT_SUPPRESSED, fingerprint=alert.fingerprint,
                         since=outcome.suppressed_since)
            return outcome
        for _channel, name, handler in todo:
            try:
                handler(alert)
            except Exception as exc:  # a broken channel must not hide the failure
                outcome.failed[name] = mask(str(exc) or type(exc).__name__)
                self.journal(EventKind.ALERT_CHANNEL_FAILED, channel=name,
                             error=outcome.failed[name])
            else:
                outcome.delivered.append(name)
                had[name] = alert.created_at
        console_done = any(c is AlertChannel.CONSOLE for c, n, _ in self._handlers if n in had)
        if (outcome.failed or not self._handlers) and not console_done and self.fallback:
            self.fallback(alert)
            outcome.fell_back = True
        if outcome.delivered:
            seen[alert.fingerprint] = had
            self._save_history(seen)
        self.journal(EventKind.ALERT_SENT, fingerprint=alert.fingerprint,
                     channels=outcome.delivered, failed=sorted(outcome.failed))
        return outcome

    def _history(self) -> dict[str, dict[str, str]]:
        """Fingerprint → channel → when it was alerted."""
        try:
            if self.store is not None:
                data = json.loads(self.store.read_record(HISTORY_FILE) or b"{}")
            elif self.history is not None:
                data = json.loads(self.history.read_bytes())
            else:
                return {}
        except (OSError, ValueError, ScalpelError):
            return {}  # no history yet, or unreadable: alerting matters more than dedup
        if not isinstance(data, dict):
            return {}
        return {str(fp): {str(c): str(t) for c, t in channels.items()}
                for fp, channels in data.items() if isinstance(channels, dict)}

    def _save_history(self, seen: dict[str, dict[str, str]]) -> None:
        keep = max(self.repeat_after, 86400.0)
        recent = {fp: channels for fp, channels in seen.items()
                  if any(_age(t) < keep for t in channels.values())}
        data = json.dumps(recent, indent=1, sort_keys=True).encode()
        if self.store is not None:
            self.store.write_record(HISTORY_FILE, data)
        elif self.history is not None:
            self.history.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.history, data)


def _age(iso: str) -> float:
    try:
        then = dt.datetime.fromisoformat(iso)
    except ValueError:
        return float("inf")
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


def from_spec(spec: Spec, registry: Registry, secrets: SecretsManager, *,
              console: AlertHandler, store: StateBackend,
              journal: Callable[..., object] | None = None) -> FailureAlerter:
    """The alerter release.yml asks for: ``alerts.on_failure``, or by default the console and
    every notify node with ``on: [failure]``. The console is always the fallback."""
    config = spec.alerts or AlertsConfig(on_failure=["console", *(
        address for address, raw in spec.notify.items()
        if "failure" in cast(list[str], raw.get("on") or []))])
    alerter = FailureAlerter(repeat_after=config.repeat_after,
                             store=store, journal=journal, fallback=console)
    for channel in config.on_failure:
        if channel == "console":
            alerter.register_handler(AlertChannel.CONSOLE, console, name="console")
        elif channel == "custom":
            for name, handler in _installed_handlers():
                alerter.register_handler(AlertChannel.CUSTOM, handler, name=name)
        else:
            kind, handler = _node_handler(spec, registry, secrets, channel)
            alerter.register_handler(kind, handler, name=channel)
    return alerter


def _node_handler(spec: Spec, registry: Registry, secrets: SecretsManager,
                  address: str) -> tuple[AlertChannel, AlertHandler]:
    provider = registry.get(address.split(".", 1)[0])
    assert provider.announces  # compile_graph checked it
    target = provider.target(provider.config_model.model_validate(spec.notify[address]))

    def handler(alert: Alert) -> object:
        return provider.send(address, target, alert.message(), secrets)

    known = {c.value for c in AlertChannel}
    return AlertChannel(provider.name if provider.name in known else "custom"), handler


def _installed_handlers() -> list[tuple[str, AlertHandler]]:
    """Handlers installed under the entry point group; one that fails to load still alerts
    (it fails when called, so the failure is journaled and the console takes over)."""
    found: list[tuple[str, AlertHandler]] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            handler = entry.load()
        except Exception as exc:
            error = f"alert handler plugin {entry.name} ({entry.value}) failed to load: {exc}"

            def broken(alert: Alert, error: str = error) -> object:
                raise RuntimeError(error)

            handler = broken
        found.append((entry.name, handler))
    return found


def alert_failure(plan: Plan, result: ApplyResult, state: State, backend: StateBackend,
                  spec: Spec, registry: Registry, secrets: SecretsManager, *,
                  console: AlertHandler) -> tuple[str, AlertOutcome]:
    """After a failed apply: write the incident report, then alert (journaling the outcome
    in the apply's own journal)."""
    from scalpel_plan.observe.incidents import write_report

    if plan.rollback is not None:
        project, version, operation = plan.rollback.project, plan.rollback.to_version, "rollback"
        if plan.rollback.package:  # a package's: named by its point (b@1.0.1), as finished
            version = plan.rollback.point
    else:
        assert plan.release is not None
        project, version, operation = plan.release.project, plan.release.version, "release"
    incident = Incident(
        operation=operation, project=project, version=version,
        apply_id=result.apply_id,
        failures=[(a, e.message, e.hint) for a, e in result.errors.items()],
        done=[a for a in result.where("done") if plan.change(a).actionable],
        remaining=result.where("skipped") + result.where("not started"),
        rollback_point=state.rollback_points[-1].name if state.rollback_points else None,
        interrupted=result.interrupted)
    report = write_report(backend, incident, backend.read_journal(result.apply_id))
    journal = backend.open_journal(result.apply_id)
    try:
        alerter = from_spec(spec, registry, secrets, console=console, store=backend,
                            journal=lambda event, **fields: journal.append(event, **fields))
        outcome = alerter.send(Alert.from_incident(incident, report))
    finally:
        journal.close()
    return report, outcome
