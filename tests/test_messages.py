"""Messages as git stores them: real repositories whose commit messages are written byte for
byte (`git commit --cleanup=verbatim -F file`, so CRLF, CR, a byte-order mark and control
characters reach git unchanged), read back through `scalpel changelog --format json` and the
plan's next version."""

from __future__ import annotations

import html.parser
import json
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalpel_plan import git as scalpel_git
from tests.conftest import git

SPEC = "project: {name: widgets}\nchangelog:\n  other: keep\n"


def make_repo(path: Path, spec: str = SPEC) -> Path:
    """A repository with one released commit (tag v1.0.0) and release.yml (untracked)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    commit(path, b"chore: initial commit\n")
    git(path, "tag", "v1.0.0")
    (path / "release.yml").write_text(spec)
    return path


def commit(path: Path, message: bytes) -> str:
    """Commit ``message`` exactly as given (no cleanup of whitespace or line endings)."""
    file = path.parent / f".{path.name}-message"
    file.write_bytes(message)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F",
                    str(file)], cwd=path, check=True, capture_output=True)
    return git(path, "rev-parse", "HEAD")


def unreleased(cli, path: Path) -> dict[str, tuple[str, dict]]:
    """sha → (section title, entry) of the changes since v1.0.0, via the real CLI."""
    done = cli(path, "changelog", "--format", "json")
    assert done.code == 0, done.err
    release = json.loads(done.out)["releases"][0]
    assert release["previous_tag"] == "v1.0.0"
    found: dict[str, tuple[str, dict]] = {}
    for section in release["sections"]:
        for entry in section["entries"]:
            assert entry["sha"] not in found, "a commit is listed twice"
            found[entry["sha"]] = (section["title"], entry)
    return found


def next_version(cli, path: Path) -> str | None:
    done = cli(path, "plan", "--format", "json")
    assert done.code == 0, done.err
    release = json.loads(done.out)["release"]
    return release and release["version"]


def test_record_and_unit_separators_in_a_message_cut_nothing(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    sha = commit(work, b"fix: one\x1etwo\x1fthree\n\nbody \x1e more \x1f text\n\nCloses #7\n")
    after = commit(work, b"feat: the next one\n")
    entries = unreleased(cli, work)
    assert set(entries) == {sha, after}
    _, entry = entries[sha]
    assert entry["description"] == "one\x1etwo\x1fthree"
    assert entry["body"] == "body \x1e more \x1f text"
    assert entry["issues"] == [7]
    assert entries[after][1]["description"] == "the next one"


def test_a_crlf_breaking_change_footer_makes_a_major_release(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    sha = commit(work, b"feat: new api\r\n\r\nWhy it changed.\r\n\r\n"
                       b"BREAKING CHANGE: the old api is gone\r\nCloses #9\r\n")
    title, entry = unreleased(cli, work)[sha]
    assert title == "⚠ Breaking Changes"
    assert entry["breaking"] and entry["breaking_note"] == "the old api is gone"
    assert entry["issues"] == [9]
    assert entry["body"] == "Why it changed."
    assert "\r" not in json.dumps(entry)
    assert next_version(cli, work) == "2.0.0"


def test_cr_line_endings_are_line_endings(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    sha = commit(work, b"fix: old mac\r\rsome text\r\rFixes #3\r")
    _, entry = unreleased(cli, work)[sha]
    assert (entry["description"], entry["body"], entry["issues"]) == ("old mac", "some text", [3])
    assert next_version(cli, work) == "1.0.1"


def test_a_byte_order_mark_before_the_subject_is_dropped(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    sha = commit(work, "\ufefffeat(api): marked\n".encode())
    title, entry = unreleased(cli, work)[sha]
    assert (entry["type"], entry["scope"], entry["description"]) == ("feat", "api", "marked")
    assert title != "Other"
    assert next_version(cli, work) == "1.1.0"


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_control_characters_are_kept_and_escaped(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    subject = "fix: bell\x07 escape\x1b[31m del\x7f c1\x85 <b>"
    sha = commit(work, subject.encode() + b"\n\nbody\x01\x02\n")
    _, entry = unreleased(cli, work)[sha]
    assert entry["description"] == subject.removeprefix("fix: ")
    assert entry["body"] == "body\x01\x02"
    page = cli(work, "changelog", "--format", "html")
    assert page.code == 0, page.err
    for char in "\x07\x1b\x7f\x85":
        assert char not in page.out
    shown = r"bell\x07 escape\x1b[31m del\x7f c1\x85 <b>"  # HTML may not hold controls
    assert html.escape(shown) in page.out
    parser = _Parser()
    parser.feed(page.out)
    assert shown in "".join(parser.text)


def test_a_revert_is_known_by_its_trailer_whatever_its_subject(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    feature = commit(work, b"feat: a thing\n")
    kept = commit(work, b"fix: something else\n")
    revert = commit(work, f'fix: Revert "feat: a thing"\n\nThis reverts commit {feature}.\n'
                    .encode())
    entries = unreleased(cli, work)
    assert set(entries) == {kept}, "the revert and the reverted commit cancel out"
    assert revert not in entries
    assert next_version(cli, work) == "1.0.1"  # the feature is gone: no minor bump


def test_types_with_no_category_go_under_other_with_keep(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    shas = {commit(work, f"{kind}: a {kind} change\n".encode()): kind
            for kind in ("release", "wip", "doc", "tests")}
    plain = commit(work, b"not conventional at all\n")
    entries = unreleased(cli, work)
    assert {sha: entries[sha][0] for sha in [*shas, plain]} == dict.fromkeys([*shas, plain],
                                                                            "Other")
    assert {entries[sha][1]["type"] for sha in shas} == {"release", "wip", "doc", "tests"}

    ignoring = make_repo(tmp_path / "i", "project: {name: widgets}\nchangelog: {other: ignore}\n")
    commit(ignoring, b"wip: half done\n")
    fixed = commit(ignoring, b"fix: done\n")
    assert set(unreleased(cli, ignoring)) == {fixed}


def test_an_empty_breaking_change_footer_takes_the_lines_that_follow(tmp_path, cli):
    work = make_repo(tmp_path / "w")
    sha = commit(work, b"feat: move the config\n\nA body.\n\nBREAKING CHANGE:\n"
                       b"the config file moved\nto /etc/widgets\nRefs: #4\n")
    title, entry = unreleased(cli, work)[sha]
    assert title == "⚠ Breaking Changes"
    assert entry["breaking_note"] == "the config file moved\nto /etc/widgets"
    assert entry["issues"] == [4]
    assert next_version(cli, work) == "2.0.0"


# any bytes but NUL (which git cannot store in a message), valid UTF-8 or not
messages = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(b"\0", b"")),
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
            max_size=200).map(lambda t: t.encode()),
    st.lists(st.sampled_from([b"feat: x", b"\r\n", b"\r", b"\n", b"\x1e", b"\x1f",
                              b"\xef\xbb\xbf", b"\xff", b"Closes #1", b"BREAKING CHANGE:",
                              b" ", b"\t"]), max_size=12).map(b"".join),
)


def _expected(raw: bytes) -> tuple[str, str]:
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    subject, _, body = text.partition("\n")
    return subject.strip(" \t"), body.strip("\n")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(messages, min_size=1, max_size=4))
def test_every_commit_of_a_range_comes_back_once_with_its_whole_message(cli, raws):
    with tempfile.TemporaryDirectory() as tmp:
        work = make_repo(Path(tmp) / "w")
        tip = git(work, "rev-parse", "HEAD")
        made: list[str] = []
        tree = git(work, "rev-parse", "HEAD^{tree}")
        for n, raw in enumerate(raws):  # the object as git stores it: no cleanup, no re-coding
            file = Path(tmp) / "commit"  # (`git commit` would read bytes that are not UTF-8
            file.write_bytes(  # as Latin-1 and store them re-coded)
                f"tree {tree}\nparent {tip}\nauthor A <a@example.com> {1700000000 + n} +0000\n"
                f"committer A <a@example.com> {1700000000 + n} +0000\n\n".encode() + raw)
            tip = git(work, "hash-object", "-t", "commit", "-w", str(file))
            made.append(tip)
        git(work, "update-ref", "refs/heads/main", tip)

        read = list(scalpel_git.log(work, "v1.0.0..HEAD"))
        assert [c.sha for c in read] == made[::-1]
        assert [(c.subject, c.body) for c in read] == [_expected(r) for r in raws[::-1]]

        listed = unreleased(cli, work)  # other: keep, so every commit is listed
        assert sorted(listed) == sorted(made)


def test_another_repositorys_issue_opens_the_footers_and_is_not_linked_as_ours(tmp_path, cli):
    """GitHub's `Fixes owner/repo#N` (seen in release-please's history) is a footer: the
    `Fixes #N` after it is not lost, and the other repository's number is not this one's."""
    work = make_repo(tmp_path / "w")
    sha = commit(work, b"fix: a thing\n\nWhy it broke.\n\n"
                       b"Fixes googleapis/release-please-action#1063\nFixes #1716\n")
    _, entry = unreleased(cli, work)[sha]
    assert entry["issues"] == [1716]
    assert entry["body"] == "Why it broke."


def test_code_spans_keep_their_text_in_markdown(tmp_path, cli):
    """Backslash escapes show inside a code span: `version_variables` stays as written, the
    text around it is escaped."""
    work = make_repo(tmp_path / "w")
    commit(work, b"feat: set `version_variables` and `--print*` for a_b*c\n")
    out = cli(work, "changelog").out
    assert "set `version_variables` and `--print*` for a\\_b\\*c" in out, out
