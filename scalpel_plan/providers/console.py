"""console: an announcement printed as apply finishes, once per release.

It keeps the announcers' protocol (``providers.announce``): "sending" is journaled before the
line is printed (and flushed), "sent" after; an apply killed in between leaves "sending", and
the next plan warns that it may have gone out instead of printing it again.
"""

from __future__ import annotations

from string import Formatter
from typing import ClassVar

from pydantic import Field

from scalpel_plan.providers.announce import announced, once, send_once, settled
from scalpel_plan.providers.base import (
    Attributes,
    Change,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
)
from scalpel_plan.spec.model import NodeConfig


class ConsoleConfig(NodeConfig):
    templates = ("message",)
    message: str = Field("{project} {version} is released ({tag})",
                         description="The text; {project} {version} {previous} {tag} {commit}")


class ConsoleProvider(Provider):
    name = "console"
    spec_bound = ("message",)
    config_model: ClassVar[type[ConsoleConfig]] = ConsoleConfig
    reversible = False  # an announcement cannot be taken back

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, ConsoleConfig)
        release = announced(release)
        desired: Attributes = {
            "release": release.version,
            "message": fill(config.message, release, where=f"{node.address}.message")}
        if _names_commit(config.message):  # the tagged commit, filled in at apply when needed
            desired["commit"] = release.commit
        return desired

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        return once(self, node, desired, recorded, unknown=())

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = settled(change.after)

        def show() -> Attributes:
            ctx.announce(change.address, after["message"])  # printed and flushed when it returns
            return {}

        return {**after, **send_once(after, ctx, show)}


def _names_commit(template: str) -> bool:
    try:
        return any(name in ("commit", "short_commit")
                   for _, name, _, _ in Formatter().parse(template))
    except ValueError:  # fill says what is wrong with it
        return False
