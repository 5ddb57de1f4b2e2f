"""Pre-flight: what git, CI and the providers' credentials say before a release is planned or
applied, every problem found together (as `Diagnostic`s), each with the fix.

- a shallow clone (CI's default checkout) hides history and tags: nothing else can be trusted;
- a dirty work tree: the tag would point at a commit without the changes the stages ran on;
- a detached HEAD (a pull request's merge commit): fine to review, not to release from;
- the branch behind or diverged from the tag's push remote (after a short fetch; offline is a
  warning): the push would be refused, or tag a commit no branch contains;
- the providers' default credentials ($GITHUB_TOKEN, $PYPI_TOKEN, $DOCKER_USERNAME/PASSWORD)
  checked like declared secrets;
- a `--version` not after the live one, and an existing tag explained truthfully: released by
  Scalpel, made outside it, or a stray local tag.

For `plan` the git findings are warnings (a plan is for review); for `apply` they are errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalpel_plan import git
from scalpel_plan.errors import Diagnostic, GitError, ScalpelError
from scalpel_plan.graph import Graph
from scalpel_plan.masking import mask_bytes
from scalpel_plan.plan.model import Plan
from scalpel_plan.providers.base import (
    RELEASE_COMMIT,
    Change,
    LiveCache,
    Release,
    is_reference,
    remote_branch_key,
    remote_tags_key,
)
from scalpel_plan.providers.registry import Registry
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec import LoadedSpec
from scalpel_plan.spec.model import Spec
from scalpel_plan.state.model import State
from scalpel_plan.workspace import STATE_FOLDER, Workspace

FETCH_TIMEOUT = 15.0  # seconds for the fetch of the release branch; offline is a warning
SHOWN_FILES = 10


@dataclass
class Findings:
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    fatal: bool = False  # nothing planned from this repository could be trusted

    def add(self, message: str, hint: str | None, *, error: bool,
            address: str | None = None) -> None:
        severity = "error" if error else "warning"
        (self.errors if error else self.warnings).append(
            Diagnostic(message, address=address, hint=hint, severity=severity))


def push_remote(graph: Graph) -> tuple[str, str] | None:
    """(address, remote) of the release tag's node that pushes, if one does."""
    for address in graph.order:
        node = graph.nodes[address]
        push = getattr(node.config, "push", None)
        if node.provider == "git" and isinstance(push, str) and push:
            return address, push
    return None


def repository(workspace: Workspace, graph: Graph, state: State, *,
               for_apply: bool, branch_checks: bool = True, base: str | None = None,
               live: LiveCache | None = None) -> Findings:
    """The work tree, HEAD and the branch against its remote, before anything is planned
    (without ``branch_checks``, as for a rollback, which commits and pushes no branch: the
    history and the work tree only); ``base``: the branch a plan on a detached HEAD is
    for; ``live``: the plan's reads, which then need not ask the remote again."""
    repo = workspace.repo
    found = Findings()
    if git.is_shallow(repo):
        found.fatal = True
        found.add("this is a shallow clone (CI's default checkout): history and tags are "
                  "missing, so the version, the changelog and the tags cannot be known",
                  "check out the whole history: `fetch-depth: 0` in actions/checkout, or "
                  "`git fetch --unshallow --tags`", error=True)
        return found
    dirty = _dirty(workspace, graph, state)
    if dirty:
        shown = ", ".join(dirty[:SHOWN_FILES]) + (
            f" and {len(dirty) - SHOWN_FILES} more" if len(dirty) > SHOWN_FILES else "")
        head = (git.head(repo) or "")[:12]
        what = ("the work tree has uncommitted changes to tracked files: " + shown +
                f"; the release is cut from HEAD ({head}), without them, while the stages "
                "run on the tree as it is")
        found.add(what, "commit them or `git stash` them, then "
                  + ("apply again" if for_apply else "plan again"), error=for_apply)
    branch = git.current_branch(repo)
    if not branch_checks:
        return found
    if branch is None:
        head = (git.head(repo) or "")[:12]
        if for_apply:
            found.add(f"HEAD is detached at {head} (a pull request's merge commit, or a "
                      "checkout of a tag or commit): a release commit and its tag are pushed "
                      "to a branch", "check out the branch to release from (`git checkout "
                      "main`) and apply there; in CI, apply on a push to that branch, not on "
                      "a pull request", error=True)
        else:
            on = f"as if made on {base}" if base else "on no branch (`--branch BRANCH` " \
                "names the one it is for)"
            found.add(f"HEAD is detached at {head}: this plan is for review only; it shows "
                      f"the release {on}", "`scalpel apply` needs the branch checked out",
                      error=False)
        return found
    pushed = push_remote(graph)
    if pushed:
        _upstream(repo, branch, pushed[1], found, for_apply=for_apply,
                  live=live or LiveCache())
    return found


def _dirty(workspace: Workspace, graph: Graph, state: State) -> list[str]:
    """Tracked files changed in the work tree, except the state folder's and, while a release
    is unfinished, the files its release commit writes (an interrupted apply left them)."""
    repo = workspace.repo
    try:
        folder = (workspace.workdir / STATE_FOLDER).resolve().relative_to(repo.resolve())
    except ValueError:
        folder = Path(STATE_FOLDER)
    skip = f"{folder.as_posix()}/"
    changed = [p for p in git.changed_files(repo) if not p.startswith(skip)]
    current = state.current_release()
    node = graph.nodes.get(RELEASE_COMMIT)
    if changed and node is not None and current is not None and current.unfinished:
        config: Any = node.config
        ours = {str(rule["path"]) for rule in config.files}
        if config.changelog_file:
            ours.add(str(config.changelog_file))
        changed = [p for p in changed if p not in ours]
    return changed


def _upstream(repo: Path, branch: str, remote: str, found: Findings, *,
              for_apply: bool, live: LiveCache) -> None:
    """The branch against the same branch on ``remote``, freshly fetched."""
    try:
        there = live.get(remote_branch_key(remote, branch),
                         lambda: git.fetch_branch(repo, remote, branch, FETCH_TIMEOUT))
    except GitError as exc:
        found.add(f"could not fetch {branch} from {remote}, so whether it moved is not "
                  f"checked: {exc.message}", f"check that {remote} is reachable", error=False)
        return
    if there is None or there == git.head(repo):
        return  # not on the remote yet (the push creates it), or where HEAD is
    ahead, behind = git.ahead_behind(repo, "HEAD", there)
    if not behind:
        return
    state = (f"{branch} is {behind} commit{'s' * (behind != 1)} behind {remote}/{branch}"
             if not ahead else f"{branch} has diverged from {remote}/{branch} ({ahead} "
             f"commit{'s' * (ahead != 1)} here, {behind} there)")
    found.add(f"{state}: the push of the release would be refused, or tag a commit the "
              "branch does not contain", f"`git pull --rebase {remote} {branch}`, then "
              + ("apply again" if for_apply else "plan again"), error=for_apply)


def missing_tags(repo: Path, spec: Spec, graph: Graph,
                 live: LiveCache | None = None) -> list[Diagnostic]:
    """Release tags this clone lacks (a checkout without tags: `fetch-tags: false`, a
    `--no-tags` fetch): with none here while the tag's push remote has some, the version and
    the changelog would be decided as if those releases never happened."""
    from scalpel_plan.content.versioning import release_tags

    pushed = push_remote(graph)
    if pushed is None or release_tags(spec, [t.name for t in git.tags(repo)]):
        return []
    try:
        there = (live or LiveCache()).get(
            remote_tags_key(pushed[1]), lambda: git.remote_tags(repo, pushed[1], FETCH_TIMEOUT))
    except GitError:
        return []  # offline: the tag's own read says so
    found = release_tags(spec, list(there))
    missing = sorted(found, key=found.__getitem__, reverse=True)  # the newest version first
    if not missing:
        return []
    shown = ", ".join(missing[:SHOWN_FILES]) + (
        f" and {len(missing) - SHOWN_FILES} more" if len(missing) > SHOWN_FILES else "")
    return [Diagnostic(f"release tags are missing from this clone: {shown} (on {pushed[1]}); "
                       "without them the version and the changelog would be decided as if "
                       "those releases never happened",
                       hint="fetch them: `git fetch --tags` (in actions/checkout, "
                       "`fetch-depth: 0` with the default `fetch-tags`), then plan again")]


def version(spec: Spec, state: State, wanted: str | None, previous: str | None
            ) -> list[Diagnostic]:
    """`--version` lower than or equal to the live version: refused."""
    from scalpel_plan.content.schemes import SCHEMES

    if not wanted:
        return []
    scheme = SCHEMES[spec.policy.scheme]
    target = scheme.parse(wanted)
    last = state.last_released()
    candidates = [previous, state.live_version(), last.version if last else None]
    parsed = [(v, scheme.parse(v)) for v in candidates if v]
    known = [(v, p) for v, p in parsed if p is not None]
    if target is None or not known:
        return []
    live, top = max(known, key=lambda item: item[1])
    if target > top:
        return []
    done = state.release(wanted)
    if target == top:
        if done is None or not done.released:
            return []  # a tag made outside Scalpel: the tag's own check explains it
        when = (done.finished_at or done.started_at)[:10]
        message = (f"--version {wanted}: {done.tag or wanted} was released by Scalpel on "
                   f"{when}; a version is released once")
    else:
        message = (f"--version {wanted} is not after {live}, the version released last; "
                   "a release never goes back")
    return [Diagnostic(message, hint="choose a higher version, or leave --version out: "
                       "`scalpel plan` proposes the next one; to go back, "
                       "`scalpel rollback --to VERSION`")]


def explain_tags(problems: list[Diagnostic], graph: Graph, state: State, release: Release,
                 already: list[Diagnostic]) -> list[Diagnostic]:
    """``problems`` with the release tag's "already exists" replaced by what is true: the tag
    was released by Scalpel, made outside it (on the remote), or is a stray local tag (or
    dropped, when ``already`` says the version is refused)."""
    explained = []
    for problem in problems:
        node = graph.nodes.get(problem.address or "")
        if node is None or node.provider != "git" or "already exists" not in problem.message:
            explained.append(problem)
            continue
        if already:
            continue
        explained.append(_explain_tag(problem, state, release,
                                      getattr(node.config, "push", None)))
    return explained


def _explain_tag(problem: Diagnostic, state: State, release: Release,
                 remote: str | None) -> Diagnostic:
    tag, repo = release.tag, release.repo
    done = state.release(release.version)
    if done is not None and done.released:
        when = (done.finished_at or done.started_at)[:10]
        return Diagnostic(f"tag {tag} already exists: {release.version} was released by "
                          f"Scalpel on {when}; a release tag never moves",
                          address=problem.address, hint="choose another version: leave "
                          "--version out and `scalpel plan` proposes the next one")
    local = git.tag_commit(repo, tag)
    there = None
    if remote:
        try:
            there = git.remote_tags(repo, remote, FETCH_TIMEOUT).get(tag)
        except GitError:
            there = None
    if there:
        where = f"locally and on {remote}" if local else f"on {remote}"
        return Diagnostic(f"tag {tag} already exists {where} at {there[:12]}, made outside "
                          "Scalpel (the state has no such release); a release tag never moves",
                          address=problem.address, hint="plan the next version with --version "
                          "(the state does not know releases made before Scalpel)")
    if local:
        return Diagnostic(f"tag {tag} already exists locally at {local[:12]} but not "
                          f"{'on ' + remote if remote else 'in the state'}: a stray tag, "
                          "never released; a release tag never moves",
                          address=problem.address, hint=f"delete the local tag: `git tag -d "
                          f"{tag}`, then plan again")
    return problem


# The providers' default credentials: (provider, attribute naming a secret, default variable).
DEFAULT_CREDENTIALS = (("github", "token", "GITHUB_TOKEN"), ("pypi", "password", "PYPI_TOKEN"),
                       ("docker", "username", "DOCKER_USERNAME"),
                       ("docker", "password", "DOCKER_PASSWORD"))


def credentials(changes: list[Change], secrets: SecretsManager, *, allow_missing: bool
                ) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(errors, warnings): each default variable a change will use (the node names no secret)
    that is not set, checked like a declared secret (``allow_missing``: a warning)."""
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    for change in changes:
        if change.action not in ("create", "update", "replace"):
            continue
        for provider, attribute, env in DEFAULT_CREDENTIALS:
            if change.provider != provider or change.after.get(attribute) or \
                    is_reference(change.after.get(attribute)) or _is_set(secrets, env):
                continue
            diagnostic = Diagnostic(
                f"secret {env}: ${env} is not set; {change.address} uses it (no `{attribute}:` "
                "on the node)", address=change.address,
                hint=f"export {env}=... (values come from the environment only), or declare "
                f"a secret and set `{attribute}: \"${{secrets.NAME}}\"` on {change.address}",
                severity="warning" if allow_missing else "error")
            (warnings if allow_missing else errors).append(diagnostic)
    return errors, warnings


def _is_set(secrets: SecretsManager, env: str) -> bool:
    try:
        return bool(secrets.from_env(env))
    except ScalpelError:  # not set
        return False


def saved_plan_problems(saved: Plan, workspace: Workspace, graph: Graph, registry: Registry,
                        state: State) -> list[Diagnostic]:
    """Why a saved plan (fresh by its fingerprint) cannot be applied in this work tree: it is
    dirty, HEAD is detached, the branch is behind its remote, or is not the planned one; or
    it was edited: its nodes, or what release.yml fixes of them, are not release.yml's."""
    found = repository(workspace, graph, state, for_apply=True,
                       branch_checks=saved.mode == "release")
    uncovered = _uncovered(saved, graph)
    problems = list(found.errors) + (uncovered or _edited(saved, graph, registry, state,
                                                          workspace))
    planned = next((c.after.get("branch") for c in saved.changes
                    if c.address == RELEASE_COMMIT and c.actionable), None)
    branch = git.current_branch(workspace.repo)
    if isinstance(planned, str) and branch is not None and planned != branch:
        problems.append(Diagnostic(f"the plan makes the release commit on {planned}, but "
                                   f"{branch} is checked out", address=RELEASE_COMMIT,
                                   hint=f"check out {planned}, or plan again here"))
    return problems


def _uncovered(saved: Plan, graph: Graph) -> list[Diagnostic]:
    """A release plan holds one change for every node of the release.yml it was made from
    (its fingerprint says it is this one): a plan with nodes left out (``changes: []``), added
    or given another provider was not made by `scalpel plan`, and would record a release that
    was not made."""
    if saved.mode != "release" or saved.release is None:
        return []
    planned = {c.address: c.provider for c in saved.changes}
    nodes = {a: n.provider for a, n in graph.nodes.items()}
    missing = [a for a in graph.order if a not in planned]
    extra = [a for a in planned if a not in nodes]
    other = [a for a in planned if a in nodes and planned[a] != nodes[a]]
    if not (missing or extra or other) and len(saved.changes) == len(planned):
        return []
    named = [f"{', '.join(missing)} left out"] * bool(missing) + \
        [f"{', '.join(extra)} not in release.yml"] * bool(extra) + \
        [f"{', '.join(other)} of another provider"] * bool(other) + \
        ["a node listed twice"] * (len(saved.changes) != len(planned))
    return [Diagnostic("the saved plan does not hold the nodes of release.yml: "
                       + "; ".join(named), hint="make a new plan with `scalpel plan --out "
                       "FILE`; a plan file is never edited by hand")]


def _edited(saved: Plan, graph: Graph, registry: Registry, state: State, workspace: Workspace
            ) -> list[Diagnostic]:
    """Every attribute of a release plan's changes that release.yml alone fixes (the
    providers' ``spec_bound``, and each step's timeout, phase and needs), computed again from
    release.yml for the plan's release and compared: a digest anyone can recompute seals a
    plan file, so a command, a remote or a URL edited in it is caught here."""
    from scalpel_plan.plan.release import saved_release

    if saved.mode != "release" or saved.release is None:
        return []
    from scalpel_plan.plan.model import package_releases

    release = saved_release(saved.release, graph, registry, state, workspace)
    own = package_releases(saved.release, release)  # a package's nodes run with its own
    problems = []
    for change in saved.changes:
        if not change.actionable:
            continue  # a no-op runs nothing (it holds what was recorded)
        node = graph.nodes[change.address]
        provider = registry.get(node.provider)
        try:
            desired = _as_saved(provider.desired(node, own.get(change.address, release)))
        except ScalpelError as exc:
            problems.append(Diagnostic(exc.message, address=change.address, hint=exc.hint))
            continue
        pairs = [("timeout", change.timeout, node.timeout), ("phase", change.phase, node.phase),
                 ("needs", change.needs, graph.needs(change.address))]  # the step's own
        held_now = _as_saved({k: change.after.get(k) for k in provider.spec_bound})  # masked
        pairs += [(key, held_now.get(key), desired.get(key)) for key in provider.spec_bound]
        problems += [Diagnostic(f"the saved plan's {key} of {change.address} is not what "
                                "release.yml gives: the plan was edited", address=change.address,
                                hint="make a new plan with `scalpel plan --out FILE`")
                     for key, held, given in pairs if held != given]
    return problems


def _as_saved(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` as a plan file holds them: JSON, masked with the secrets loaded now
    (both sides of a comparison are: the plan job may have had other secrets)."""
    text = json.dumps(attributes, ensure_ascii=False, default=str)
    return dict(json.loads(mask_bytes(text.encode())))


def downgrades(loaded: LoadedSpec, repo: Path,
               planned: Sequence[tuple[Any, Sequence[str | int], Any]]) -> list[Diagnostic]:
    """A release lower than the version a version file already holds (at HEAD): refused,
    at the tag format when no release tag matched it (the likely cause: a first release,
    0.1.0, proposed over a package.json at 3.2.0), else at the version file. ``planned``:
    (spec or package view, its place in release.yml, its VersionDecision) of each release."""
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.content.version_files import pattern_for

    found = []
    for view, base, decision in planned:
        scheme = SCHEMES[view.policy.scheme]
        target = scheme.parse(decision.version or "")
        files = view.policy.files if base == ["version"] else view.files
        if target is None or not files:
            continue
        for i, rule in enumerate(files):
            path = rule if isinstance(rule, str) else rule.path
            try:
                regex = re.compile(pattern_for(path, getattr(rule, "pattern", None)))
            except ScalpelError:
                continue  # git.commit says what is wrong with it
            text = git.show_file(repo, "HEAD", path) or ""
            held = [(m["version"], v) for m in regex.finditer(text)
                    if (v := scheme.parse(m["version"])) is not None and v > target]
            if not held:
                continue
            found.append(_downgrade(loaded, repo, view, [*base, "files", i], path,
                                    max(held, key=lambda h: h[1])[0], decision))
            break
    return found


def below_live(loaded: LoadedSpec, repo: Path, state: State,
               planned: Sequence[tuple[Any, Sequence[str | int], Any]]) -> list[Diagnostic]:
    """A first release (no release tag found in HEAD's history) lower than the version the
    state records as live (the project's, or in a monorepo the package's): refused, as
    ``downgrades`` refuses one below a version file. A tag format that matches none of the
    release tags would otherwise make a first release, 0.1.0, of a package Scalpel released
    at 4.0.1; a release decided from a tag (a hotfix of an older one) is not refused."""
    from scalpel_plan.content.schemes import SCHEMES
    from scalpel_plan.state.packages import live_packages

    live = live_packages(state) if loaded.spec.packages else {}
    found = []
    for view, base, decision in planned:
        if decision.previous_tag is not None:
            continue  # decided from a release tag HEAD has: as a hotfix of an older release is
        name = getattr(view, "name", None)
        now = live[name].version if name in live else None if name else state.live_version()
        scheme = SCHEMES[view.policy.scheme]
        target, held = scheme.parse(decision.version or ""), scheme.parse(now or "")
        if target is None or held is None or not target < held:
            continue
        found.append(_downgrade(loaded, repo, view, [*base], "the state", str(now), decision,
                                recorded=True))
    return found


def _downgrade(loaded: LoadedSpec, repo: Path, view: Any, where: list[str | int], path: str,
               held: str, decision: Any, *, recorded: bool = False) -> Diagnostic:
    """What ``downgrades`` and ``below_live`` say: ``held`` is in the version file ``path``,
    or (``recorded``) the version the state records as live."""
    formats = view.policy.tag_formats
    name = getattr(view, "name", None)  # a package's
    tag_key: list[str | int] = ["packages", name, "tag"] if name else ["version", "tag"]
    spelt = repr(formats[0]) if len(formats) == 1 else repr(formats)
    what = f"package {name}: " if name else ""
    holds = "records as live version" if recorded else "holds version"
    again = f"--version {held}{f' --package {name}' if name else ''}"
    message = (f"{what}{path} {holds} {held}, but the plan would release "
               f"{decision.version}: a release never goes back")
    if decision.previous_tag is None:
        message += f"; no tag matched the tag format {spelt} ({'.'.join(map(str, tag_key))})"
        like = [t for t in git.git(repo, "tag", "--list", f"*{held}").stdout.split()
                if t.endswith(held) and (name is None or name in t)]
        fix = ""
        if like:
            fmt = like[0][:-len(held)] + "{version}"
            if name and loaded.spec.packages:
                fmt = fmt.replace(name, "{name}")
            fix = f" (tag {like[0]} holds {held}: tag: {fmt!r} would match it)"
        hint = f"fix the tag format so that it matches the release tags{fix}" + (
            "" if recorded else f"; if {held} was never released, release it: {again}")
        diagnostic = loaded.source.diagnostic(message, tag_key, hint=hint)
        if (diagnostic.line, diagnostic.col) == loaded.source.position(
                tag_key[:-1]):  # the default format, not written: at the version file
            diagnostic = loaded.source.diagnostic(message, where, hint=hint)
        return diagnostic
    message += f" (the last release tag is {decision.previous_tag})"
    if recorded:
        return loaded.source.diagnostic(message, where, hint="to go back, `scalpel rollback "
                                        "--to VERSION`; else plan a higher version")
    return loaded.source.diagnostic(
        message, where, hint=f"release {held} or later: {again}, or correct {path} if "
        f"{held} is wrong")

