"""What `scalpel validate` says about a broken spec, in a table: the loader's limits (size,
depth, aliases, tags, directives, encodings) and the schema's and the models' messages, each
at its line and column, in Scalpel's words (never pydantic's, never a raw regex)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests import spec_fuzz

NEVER = ("Input should", "String should", "does not match", "is a required property",
         "position ", "Traceback", "RecursionError", "KeyError", "ValueError", "^(")

TABLE: list[tuple[str, bytes, str, str]] = [  # id, release.yml, line:col, message fragment
    # the loader's limits
    ("recursive-alias", b"stages: &s {test: {run: echo, env: *s}}\n", "1:36",
     "the alias *s refers to the node it is inside"),
    ("alias-bomb", spec_fuzz.alias_bomb().encode(), "6:10",
     "aliases expand the document by more than 100,000 nodes"),
    ("deep-flow", b"x: " + b"[" * 1000 + b"]" * 1000 + b"\n", "1:53",
     "the document nests deeper than 50 levels"),
    ("deep-block", ("x:" + "".join("\n" + "  " * i + "- " for i in range(200)) + "y\n").encode(),
     "51:99", "the document nests deeper than 50 levels"),
    ("bool-maybe", b"version: !!bool maybe\n", "1:10", "!!bool 'maybe' is not true or false"),
    ("int-x", b"version: {initial: !!int x}\n", "1:20", "!!int 'x' is not an integer"),
    ("yaml-1.3", b"%YAML 1.3\n---\nversion: 1.0.0\n", "1:1", "unsupported %YAML version"),
    ("yaml-1.3-late", b"project:\n%YAML 1.3\n---\n  name: x\n", "2:1",
     "unsupported %YAML version"),
    ("binary", b"project: {name: !!binary aGVsbG8=}\n", "1:17",
     "the YAML tag !!binary is not supported here"),
    ("set", b"project:\n  name: !!set {a, b}\n", "2:9", "the YAML tag !!set is not supported"),
    ("unknown-tag", b"project: {name: !foo x}\n", "1:17", "the YAML tag !foo is not supported"),
    ("python-tag", b"x: !!python/object:os.system ls\n", "1:4",
     "the YAML tag !!python/object:os.system is not supported"),
    ("bad-hex", b"stages:\n  a: {timeout: 0x_}\n", "2:16", "'0x_' is not a valid integer"),
    ("long-int", b"stages:\n  a: {timeout: 1" + b"0" * 5000 + b"}\n", "2:16",
     "an integer of 5001 digits is too long"),
    ("no-such-date", b"secrets: {a: {env: A, expires: 2027-02-30}}\n", "1:32",
     "'2027-02-30' is not a valid date"),
    ("list-as-key", b"stages:\n  ? [a, b]\n  : {run: x}\n", "2:5",
     "a mapping key must be a plain value"),
    ("not-utf8", b"project:\n  name: caf\xe9\n", "2:12", "byte 0xe9 is not UTF-8 text"),
    ("not-utf8-after-unicode", "project:\n  name: ✓✓".encode() + b"\xff\n", "2:11",
     "byte 0xff is not UTF-8 text"),
    ("utf16", "project: {}\n".encode("utf-16"), "1:1", "the file is UTF-16"),
    ("control-char", b"project:\n  name: a\x01b\n", "2:10",
     "control character U+0001 is not allowed"),
    ("nul", b"stages:\n  a:\n    run: echo \x00\n", "3:15", "control character U+0000"),
    # the schema's and the models' messages
    ("semver-example", b'version: {initial: "1"}\n', "1:20",
     "version.initial must be a version MAJOR.MINOR.PATCH, not '1' for example 0.1.0"),
    ("fixed-version", b'version: "1"\n', "1:10",
     "version must be a version of two or more numbers, not '1' for example 1.0.0"),
    ("at-least", b"secrets: {a: {env: A, min_length: 0}}\n", "1:35",
     "secrets.a.min_length must be at least 1, got 0"),
    ("greater-than", b"stages:\n  a: {run: x, timeout: 0}\n", "2:24",
     "stages.a.timeout must be greater than 0, got 0"),
    ("nan", b"stages:\n  a: {run: x, timeout: .nan}\n", "2:24",
     "stages.a.timeout must be a finite number, not nan"),
    ("newline-in-needs", b'stages:\n  a:\n    run: x\n    needs: ["stage.a\\n"]\n', "4:13",
     "stages.a.needs[0] must be a node address, <provider>.<name>, not 'stage.a\\n' "
     "for example stage.test"),
    ("newline-in-needs-list-form", b'stages:\n  - name: a\n    needs: ["stage.b\\n"]\n', "3:13",
     "stages[0].needs[0] must be a node address"),
    ("bad-stage-name", b'stages:\n  "a b": {run: x}\n', "2:3",
     "'a b' in stages must be a name of letters, digits, '-' and '_'"),
    ("bad-secret-name", b'secrets:\n  "-a": {env: A}\n', "2:3", "'-a' in secrets must be a name"),
    ("bad-env-name", b'secrets: {a: {env: "1A"}}\n', "1:20",
     "secrets.a.env must be an environment variable's name"),
    ("newline-in-env-name", b'secrets: {a: {env: "A\\n"}}\n', "1:20",
     "secrets.a.env must be an environment variable's name"),
    ("bad-alert", b"alerts: {on_failure: [nope]}\n", "1:23",
     "alerts.on_failure[0] must be console, custom or a notify node's address, not 'nope'"),
    ("bad-moving-tag", b'publish:\n  git.tag: {moving: ["x\\n"]}\n', "2:22",
     "publish.git.tag.moving[0] must be a tag name"),
    ("bad-repository", b'publish:\n  github.release: {repository: "acme"}\n', "2:32",
     "publish.github.release.repository must be a repository, owner/name, not 'acme' "
     "for example acme/widgets"),
    ("empty-tag-list", b"version: {tag: []}\n", "1:16", "version.tag must not be empty"),
    ("bad-date", b'secrets: {a: {env: A, expires: "2027-13-01"}}\n', "1:32",
     "secrets.a.expires must be a date, YYYY-MM-DD, not '2027-13-01'"),
    ("missing-key", b"secrets:\n  a: {}\n", "2:3", "secrets.a needs the key 'env'"),
    ("missing-keys", b"publish:\n  docker.x: {}\n", "2:3",
     "publish.docker.x needs the key 'image'"),
    ("merged-key", b'stages:\n  - &b {name: "a b"}\n  - {<<: *b, run: x}\n', "3:5",
     "stages[1].name must be a name"),
]


@pytest.mark.parametrize(("spec", "where", "fragment"), [case[1:] for case in TABLE],
                         ids=[case[0] for case in TABLE])
def test_each_problem_is_said_at_its_position(tmp_path, cli, spec, where, fragment):
    (tmp_path / "release.yml").write_bytes(spec)
    result = cli(tmp_path, "validate")
    assert result.code == 1, result.err
    assert f"release.yml:{where}: error: " in result.err, result.err
    assert fragment in " ".join(line.strip() for line in result.err.splitlines()), result.err
    for words in NEVER:
        assert words not in result.err, result.err


def test_a_file_past_the_size_limit_is_refused_after_one_bounded_read(tmp_path, cli):
    result = cli(tmp_path, "validate", "-f", "/dev/zero")
    assert result.code == 1
    assert "/dev/zero:1:8388609: error: the file goes on past 8 MiB" in result.err, result.err


def test_a_pipe_that_never_ends_is_read_up_to_the_limit(tmp_path, cli):
    fifo = tmp_path / "endless.yml"
    os.mkfifo(fifo)
    written = [0]

    def write_forever() -> None:
        try:
            with fifo.open("wb") as fh:
                while True:
                    fh.write(b"# " + b"x" * 65_532 + b"\n")
                    written[0] += 65_535
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    result = cli(tmp_path, "validate", "-f", str(fifo))
    writer.join(timeout=30)
    assert result.code == 1
    assert "the file goes on past 8 MiB" in result.err, result.err
    assert not writer.is_alive()  # the read stopped and closed the pipe
    assert written[0] <= 8 * 1024 * 1024 + 2 * 65_536 + 65_536 * 4  # plus what the pipe held


def test_a_spec_just_within_the_depth_limit_is_validated_without_recursion(tmp_path, cli):
    deep = "[" * 45 + "]" * 45
    (tmp_path / "release.yml").write_text(f"stages:\n  a:\n    run: x\n    env: {{X: {deep}}}\n")
    result = cli(tmp_path, "validate")
    assert result.code == 1
    assert "release.yml:4:14: error: stages.a.env.X must be a string, not a list" in result.err


def test_the_core_schema_tags_that_fit_their_value_are_accepted(tmp_path, cli):
    (tmp_path / "release.yml").write_text(
        "project: {name: !!str 123}\nversion: !!str 1.0.0\n"
        "stages:\n  a: {run: !!str x, timeout: !!float 30, env: !!map {A: !!str 1}}\n"
        "  b: !!map {run: y, needs: !!seq [stage.a], phase: !!null ~}\n")
    result = cli(tmp_path, "validate")
    assert result.code == 0, result.err


def test_yaml_1_1_is_read_as_yaml_1_1(tmp_path, cli):
    (tmp_path / "release.yml").write_text("%YAML 1.1\n---\nchangelog: {update: yes}\n")
    assert cli(tmp_path, "validate").code == 0


def test_model_errors_are_said_at_the_value_not_at_the_union_that_holds_it():
    """The schema catches these first; the model's own errors (the last line of defence) are
    worded alike and placed at the value, not at `stages` (pydantic names the union's
    branch in its location)."""
    from scalpel_plan.spec.messages import from_pydantic
    from scalpel_plan.spec.model import Spec

    data = {"stages": {"a": {"run": "x", "needs": ["stage.a\n"], "timeout": float("nan")}}}
    with pytest.raises(ValidationError) as caught:
        Spec.model_validate(data)
    found = list(from_pydantic(caught.value, data))
    assert [path for _, path, _ in found] == [
        ["stages", "a", "needs", 0], ["stages", "a", "timeout"]], found
    assert found[0][0] == "stages.a.needs[0] must be a node address, <provider>.<name>, " \
        "not 'stage.a\\n'" and found[0][2] == "for example stage.test"
    assert found[1][0] == "stages.a.timeout must be greater than 0, not .nan"

    listed = {"stages": [{"name": "a", "secrets": ["x y"]}], "secrets": {"s": {"env": "S",
                                                                              "warn_days": -1}}}
    with pytest.raises(ValidationError) as caught:
        Spec.model_validate(listed)
    found = list(from_pydantic(caught.value, listed))
    assert [(m, p) for m, p, _ in found] == [
        ("secrets.s.warn_days must be at least 0, not -1", ["secrets", "s", "warn_days"]),
        ("stages[0].secrets[0] must be a name of letters, digits, '-' and '_' that starts "
         "with a letter or a digit, not 'x y'", ["stages", 0, "secrets", 0])]


def test_the_alias_bomb_stays_small(tmp_path: Path, cli):
    """9**9 strings if expanded: refused within a 256 MiB address-space budget."""
    (tmp_path / "release.yml").write_text(spec_fuzz.alias_bomb())
    with spec_fuzz.memory_limit(256 << 20):
        result = cli(tmp_path, "validate")
    assert result.code == 1 and "aliases expand the document" in result.err, result.err


@pytest.mark.parametrize("text", [
    "# a \u2028 line break in a comment\nstages:\n  test: {run: x, nope: 1}\n",
    "# Th\u2028e seed's own configuration: a fixed version\n# and phases.\nversion: 1.0.0\n"
    "stages:\n  - name: build\n    timeout: 300\n",
    "\ufeff\ufeffstages:\n  test: {run: x, nope: 1}\n",
    "stages:\n  test: {run: x, nope: 1, env: {A: \"\u2029\"}}\n  b:\ttab\n"])
def test_text_the_position_reader_refuses_is_still_an_error_at_a_place(tmp_path, cli, text):
    """libyaml and ruamel's round-trip reader disagree on Unicode line breaks, byte-order
    marks and tabs: whatever one takes, the other never turns into a crash."""
    work = tmp_path / "w"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "release.yml").write_text(text, encoding="utf-8")
    for command in (["validate"], ["plan", "--allow-missing-secrets"]):
        result = cli(work, *command)
        assert result.code == 1 and "Traceback" not in result.err, (command, result)
        assert "release.yml:" in result.err, result
    if text.startswith("\ufeff\ufeff"):
        assert "starts with two byte-order marks" in result.err
    if "\u2028" in text:
        assert "U+2028, a Unicode line break" in result.err
