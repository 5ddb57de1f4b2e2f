"""Secrets: values from the environment only, checked, and masked in any text."""

from __future__ import annotations

import datetime as dt

import pytest

from scalpel_plan.errors import ScalpelError
from scalpel_plan.release.secrets import SecretsManager
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
