"""One source of truth: the committed JSON Schema is what the pydantic models generate."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from scalpel_plan.providers.registry import default_registry
from scalpel_plan.spec.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "scalpel schema > scalpel_plan/release.schema.json (no plugins installed)"


def test_committed_schema_matches_the_models():
    committed = json.loads((ROOT / "schemas" / "release.schema.json").read_text())
    generated = build_schema(default_registry(plugins=False).node_configs())
    assert committed == generated, f"the schema drifted from the models; run `{REGENERATE}`"


def test_schema_is_valid_json_schema_2020_12():
    schema = json.loads((ROOT / "schemas" / "release.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_provider_has_its_node_config_in_the_schema():
    schema = json.loads((ROOT / "schemas" / "release.schema.json").read_text())
    patterns = schema["properties"]["publish"]["patternProperties"]
    providers = {p.split("\\.")[0].lstrip("^") for p in patterns}
    assert providers == {"console", "docker", "email", "git", "github", "pypi", "slack", "webhook"}
    assert "push" in schema["$defs"]["GitTagConfig"]["properties"]
