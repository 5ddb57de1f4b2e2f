"""Commands that print release content: changelog and notes."""

from __future__ import annotations

from typing import Annotated

import typer

from scalpel_plan.cli.common import (
    DEFAULT_SPEC,
    ChangelogFormat,
    Pre,
    SpecFile,
    Version,
    app,
    console_ui,
    open_at,
)


@app.command()
def changelog(
    file: SpecFile = DEFAULT_SPEC,
    all_: Annotated[bool, typer.Option("--all", help="The whole history, by release tag.")] = False,
    from_: Annotated[str | None, typer.Option("--from", help="From this tag or commit.")] = None,
    to: Annotated[str, typer.Option("--to", help="Up to this tag or commit.")] = "HEAD",
    format: Annotated[ChangelogFormat, typer.Option("--format")] = ChangelogFormat.markdown,
    version: Version = None,
    pre: Pre = None,
    write: Annotated[bool, typer.Option(
        help="Insert the next release's section into the changelog file (under its marker; "
        "every other byte stays).")] = False,
    package: Annotated[str | None, typer.Option(
        "--package", help="A monorepo package's changelog (its commits, tags and file).")] = None,
) -> None:
    """Print the changelog of the next release (or of --all history, or a --from/--to range)."""
    from scalpel_plan.cli import changelog as command  # `scalpel changelog` runs it directly

    command.run(file=file, all_=all_, from_=from_, to=to, format=format.value, version=version,
                pre=pre, write=write, package=package)


@app.command()
def notes(
    file: SpecFile = DEFAULT_SPEC,
    template: Annotated[str | None, typer.Option(
        help="default, minimal, detailed, breaking, or a template file.")] = None,
    version: Version = None,
    pre: Pre = None,
) -> None:
    """Print the release notes of the next release."""
    from scalpel_plan.content import versioning
    from scalpel_plan.content.sections import release_changes, release_notes

    project = open_at(file)
    spec = project.loaded.spec
    decision = versioning.decide(project.workspace.repo, spec, project.backend.read(), version,
                                 pre=pre)
    changes = release_changes(spec, decision)
    console_ui().raw(release_notes(spec, project.loaded.root, changes, project.loaded.project_name,
                            decision.previous, template))

