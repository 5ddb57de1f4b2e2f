"""The generated modules (scripts/regenerate.py) are what the package ships would give, and
the generated validator judges the sections of release.yml exactly as the full validation
does: it can never pass what jsonschema would refuse, nor cost a first run the fallback for
what jsonschema would pass."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalpel_plan.spec import READ, _sections_schema, _sections_valid, schema, sections_valid

ROOT = Path(__file__).resolve().parent.parent


def regenerate() -> Any:
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "scripts" / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_modules_are_up_to_date():
    """A change to the schema or to the commands needs `python3 scripts/regenerate.py`."""
    for path, text in regenerate().generated().items():
        assert path.read_text() == text, f"{path.name} is stale: run scripts/regenerate.py"


def test_a_validator_made_from_another_schema_is_not_trusted(monkeypatch):
    data = {"changelog": {"other": "keep"}}
    shipped = schema.SHIPPED.read_bytes()
    assert _sections_valid(data, shipped)
    monkeypatch.setattr(sections_valid, "SCHEMA_SHA256", "0" * 64)
    assert not _sections_valid(data, shipped)  # the full validation runs instead


def test_the_generator_refuses_a_keyword_it_does_not_know():
    import pytest

    compiler = regenerate().Compiler({"$defs": {}})
    with pytest.raises(SystemExit, match="uniqueItems"):
        compiler.function({"type": "array", "uniqueItems": True})


@functools.cache
def full_validator() -> Any:
    """The validation ``spec.load_sections`` falls back on (``spec.schema.validate``'s)."""
    from jsonschema import FormatChecker

    checked = _sections_schema(json.loads(schema.SHIPPED.read_text()))
    return schema._validator_class()(checked, format_checker=FormatChecker())


def jsonschema_valid(data: Any) -> bool:
    return bool(full_validator().is_valid(data))


SCALARS = st.sampled_from([
    None, True, False, 0, 1, 2, -1, 1.0, 0.5, 900, math.inf, -math.inf, math.nan, "", "x",
    "v{version}", "{version}", "v{version}\n", "release-{version}", "1.2.3", "1.2.3\n",
    "1.2", "01.2.3", "1.2.3-rc.1", "2.0", "semver", "pep440", "calver", "keep", "ignore",
    "major", "minor", "patch", "conventional-commits", "2027-06-30", "2027-02-30",
    "2027-6-30", "2027-06-30\n", "TOKEN", "MY_TOKEN", "1TOKEN", "a b", "CHANGELOG.md",
])
FIELDS = ["name", "repository", "scheme", "from", "tag", "ignore_tags", "pre_start",
          "initial", "zero_major_breaking", "bumps", "commit_message", "files", "path",
          "pattern", "file", "marker", "categories", "other", "commits", "issues", "pulls",
          "compare", "contributors", "update", "env", "min_length", "expires", "warn_days",
          "ttl", "feat", "fix", "tok", "my-secret", "-bad", "bogus"]
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) |
    st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4), max_leaves=12)
DOCUMENTS = st.dictionaries(
    st.sampled_from([*READ, "stages", "publish", "notes", "bogus"]),
    VALUES | st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6), max_size=5)

# near-valid sections: each field a good value, a bad one, or one of another field's
CHOICES: dict[str, dict[str, list[Any]]] = {
    "project": {"name": ["widgets", None, 1], "repository": [".", "sub", None]},
    "version": {"scheme": ["semver", "pep440", "calver", "bogus"],
                "from": ["conventional-commits", "x"],
                "tag": ["v{version}", ["v{version}", "{version}"], [], "v", ["x"],
                        "v{version}\n"],
                "ignore_tags": [[], ["a@*"], "a@*", [1]], "pre_start": [0, 1, None, 2, 1.0, True],
                "initial": ["0.1.0", "1.2.3\n", "1.2", "1.2.3-rc.1"],
                "zero_major_breaking": ["minor", "major", "patch"],
                "bumps": [{}, {"docs": "patch"}, {"docs": "huge"}, []],
                "commit_message": ["chore: {version}", 1],
                "files": [["a"], [{"path": "a"}], [{"pattern": "x"}], "a",
                          [{"path": "a", "pattern": None, "x": 1}]]},
    "changelog": {"file": ["CHANGELOG.md", 3], "marker": ["<!-- -->"],
                  "categories": [{"feat": "Features"}, {"feat": 1}, []],
                  "other": ["keep", "ignore", "kept"], "commits": ["c/{sha}", None, 2],
                  "issues": ["i/{id}", None], "pulls": [None, ["p"]], "compare": ["c", None],
                  "contributors": [True, False, 1, "yes"], "update": [True, None]},
    "secret": {"env": ["TOK", "MY_TOKEN", "1TOK", "TOK\n", 5], "pattern": ["x", None, 1],
               "min_length": [1, 0, None, 2.0, True], "expires": ["2027-06-30", "2027-02-30",
                                                                 None, "2027-06-30\n"],
               "warn_days": [0, -1, 14, 1.5], "ttl": [900, 0, 0.5, -1, math.nan, math.inf]},
}


def section(name: str) -> Any:
    choices = CHOICES[name]
    return st.dictionaries(st.sampled_from([*choices, "bogus"]), SCALARS, max_size=1).flatmap(
        lambda odd: st.fixed_dictionaries({}, optional={
            field: st.sampled_from(values) for field, values in choices.items()}).map(
            lambda good: {**good, **odd} if odd and len(good) % 4 == 0 else good))


NEAR_VALID = st.fixed_dictionaries({}, optional={
    "project": section("project"), "version": section("version") | SCALARS,
    "changelog": section("changelog") | st.none(),
    "secrets": st.dictionaries(st.sampled_from(["tok", "my-secret", "-bad", "a b"]),
                               section("secret"), max_size=2),
    "stages": VALUES})

EXAMPLES = [
    {}, {"version": "1.2.3"}, {"version": "1.2.3\n"}, {"version": {"tag": ["v{version}"]}},
    {"version": {"tag": []}}, {"version": {"pre_start": 1.0}}, {"version": {"pre_start": True}},
    {"version": {"files": ["a", {"path": "b", "pattern": "x"}, {"pattern": "x"}]}},
    {"version": {"bumps": {"docs": "patch", "x": "huge"}}},
    {"project": {"name": None, "repository": "."}}, {"changelog": None},
    {"changelog": {"categories": {"feat": "Features", "x": 1}}},
    {"secrets": {"tok": {"env": "TOK", "ttl": 0}}}, {"secrets": {"tok": {"env": "TOK",
                                                                          "ttl": math.nan}}},
    {"secrets": {"tok": {"env": "TOK", "expires": "2027-02-30"}}},
    {"secrets": {"-x": {"env": "TOK"}}}, {"secrets": {"tok": {}}},
    {"secrets": {"tok": {"env": "TOK", "min_length": 0, "warn_days": -1}}},
    {"stages": {"anything": [1, 2]}, "publish": 3}, {"bogus": 1},
]


def test_the_generated_validator_agrees_with_jsonschema_on_known_cases():
    for data in EXAMPLES:
        assert sections_valid.valid(data) == jsonschema_valid(data), data


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS | NEAR_VALID)
def test_the_generated_validator_agrees_with_jsonschema(data):
    assert sections_valid.valid(data) == jsonschema_valid(data)
