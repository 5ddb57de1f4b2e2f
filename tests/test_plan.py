"""Planning against what is live: drift, confirmation, plugin providers."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import git

from scalpel_plan.providers.registry import default_registry


def test_drift_is_shown_apart_from_the_changes(repo, cli):
    repo.write_spec("publish:\n  git.tag: {push: origin}\n")
    assert cli(repo.path, "apply", "--auto-approve").code == 0
    git(repo.path, "push", "-q", "origin", ":refs/tags/v0.1.0")  # someone deletes the tag
    plan = cli(repo.path, "plan", "--detailed-exitcode")
    assert plan.code == 0  # drift alone is not a change to apply
    assert "Changes outside Scalpel" in plan.out
    assert "git.tag: tag v0.1.0 on origin is gone" in plan.out
    markdown = cli(repo.path, "plan", "--format", "markdown").out
    assert "Changed outside Scalpel (1)" in markdown


def test_apply_asks_before_changing_anything(repo, cli, monkeypatch):
    repo.write_spec("publish:\n  git.tag: {push: origin}\n")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": "no")
    refused = cli(repo.path, "apply")
    assert refused.code == 1 and "Apply cancelled." in refused.err
    assert repo.remote_tags() == {}
    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    assert cli(repo.path, "apply").code == 0
    assert set(repo.remote_tags()) == {"v0.1.0"}


PLUGIN = '''
from typing import ClassVar
from scalpel_plan.providers.base import Provider
from scalpel_plan.spec.model import NodeConfig


class NoteConfig(NodeConfig):
    text: str


class NoteProvider(Provider):
    name = "note"
    config_model: ClassVar[type[NoteConfig]] = NoteConfig

    def desired(self, node, release):
        return {"release": release.version, "text": node.config.text}

    def diff(self, node, desired, recorded, observed):
        if recorded and recorded.get("release") == desired["release"]:
            return self.change(node, "no-op", before=recorded, after=recorded)
        return self.change(node, "create", after=desired)

    def apply(self, change, ctx):
        ctx.announce(change.address, "note: " + change.after["text"])
        return dict(change.after)
'''


@pytest.fixture
def note_plugin(tmp_path, monkeypatch):
    """A provider installed the way third parties ship one: a distribution's entry point."""
    site = tmp_path / "site"
    (site / "scalpel_note").mkdir(parents=True)
    (site / "scalpel_note" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "scalpel_note-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: scalpel-note\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[scalpel.providers]\nnote = scalpel_note:NoteProvider\n")
    monkeypatch.syspath_prepend(str(site))
    yield


def test_a_provider_plugin_is_found_through_its_entry_point(note_plugin, repo, cli):
    assert "note" in default_registry().names()
    repo.write_spec("notify:\n  note.hello: {text: hi}\n")
    plan = cli(repo.path, "plan")
    assert plan.code == 0 and "note.hello will be created" in plan.out
    bad = repo.write_spec("notify:\n  note.hello: {txt: hi}\n")
    result = cli(repo.path, "validate", "-f", bad.name)
    assert result.code == 1 and "unknown key 'txt' in notify.note.hello" in result.err
    repo.write_spec("notify:\n  note.hello: {text: hi}\n")
    applied = cli(repo.path, "apply", "--auto-approve")
    assert applied.code == 0 and "note: hi" in applied.out
    assert '"text"' in cli(repo.path, "schema").out
