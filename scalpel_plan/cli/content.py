"""Commands that print release content: changelog and notes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from scalpel_plan.content.changelog import ChangelogGenerator


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
) -> None:
    """Print the changelog of the next release (or of --all history, or a --from/--to range)."""
    from scalpel_plan.content import history, versioning
    from scalpel_plan.content.changelog import ChangelogGenerator
    from scalpel_plan.content.sections import release_changes
    from scalpel_plan.errors import ScalpelError
    from scalpel_plan.files import inside

    project = open_at(file)
    spec, repo = project.loaded.spec, project.workspace.repo
    generator = ChangelogGenerator(spec.changelog)
    if all_ or from_:
        revisions = f"{from_}..{to}" if from_ else to
        left_out: list[str] = []
        releases = history.releases(repo, spec, generator, revisions=revisions,
                                    cache=project.workspace.workdir / "cache", left_out=left_out)
        if left_out and all_ and not from_:
            console_ui().info(f"Left out {len(left_out)} release tag(s) not in the history of "
                              f"{to} (another branch): {', '.join(reversed(left_out))}.")
    else:
        decision = versioning.decide(repo, spec, project.backend.read(), version, pre=pre)
        releases = [release_changes(spec, decision, generator)]
    if write:
        if all_ or from_ or format is not ChangelogFormat.markdown:
            raise ScalpelError("--write adds the next release's Markdown section",
                               hint="drop --all, --from and --format with --write")
        _write_changelog(inside(project.workspace.repo, generator.config.file,
                                what="changelog file", base=project.loaded.root), generator,
                         generator.markdown_section(releases[0]))
        return
    if format is ChangelogFormat.json:
        text = generator.json(releases)
    elif format is ChangelogFormat.html:
        text = generator.html(releases, title=f"{project.loaded.project_name} changelog")
    else:
        text = generator.markdown(releases, header=all_)
    console_ui().raw(text)


def _write_changelog(path: Path, generator: ChangelogGenerator, section: str) -> None:
    from scalpel_plan.content.changelog import write_section

    if write_section(path, section, generator.config.marker):
        console_ui().info(f"Updated {path}.")
    else:
        console_ui().info(f"{path} already has this release's section; left as it was.")


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

