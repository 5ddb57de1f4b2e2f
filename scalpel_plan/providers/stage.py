"""stage: a shell command run once per release, in its own process group, with a timeout.

It sees the environment without any secret's variable, plus the secrets it declares.
Output goes (masked) to a log file under .scalpel/logs/<version>/; its tail is shown on failure. A
stage without a command is a phase gate: it opens its phase and runs nothing.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import ClassVar

from scalpel_plan import git, process
from scalpel_plan.errors import ProviderError
from scalpel_plan.providers.base import (
    Attributes,
    Change,
    LiveCache,
    Node,
    Provider,
    Release,
    StepContext,
)
from scalpel_plan.secrets import REFERENCE
from scalpel_plan.spec.model import StageConfig

DEFAULT_TIMEOUT = 600.0


class StageProvider(Provider):
    name = "stage"
    spec_bound = ("command", "env", "timeout", "secrets", "needs")
    config_model: ClassVar[type[StageConfig]] = StageConfig
    keeps_history = False  # a finished run leaves nothing for a rollback to restore

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, StageConfig)
        timeout = node.timeout or DEFAULT_TIMEOUT
        desired: Attributes = {"release": release.version, "command": _with_release(config.run,
                                                                                   release),
                               "timeout": int(timeout) if timeout.is_integer() else timeout}
        if config.env:
            desired["env"] = dict(config.env)
        if config.secrets:
            desired["secrets"] = list(config.secrets)  # names: values are read at apply
        if config.needs:  # what it ran after: a build moved after the release commit reruns
            desired["needs"] = sorted(config.needs)
        return desired

    def read(self, node: Node, release: Release, desired: Attributes | None,
             recorded: Attributes | None, live: LiveCache) -> Attributes | None:
        """Whether a recorded run saw the tree the release is made of: the commit it ran on is
        in HEAD's history with nothing after it but the release commit (a rebase, or commits
        added since, mean what it checked or built is not what will be tagged)."""
        if not recorded or not recorded.get("ran_at") or desired is None or \
                recorded.get("release") != desired["release"]:
            return None
        ran_at = recorded["ran_at"]
        if not git.is_ancestor(release.repo, ran_at, "HEAD"):
            return {"ran_on_history": False}
        since = git.git(release.repo, "log", "--format=%s", "--end-of-options", f"{ran_at}..HEAD",
                        "--").stdout
        return {"ran_on_history": True, "commits_since": sum(
            1 for subject in since.splitlines() if subject != release.commit_message)}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        if recorded and recorded.get("release") == desired["release"]:
            seen = observed or {}
            if not seen.get("ran_on_history", True):
                return self.change(node, "run", after=desired, unknown=["exit_code"],
                                   reason=f"it ran on {str(recorded['ran_at'])[:12]}, which a "
                                   "rebase has left out of HEAD's history")
            if recorded.get("command") != desired["command"] or \
                    recorded.get("needs", []) != desired.get("needs", []):
                reason = "the command or what it needs changed since it ran for this release"
            elif count := seen.get("commits_since", 0):
                reason = (f"{count} commit{'s' * (count != 1)} came after the one it ran on "
                          f"({str(recorded['ran_at'])[:12]})")
            else:
                return self.change(node, "no-op", before=recorded, after=recorded,
                                   reason=f"already ran for {desired['release']}")
        elif desired["command"] is None:
            reason = f"opens phase '{node.name}' (no command; budget {desired['timeout']:g} s)"
            return self.change(node, "run", after=desired, reason=reason)
        else:
            reason = ""
        return self.change(node, "run", after=desired, reason=reason, unknown=["exit_code"])

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        command = change.after["command"]
        recorded = {"release": change.after["release"], "command": command,
                    "ran_at": git.head(ctx.release.repo)}
        if change.after.get("needs"):
            recorded["needs"] = change.after["needs"]
        if command is None:
            return {**recorded, "exit_code": 0}
        log = ctx.log_dir / f"{change.address}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # only the secrets the stage declares: every other secret's variable is removed
        listed = change.after.get("secrets", [])
        given = change.after.get("env", {})
        for name in sorted({n for v in given.values() for n in REFERENCE.findall(str(v))}
                           - set(listed)):  # validate says so too; a tampered plan
            raise ProviderError(f"{change.address} passes secret '{name}' in `env:` without "
                                "listing it under `secrets:`",
                                hint=f"add it to the stage: `secrets: [{name}]`")
        base = {**os.environ, **ctx.extra_env, **ctx.secrets.resolve(given), **_release_env(ctx)}
        env = ctx.secrets.stage_environment(base, listed)
        limit = min(t for t in (ctx.timeout, change.after["timeout"]) if t)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character cut
        done = process.run(command, cwd=ctx.release.repo, env=env, timeout=limit, log_path=log,
                           on_output=lambda data: ctx.output(decoder.decode(data)))
        if done.stopped:
            raise ProviderError(f"{change.address} was stopped by the interrupt; its process "
                                "group was killed", hint="`scalpel apply` runs it again")
        if done.timed_out:
            raise ProviderError(f"{change.address} timed out after {limit:g} s; its process "
                                "group was killed", hint=_log_tail(log))
        if not done.ok:
            raise ProviderError(f"{change.address} failed with exit code {done.returncode}",
                                hint=_log_tail(log))
        return {**recorded, "exit_code": 0, "duration": round(done.duration, 3), "log": str(log)}


def _with_release(command: str | None, release: Release) -> str | None:
    """``command`` with {version}, {previous}, {tag} and {project} written out (shown so in
    the plan); any other brace is the shell's, left as it is. $SCALPEL_VERSION and the
    others are in the stage's environment too."""
    if command is None:
        return None
    for name, value in (("version", release.version), ("previous", release.previous or ""),
                        ("tag", release.tag), ("project", release.project)):
        command = command.replace("{" + name + "}", value)
    return command


def _log_tail(log: Path) -> str:
    tail = process.tail(log)
    return f"last lines of {log}:\n{tail}" if tail else f"it printed nothing ({log})"


def _release_env(ctx: StepContext) -> dict[str, str]:
    r = ctx.release
    return {"SCALPEL_PROJECT": r.project, "SCALPEL_VERSION": r.version,
            "SCALPEL_PREVIOUS_VERSION": r.previous or "", "SCALPEL_TAG": r.tag,
            "SCALPEL_COMMIT": r.commit}
