"""What release.yml may hold that the schema accepts and plan or apply would trip on: every one
is an error at validate, at the position of the offending value, saying what to do."""

from __future__ import annotations

import contextlib
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalpel_plan import git, process
from scalpel_plan.content.notes import ReleaseNotesTemplate
from scalpel_plan.errors import GitError, ScalpelError

# (release.yml, line, column, what the message says): each spec has exactly one problem
BAD_SPECS = [
    # format strings: only the variables of their place, balanced, bounded
    ('changelog: {pulls: "https://x/pull/{nope}"}', 1, 20,
     "changelog.pulls: unknown variable {nope}; available: {id}"),
    ('changelog: {issues: "https://x/{sha}"}', 1, 21, "changelog.issues: unknown variable {sha}"),
    ('changelog: {commits: "https://x/{sha"}', 1, 22,
     "changelog.commits: a '{' that is never closed (write {{ for a literal brace)"),
    ('changelog: {commits: "https://x}/{sha}"}', 1, 22, "changelog.commits: a '}' that no '{'"),
    ('changelog: {compare: "${secrets.token}/{previous}...{tag}"}', 1, 22,
     "changelog.compare: ${secrets.token} cannot be used here"),
    ('changelog: {commits: "x/{sha:>2000000000}"}', 1, 22,
     "changelog.commits: {sha:>2000000000}: the width 2,000,000,000 is over the limit of 100"),
    ('changelog: {commits: "x/{sha!r}"}', 1, 22, "conversions (!r, !s, !a) are not allowed"),
    ('changelog: {commits: "x/{sha.upper}"}', 1, 22, "unknown variable {sha.upper}"),
    ('changelog: {commits: "x/{}"}', 1, 22, "unknown variable {} (a field with no name)"),
    ('version: {commit_message: "release {versoin}"}', 1, 27,
     "version.commit_message: unknown variable {versoin}; did you mean {version}?"),
    ('version: {commit_message: "release {version:d}"}', 1, 27,
     "not a format spec a text value takes"),
    ('publish: {git.tag: {message: "Release {version:>999999}"}}', 1, 30,
     "git.tag.message: {version:>999999}: the width 999,999 is over the limit of 100"),
    ('notify: {console.hi: {message: "{project} {nope}"}}', 1, 32,
     "console.hi.message: unknown variable {nope}"),
    ('publish: {docker.app: {image: r/app, source: x, tags: ["{version}", "{sha}"]}}', 1, 69,
     "docker.app.tags: unknown variable {sha}"),
    ('notify: {slack.team: {webhook: "${secrets.h}", links: {Docs: "https://x/{tga}"}}}\n'
     'secrets: {h: {env: H}}', 1, 62, "slack.team.links: unknown variable {tga}; did you mean"),
    # tag formats and git names, by git's rules
    ('version: {tag: "v {version}"}', 1, 16, "'v {version}' makes tags git refuses"),
    ('version: {tag: "v{version}..x"}', 1, 16, "it holds '..'"),
    ('version: {tag: "v{version}{version}"}', 1, 16, "holds {version} 2 times"),
    ('version: {tag: ["v{version}", "v{version}"]}', 1, 31, "'v{version}' is listed twice"),
    ('version: {tag: "refs/heads/{version}"}', 1, 16, "names a full ref"),
    ('version: {tag: "{version}.lock"}', 1, 16, "ends with '.lock'"),
    ('version: {tag: "-{version}"}', 1, 16, "it starts with '-', which git reads as an option"),
    ('version: {tag: ["v{version}", "--upload-pack=x{version}"]}', 1, 31,
     "version.tag: '--upload-pack=x{version}' makes tags git refuses"),
    ('version: {tag: "v{version}{x}"}', 1, 16, "unknown variable {x}; available: {version}"),
    ('version: "1.0.0..x"', 1, 10, "version: '1.0.0..x' makes a tag git refuses"),
    ('publish: {git.tag: {push: "--upload-pack=touch x"}}', 1, 27,
     "git.tag.push: git refuses '--upload-pack=touch x'"),
    ('publish: {git.tag: {moving: ["stable..x"]}}', 1, 30, "git.tag.moving: git refuses"),
    # regexes
    ('version: {files: [{path: conf.py, pattern: "("}]}', 1, 44,
     "version.files[0].pattern: the pattern is not a valid regex: missing ), unterminated "
     "subpattern at character 1"),
    ('version: {files: [{path: conf.py, pattern: "v=(.*)"}]}', 1, 44,
     "the pattern has no (?P<version>...) group"),
    ('secrets: {t: {env: T, pattern: "(["}}', 1, 32,
     "secrets.t.pattern: the pattern is not a valid regex"),
    # stage environments, durations, NUL, lengths
    ('stages: {a: {run: "true", env: {"A=B": x}}}', 1, 33, "stage.a: env has 'A=B' as a variable"),
    ('stages: {a: {run: "true", env: {"": x}}}', 1, 33, "env has an empty name as a variable"),
    ('stages: {a: {run: "true", env: {A: "x\\0y"}}}', 1, 36,
     "stages.a.env.A: the value holds a NUL character"),
    ('version: {tag: "v{version}\\0"}', 1, 16, "version.tag: the value holds a NUL character"),
    ('stages: {a: {run: "true", timeout: 1e300}}', 1, 36,
     "stages.a.timeout is 1e+300 seconds, over the limit of 2,592,000 (30 days)"),
    ('stages: {a: {run: "true", timeout: .nan}}', 1, 36,
     "stages.a.timeout must be a finite number, not nan"),
    ('stages: {a: {run: "true", timeout: .inf}}', 1, 36, "must be a finite number, not inf"),
    ('publish: {git.tag: {timeout: 1e12}}', 1, 30, "publish.git.tag.timeout is 1e+12 seconds"),
    (f'project: {{repository: "{"x" * 5000}"}}', 1, 23, "project.repository is too long"),
    # needs, and notes templates
    ('stages: {a: {run: "true"}, b: {run: "true", needs: [stage.c]}}', 1, 53,
     "stage.b needs unknown node 'stage.c'"),
    ('notify: {webhook.pager: {url: "${secrets.h}", on: [failure], needs: [stage.nope]}}\n'
     'secrets: {h: {env: H}}', 1, 70, "webhook.pager needs unknown node 'stage.nope'"),
    ('stages: {a: {run: "true", needs: [webhook.pager]}}\n'
     'notify: {webhook.pager: {url: "${secrets.h}", on: [failure]}}\nsecrets: {h: {env: H}}',
     1, 35, "stage.a needs webhook.pager, which only sends alerts"),
    ("notes: {template: missing.md.j2}", 1, 19, "notes.template: missing.md.j2: not found"),
    ("notes: {template: notes/include.j2}", 1, 19,
     "{% include %} is not supported: a template is one file"),
    ("notes: {template: notes/extends.j2}", 1, 19, "{% extends %} is not supported"),
    ("notes: {template: notes/import.j2}", 1, 19, "{% import %} is not supported"),
    ("notes: {template: notes/broken.j2}", 1, 19, "notes/broken.j2: line 2: "),
]

TEMPLATES = {
    "include.j2": "{% include 'other.j2' %}\n",
    "extends.j2": "{% extends 'base.j2' %}\n",
    "import.j2": "{% import 'macros.j2' as m %}\n",
    "broken.j2": "# {{ version }}\n{% for e in %}\n",
}


@pytest.mark.parametrize(("text", "line", "col", "message"), BAD_SPECS,
                         ids=[f"{i}:{m[:40]}" for i, (_, _, _, m) in enumerate(BAD_SPECS)])
def test_a_bad_spec_is_an_error_at_validate_with_its_position(tmp_path, cli, text, line, col,
                                                              message):
    (tmp_path / "release.yml").write_text(text + "\n")
    (tmp_path / "notes").mkdir()
    for name, source in TEMPLATES.items():
        (tmp_path / "notes" / name).write_text(source)
    result = cli(tmp_path, "validate")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    errors = [ln for ln in result.err.splitlines() if re.match(r"release\.yml:\d+:\d+: ", ln)]
    assert len(errors) == 1, result.err
    assert errors[0].startswith(f"release.yml:{line}:{col}: error: "), result.err
    assert message in errors[0], result.err


def test_the_same_specs_made_good_are_valid(tmp_path, cli):
    """The checks are not too eager: every variable in its place, git's own examples."""
    (tmp_path / "release.yml").write_text(
        'version:\n  tag: ["v{version}", "release/{version}", "{version}"]\n'
        '  commit_message: "chore(release): {project} {version:>10} ({tag}, after {previous})"\n'
        '  files: [{path: conf.py, pattern: "release = \\"(?P<version>[^\\"]+)\\""}]\n'
        'changelog:\n  commits: "https://x/commit/{sha}"\n  issues: "https://x/issues/{id}"\n'
        '  pulls: "https://x/pull/{id}"\n  compare: "https://x/compare/{previous}...{tag}"\n'
        'secrets: {t: {env: T, pattern: "^pypi-", ttl: 2592000}}\n'
        'stages:\n  test: {run: "echo {version} ${HOME}", env: {A_B: "1", x: "y=z"}, '
        'timeout: 0.5}\n'
        'publish:\n  git.tag: {push: origin, moving: [stable, latest/x], message: '
        '"Release {{literal}} {version}"}\n'
        'notify:\n  console.hi: {message: "{project} {version} ({short_commit})"}\n')
    result = cli(tmp_path, "validate")
    assert result.code == 0, result.err


@pytest.mark.parametrize(("name", "problem"), [
    ("v1.2.3", None), ("release/1.2.3", None), ("1.2.3+build.5", None), ("a@b", None),
    ("@", None), ("", "empty"), ("-x", "starts with '-'"), ("a b", "a space"),
    ("a\tb", "a control character"), ("a~1", "'~'"), ("a^", "'^'"), ("a:b", "':'"),
    ("a?", "'?'"), ("a*", "'*'"), ("a[", "'['"), ("a\\b", "'\\\\'"), ("a..b", "'..'"),
    ("a@{1}", "'@{'"), ("/a", "'/'"), ("a/", "'/'"), ("a//b", "'//'"), ("a.", "ends with '.'"),
    ("a/.b", "starts with '.'"), ("a.lock", "'.lock'"), ("a.lock/b", "'.lock'"),
])
def test_ref_names_by_gits_own_rules(tmp_path, name, problem):
    found = git.ref_name_problem(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
    # git itself agrees (an empty name aside: check-ref-format has no word for it)
    if name:
        done = subprocess.run(["git", "check-ref-format", f"refs/tags/{name}"],
                              capture_output=True)
        assert (done.returncode == 0) == (problem is None or name.startswith("-")), name


def test_a_tag_starting_with_a_dash_never_reaches_git_in_option_position(repo, monkeypatch):
    calls: list[list[str]] = []
    real_run = process.run

    def recording(cmd, *args, **kwargs):
        calls.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(process, "run", recording)
    head = git.head(repo.path)
    assert head
    with pytest.raises(GitError, match="starts with '-'"):
        git.create_tag(repo.path, "--upload-pack=touch pwned", head, "m")
    for call in (lambda: git.tag_commit(repo.path, "-x"),
                 lambda: git.has_commit(repo.path, "-x"),
                 lambda: git.is_ancestor(repo.path, "-x", "HEAD"),
                 lambda: git.show_file(repo.path, "-x", "file.txt"),
                 lambda: git.on_a_remote(repo.path, "-x"),
                 lambda: git.remote_tags(repo.path, "-x"),
                 lambda: git.remote_branch(repo.path, "-x", "-y"),
                 lambda: git.push_tag(repo.path, "-x", "-y"),
                 lambda: git.move_tags(repo.path, ["-y"], head, "-x"),
                 lambda: list(git.log(repo.path, "-x..HEAD")),
                 lambda: git.ahead_behind(repo.path, "-x", "HEAD")):
        with contextlib.suppress(GitError):  # git refuses such names: where they stood matters
            call()
    assert calls
    for argv in calls:
        ends = [i for i, a in enumerate(argv) if a in ("--", "--end-of-options")]
        for i, arg in enumerate(argv):
            if arg.startswith("-x") or arg.startswith("-y") or arg.startswith("--upload"):
                assert ends and ends[0] < i, f"{arg!r} in option position: {argv}"
    assert not (repo.path / "pwned").exists()


def test_plan_reports_a_bad_link_template_instead_of_crashing(repo, cli):
    """Before: `plan` raised KeyError / MemoryError on these while filling the changelog."""
    repo.commit("feat: a change (#12)")
    repo.write_spec('changelog: {pulls: "https://x/pull/{nope}", commits: "x/{sha:>2000000000}"}\n'
                    "stages: {test: {run: 'true'}}\n")
    result = cli(repo.path, "plan")
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err and "crash" not in result.err.lower()
    assert "release.yml:1:20: error: changelog.pulls: unknown variable {nope}" in result.err
    assert "release.yml:1:54: error: changelog.commits: {sha:>2000000000}" in result.err


def test_plan_with_a_notes_template_that_includes_another_is_an_error_not_a_crash(repo, cli):
    (repo.path / "notes.j2").write_text("{% include 'x.j2' %}\n")
    repo.write_spec("notes: {template: notes.j2}\nstages: {test: {run: 'true'}}\n")
    result = cli(repo.path, "plan")
    assert result.code == 1
    assert "release.yml:1:19: error: notes.template: notes.j2: line 1: {% include %}" in result.err


@pytest.mark.parametrize(("source", "message"), [
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls itself without end"),
    ("{{ cycler.__init__.__globals__ }}", "is unsafe")])
def test_plan_says_where_the_notes_template_that_cannot_render_is(repo, cli, source, message):
    """A template that compiles at validate but fails to render: the error is at
    `notes.template` in release.yml, with what to do."""
    (repo.path / "notes.j2").write_text(source)
    repo.write_spec("notes: {template: notes.j2}\nstages: {test: {run: 'true'}}\n")
    result = cli(repo.path, "plan")
    assert result.code == 1 and "Traceback" not in result.err
    assert "release.yml:1:19: error: notes.template: release-notes template" in result.err
    assert message in result.err


@pytest.mark.parametrize(("source", "message"), [
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls itself without end"),
    ("{{ 'a' * 3000000000 }}", "repeated 3,000,000,000 times, over the limit of 100,000"),
    ("{{ [1, 2] * 100000 }}", "repeated 100,000 times"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "ran over 2,000,000 steps"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     "release notes"),
    ("{{ range(200000)|list }}", "the number 200,000 given to a filter or a call"),
    ("{{ '{:>2000000000}'.format(version) }}", "the width 2,000,000,000 is over the limit"),
    ("{{ '%2000000000s' % version }}", "has a width or precision over 100"),
    ("{{ '%2000000000s'|format(version) }}", "has a width or precision over 100"),
    ("{{ version|center(2000000000) }}", "the number 2,000,000,000"),
    ("{{ version.ljust(2000000000) }}", "the number 2,000,000,000"),
    ("{{ 2 ** 100000000 }}", "the power 100,000,000, over the limit of 1,000"),
    ("{% set s = 'a' * 100000 %}{{ s|replace('a', 'a' * 100000) }}", "a replace making"),
    ("{% set s = 'a' * 100000 %}{{ s.replace('a', 'a' * 100000) }}", "a replace making"),
    ("{% include 'x.j2' %}", "{% include %} is not supported"),
    ("{% from 'x.j2' import y %}", "{% from ... import %} is not supported"),
])
def test_release_notes_rendering_is_bounded(source, message):
    notes = ReleaseNotesTemplate()
    notes.create_custom("t", source)
    with pytest.raises(ScalpelError) as caught:
        notes.render("t", version="1.0.0")
    assert message in caught.value.message + " " + (caught.value.hint or "")


def test_release_notes_within_the_bounds_render_as_before():
    notes = ReleaseNotesTemplate()
    notes.create_custom("t", "{{ version }}|{{ '%-6s|'|format('ab') }}{{ 'x' * 3 }}"
                        "{{ '{:>4}'.format('y') }}{% for i in range(3) %}{{ i }}{% endfor %}"
                        "{{ 'abc'|replace('b', 'BB') }}{{ 2 ** 10 }}")
    assert notes.render("t", version="1.0.0") == "1.0.0|ab    |xxx   y012aBBc1024"


def test_large_specs_read_by_libyaml_give_what_ruamel_gives():
    from ruamel.yaml import YAML

    from scalpel_plan.spec import fast_yaml
    from scalpel_plan.spec.source import to_plain

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    texts = [p.read_text() for p in sorted(root.glob("examples/**/*.yml"))]
    texts += re.findall(r"```yaml\n(.*?)```", readme, re.S)
    texts.append("a: 010\nb: 0o17\nc: 0x1F\nd: 1_000\ne: 1e3\nf: .5\ng: yes\nh: on\ni: ~\n"
                 "j: 2027-06-30\nk: '1.0'\nl: -.inf\nm: 12:30\nn: +1\no: 1.\nq: 0b11\nr: -0\n"
                 "s: 1e\nt: True\nu: -0x1f\nv: [[1, 2], {a: b}, {}, [], null, '', \"\"]\n"
                 "w: |\n  text\n  more\nx: >-\n  folded\n  line\ny:\n? complex\n: value\n")
    fast = 0
    for text in texts:
        got = fast_yaml.load(text)
        if got is None:
            continue
        fast += 1
        assert str(to_plain(got)) == str(to_plain(YAML(typ="safe", pure=True).load(text)))
    assert fast >= len(texts) - 2  # the plain ones (nearly all) take the fast path
    for text in ("a: &x 1\nb: *x\n", "a: !!int 1\n", "%YAML 1.2\n---\na: 1\n", "a: 1\na: 2\n",
                 "---\na: 1\n---\nb: 2\n", "<<: {a: 1}\n", "a: 2027-06-30 10:00:00\n",
                 "[" * 100 + "]" * 100, "a: [\n", "a: !!binary aGk=\n", "a: !!set {x}\n"):
        assert fast_yaml.load(text) is None, text  # the full loader reads (or refuses) these


def test_a_plan_printed_off_a_terminal_is_what_rich_would_print():
    import io

    from rich.console import Console

    from scalpel_plan.ui.common import escape, plain

    value, backslash = escape("[x] \\[y] a\tb"), escape("\\")
    markup = (f"[bold]# stage.a[/] will run\n  [green]+[/] {value}\n"
              f"[dim]{backslash}[/]\x07end \\\\[bold]z[/]")
    out = io.StringIO()
    Console(file=out, highlight=False, emoji=False, soft_wrap=True).print(markup)
    assert plain(markup) + "\n" == out.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab[]/\\#@=x \t\x07\n", max_size=12), max_size=4))
def test_escape_and_plain_are_riches_own(values):
    """``escape`` and ``plain`` are rich's escape and rich's colourless print, without rich:
    any text escaped, put in markup and printed comes out as rich prints it."""
    import io

    from rich.console import Console
    from rich.markup import RE_TAGS
    from rich.markup import escape as rich_escape

    from scalpel_plan.ui.common import TAGS, escape, plain

    assert (TAGS.pattern, TAGS.flags) == (RE_TAGS.pattern, RE_TAGS.flags)
    for value in values:
        assert escape(value) == rich_escape(value), value
    markup = "\n".join(f"[bold]{i}[/] [green]{escape(v)}[/]" for i, v in enumerate(values))
    out = io.StringIO()
    Console(file=out, highlight=False, emoji=False, soft_wrap=True).print(markup)
    assert plain(markup) + "\n" == out.getvalue()


EXTRA_SCHEMA_ERRORS = [
    "stages: {a: {run: 1}}", "stages: {a: {timeout: '5'}}", "stages: {a: {timeout: true}}",
    "version: {initial: 1.0}", "publish: {git.tag: {push: 1}}", "publish: {nope.x: {}}",
    "notify: {console.x: {message: 5}}", "stages: {a: {env: {A: 1}}}", "project: {name: 5}",
    "changelog: {other: maybe}", "alerts: {on_failure: [x]}", "version: {tag: []}",
    "publish: {git.tag: {moving: [-x]}}", "stages: {a: {needs: [nodot]}}",
]


def test_the_models_never_accept_what_the_schema_refuses(tmp_path):
    """validate skips the (slow) schema when the models accept a spec strictly: sound only if
    whatever the schema refuses, the models refuse too."""
    import json

    from scalpel_plan.errors import SpecError
    from scalpel_plan.providers.registry import default_registry
    from scalpel_plan.spec import schema
    from scalpel_plan.spec.source import read_source

    root = Path(__file__).resolve().parent.parent
    models = default_registry().node_configs()
    shipped = json.loads(schema.SHIPPED.read_text())
    texts = [text for text, *_ in BAD_SPECS] + EXTRA_SCHEMA_ERRORS
    texts += [p.read_text() for p in sorted((root / "tests" / "specs" / "broken").glob("*.yml"))]
    texts += [p.read_text() for p in sorted(root.glob("examples/**/*.yml"))]
    refused = accepted = 0
    for text in texts:
        (tmp_path / "release.yml").write_text(text)
        try:
            source = read_source(tmp_path / "release.yml")
        except SpecError:
            continue
        if schema.validate(source, shipped):
            refused += 1
            assert not schema.valid_by_models(source.data, models), text
        elif schema.valid_by_models(source.data, models):
            accepted += 1
    assert refused >= 25 and accepted >= 20  # both sides were tried


def test_a_timeout_a_timer_cannot_take_never_breaks_its_thread(tmp_path, monkeypatch):
    """validate refuses such timeouts; a plan file could still carry one (before: an
    OverflowError in the timer thread, and the command ran with no time limit)."""
    import threading

    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    for timeout in (1e300, float("nan"), float("inf")):
        done = process.run(["sleep", "0.2"], cwd=tmp_path, timeout=timeout)
        assert done.ok and not done.timed_out
    assert process.run(["sleep", "5"], cwd=tmp_path, timeout=-1.0).timed_out
    assert errors == []
