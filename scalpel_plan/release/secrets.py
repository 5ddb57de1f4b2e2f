"""Secrets: declared in release.yml by name, valued only from the environment, checked, and
masked by value wherever text leaves Scalpel.

A value is looked up once and cached; state and plan files only ever hold `${secrets.NAME}`.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scalpel_plan.errors import ScalpelError
from scalpel_plan.spec.model import SecretDecl

REFERENCE = re.compile(r"\$\{\s*secrets\.([A-Za-z0-9_-]+)\s*\}")
MASK = "[secret]"
EXPIRY_WARNING_DAYS = 14
SHORT = 8  # values shorter than this are masked only as whole words


@dataclass(frozen=True)
class Secret:
    name: str
    env: str
    value: str | None

    @property
    def present(self) -> bool:
        return bool(self.value)


class SecretsManager:
    """Loads declared secrets from the environment and masks their values in any text."""

    def __init__(self, declared: Mapping[str, SecretDecl],
                 environ: Mapping[str, str] | None = None) -> None:
        self.declared = dict(declared)
        self._environ = os.environ if environ is None else environ
        self._cache: dict[str, Secret] = {}
        self._masks: list[tuple[re.Pattern[str], str]] | None = None

    def get(self, name: str) -> Secret:
        if name not in self._cache:
            decl = self.declared.get(name)
            if decl is None:
                raise ScalpelError(f"secret '{name}' is not declared",
                                   hint="declare it under `secrets:` in release.yml")
            self._cache[name] = Secret(name, decl.env, self._environ.get(decl.env))
            self._masks = None
        return self._cache[name]

    def from_env(self, env: str) -> str:
        """A provider's default secret (the seed's PYPI_TOKEN, ...), masked like the others."""
        if env not in self.declared:
            self.declared[env] = SecretDecl(env=env)
        return str(self._required(env))

    def problems(self, today: dt.date | None = None) -> tuple[list[str], list[str]]:
        """(errors, warnings) for every declared secret: missing, malformed, expired."""
        today = today or dt.date.today()
        errors: list[str] = []
        warnings: list[str] = []
        for name, decl in self.declared.items():
            secret = self.get(name)
            if not secret.present:
                errors.append(f"secret {name}: ${decl.env} is not set")
                continue
            value = secret.value or ""
            if decl.pattern and not re.search(decl.pattern, value):
                errors.append(f"secret {name}: ${decl.env} does not match {decl.pattern!r}")
            if decl.min_length and len(value) < decl.min_length:
                errors.append(f"secret {name}: ${decl.env} is shorter than {decl.min_length}")
            if decl.expires and decl.expires < today:
                errors.append(f"secret {name} expired on {decl.expires}")
            elif decl.expires and (decl.expires - today).days <= EXPIRY_WARNING_DAYS:
                warnings.append(f"secret {name} expires in {(decl.expires - today).days} days")
        return errors, warnings

    def resolve(self, value: Any) -> Any:
        """``value`` with every ``${secrets.NAME}`` replaced by the secret (at apply only)."""
        if isinstance(value, str):
            return REFERENCE.sub(lambda m: self._required(m[1]), value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _required(self, name: str) -> str:
        secret = self.get(name)
        if not secret.value:
            raise ScalpelError(f"secret {name}: ${secret.env} is not set",
                               hint=f"export {secret.env}=... in the environment of apply")
        return secret.value

    def mask(self, text: str) -> str:
        """``text`` with every loaded secret value (raw, URL-encoded, base64) masked."""
        if self._masks is None:
            self._masks = [m for s in self._cache.values() if s.value for m in _masks(s.value)]
        for pattern, _ in self._masks:
            text = pattern.sub(MASK, text)
        return text


def _masks(value: str) -> list[tuple[re.Pattern[str], str]]:
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
             base64.b64encode(value.encode()).decode()}
    found = []
    for form in sorted(forms, key=len, reverse=True):
        escaped = re.escape(form)
        # a short value masks only where it stands alone, never inside an ordinary word
        pattern = escaped if len(form) >= SHORT else rf"(?<![\w]){escaped}(?![\w])"
        found.append((re.compile(pattern), form))
    return found
