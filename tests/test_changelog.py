"""Changelog and release notes, golden-file style (as git-cliff's fixtures): each case folder
holds a release.yml and the expected output of each command, made from the repository that
`repo.sh` builds (the shared one, or the case's own). Regenerate after an intended change
with UPDATE_GOLDEN=1, then review the diff."""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalpel_plan.content.changelog import ChangelogGenerator, insert_section
from scalpel_plan.content.commits import parse
from scalpel_plan.content.notes import ReleaseNotesTemplate
from scalpel_plan.errors import ScalpelError

CASES = Path(__file__).parent / "fixtures" / "changelog"
OUTPUTS = {
    "all.md": ["changelog", "--all"],
    "all.json": ["changelog", "--all", "--format", "json"],
    "next.md": ["changelog"],
    "next.html": ["changelog", "--format", "html"],
    "range.md": ["changelog", "--from", "v0.1.0", "--to", "v0.2.0"],
    "notes-default.md": ["notes", "--template", "default"],
    "notes-minimal.md": ["notes", "--template", "minimal"],
    "notes-detailed.md": ["notes", "--template", "detailed"],
    "notes-breaking.md": ["notes", "--template", "breaking", "--version", "1.0.0"],
}


@pytest.fixture
def case_repo(tmp_path):
    def build(case: str) -> Path:
        work = tmp_path / case
        work.mkdir()
        script = CASES / case / "repo.sh"
        script = script if script.exists() else CASES / "repo.sh"
        subprocess.run(["sh", str(script)], cwd=work, check=True, capture_output=True)
        shutil.copy(CASES / case / "release.yml", work / "release.yml")
        return work
    return build


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_changelog_and_notes(case, case_repo, cli, monkeypatch):
    work = case_repo(case)
    for name, args in OUTPUTS.items():
        result = cli(work, *args)
        assert result.code == 0, (name, result.err)
        text = result.out
        golden = CASES / case / "expected" / name
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"no golden {golden}; run with UPDATE_GOLDEN=1"
        assert text == golden.read_text(), f"{case}/{name} changed"


def test_the_full_case_says_what_users_expect(case_repo, cli):
    work = case_repo("full")
    text = cli(work, "changelog", "--all").out
    assert text.index("## [Unreleased]") < text.index("## [0.2.0]") < text.index("## [0.1.0]")
    v020 = text[text.index("## [0.2.0]"):text.index("## [0.1.0]")]
    assert v020.index("### ⚠ Breaking Changes") < v020.index("### Bug Fixes")
    assert "rename --out to --output" in v020 and "  --out is gone; use --output." in v020
    assert "widgets endpoint" not in text  # reverted within the release: both cancel out
    assert "[#34](https://github.com/acme/widgets/pull/34)" in v020
    assert "closes [#12](https://github.com/acme/widgets/issues/12)" in v020
    assert "explain &lt;html&gt; & \\[links\\]" in v020
    assert "### Other" in v020 and "Update README" in v020
    assert "Dee Writer" in v020  # co-authors are contributors
    assert "Merge pull request" not in text and "dark mode" in text
    assert "[0.2.0]: https://github.com/acme/widgets/compare/v0.1.0...v0.2.0" in text
    data = json.loads(cli(work, "changelog", "--all", "--format", "json").out)
    assert data["format_version"] == 1
    assert [r["version"] for r in data["releases"]] == ["Unreleased", "0.2.0", "0.1.0"]


def test_html_is_escaped_valid_and_self_contained(case_repo, cli):
    page = cli(case_repo("full"), "changelog", "--all", "--format", "html").out
    assert "<html" in page and "explain &lt;html&gt; &amp; [links]" in page
    assert "<script" not in page and "http://" not in page.split("<body>")[0]
    checker = _TagBalance()
    checker.feed(page)
    assert checker.stack == [], checker.stack


class _TagBalance(html.parser.HTMLParser):
    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()


def test_insert_section_keeps_every_other_byte():
    marker = "<!-- scalpel: new releases go below this line -->"
    before = f"# Changelog\n\nHand-written intro.\n\n{marker}\n\n## [0.1.0] - 2026-01-01\n\n- x\n"
    after = insert_section(before, "## [0.2.0] - 2026-02-01\n\n- y\n", marker)
    head, tail = before.split(marker)
    assert after.startswith(head + marker) and after.endswith(tail.lstrip("\n"))
    assert after.index("## [0.2.0]") < after.index("## [0.1.0]")
    # no marker yet: it goes before the first release, marker and all
    plain = "# Changes\n\nIntro stays.\n\n## 0.1.0\n\n- x\n"
    updated = insert_section(plain, "## [0.2.0]\n", marker)
    assert updated.startswith("# Changes\n\nIntro stays.\n\n" + marker)
    assert updated.endswith("## 0.1.0\n\n- x\n")
    fresh = insert_section("", "## [0.1.0]\n", marker)
    assert fresh.startswith("# Changelog") and marker in fresh


def test_an_unknown_template_variable_lists_the_available_ones():
    notes = ReleaseNotesTemplate()
    notes.create_custom("my_template", "Content with {{variables}}")
    assert notes.render("my_template", variables="values") == "Content with values"
    release = ChangelogGenerator().release("1.0.0", [parse("a" * 40, "feat: x")])
    with pytest.raises(ScalpelError) as caught:
        notes.render("my_template", release)
    assert "'variables' is undefined" in caught.value.message
    assert "version" in (caught.value.hint or "") and "sections" in (caught.value.hint or "")


def test_templates_run_in_a_sandbox():
    notes = ReleaseNotesTemplate()
    notes.create_custom("evil", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ScalpelError):
        notes.render("evil")


messages = st.one_of(
    st.text(),
    st.builds(lambda t, s, d: f"{t}{s}: {d}", st.sampled_from(["feat", "fix", "x", "perf!"]),
              st.sampled_from(["", "(a)", "(<b>)"]), st.text(min_size=1)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(messages, st.text()), max_size=8))
def test_any_messages_render_in_every_format(commits):
    entries = [parse(f"{i:040x}", subject, body) for i, (subject, body) in enumerate(commits)]
    generator = ChangelogGenerator()
    release = generator.release("1.0.0", entries)
    markdown = generator.markdown([release])
    page = generator.html([release])
    data = json.loads(generator.json([release]))
    assert markdown.startswith("## [1.0.0]")
    assert "<script" not in page.split("<body>")[1] or "&lt;script" in page
    assert data["releases"][0]["version"] == "1.0.0"
    for name in ("default", "minimal", "detailed", "breaking"):
        ReleaseNotesTemplate().render(name, release, project="p")


@given(st.binary(max_size=2000))
def test_non_utf8_and_enormous_messages_never_crash(raw):
    text = raw.decode("utf-8", errors="replace")
    entry = parse("f" * 40, text[:100], text * 50)
    assert isinstance(entry.description, str)


def test_the_detailed_template_gathers_a_migration_guide():
    entries = [parse("a" * 40, "feat(cli)!: rename --out", "BREAKING CHANGE: use --output."),
               parse("b" * 40, "fix: a crash", "It crashed.")]
    release = ChangelogGenerator().release("2.0.0", entries)
    notes = ReleaseNotesTemplate().render("detailed", release, project="widgets")
    guide = notes[notes.index("## Migration guide"):notes.index("## ⚠ Breaking Changes")]
    assert "### cli: rename --out" in guide and "use --output." in guide
    assert "It crashed." in notes
    breaking = ReleaseNotesTemplate().render("breaking", release, project="widgets")
    assert "This release has 1 breaking change." in breaking


def test_changelog_write_inserts_the_next_section_and_keeps_every_other_byte(case_repo, cli):
    work = case_repo("minimal")
    marker = b"<!-- scalpel: new releases go below this line -->"
    original = (b"# Our changes\n\nLatin-1 bytes stay: caf\xe9.\n\n" + marker +
                b"\n\n## [0.2.0] - 2026-01-02\n\n- old\n")
    (work / "CHANGELOG.md").write_bytes(original)
    result = cli(work, "changelog", "--write")
    assert result.code == 0, result.err
    updated = (work / "CHANGELOG.md").read_bytes()
    head, tail = original.split(marker)
    assert updated.startswith(head + marker) and updated.endswith(tail.lstrip(b"\n"))
    assert b"## [0.3.0]" in updated and updated.index(b"## [0.3.0]") < updated.index(b"[0.2.0]")
    refused = cli(work, "changelog", "--write", "--all")
    assert refused.code == 1 and "--write adds the next release" in refused.err


def test_notes_from_a_template_file_and_an_unknown_name(case_repo, cli):
    work = case_repo("minimal")
    (work / "notes.j2").write_text("{{ project }} {{ version }}: {{ entries | length }} changes\n")
    result = cli(work, "notes", "--template", "notes.j2")
    assert result.code == 0 and result.out == "widgets 0.3.0: 2 changes\n"
    missing = cli(work, "notes", "--template", "fancy")
    assert missing.code == 1 and "built-in: default, minimal, detailed, breaking" in missing.err


def test_whole_history_is_cached_by_release_and_stays_right(case_repo, cli, monkeypatch):
    from scalpel_plan import git as git_cli

    work = case_repo("full")
    cold = cli(work, "changelog", "--all").out
    walked: list[str] = []
    real_log = git_cli.log

    def log(repo, revisions="HEAD"):
        walked.append(revisions)
        return real_log(repo, revisions)

    monkeypatch.setattr(git_cli, "log", log)
    assert cli(work, "changelog", "--all").out == cold  # the same, from the cache
    assert walked and all(".." in r for r in walked)  # only what came after the last release
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "feat: after the cache"],
                   cwd=work, check=True)
    warm = cli(work, "changelog", "--all").out
    assert warm.index("after the cache") < warm.index("## [0.2.0]")
    walked.clear()
    subprocess.run(["git", "tag", "-a", "-m", "v0.3.0", "v0.3.0"], cwd=work, check=True)
    tagged = cli(work, "changelog", "--all").out  # a new tag: the grouping is made again
    assert "HEAD" in walked and "## [0.3.0]" in tagged
    assert tagged.index("after the cache") < tagged.index("## [0.2.0]")
