"""Secrets: values from the environment only, checked, and masked in any text."""

from __future__ import annotations

import datetime as dt

import pytest

from scalpel_plan.errors import ScalpelError
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import SecretDecl


def test_every_problem_is_reported_by_name_without_a_value():
    declared = {
        "missing": SecretDecl(env="NOT_SET"),
        "shape": SecretDecl(env="SHAPE", pattern="^pypi-"),
        "short": SecretDecl(env="SHORT", min_length=20),
        "old": SecretDecl(env="OLD", expires=dt.date(2026, 1, 1)),
        "soon": SecretDecl(env="SOON", expires=dt.date(2026, 12, 1)),
        "fine": SecretDecl(env="FINE", pattern="^ok-"),
    }
    env = {"SHAPE": "token-abc", "SHORT": "tiny", "OLD": "x" * 30, "SOON": "y" * 30,
           "FINE": "ok-value"}
    errors, warnings = SecretsManager(declared, env).problems(today=dt.date(2026, 11, 26))
    assert errors == ["secret missing: $NOT_SET is not set",
                      "secret shape: $SHAPE does not match '^pypi-'",
                      "secret short: $SHORT is shorter than 20",
                      "secret old expired on 2026-01-01"]
    assert warnings == ["secret soon expires in 5 days"]
    assert not any(v in " ".join(errors + warnings) for v in env.values())


def test_references_resolve_only_to_declared_and_set_secrets():
    secrets = SecretsManager({"t": SecretDecl(env="T")}, {"T": "v4lue-of-t"})
    assert secrets.resolve({"a": ["x ${secrets.t} y"]}) == {"a": ["x v4lue-of-t y"]}
    with pytest.raises(ScalpelError, match="not declared"):
        secrets.resolve("${secrets.other}")
    with pytest.raises(ScalpelError, match=r"\$U is not set"):
        SecretsManager({"u": SecretDecl(env="U")}, {}).resolve("${secrets.u}")


def test_masking_covers_encoded_forms():
    import base64
    import urllib.parse

    value = "p@ss/w0rd+long=="
    secrets = SecretsManager({"p": SecretDecl(env="P")}, {"P": value})
    secrets.resolve("${secrets.p}")
    text = f"raw {value} url {urllib.parse.quote(value, safe='')} " \
           f"b64 {base64.b64encode(value.encode()).decode()}"
    masked = secrets.mask(text)
    assert value not in masked and "p%40ss" not in masked and "cEBzcy" not in masked
    assert masked.count("[secret]") == 3


def test_a_value_is_cached_for_its_ttl_then_read_again():
    now = [0.0]
    env = {"T": "first-value-of-t"}
    secrets = SecretsManager({"t": SecretDecl(env="T", ttl=60)}, env, clock=lambda: now[0])
    assert secrets.get("t").value == "first-value-of-t"
    env["T"] = "second-value-of-t"
    now[0] = 59
    assert secrets.get("t").value == "first-value-of-t"
    now[0] = 60
    assert secrets.get("t").value == "second-value-of-t"
    # both values stay masked: the first may already be in a command's output
    assert secrets.mask("first-value-of-t second-value-of-t") == "[secret] [secret]"
    assert "second-value" not in repr(secrets.get("t"))


def test_short_values_are_masked_only_as_whole_words():
    secrets = SecretsManager({"s": SecretDecl(env="S")}, {"S": "do"})
    secrets.load_all()
    assert secrets.mask("documentation: do it, do.") == "documentation: [secret] it, [secret]."


def test_a_stage_sees_only_the_secrets_it_declares(repo, cli, monkeypatch):
    monkeypatch.setenv("DEPLOY_KEY", "deploy-key-value-1234")
    monkeypatch.setenv("OTHER_KEY", "other-key-value-5678")
    monkeypatch.setenv("PYPI_TOKEN", "pypi-default-token-9999")
    repo.write_spec("""
secrets:
  deploy: {env: DEPLOY_KEY}
  other: {env: OTHER_KEY}
stages:
  show:
    run: 'echo "deploy=$DEPLOY_KEY other=${OTHER_KEY:-absent} pypi=${PYPI_TOKEN:-absent}"'
    secrets: [deploy]
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    log = next((repo.path / ".scalpel" / "logs").rglob("stage.show.log")).read_text()
    # the declared secret arrived (masked in the log), the others were never passed
    assert log.strip() == "deploy=[secret] other=absent pypi=absent"


def test_a_failing_stage_leaks_no_secret_in_its_log_error_or_journal(repo, cli, monkeypatch):
    value = "s3cr3t-canary-ABCDEF"
    monkeypatch.setenv("DEPLOY_KEY", value)
    repo.write_spec("""
secrets:
  deploy: {env: DEPLOY_KEY}
stages:
  leak: {run: 'echo "key is $DEPLOY_KEY"; printf %s "$DEPLOY_KEY" | base64; exit 3',
         secrets: [deploy]}
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 1 and "key is [secret]" in result.err
    assert value not in result.out + result.err
    for path in (repo.path / ".scalpel").rglob("*"):
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path
            assert b"czNjcjN0LWNhbmFyeS1BQkNERUY" not in path.read_bytes(), path


def test_secrets_command_lists_status_never_values(repo, cli, monkeypatch):
    monkeypatch.setenv("GOOD", "pypi-good-value")
    monkeypatch.setenv("BAD", "not-a-pypi-token")
    repo.write_spec("""
secrets:
  good: {env: GOOD, pattern: "^pypi-", expires: 2099-01-01}
  bad: {env: BAD, pattern: "^pypi-"}
  gone: {env: GONE}
""")
    result = cli(repo.path, "secrets")
    assert result.code == 1
    rows = {line.split()[0]: line.split()[2] for line in result.out.splitlines()[1:]}
    assert rows == {"good": "set", "bad": "invalid", "gone": "missing"}
    assert "pypi-good-value" not in result.out and "not-a-pypi-token" not in result.out
    plan = cli(repo.path, "plan")  # plan names every problem at once, by name
    assert plan.code == 1
    assert "secret bad: $BAD does not match '^pypi-'" in plan.err
    assert "secret gone: $GONE is not set" in plan.err
    assert "release.yml:4:3" in plan.err  # where `bad` is declared


def test_under_github_actions_each_value_is_registered_with_the_runner(repo, monkeypatch):
    from tests.conftest import run_scalpel

    repo.write_spec("secrets:\n  tok: {env: TOK}\n")
    result = run_scalpel(repo.path, "plan", env={"GITHUB_ACTIONS": "true",
                                                "TOK": "runner-mask-me-42"})
    assert result.returncode == 0, result.stderr
    assert "::add-mask::runner-mask-me-42" in result.stdout.splitlines()
    assert "::add-mask::cnVubmVyLW1hc2stbWUtNDI=" in result.stdout.splitlines()  # base64
    # everything else Scalpel printed is masked
    rest = [line for line in result.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert "runner-mask-me-42" not in "\n".join(rest) + result.stderr
