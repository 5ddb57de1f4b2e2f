"""The spec fuzzer, a deterministic sample of it (the full sweep is benchmarks/fuzz.py): mutated
specs run through `validate` and, when valid, `plan`, in this process against a real
repository with a bare remote. Every outcome is exit 0, or exit 1 with each problem at
file:line:col or a node address: never a crash, a traceback or a hang. Each command has a time
limit (a hang, not a speed figure: 30 s) and an address-space limit (1 GiB more than the
process has).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests import spec_fuzz

SETTINGS = settings(max_examples=250, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> spec_fuzz.Runner:
    return spec_fuzz.Runner(spec_fuzz.make_repo(tmp_path_factory.mktemp("fuzz")))


def check(runner: spec_fuzz.Runner, spec: bytes) -> None:
    with runner.environment():
        outcomes = runner.run(spec)
    for outcome in outcomes:
        assert outcome.kind in (spec_fuzz.OK, spec_fuzz.POSITIONED), f"{spec!r}\n{outcome}"
        assert "Traceback" not in outcome.output, f"{spec!r}\n{outcome}"


@SETTINGS
@given(spec=spec_fuzz.structured(others=True))  # values aimed at every area too
def test_structure_mutations_end_in_a_result_or_a_positioned_error(runner, spec):
    check(runner, spec)


@SETTINGS
@given(spec=spec_fuzz.textual())
def test_text_mutations_end_in_a_result_or_a_positioned_error(runner, spec):
    check(runner, spec)


@pytest.mark.parametrize("seed", range(len(spec_fuzz.seeds())))
def test_every_seed_is_planned(runner, seed):
    """The fuzzer starts from valid specs: each validates and plans (the sample above would
    otherwise test error paths only)."""
    with runner.environment():
        outcomes = runner.run(spec_fuzz.seeds()[seed].encode())
    assert [o.command for o in outcomes] == ["validate", "plan"], outcomes[0]
    assert outcomes[0].kind == spec_fuzz.OK
    assert outcomes[1].kind in (spec_fuzz.OK, spec_fuzz.POSITIONED), outcomes[1]


def test_the_classifier_tells_a_crash_and_an_unpositioned_error(runner, monkeypatch):
    """A bug in the code under test is a crash, an error with no position is reported as one:
    the fuzzer can fail."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.spec import checks  # run on every spec (the schema only when needed)

    def broken(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(checks, "check_data", broken)
    spec = b"stages: {test: {run: pytest}}  # the classifier\n"
    with runner.environment():
        crash = runner.run(spec)[0]
    assert crash.kind == spec_fuzz.CRASH and "KeyError: 'boom'" in crash.output

    def nowhere(*args: object) -> None:
        raise ScalpelError("something is wrong")

    monkeypatch.setattr(checks, "check_data", nowhere)
    with runner.environment():
        assert runner.run(spec + b"# 2\n")[0].kind == spec_fuzz.UNPOSITIONED


def test_a_hang_is_cut_at_the_time_limit(tmp_path: Path, monkeypatch):
    from scalpel_plan.spec import checks

    def forever(*args: object) -> None:
        while True:
            pass

    monkeypatch.setattr(checks, "check_data", forever)
    runner = spec_fuzz.Runner(spec_fuzz.make_repo(tmp_path), seconds=0.5)
    with runner.environment():
        assert runner.run(b"stages: {test: {run: pytest}}\n")[0].kind == spec_fuzz.HANG
