"""Which provider serves which node: the built-ins plus entry points (``scalpel.providers``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from importlib import import_module, metadata

from scalpel_plan.errors import ScalpelError
from scalpel_plan.providers.base import Provider
from scalpel_plan.spec.model import NodeConfig

ENTRY_POINT_GROUP = "scalpel.providers"


class Registry:
    """Providers by name. Built-ins are imported when first asked for (a command that plans a
    git tag never imports the docker, SMTP or Slack code); plugins are given as instances."""

    def __init__(self, providers: list[Provider], lazy: dict[str, str] | None = None) -> None:
        self._by_name = {p.name: p for p in providers}
        self._lazy = dict(lazy or {})  # name → "module:Class", imported on first use
        self._loading = threading.Lock()  # plan's reads ask from several threads at once

    def get(self, name: str) -> Provider:
        found = self.find(name)
        if found is None:
            raise ScalpelError(f"no provider '{name}' is installed",
                               hint=f"installed: {', '.join(self.names())}")
        return found

    def find(self, name: str) -> Provider | None:
        found = self._by_name.get(name)
        if found is None and name in self._lazy:
            with self._loading:
                if name not in self._by_name:
                    module, cls = self._lazy[name].split(":")
                    self._by_name[name] = getattr(import_module(module), cls)()
                found = self._by_name[name]
        return found

    def names(self) -> list[str]:
        return sorted({*self._by_name, *self._lazy})

    def node_configs(self, *, exclude: tuple[str, ...] = ("stage",)
                     ) -> Mapping[str, type[NodeConfig]]:
        """Provider name → config model, for the publish/notify sections of the schema. A
        provider is imported when its model is asked for: validating a spec imports only the
        providers it names (every one when the whole mapping is read, as a schema does)."""
        return _ConfigModels(self, exclude)

    def has_plugins(self) -> bool:
        return set(self.names()) != set(BUILTIN)


class _ConfigModels(Mapping[str, type[NodeConfig]]):
    def __init__(self, registry: Registry, exclude: tuple[str, ...]) -> None:
        self._registry, self._exclude = registry, exclude

    def __getitem__(self, name: str) -> type[NodeConfig]:
        found = None if name in self._exclude else self._registry.find(name)
        if found is None or not found.declarable:
            raise KeyError(name)
        return found.config_model

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._registry.names() if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


BUILTIN = {  # name → where it lives
    "console": "scalpel_plan.providers.console:ConsoleProvider",
    "docker": "scalpel_plan.providers.docker:DockerProvider",
    "email": "scalpel_plan.providers.mail:EmailProvider",
    "git": "scalpel_plan.providers.git:GitProvider",
    "git_commit": "scalpel_plan.providers.git_commit:GitCommitProvider",
    "github": "scalpel_plan.providers.github:GithubProvider",
    "pypi": "scalpel_plan.providers.pypi:PypiProvider",
    "slack": "scalpel_plan.providers.slack:SlackProvider",
    "stage": "scalpel_plan.providers.stage:StageProvider",
    "webhook": "scalpel_plan.providers.webhook:WebhookProvider",
}
def default_registry(*, plugins: bool = True) -> Registry:
    """The built-in providers, plus every provider installed under the entry point group."""
    providers: list[Provider] = []
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
    return Registry(providers, BUILTIN)
