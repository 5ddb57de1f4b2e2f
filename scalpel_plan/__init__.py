"""Scalpel: a software release as a reviewable plan.

The flow runs one way: ``spec`` loads and validates release.yml, ``graph`` compiles it,
``plan`` diffs it against the recorded ``state`` and what ``providers`` read live, and
``apply`` carries the plan out, journaling every step. ``cli`` is the only command-line
parser and ``ui`` the only module that prints. ``operations`` is the library over all of it:
``open_project``, ``plan``, ``apply``, ``rollback``, ``start_hotfix``, ``finish_hotfix``.

The seed's classes are importable from here (``from scalpel_plan import MetricsTracker``);
each is loaded from its home module on first use, so ``import scalpel_plan`` (and so
``scalpel --version``) imports none of them.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`scalpel --version`)

__version__ = "0.1.0"

# name → the module it lives in
_HOMES: dict[str, str] = {
    "Secret": "scalpel_plan.secrets",
    "SecretsManager": "scalpel_plan.secrets",
    "ChangeEntry": "scalpel_plan.content.commits",
    "ChangelogSection": "scalpel_plan.content.changelog",
    "ChangelogGenerator": "scalpel_plan.content.changelog",
    "Template": "scalpel_plan.content.notes",
    "TemplateRegistry": "scalpel_plan.content.notes",
    "ReleaseNotesTemplate": "scalpel_plan.content.notes",
    "RollbackPoint": "scalpel_plan.state.model",
    "Hotfix": "scalpel_plan.operations.hotfix",
    "RollbackManager": "scalpel_plan.operations.hotfix",
    "Metric": "scalpel_plan.observe.metrics",
    "MetricType": "scalpel_plan.observe.metrics",
    "MetricsTracker": "scalpel_plan.observe.metrics",
    "BuildStage": "scalpel_plan.observe.profile",
    "BuildProfiler": "scalpel_plan.observe.profile",
    "PublishEvent": "scalpel_plan.observe.dashboard",
    "StatusDashboard": "scalpel_plan.observe.dashboard",
    "Alert": "scalpel_plan.observe.alerts",
    "AlertChannel": "scalpel_plan.observe.alerts",
    "FailureAlerter": "scalpel_plan.observe.alerts",
}

__all__ = [  # the seed's API, as _HOMES says where each lives
    "Alert", "AlertChannel", "BuildProfiler", "BuildStage", "ChangeEntry", "ChangelogGenerator",
    "ChangelogSection", "FailureAlerter", "Hotfix", "Metric", "MetricType", "MetricsTracker",
    "PublishEvent", "ReleaseNotesTemplate", "RollbackManager", "RollbackPoint", "Secret",
    "SecretsManager", "StatusDashboard", "Template", "TemplateRegistry", "__version__",
]

if TYPE_CHECKING:  # what a type checker sees; at run time, __getattr__ loads them
    from typing import Any

    from scalpel_plan.content.changelog import ChangelogGenerator, ChangelogSection
    from scalpel_plan.content.commits import ChangeEntry
    from scalpel_plan.content.notes import ReleaseNotesTemplate, Template, TemplateRegistry
    from scalpel_plan.observe.alerts import Alert, AlertChannel, FailureAlerter
    from scalpel_plan.observe.dashboard import PublishEvent, StatusDashboard
    from scalpel_plan.observe.metrics import Metric, MetricsTracker, MetricType
    from scalpel_plan.observe.profile import BuildProfiler, BuildStage
    from scalpel_plan.operations.hotfix import Hotfix, RollbackManager
    from scalpel_plan.secrets import Secret, SecretsManager
    from scalpel_plan.state.model import RollbackPoint


if not TYPE_CHECKING:  # hidden from type checkers, which would take any name as Any

    def __getattr__(name: str) -> Any:
        """Load a public class from its home module the first time it is asked for."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        globals()[name] = value  # the next lookup finds it without coming here
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
