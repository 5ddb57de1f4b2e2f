"""`scalpel changelog` imports only what it uses (issue 12, item 4): on a small history its
start-up is most of its time, so it runs without typer, the pydantic models of the spec,
jsonschema (the generated ``spec.sections_valid`` validates the sections it reads; jsonschema
only explains a spec found invalid), ruamel (unless the fast YAML path declines the
document), rich (off a terminal) and networkx. The
sections it reads are typed twice (``spec.sections`` for it, ``spec.model`` for the rest):
here they are checked to agree (the typer-free option reader agrees with typer's: see
tests/test_startup_imports.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalpel_plan.cli import changelog as command
from scalpel_plan.spec import model, sections

SPEC = ("project: {name: widgets}\nversion: {tag: ['v{version}', '{version}']}\n"
        "changelog: {other: keep, commits: 'https://example.com/c/{sha}'}\n"
        "stages:\n  test: {run: 'true'}\n")
NEVER = ("typer", "pydantic", "scalpel_plan.spec.model", "rich", "networkx",
         "scalpel_plan.graph", "scalpel_plan.providers", "jinja2")


def imported(cwd: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``python -X importtime -m scalpel_plan ARGS`` imports, and its outcome."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "scalpel_plan", *args],
                          cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    names = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    names.discard("package")  # the header line
    return names, done


def forbidden(names: set[str], also: tuple[str, ...] = (), *,
              allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(n for n in names for top in (*NEVER, *also)
                  if top not in allowed and (n == top or n.startswith(top + ".")))


@pytest.fixture
def project(repo):
    repo.write_spec(SPEC)
    repo.commit("fix: a fix (#3)")
    subprocess.run(["git", "tag", "-a", "-m", "v0.1.0", "v0.1.0"], cwd=repo.path, check=True)
    repo.commit("feat: after the release")
    return repo.path


@pytest.mark.parametrize("args", [["changelog", "--all"], ["changelog", "--all", "--format",
                                                              "json"], ["changelog"]])
def test_changelog_imports_only_what_it_uses(project, args):
    # the next release's changelog reads the recorded state (an unfinished release goes on),
    # whose model is pydantic's; never the spec's models
    allowed = ("pydantic",) if args == ["changelog"] else ()
    first, done = imported(project, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "after the release" in done.stdout
    # the spec's sections are validated once, by the generated validator (no jsonschema),
    # and read by the fast YAML path (no ruamel) ...
    assert "scalpel_plan.spec.sections_valid" in first and "yaml" in first
    assert forbidden(first, ("jsonschema", "ruamel"), allowed=allowed) == []
    again, done = imported(project, *args)
    assert done.returncode == 0 and "after the release" in done.stdout
    # ... and then read back while release.yml's bytes stay the same: no YAML, no validator
    assert forbidden(again, ("jsonschema", "ruamel", "yaml", "scalpel_plan.spec.sections_valid",
                             "concurrent.futures"), allowed=allowed) == []
    assert "scalpel_plan.operations.changelog" in again  # it did run the command


def test_ruamel_reads_what_the_fast_path_declines(project):
    # an anchor and an alias: beyond the fast path, which leaves the document to ruamel
    (project / "release.yml").write_text(SPEC.replace("changelog: {", "changelog: &c {") +
                                         "notes: *c\n")
    names, done = imported(project, "changelog", "--all")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "after the release" in done.stdout
    assert "ruamel.yaml" in names and forbidden(names, ("jsonschema",)) == []


def test_the_fast_path_resolves_plain_scalars_as_ruamel_does():
    """The fast YAML path carries ruamel's YAML 1.2 resolvers written out (so that it need
    not import ruamel): they are still ruamel's."""
    import re

    from ruamel.yaml.resolver import implicit_resolvers

    from scalpel_plan.spec import fast_yaml

    theirs = [(tag.rsplit(":", 1)[-1], regex.pattern, regex.flags, list(first))
              for versions, tag, regex, first in implicit_resolvers if (1, 2) in versions]
    ours = [(tag, re.compile(text, flags).pattern, re.compile(text, flags).flags, list(first))
            for tag, text, flags, first in fast_yaml._CORE_1_2]
    assert ours == theirs


def test_a_broken_spec_is_still_reported_where_it_is_broken(project):
    (project / "release.yml").write_text(SPEC.replace("other: keep", "other: kept"))
    names, done = imported(project, "changelog", "--all")
    assert done.returncode == 1
    # the generated validator finds it invalid; the full validation (jsonschema) says where
    assert "jsonschema" in names
    assert "release.yml:3:20: error: changelog.other must be one of keep, ignore; got 'kept'" \
        in done.stderr and "did you mean 'keep'?" in done.stderr
    assert "Traceback" not in done.stderr
    assert forbidden(names, allowed=("rich",)) == []  # rich colours the diagnostics
    (project / "release.yml").write_text(SPEC.replace("changelog:", "changelgo:"))
    done = imported(project, "changelog")[1]
    assert done.returncode == 1 and "unknown key 'changelgo'" in done.stderr
    assert "did you mean 'changelog'" in done.stderr
    (project / "release.yml").write_text(SPEC)  # fixed: the cached validation is of it
    assert imported(project, "changelog", "--all")[1].returncode == 0


def test_a_section_it_does_not_read_is_left_to_plan(project, cli):
    (project / "release.yml").write_text(SPEC + "publish:\n  nosuch.thing: {}\n")
    assert cli(project, "changelog", "--all").code == 0
    assert cli(project, "plan").code == 1  # the whole spec is still checked where it is used


def test_the_light_sections_agree_with_the_models():
    pairs = [(sections.VersionSettings, model.VersionPolicy),
             (sections.ChangelogSettings, model.ChangelogConfig)]
    for light, typed in pairs:
        made, validated = light(), typed()
        names = {f.name for f in dataclasses.fields(light)}
        assert names <= set(typed.model_fields), light
        for name in names:
            assert getattr(made, name) == getattr(validated, name), (light, name)
    missing = set(model.VersionPolicy.model_fields) - {f.name for f in
                                                       dataclasses.fields(sections.VersionSettings)}
    assert missing == {"from_", "files"}  # neither is read by the content commands
    data = {"version": {"tag": ["v{version}", "{version}"], "ignore_tags": ["x@*"],
                        "scheme": "pep440", "pre_start": 0, "from": "conventional-commits",
                        "files": ["pyproject.toml"], "bumps": {"docs": "patch"}},
            "changelog": {"other": "keep", "compare": "c/{previous}...{tag}"}}
    light_spec, spec = sections.sections_of(data), model.Spec.model_validate(data)
    for name in ("tag_formats", "ignore_tags", "scheme", "pre_start", "bumps", "initial"):
        assert getattr(light_spec.policy, name) == getattr(spec.policy, name), name
    assert light_spec.changelog == sections.ChangelogSettings(other="keep",
                                                              compare="c/{previous}...{tag}")
    assert sections.sections_of({"version": "1.2.3"}).fixed_version == spec.model_validate(
        {"version": "1.2.3"}).fixed_version == "1.2.3"


@pytest.mark.parametrize(("args", "read"), [
    (["--all"], {"all_": True}),
    (["--all", "--format", "json", "-f", "x.yml"], {"all_": True, "format": "json",
                                                    "file": Path("x.yml")}),
    (["--from=v1", "--to", "v2", "--format=html"], {"from_": "v1", "to": "v2",
                                                    "format": "html"}),
    (["--write", "--no-write", "--pre", "rc", "--version", "2.0.0"],
     {"write": False, "pre": "rc", "version": "2.0.0"}),
])
def test_well_formed_options_are_read_without_typer(args, read):
    assert command.arguments(args) == {**command.DEFAULTS, **read}


@pytest.mark.parametrize(("args", "code"), [
    (["--help"], 0), (["--format", "yaml"], 1), (["--from"], 1), (["--all=1"], 1),
    (["-fx.yml"], 1),  # -f x.yml to typer: there is no such file
    (["--nope"], 1), (["extra"], 1),
    (["--to", "--all"], 0),  # typer reads "--all" as --to's value
])
def test_anything_else_is_left_to_typer(args, code, project, cli):
    assert command.arguments(args) is None
    result = cli(project, "changelog", *args)
    assert "Traceback" not in result.err
    assert result.code == code, (args, result.err)
    assert (result.err.strip() != "") == (code == 1)  # typer's words for what is wrong


def test_json_is_written_release_by_release_as_one_document(project, cli):
    from scalpel_plan.content.changelog import ChangelogGenerator

    out = cli(project, "changelog", "--all", "--format", "json").out
    data = json.loads(out)
    assert [r["version"] for r in data["releases"]] == ["Unreleased", "0.1.0"]
    generator = ChangelogGenerator()
    assert generator.json([]) == json.dumps({"format_version": 1, "releases": []},
                                            indent=2) + "\n"
    assert out == json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # the same layout


def test_a_secret_quoted_in_a_message_reaches_neither_the_output_nor_the_cache(repo, cli,
                                                                             monkeypatch):
    value = "hunter2-but-much-longer-0451"
    monkeypatch.setenv("CHANGELOG_TEST_TOKEN", value)
    repo.write_spec("project: {name: widgets}\nsecrets:\n  token: {env: CHANGELOG_TEST_TOKEN}\n")
    repo.commit(f"fix: stop logging {value}")
    subprocess.run(["git", "tag", "-a", "-m", "v0.1.0", "v0.1.0"], cwd=repo.path, check=True)
    for _ in range(2):  # walked, then from the cache
        result = cli(repo.path, "changelog", "--all", "--format", "json")
        assert result.code == 0 and value not in result.out and "[secret]" in result.out
    cached = list((repo.path / ".scalpel" / "cache").rglob("*"))
    assert any(p.name.startswith("history") for p in cached)
    assert all(value.encode() not in p.read_bytes() for p in cached if p.is_file())


def test_reverts_cancel_as_a_whole_scan_would_find_them():
    """``cancel_reverts`` finds a reverted commit by its sha's first seven characters (a
    release with many reverts was searched whole once per revert); the result is what the
    whole scan gives, short shas, chains and reverts of commits elsewhere included."""
    import random

    from scalpel_plan.content.commits import ChangeEntry, cancel_reverts

    def naive(entries: list[ChangeEntry]) -> list[ChangeEntry]:
        gone: set[str] = set()
        for entry in entries:
            if entry.reverts:
                target = next((e.sha for e in entries if e.sha.startswith(entry.reverts)), None)
                if target and target not in gone:
                    gone |= {target, entry.sha}
        return [e for e in entries if e.sha not in gone]

    rng = random.Random(5)
    for _ in range(50):
        shas = ["".join(rng.choice("0123456789abcdef") for _ in range(40)) for _ in range(60)]
        shas += [shas[0][:7] + "f" * 33]  # two commits whose shas share seven characters
        entries = []
        for sha in shas:
            target = rng.choice(shas) if rng.random() < 0.4 else None
            reverts = target[:rng.choice([7, 10, 40])] if target else None
            if rng.random() < 0.1:
                reverts = "1234567"  # a commit that is not in this release
            entries.append(ChangeEntry(sha, "revert" if reverts else "fix", None, False, "x",
                                       reverts=reverts))
        assert cancel_reverts(entries) == naive(entries)
