"""Which provider serves which node: the built-ins plus entry points (``scalpel.providers``)."""

from __future__ import annotations

from importlib import metadata

from scalpel_plan.errors import ScalpelError
from scalpel_plan.providers.base import Provider
from scalpel_plan.spec.model import NodeConfig

ENTRY_POINT_GROUP = "scalpel.providers"


class Registry:
    def __init__(self, providers: list[Provider]) -> None:
        self._by_name = {p.name: p for p in providers}

    def get(self, name: str) -> Provider:
        found = self.find(name)
        if found is None:
            raise ScalpelError(f"no provider '{name}' is installed",
                               hint=f"installed: {', '.join(self.names())}")
        return found

    def find(self, name: str) -> Provider | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def node_configs(self, *, exclude: tuple[str, ...] = ("stage",)) -> dict[str, type[NodeConfig]]:
        """Provider name → config model, for the publish/notify sections of the schema."""
        return {n: p.config_model for n, p in self._by_name.items() if n not in exclude}

    def has_plugins(self) -> bool:
        return set(self._by_name) != set(BUILTIN_NAMES)


BUILTIN_NAMES = ("console", "docker", "email", "git", "github", "pypi", "slack", "stage",
                 "webhook")


def builtin() -> list[Provider]:
    from scalpel_plan.providers.console import ConsoleProvider
    from scalpel_plan.providers.docker import DockerProvider
    from scalpel_plan.providers.git import GitProvider
    from scalpel_plan.providers.github import GithubProvider
    from scalpel_plan.providers.mail import EmailProvider
    from scalpel_plan.providers.pypi import PypiProvider
    from scalpel_plan.providers.slack import SlackProvider
    from scalpel_plan.providers.stage import StageProvider
    from scalpel_plan.providers.webhook import WebhookProvider

    return [StageProvider(), GitProvider(), ConsoleProvider(), WebhookProvider(),
            PypiProvider(), GithubProvider(), DockerProvider(), SlackProvider(),
            EmailProvider()]


def default_registry(*, plugins: bool = True) -> Registry:
    """The built-in providers, plus every provider installed under the entry point group."""
    providers = builtin()
    if plugins:
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = entry.load()
                providers.append(cls())
            except Exception as exc:  # a broken plugin must not hide which one it is
                raise ScalpelError(
                    f"provider plugin '{entry.name}' ({entry.value}) failed to load: {exc}",
                    hint="fix or uninstall the package that provides it",
                ) from exc
    return Registry(providers)
