"""What a release publishes besides its artifacts: its changelog section and release notes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from scalpel_plan.content.changelog import ChangelogGenerator, ReleaseChanges
from scalpel_plan.content.versioning import VersionDecision, tag_for
from scalpel_plan.errors import ScalpelError
from scalpel_plan.files import inside
from scalpel_plan.masking import mask

if TYPE_CHECKING:
    from scalpel_plan.spec.model import Spec
    from scalpel_plan.spec.sections import SpecView


def release_changes(spec: SpecView, decision: VersionDecision,
                    generator: ChangelogGenerator | None = None) -> ReleaseChanges:
    """The changes of the release ``decision`` is about ("Unreleased" when there is none)."""
    generator = generator or ChangelogGenerator(spec.changelog)
    version = decision.version or "Unreleased"
    return generator.release(version, decision.entries,
                             tag=tag_for(spec, version) if decision.version else None,
                             previous_tag=decision.previous_tag,
                             dependencies=decision.dependencies)


def release_notes(spec: Spec, root: Path, changes: ReleaseChanges, project: str,
                  previous: str | None, template: str | None = None) -> str:
    """The notes for ``changes`` with ``template`` (a built-in name or a file under ``root``),
    by default the one release.yml names."""
    from scalpel_plan.content.notes import BUILTIN, ReleaseNotesTemplate

    name = template or (spec.notes.template if spec.notes else "default")
    notes = ReleaseNotesTemplate()
    if name not in BUILTIN:
        path = inside(root, name, what="release-notes template")
        if not path.is_file():
            raise ScalpelError(f"no release-notes template '{name}'",
                               hint=f"built-in: {', '.join(BUILTIN)}; or a Jinja2 file "
                               "relative to release.yml")
        name = notes.registry.load_file(path, name).name
    # a commit message may quote a secret, in any spelling a template gives it: masked
    return mask(notes.render(name, changes, project=project, previous=previous))
