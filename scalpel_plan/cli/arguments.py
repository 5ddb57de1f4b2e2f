"""The command line's global conventions, applied to the arguments before any parsing (no
typer needed, so the fast paths get them too):

- ``-h`` is ``--help``, everywhere;
- ``--no-color`` anywhere means ``NO_COLOR=1`` (for Scalpel and the stages it runs);
- ``-f/--file FILE`` (and ``--no-color``) may come before the command: ``scalpel -f x plan``;
- without ``-f``, ``release.yml`` is looked for from the current folder upwards to the top of
  the git work tree, as git finds ``.git``, and the path found is said.

Everything after ``--`` is left as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SPEC_NAME = "release.yml"
NO_SPEC = {"init", "schema", "completion", "show"}  # commands that take no --file
GROUPS = {"state", "hotfix"}  # a group alone shows its help: it takes no file
FILE_OPTIONS = ("-f", "--file")


def normalize(args: list[str], cwd: Path | None = None) -> list[str]:
    """``args`` as the commands parse them (see the module's docstring)."""
    head, tail = _split(args)
    head = ["--help" if a == "-h" else a for a in head]
    if "--no-color" in head:
        head = [a for a in head if a != "--no-color"]
        os.environ["NO_COLOR"] = "1"
    moved: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(head) and head[i].startswith("-"):  # the options before the command
        token = head[i]
        if token in FILE_OPTIONS and i + 1 < len(head):
            moved += [token, head[i + 1]]
            i += 2
            continue
        if token.startswith("--file=") or (token.startswith("-f") and len(token) > 2):
            moved.append(token)
        else:
            rest.append(token)
        i += 1
    head = rest + head[i:] + moved
    if not _names_a_file(head) and _reads_spec(head):
        try:
            here = cwd or Path.cwd()
        except OSError:  # the current folder was removed: the command says what is missing
            return head + tail
        found = find_upwards(here)
        if found is not None:
            shown = os.path.relpath(found, here)
            sys.stderr.write(f"Using {shown} (found in a parent folder).\n")
            head += ["--file", shown]
    return head + tail


def find_upwards(start: Path) -> Path | None:
    """``release.yml`` in ``start`` or the nearest folder above it, up to the top of the git
    work tree ``start`` is in (the folder holding ``.git``); None when there is none, or when
    it is in ``start`` itself (the default finds it)."""
    if (start / SPEC_NAME).exists():
        return None
    for folder in start.resolve().parents:
        if (folder / SPEC_NAME).is_file():
            return folder / SPEC_NAME
        if (folder / ".git").exists():
            return None
    return None


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    if "--" in args:
        at = args.index("--")
        return args[:at], args[at:]
    return list(args), []


def _names_a_file(args: list[str]) -> bool:
    return any(a in FILE_OPTIONS or a.startswith("--file=") or
               (a.startswith("-f") and not a.startswith("--") and len(a) > 2) for a in args)


def _reads_spec(args: list[str]) -> bool:
    """Whether the command ``args`` run reads release.yml (not --help, --version, init...)."""
    words = [a for a in args if not a.startswith("-")]
    command = words[0] if words else None
    if command is None or command in NO_SPEC or (command in GROUPS and len(words) < 2):
        return False
    return not {"--help", "--version"} & set(args[:args.index(command) + 1]) and \
        "--help" not in args


def read_options(args: list[str], valued: Mapping[str, str],
                 flags: Mapping[str, tuple[str, bool]], defaults: Mapping[str, Any], *,
                 repeated: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The options of a command run without typer (``scalpel changelog``, ``scalpel plan``):
    ``valued`` maps an option to its parameter (``--from`` → ``from_``), ``flags`` an option
    to (parameter, value); parameters in ``repeated`` collect a list. None when ``args`` are
    not all well-formed options that typer would read the same way (a missing value, an
    unknown option, ``--help``): typer then reads them, and its help and errors are shown."""
    found = dict(defaults)
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in flags and not eq:
            key, flag = flags[name]
            found[key] = flag
        elif name in valued:
            if not eq:
                i += 1
                if i == len(args) or args[i].startswith("-"):
                    return None  # a missing value (or one typer reads differently)
                value = args[i]
            key = valued[name]
            found[key] = [*(found[key] or []), value] if key in repeated else value
        else:
            return None
        i += 1
    return found
