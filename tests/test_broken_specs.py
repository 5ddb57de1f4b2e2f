"""The broken-spec folder: each file says, in `# expect:` lines, every problem it must report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

BROKEN = Path(__file__).parent / "specs" / "broken"
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.*)$", re.MULTILINE)


@pytest.mark.parametrize("spec", sorted(BROKEN.glob("*.yml")), ids=lambda p: p.stem)
def test_broken_spec_reports_each_problem_at_its_position(spec, tmp_path, cli):
    expected = EXPECT.findall(spec.read_text())
    assert expected, f"{spec.name} has no `# expect:` line"
    shutil.copy(spec, tmp_path / "release.yml")
    result = cli(tmp_path, "validate")
    assert result.code == 1
    assert "Traceback" not in result.err
    problems = _problems(result.err)
    for line, col, message in expected:
        wanted = f"release.yml:{line}:{col}: error: {message}"
        assert any(p.startswith(wanted) for p in problems), \
            f"expected\n  {wanted}\ngot\n{result.err}"
    assert len(problems) == len(expected), result.err


def _problems(err: str) -> list[str]:
    """Each reported problem as one line: `file:line:col: error: message (hint)`."""
    problems: list[str] = []
    for line in err.splitlines():
        if line.startswith("release.yml:"):
            problems.append(line)
        elif line.startswith("  ") and problems and "(" not in problems[-1][-1:]:
            problems[-1] += f" ({line.strip()})"
    return problems


def test_validate_accepts_the_seed_example(tmp_path, cli):
    (tmp_path / "release.yml").write_text(
        "version: 1.0.0\nstages:\n  - name: build\n    timeout: 300\n"
        "  - name: test\n    timeout: 600\n  - name: publish\n    timeout: 180\n")
    result = cli(tmp_path, "validate")
    assert result.code == 0, result.err
    assert "is valid: 3 nodes" in result.err


def test_missing_file_is_a_clear_error(tmp_path, cli):
    result = cli(tmp_path, "validate", "-f", "nope.yml")
    assert result.code == 1
    assert "nope.yml not found" in result.err and "scalpel init" in result.err


def test_a_spec_found_valid_is_not_validated_again_until_it_changes(tmp_path, cli, monkeypatch):
    from scalpel_plan.spec import schema

    spec = tmp_path / "release.yml"
    spec.write_text("stages:\n  test: {run: pytest}\n")
    assert cli(tmp_path, "validate").code == 0
    assert list((tmp_path / ".scalpel" / "cache" / "validated").iterdir())

    def no_second_validation(*args, **kwargs):
        raise AssertionError("validated twice")

    monkeypatch.setattr(schema, "validate", no_second_validation)
    assert cli(tmp_path, "validate").code == 0
    monkeypatch.undo()
    spec.write_text("stages:\n  test: {run: pytest, timout: 3}\n")  # changed: checked again
    result = cli(tmp_path, "validate")
    assert result.code == 1 and "unknown key 'timout'" in result.err


def test_a_literal_secret_is_refused_without_echoing_it(tmp_path, cli):
    (tmp_path / "release.yml").write_text(
        "publish:\n  docker.app: {image: r/app, source: x, password: hunter2-literal}\n")
    result = cli(tmp_path, "validate")
    assert result.code == 1 and "must name a declared secret" in result.err
    assert "hunter2" not in result.err
