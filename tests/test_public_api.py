"""The seed's public API: every class imports from ``scalpel_plan`` itself, loaded on first
use, so that ``import scalpel_plan`` and ``scalpel --version`` stay cheap; the seed's three
examples run as written."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

import scalpel_plan

# name → the module it lives in (written out here, not read from the package)
HOMES = {
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
HEAVY = ("pydantic", "rich", "typer", "jsonschema", "networkx")
ROOT = Path(scalpel_plan.__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(HOMES))
def test_every_seed_class_imports_from_the_top_and_is_its_home_modules(name):
    namespace: dict[str, object] = {}
    exec(f"from scalpel_plan import {name}", namespace)  # the import statement itself
    value = namespace[name]
    assert isinstance(value, type)
    assert value is getattr(import_module(HOMES[name]), name)
    assert value.__module__ == HOMES[name]  # defined there, not re-exported from elsewhere


def test_all_and_dir_list_the_public_api():
    assert set(scalpel_plan.__all__) == {*HOMES, "__version__"}
    assert set(HOMES) <= set(dir(scalpel_plan))
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        _ = scalpel_plan.NoSuchThing  # type: ignore[attr-defined]
    from scalpel_plan import git  # submodules still import as before

    assert git.__name__ == "scalpel_plan.git"


def imported_modules(*args: str) -> set[str]:
    """Every module ``python -X importtime ARGS`` imports, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, env=env, timeout=60, cwd=ROOT, check=True)
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    names.discard("imported package")  # the header
    return names


def test_importing_the_package_imports_nothing_heavy():
    imported = imported_modules("-c", "import scalpel_plan; print(scalpel_plan.__file__)")
    assert "scalpel_plan" in imported  # the measurement saw the import it measures
    heavy = {m for m in imported if m.split(".")[0] in HEAVY}
    assert heavy == set()
    assert imported.isdisjoint(set(HOMES.values()))


def test_scalpel_version_imports_none_of_the_seed_classes():
    imported = imported_modules("-m", "scalpel_plan", "--version")
    assert "scalpel_plan.cli" in imported
    assert imported.isdisjoint(set(HOMES.values()))


def test_the_seeds_alert_example_reaches_the_handler():
    from scalpel_plan import Alert, AlertChannel, FailureAlerter

    received: list[Alert] = []

    def handler(alert: Alert) -> None:
        received.append(alert)

    alerter = FailureAlerter()
    alerter.register_handler(AlertChannel.CUSTOM, handler)
    alert = Alert(project="widgets", version="1.3.0", error="upload refused",
                  failed_node="pypi.widgets")
    outcome = alerter.send(alert)
    assert received == [alert]
    assert outcome.delivered == ["custom:handler"] and not outcome.fell_back


def test_the_seeds_template_example_renders_its_variables():
    from scalpel_plan import ReleaseNotesTemplate, Template

    template_mgr = ReleaseNotesTemplate()
    made = template_mgr.create_custom("my_template", "Content with {{variables}}")
    assert isinstance(made, Template) and made.name == "my_template"
    assert template_mgr.render("my_template", variables="values") == "Content with values"
    assert "my_template" in template_mgr.registry.names()


def test_the_seeds_metric_example_is_readable_back(tmp_path):
    from scalpel_plan import Metric, MetricsTracker, MetricType
    from scalpel_plan.state.local import LocalBackend

    tracker = MetricsTracker()
    recorded = tracker.record_metric("custom_metric", 123.45, MetricType.CUSTOM)
    assert isinstance(recorded, Metric) and tracker.metrics() == [recorded]

    backend = LocalBackend(tmp_path / ".scalpel")
    MetricsTracker(backend).record_metric("custom_metric", 123.45, MetricType.CUSTOM)
    [kept] = MetricsTracker(backend).metrics()  # another tracker reads the file back
    assert (kept.name, kept.value, kept.type) == ("custom_metric", 123.45, MetricType.CUSTOM)
