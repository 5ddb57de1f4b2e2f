"""`scalpel changelog`, which runs without typer: on a small history, importing typer would
be a third of the command's time.

``cli.content`` declares the command to typer (its help, its usage errors); ``arguments``
reads the same options when they are all well formed, and ``main`` then runs the command
without loading typer at all. Anything else (``--help``, an unknown option, a missing or
bad value) is left to typer, so that help and usage errors are typer's, as for every
other command. A test checks that both know the same options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalpel_plan.cli.arguments import read_options
from scalpel_plan.cli.plain import console_ui, runner_mask

FORMATS = ("markdown", "html", "json")
VALUED = {"--file": "file", "-f": "file", "--from": "from_", "--to": "to",
          "--format": "format", "--version": "version", "--pre": "pre", "--package": "package"}
FLAGS = {"--all": ("all_", True), "--write": ("write", True), "--no-write": ("write", False)}
DEFAULTS: dict[str, Any] = {"file": Path("release.yml"), "all_": False, "from_": None,
                            "to": "HEAD", "format": "markdown", "version": None, "pre": None,
                            "write": False, "package": None}


def arguments(args: list[str]) -> dict[str, Any] | None:
    """The options of ``scalpel changelog ARGS`` (after the command's name), or None when
    they are not all well-formed options that typer would read the same way."""
    found = read_options(args, VALUED, FLAGS, DEFAULTS)
    if found is None or found["format"] not in FORMATS:
        return None
    found["file"] = Path(found["file"])
    return found


def run(*, file: Path, all_: bool, from_: str | None, to: str, format: str,
        version: str | None, pre: str | None, write: bool, package: str | None = None) -> None:
    """Print the changelog (or, with ``write``, insert the next release's section)."""
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.operations.changelog import changelog

    if write and (all_ or from_ or format != "markdown"):
        raise ScalpelError("--write adds the next release's Markdown section",
                           hint="drop --all, --from and --format with --write")
    found = changelog(file, whole=all_, since=from_, to=to, version=version, pre=pre,
                      on_secret=runner_mask(), package=package)
    if write and found.packages:
        raise ScalpelError("--write in a monorepo writes one package's changelog file",
                           hint=f"add --package NAME (packages: {', '.join(found.packages)})")
    ui = console_ui()
    if found.left_out and all_:
        ui.info(f"Left out {len(found.left_out)} release tag(s) not in the history of {to} "
                f"(another branch): {', '.join(reversed(found.left_out))}.")
    generator = found.generator
    if write:
        from scalpel_plan.files import inside

        path = inside(found.repo, generator.config.file, what="changelog file", base=found.root)
        _write_changelog(path, generator.config.marker,
                         generator.markdown_section(found.releases[0]))
    elif format == "json":
        ui.stream(generator.json_chunks(found.releases))
    elif format == "html":
        ui.raw(generator.html(found.releases, title=f"{found.project_name} changelog"))
    else:
        ui.raw(generator.markdown(found.releases, header=all_))


def _write_changelog(path: Path, marker: str, section: str) -> None:
    from scalpel_plan.content.changelog import write_section

    if write_section(path, section, marker):
        console_ui().info(f"Updated {path}.")
    else:
        console_ui().info(f"{path} already has this release's section; left as it was.")
