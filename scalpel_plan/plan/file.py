"""The saved-plan format: written by `scalpel plan --out` (masked, atomically), read back, and
checked still to apply. Every file a command writes goes through the same masked write.

A plan file is bound to its content: it carries ``digest``, the sha256 of the canonical JSON
of everything else in it, and ``digests``, one per part (the release, each change by address),
so that `scalpel apply plan.json` refuses a plan edited after `scalpel plan --out` wrote it and
names what was edited. This guards against accidental and naive edits, not against an attacker
(who can recompute a plain digest; that would take a key, an HMAC, and where to keep it).
Whatever a plan file says is also checked like a spec before it reaches a command line or a
path: addresses, versions, tags, commits, remotes, branches and file paths.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from scalpel_plan.errors import ScalpelError, StalePlanError
from scalpel_plan.files import DocumentError, read_document, write_masked
from scalpel_plan.masking import mask_bytes
from scalpel_plan.plan.model import PLAN_FORMAT_VERSION, Plan
from scalpel_plan.state import values
from scalpel_plan.state.model import State

SEALS = ("digest", "digests")


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256(data: Any) -> str:
    return hashlib.sha256(_canonical(data)).hexdigest()


def _parts(body: dict[str, Any]) -> dict[str, str]:
    """A digest per part of a plan body: each top-level field, each change by address."""
    parts = {key: _sha256(value) for key, value in body.items()
             if key not in SEALS and key != "changes"}
    for change in body.get("changes") or []:
        address = change.get("address") if isinstance(change, dict) else None
        parts[f"changes.{address}"] = _sha256(change)
    return parts


def plan_json(plan: Plan) -> str:
    """The saved-plan format, as `load_plan` reads it back: masked, then sealed with its
    digests (over the masked text, which is what the file holds)."""
    masked = mask_bytes(plan.model_dump_json(exclude=set(SEALS)).encode())
    body: dict[str, Any] = json.loads(masked)
    body["digests"] = _parts(body)
    body["digest"] = _sha256(body)
    return json.dumps(body, indent=2, ensure_ascii=False)


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
    """A plan file read back: sealed by its digest, every value it carries checked."""
    not_a_plan = ScalpelError(f"{path} is not a Scalpel plan",
                              hint="plans are written by `scalpel plan --out FILE`")
    try:
        data = read_document(path)
    except DocumentError as exc:
        raise ScalpelError(f"{not_a_plan.message}: {exc}", hint=not_a_plan.hint) from None
    except OSError as exc:
        raise ScalpelError(f"cannot read plan {path}: {exc.strerror or exc}",
                           hint="give the file `scalpel plan --out FILE` wrote") from None
    if not isinstance(data, dict):
        raise ScalpelError(f"{not_a_plan.message}: it holds {_a(data)}, not an object",
                           hint=not_a_plan.hint)
    version = data.get("format_version")
    if isinstance(version, int) and version > PLAN_FORMAT_VERSION:
        raise ScalpelError(f"{path} was written by a newer Scalpel (plan format "
                           f"{version})", hint="upgrade Scalpel")
    _check_seal(path, data)
    try:
        plan = Plan.model_validate(data)
    except ValueError as exc:
        raise ScalpelError(f"{not_a_plan.message}: {str(exc).splitlines()[0]}",
                           hint=not_a_plan.hint) from None
    problems = plan_value_problems(plan)
    if problems:
        raise ScalpelError(f"{path} holds values no plan can have: " + "; ".join(problems[:5]),
                           hint="make a new one with `scalpel plan --out FILE`")
    return plan


def _a(data: object) -> str:
    """What a JSON value is, in words ("a list")."""
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(data), "null")


def _check_seal(path: Path, data: dict[str, Any]) -> None:
    """Refuse a plan whose body is not what `scalpel plan --out` wrote, naming what changed."""
    stored = data.get("digest")
    body = {k: v for k, v in data.items() if k != "digest"}
    hint = f"make a new plan with `scalpel plan --out {path.name}`; never edit one by hand"
    if not isinstance(stored, str):
        raise ScalpelError(f"{path} has no digest: it was not written by `scalpel plan --out` "
                           "of this Scalpel, or the digest was removed", hint=hint)
    if _sha256(body) == stored:
        return
    found = data.get("digests")
    before: dict[str, Any] = found if isinstance(found, dict) else {}
    now = _parts(body)
    edited = sorted(k for k in now if k in before and before[k] != now[k])
    removed = sorted(k for k in before if k not in now)
    added = sorted(k for k in now if k not in before)
    named = [f"{k} edited" for k in edited] + [f"{k} removed" for k in removed] + \
        [f"{k} added" for k in added]
    detail = f": {', '.join(named)}" if named else ""
    raise ScalpelError(f"{path} was edited after `scalpel plan --out` wrote it (digest "
                       f"mismatch){detail}", hint=hint)


def plan_value_problems(plan: Plan) -> list[str]:
    """Every value of a plan that would reach a command line, a path or a URL, checked like a
    spec would check it (an empty list when all are fine)."""
    problems, check = values.collect()
    fp = plan.fingerprint
    check(not fp.commit or bool(values.SHA.match(fp.commit)), "fingerprint.commit", fp.commit)
    if plan.release is not None:
        r = plan.release
        check(bool(values.VERSION.match(r.version)), "release.version", r.version)
        check(r.previous is None or bool(values.VERSION.match(r.previous)), "release.previous",
              r.previous)
        check(values.ref_ok(r.tag), "release.tag", r.tag)
        check(bool(values.SHA.match(r.commit)), "release.commit", r.commit)
    if plan.rollback is not None:
        b = plan.rollback
        check(bool(values.VERSION.match(b.to_version)), "rollback.to_version", b.to_version)
        check(b.from_version is None or bool(values.VERSION.match(b.from_version)),
              "rollback.from_version", b.from_version)
        check(values.ref_ok(b.point), "rollback.point", b.point)
        check(bool(values.SHA.match(b.commit)), "rollback.commit", b.commit)
    for change in plan.changes:
        check(bool(values.ADDRESS.match(change.address)), "an address", change.address)
        check(bool(values.PROVIDER.match(change.provider)), f"{change.address}: provider",
              change.provider)
        for need in change.needs:
            check(bool(values.ADDRESS.match(need)), f"{change.address}: needs", need)
        for side in (change.before, change.after):
            values.check_attributes(change.address, change.provider, side, check)
    return problems
