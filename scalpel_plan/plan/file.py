"""The saved-plan format: written by `scalpel plan --out` (masked, atomically), read back, and
checked still to apply. Every file a command writes goes through the same masked write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalpel_plan.errors import ScalpelError, StalePlanError
from scalpel_plan.files import write_masked
from scalpel_plan.plan.model import PLAN_FORMAT_VERSION, Plan
from scalpel_plan.state.model import State


def plan_json(plan: Plan) -> str:
    """The saved-plan format, as `load_plan` reads it back."""
    return plan.model_dump_json(indent=2)


def save_plan(plan: Plan, path: Path) -> None:
    """Write ``plan`` where `scalpel apply PLAN` reads it back (masked, atomically)."""
    write_masked(path, plan_json(plan).encode())


def stale_reasons(plan: Plan, state: State, spec_sha256: str, commit: str | None) -> list[str]:
    """Why a saved plan no longer applies (empty when it still does)."""
    fp = plan.fingerprint
    reasons = []
    if fp.lineage and fp.lineage != state.lineage:
        reasons.append(f"it was made for another state (lineage {fp.lineage}, "
                       f"now {state.lineage or 'none'})")
    elif fp.serial != state.serial or fp.lineage != state.lineage:
        reasons.append(f"the state changed since (serial {fp.serial} then, {state.serial} now)")
    if fp.spec_sha256 != spec_sha256:
        reasons.append("release.yml changed since")
    if fp.commit != commit:
        reasons.append(f"HEAD moved since ({fp.commit[:12]} then, {(commit or 'none')[:12]} now)")
    return reasons


def check_fresh(plan: Plan, state: State, spec_sha256: str, commit: str | None) -> None:
    reasons = stale_reasons(plan, state, spec_sha256, commit)
    if reasons:
        raise StalePlanError("the saved plan is stale: " + "; ".join(reasons),
                             hint="make a new one with `scalpel plan --out plan.json`")


def load_plan(path: Path) -> Plan:
    try:
        data: Any = path.read_text()
    except OSError as exc:
        raise ScalpelError(f"cannot read plan {path}: {exc.strerror}") from None
    try:
        plan = Plan.model_validate_json(data)
    except ValueError as exc:
        raise ScalpelError(f"{path} is not a Scalpel plan: {str(exc).splitlines()[0]}",
                           hint="plans are written by `scalpel plan --out FILE`") from None
    if plan.format_version > PLAN_FORMAT_VERSION:
        raise ScalpelError(f"{path} was written by a newer Scalpel (plan format "
                           f"{plan.format_version})", hint="upgrade Scalpel")
    return plan
