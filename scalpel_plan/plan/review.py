"""A plan reviewed elsewhere (a pull request's, made on its merge commit) against the plan
made now where it is applied (the branch after the merge): the fingerprint cannot match (the
commit differs), so what the reviewer saw is compared instead. Any difference is named, and
nothing is applied."""

from __future__ import annotations

from collections import Counter

from scalpel_plan.errors import Diagnostic
from scalpel_plan.plan.model import CommitSummary, Plan


def differences(reviewed: Plan, fresh: Plan) -> list[Diagnostic]:
    """What ``fresh`` would do that ``reviewed`` did not show: another release.yml, another
    version or tag, a node changed in another way (or not at all)."""
    found: list[str] = []
    if reviewed.mode != "release":
        return [Diagnostic("the reviewed plan is a rollback plan",
                           hint="apply a rollback plan with `scalpel apply FILE`")]
    if reviewed.fingerprint.spec_sha256 != fresh.fingerprint.spec_sha256:
        found.append("release.yml is not the one reviewed")
    was, now = reviewed.release, fresh.release
    if was is None or now is None:
        if (was is None) != (now is None):
            found.append(f"the review showed {_what(reviewed)}, but the plan now is "
                         f"{_what(fresh)}")
    else:
        found += [f"{name}: {old or '(none)'} reviewed, {new or '(none)'} now"
                  for name, old, new in (("version", was.version, now.version),
                                         ("previous version", was.previous, now.previous),
                                         ("tag", was.tag, now.tag)) if old != new]
    if was is not None and now is not None:
        found += _commits(was.commits, now.commits)
    shown = {c.address: c.action for c in reviewed.changes if c.actionable}
    planned = {c.address: c.action for c in fresh.changes if c.actionable}
    for address in sorted(set(shown) | set(planned)):
        old, new = shown.get(address, "no change"), planned.get(address, "no change")
        if old != new:
            found.append(f"{address}: {old} reviewed, {new} now")
    return [Diagnostic(f"the plan now differs from the reviewed one: {what}",
                       hint="the branch moved since the review (another merge, a release): "
                       "review the plan again (re-run the pull request's plan, or "
                       "`scalpel plan` here) and apply that") for what in found]


def _commits(was: list[CommitSummary], now: list[CommitSummary]) -> list[str]:
    """The commits that decide the version, by what they say (a merge or a rebase gives
    them other ids; a squash merge makes one the review did not show)."""
    def titles(commits: list[CommitSummary]) -> Counter[str]:
        return Counter(f"{c.title} ({c.bump})" for c in commits if c.bump)

    added, gone = titles(now) - titles(was), titles(was) - titles(now)
    return [f"commit {title} is in the release now, not in the review" for title in added] + \
        [f"commit {title} was reviewed, not in the release now" for title in gone]


def _what(plan: Plan) -> str:
    r = plan.release
    return f"release {r.version}" if r else f"nothing to release ({plan.nothing_to_release})"
