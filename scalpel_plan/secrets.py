"""Secrets: declared in release.yml by name, valued only from the environment, checked, and
masked by value wherever text leaves Scalpel (see ``scalpel_plan.masking``).

A value is read once and cached for the secret's ``ttl``; state and plan files only ever hold
``${secrets.NAME}``. A stage sees only the secrets it declares.

Once loaded, every secret's variable leaves Scalpel's own environment (the values stay in
this module, where the managers read them): a command Scalpel runs, a stage or a git hook,
cannot read them from ``/proc/<scalpel's pid>/environ``, whose strings are overwritten in
place, nor inherit them. On Linux the process is also made non-dumpable (no other process of
the user can read its memory or its environment).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from scalpel_plan import masking
from scalpel_plan.errors import ScalpelError

REFERENCE = re.compile(r"\$\{\s*secrets\.([A-Za-z0-9_-]+)\s*\}")
MASK = masking.MASK
# The seed's variable names: the providers' credentials when release.yml declares none. They
# are masked, and kept from stages, whether declared or not.
DEFAULT_ENVS = ("PYPI_TOKEN", "DOCKER_USERNAME", "DOCKER_PASSWORD", "GITHUB_TOKEN",
                "SLACK_WEBHOOK", "SMTP_PASSWORD")
# The state backend's credentials (the postgres backend's password, as libpq reads it): masked
# and kept from stages too, but not handed to git.
STATE_ENVS = ("PGPASSWORD",)
STATE_URL_ENV = "SCALPEL_STATE"  # may hold a database password: never a stage's


_VAULT: dict[str, str] = {}  # the variables moved out of os.environ, with their values


class _ProcessEnvironment(Mapping[str, str]):
    """os.environ, and the secrets' variables this process moved out of it."""

    def __getitem__(self, key: str) -> str:
        value = os.environ.get(key)
        return _VAULT[key] if value is None else value

    def __iter__(self) -> Iterator[str]:
        return iter({**_VAULT, **os.environ})

    def __len__(self) -> int:
        return len({**_VAULT, **os.environ})


def hide_from_environment(envs: Iterable[str]) -> None:
    """Move the variables ``envs`` out of this process's environment (kept for the secrets
    managers): their strings are overwritten where the kernel shows them
    (/proc/<pid>/environ), then unset, so that no command started later inherits them."""
    for env in envs:
        value = os.environ.get(env)
        if value is None:
            continue
        _VAULT[env] = value
        _overwrite_in_place(env)
        del os.environ[env]
    _not_dumpable()


def environment_value(env: str) -> str | None:
    """A variable of this process's environment, also once the secrets moved it out."""
    return _ProcessEnvironment().get(env)


def git_credentials() -> dict[str, str]:
    """The providers' default credentials moved out of the environment, for git alone: a
    credential helper (`gh auth setup-git`, one reading $GITHUB_TOKEN) needs them; stages
    still get only what they list."""
    return {env: _VAULT[env] for env in DEFAULT_ENVS if env in _VAULT}


def restore_environment() -> None:
    """For tests that run the CLI in-process: put the variables back in os.environ and
    forget them, as the next process would find its environment."""
    for env, value in _VAULT.items():
        os.environ.setdefault(env, value)
    _VAULT.clear()


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _overwrite_in_place(env: str) -> None:
    """Zero the value of ``env`` in the C environment's own string (for the variables the
    process started with, the block /proc/<pid>/environ reads, which unsetenv leaves)."""
    libc = _libc()
    if libc is None:
        return
    libc.getenv.restype = ctypes.c_void_p
    address = libc.getenv(env.encode())
    if address:
        ctypes.memset(address, 0, len(ctypes.string_at(address)))


def _not_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): other processes of the same user can neither read this
    one's memory nor its /proc files (a command's own process is dumpable again after exec)."""
    libc = _libc()
    if libc is not None:
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE


class SecretDecl(Protocol):
    """What a secret's declaration says (release.yml's ``secrets:``, typed by the spec)."""

    @property
    def env(self) -> str: ...
    @property
    def pattern(self) -> str | None: ...
    @property
    def min_length(self) -> int | None: ...
    @property
    def expires(self) -> dt.date | None: ...
    @property
    def warn_days(self) -> int: ...
    @property
    def ttl(self) -> float: ...


@dataclass(frozen=True)
class EnvSecret:
    """A secret known only by its variable: a provider's default, or a declaration read
    before the spec is typed (to mask its value from the first line of output)."""

    env: str
    pattern: str | None = None
    min_length: int | None = None
    expires: dt.date | None = None
    warn_days: int = 14
    ttl: float = 900.0


def declared_envs(raw: object) -> dict[str, SecretDecl]:
    """The secrets a raw (untyped) ``secrets:`` mapping declares, by their variables only."""
    if not isinstance(raw, dict):
        return {}
    return {str(name): EnvSecret(decl["env"]) for name, decl in raw.items()
            if isinstance(decl, dict) and isinstance(decl.get("env"), str)}


@dataclass(frozen=True)
class Secret:
    name: str
    env: str
    value: str | None
    loaded_at: float = 0.0

    @property
    def present(self) -> bool:
        return bool(self.value)

    def __repr__(self) -> str:  # a value never reaches a log through repr()
        return f"Secret(name={self.name!r}, env={self.env!r}, present={self.present})"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretStatus:
    """What `scalpel secrets` shows for one secret: never its value."""

    name: str
    env: str
    status: str  # set | missing | invalid | expired | expiring
    detail: str
    declared: bool = True

    @property
    def ok(self) -> bool:
        return self.status in ("set", "expiring")


class SecretsManager:
    """Loads declared secrets from the environment (once, cached for each secret's ``ttl``),
    checks them, hands them out, and registers every value with the mask."""

    def __init__(self, declared: Mapping[str, SecretDecl],
                 environ: Mapping[str, str] | None = None, *,
                 on_load: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.declared: dict[str, SecretDecl] = dict(declared)
        self._environ: Mapping[str, str] = _ProcessEnvironment() if environ is None \
            else environ
        self._on_load = on_load
        self._clock = clock
        self._cache: dict[str, Secret] = {}
        self._lock = threading.Lock()

    def load_all(self) -> None:
        """Read every declared secret and the providers' default variables now, so that each
        value is masked from the first line of output, whoever prints it."""
        for name in self.declared:
            self.get(name)
        for env in (*DEFAULT_ENVS, *STATE_ENVS):
            self._remember(self._environ.get(env))
        if isinstance(self._environ, _ProcessEnvironment):  # no command reads them from us
            hide_from_environment([*(d.env for d in self.declared.values()), *DEFAULT_ENVS,
                                   *STATE_ENVS])

    def get(self, name: str) -> Secret:
        decl = self.declared.get(name)
        if decl is None:
            raise ScalpelError(f"secret '{name}' is not declared",
                               hint="declare it under `secrets:` in release.yml")
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or self._clock() - cached.loaded_at >= decl.ttl:
                cached = Secret(name, decl.env, self._environ.get(decl.env), self._clock())
                self._cache[name] = cached
        self._remember(cached.value)
        return cached

    def _remember(self, value: str | None) -> None:
        if value and masking.register(value) and self._on_load is not None:
            self._on_load(value)

    def has_env(self, env: str) -> bool:
        """Whether the variable ``env`` is set (for a provider's optional credentials)."""
        return bool(self._environ.get(env))

    def from_env(self, env: str) -> str:
        """A provider's default secret (the seed's PYPI_TOKEN, ...), masked like the others."""
        if env not in self.declared:
            self.declared[env] = EnvSecret(env)
        return str(self._required(env))

    @staticmethod
    def credential_name(reference: str | None, default_env: str) -> str:
        """The secret a credential comes from: the one ``reference`` names, or the
        provider's default variable (for messages about it, e.g. on a 401)."""
        return str((REFERENCE.findall(reference or "") or [default_env])[0])

    def credential(self, reference: str | None, default_env: str) -> str:
        """A provider's credential: ``${secrets.NAME}`` when the node declares one, else the
        seed's default variable (``$PYPI_TOKEN``, ``$GITHUB_TOKEN``, ...)."""
        return self.resolve(reference) if reference else self.from_env(default_env)

    def statuses(self, today: dt.date | None = None) -> list[SecretStatus]:
        """Every declared secret's status, in declaration order."""
        today = today or dt.date.today()
        return [self._status(name, decl, today) for name, decl in self.declared.items()]

    def _status(self, name: str, decl: SecretDecl, today: dt.date) -> SecretStatus:
        secret = self.get(name)
        value = secret.value or ""

        def status(kind: str, detail: str) -> SecretStatus:
            return SecretStatus(name, decl.env, kind, detail)

        if not secret.present:
            return status("missing", f"${decl.env} is not set")
        if decl.pattern and not re.search(decl.pattern, value):
            return status("invalid", f"${decl.env} does not match {decl.pattern!r}")
        if decl.min_length and len(value) < decl.min_length:
            return status("invalid", f"${decl.env} is shorter than {decl.min_length}")
        if decl.expires and decl.expires < today:
            return status("expired", f"expired on {decl.expires}")
        if decl.expires and (decl.expires - today).days <= decl.warn_days:
            days = (decl.expires - today).days
            return status("expiring", f"expires in {days} day{'s' * (days != 1)} "
                          f"({decl.expires})")
        return status("set", f"expires {decl.expires}" if decl.expires else "")

    def problems(self, today: dt.date | None = None) -> tuple[list[str], list[str]]:
        """(errors, warnings) for every declared secret: missing, malformed, expired."""
        errors: list[str] = []
        warnings: list[str] = []
        for s in self.statuses(today):
            if s.status == "expiring":
                warnings.append(f"secret {s.name} {s.detail.split(' (')[0]}")
            elif s.status == "expired":
                errors.append(f"secret {s.name} {s.detail}")
            elif not s.ok:
                errors.append(f"secret {s.name}: {s.detail}")
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

    def stage_environment(self, base: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
        """``base`` without any secret's variable, plus the secrets ``names`` a stage declares."""
        hidden = {d.env for d in self.declared.values()} | {*DEFAULT_ENVS, *STATE_ENVS,
                                                              STATE_URL_ENV}
        env = {k: v for k, v in base.items() if k not in hidden}
        for name in names:
            secret = self.get(name)
            env[secret.env] = self._required(name)
        return env

    def _required(self, name: str) -> str:
        secret = self.get(name)
        if not secret.value:
            raise ScalpelError(f"secret {name}: ${secret.env} is not set",
                               hint=f"export {secret.env}=... in the environment of apply")
        return secret.value

    def mask(self, text: str) -> str:
        """``text`` with every loaded secret value masked (the one mask, shared)."""
        return masking.mask(text)
