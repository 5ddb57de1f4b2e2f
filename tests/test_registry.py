"""The provider registry: built-ins imported on first use, safely from many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from scalpel_plan.providers.registry import BUILTIN, default_registry


def test_every_thread_gets_the_same_provider_while_it_is_first_imported():
    for _ in range(20):  # plan's reads ask for providers from several threads at once
        registry = default_registry(plugins=False)
        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(registry.find, ["stage", "docker", "slack", "git"] * 8))
        assert None not in found
        assert len({id(p) for p in found}) == 4


def test_the_schema_still_knows_every_builtin_provider():
    configs = default_registry(plugins=False).node_configs()
    assert set(configs) == set(BUILTIN) - {"stage", "git_commit"}  # git.commit: made, not declared
