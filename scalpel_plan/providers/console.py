"""console: an announcement printed at the end of apply, once per release."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

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
    message: str = Field("{project} {version} is released ({tag})",
                         description="The text; {project} {version} {previous} {tag} {commit}")


class ConsoleProvider(Provider):
    name = "console"
    config_model: ClassVar[type[ConsoleConfig]] = ConsoleConfig
    reversible = False  # an announcement cannot be taken back

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, ConsoleConfig)
        return {"release": release.version,
                "message": fill(config.message, release, where=f"{node.address}.message")}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        done = self.done_for_release(node, desired, recorded,
                                     f"already announced {desired['release']}")
        return done or self.change(node, "create", after=desired)

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        ctx.announce(change.address, change.after["message"])
        return dict(change.after)
