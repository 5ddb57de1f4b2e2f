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


def test_a_spec_is_validated_importing_only_the_providers_it_names(tmp_path):
    """`apply` of a plan with stages and a git tag never imports the docker, PyPI, email or
    Slack code (its release.yml is validated by the models of the providers it names)."""
    import json
    import subprocess
    import sys

    (tmp_path / "release.yml").write_text("stages:\n  test: {run: 'true'}\n"
                                          "publish:\n  git.tag: {}\n")
    script = ("import json, sys; from pathlib import Path\n"
              "from scalpel_plan.operations.project import open_project\n"
              "open_project(Path('release.yml'), need_repo=False)\n"
              "print(json.dumps([m for m in sys.modules\n"
              "                  if m.startswith('scalpel_plan.providers.')]))")
    for _ in range(2):  # (the second time the spec is known valid)
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, text=True,
                              capture_output=True, check=True)
        loaded = {name.rsplit(".", 1)[1] for name in json.loads(done.stdout)}
        assert loaded & set(BUILTIN) <= {"git", "git_commit", "stage"}, loaded
        assert "git" in loaded
