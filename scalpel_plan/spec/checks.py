"""What the JSON Schema cannot say about release.yml, checked at validate so that plan and
apply never trip on it: format strings (only the variables of their place, bounded widths),
regexes, tag formats and names by git's own rules, environments, time limits, a NUL or a
number that is not finite anywhere.

Each problem is a Diagnostic at the file:line:col of the offending value.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Sequence
from string import Formatter
from typing import TYPE_CHECKING, Any

from scalpel_plan import git
from scalpel_plan.errors import Diagnostic
from scalpel_plan.spec.source import PathPart, Source

if TYPE_CHECKING:
    from scalpel_plan.spec.model import Spec
    from scalpel_plan.spec.sections import SpecView

# The variables of a node's config strings (providers.base.fill) and of the release commit's
# message; a tag format has {version} only.
NODE_VARIABLES = ("project", "version", "previous", "tag", "commit", "short_commit")
CHANGELOG_VARIABLES = {"commits": ("sha",), "issues": ("id",), "pulls": ("id",),
                       "compare": ("previous", "tag")}
MAX_WIDTH = 100  # a format spec's width or precision: {version:>10} yes, {sha:>2000000000} no
MAX_SECONDS = 30 * 86400.0  # any duration: a timeout, a ttl, repeat_after
MAX_PATH, MAX_NAME = 4096, 255  # bytes, as Linux's PATH_MAX and NAME_MAX
SAMPLE_VERSIONS = {"semver": "1.2.3-rc.1", "pep440": "1.2.3rc1",
                   "calver": "2026.12.0"}
FORMAT_SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>\d*)[,_]?(?:\.(?P<precision>\d+))?"
                         r"[bcdeEfFgGnosxX%]?$")


def check_data(source: Source) -> list[Diagnostic]:
    """Problems in the raw document whatever the schema says: a NUL in a key or a string
    (no command, path or environment variable can carry one), a number that is not finite
    (.nan, .inf)."""
    found: list[Diagnostic] = []
    for path, value, is_key in _walk(source.data, []):
        if isinstance(value, str) and "\0" in value:
            what = "key" if is_key else "value"
            found.append(source.diagnostic(
                f"{_dotted(path)}: the {what} holds a NUL character (\\0)", path, key=is_key,
                hint="no command, path or environment variable can carry one: remove it"))
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(source.diagnostic(
                f"{_dotted(path)} must be a finite number, not {value}", path,
                hint="write a number of seconds, e.g. 600"))
    return found


def check_spec(spec: Spec, source: Source) -> list[Diagnostic]:
    """Every problem of the typed ``spec`` the schema let through, in file order."""
    found = [*_tag_formats(spec, source), *_package_tags(spec, source),
             *_changelog(spec, source), *_version_files(spec, source),
             *_secrets(spec, source), *_stages(spec, source), *_nodes(source),
             *_durations(spec, source), *_repository(spec, source), *_groups(spec, source)]
    if not isinstance(spec.version, str) and \
            (problem := template_problem(spec.policy.commit_message, NODE_VARIABLES)):
        found.append(source.diagnostic(f"version.commit_message: {problem}",
                                       ["version", "commit_message"], hint=template_hint(problem)))
    return sorted(found, key=lambda d: (d.line or 0, d.col or 0))


def check_sections(spec: SpecView, source: Source) -> list[Diagnostic]:
    """``check_data`` and the checks of the sections `scalpel changelog` reads (its tag
    formats and link templates), for a spec whose other sections are not read."""
    found = [*check_data(source), *_tag_formats(spec, source), *_package_tags(spec, source),
             *_changelog(spec, source)]
    return sorted(found, key=lambda d: (d.line or 0, d.col or 0))


def template_problem(template: str, variables: Sequence[str]) -> str | None:
    """What is wrong with ``template`` as a format string that may use ``variables`` (all
    strings), or None. Braces are balanced, every field is one of ``variables`` (no
    attribute, index, conversion or nested field), a format spec is one a string takes, with
    a width and a precision of at most MAX_WIDTH."""
    allowed = ", ".join("{" + v + "}" for v in variables)
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        if "Single '}'" in str(exc):
            return "a '}' that no '{' opens (write }} for a literal brace)"
        return "a '{' that is never closed (write {{ for a literal brace)"
    for name, spec, conv in fields:
        if name.startswith("secrets.") or name.startswith("secrets["):
            return (f"${{{name}}} cannot be used here: this text is shown in plans and "
                    f"messages (available: {allowed})")
        if name not in variables:
            close = difflib.get_close_matches(name, variables, n=1)
            shown = "{" + name + "}" if name else "{} (a field with no name)"
            mean = f"did you mean {{{close[0]}}}? " if close else ""
            return f"unknown variable {shown}; {mean}available: {allowed}"
        if conv is not None:
            return f"{{{name}!{conv}}}: conversions (!r, !s, !a) are not allowed here"
        if spec and (problem := format_spec_problem(name, spec)):
            return problem
    return None


def format_spec_problem(name: str, spec: str) -> str | None:
    if "{" in spec or "}" in spec:
        return f"{{{name}:{spec}}}: a nested field in a format spec is not allowed"
    match = FORMAT_SPEC.match(spec)
    if match is None:
        return f"{{{name}:{spec}}}: not a format spec a text value takes (e.g. {{{name}:>10}})"
    for part in ("width", "precision"):
        if match[part] and int(match[part]) > MAX_WIDTH:
            return f"{{{name}:{spec}}}: the {part} {int(match[part]):,} is over the limit of " \
                   f"{MAX_WIDTH}"
    try:
        format("x", spec)
    except ValueError:
        return f"{{{name}:{spec}}}: not a format spec a text value takes (e.g. {{{name}:>10}})"
    return None


def template_hint(problem: str) -> str | None:
    if "cannot be used here" in problem:
        return "secrets belong in a node's password, token or url fields"
    if "never closed" in problem or "no '{' opens" in problem:
        return "write a literal brace as {{ or }}"
    return None


def _tag_formats(spec: SpecView, source: Source) -> Iterator[Diagnostic]:
    if spec.fixed_version is not None:  # a fixed version, tagged with the default format
        tag = spec.policy.tag_formats[0].replace("{version}", spec.fixed_version)
        if (ref := git.ref_name_problem(tag)) is not None:
            yield source.diagnostic(f"version: {spec.fixed_version!r} makes a tag git refuses "
                                    f"({tag!r}: {ref})", ["version"],
                                    hint="for example version: 1.0.0")
        return
    policy = spec.policy
    formats = policy.tag_formats
    sample = SAMPLE_VERSIONS[policy.scheme]
    for i, fmt in enumerate(formats):
        path: list[PathPart] = ["version", "tag"] + ([i] if isinstance(policy.tag, list) else [])
        problem = template_problem(fmt, ("version",))
        if problem is None and fmt.count("{version}") != 1:
            problem = f"{fmt!r} holds {{version}} {fmt.count('{version}')} times: once makes " \
                "a tag that can be read back"
        if problem is None and fmt in formats[:i]:
            problem = f"{fmt!r} is listed twice (remove one)"
        if problem is None and fmt.startswith("refs/"):
            problem = f"{fmt!r} names a full ref: a tag format is the tag's own name"
        if problem is None and any(spec_ for _, name, spec_, _ in Formatter().parse(fmt)
                                   if name is not None):
            problem = "{version} takes no format spec in a tag format"
        if problem is None:
            tag = fmt.replace("{version}", sample)
            if (ref := git.ref_name_problem(tag)) is not None:
                problem = f"{fmt!r} makes tags git refuses ({tag!r}: {ref})"
        if problem is not None:
            yield source.diagnostic(f"version.tag: {problem}", path,
                                    hint='for example "v{version}" or "{version}"')


def _package_tags(spec: SpecView, source: Source) -> Iterator[Diagnostic]:
    """Each package's tag formats ({name} and {version}), by the rules of ``_tag_formats``;
    two packages whose tags could be read as each other's are refused."""
    raw = source.data.get("packages") if isinstance(source.data, dict) else None
    if not isinstance(raw, dict):
        return
    made: dict[str, str] = {}
    for name, package in raw.items():
        tag = package.get("tag", "{name}@{version}") if isinstance(package, dict) else None
        formats = [tag] if isinstance(tag, str) else tag if isinstance(tag, list) else []
        for i, fmt in enumerate(formats):
            path: list[PathPart] = ["packages", name, "tag"] + ([i] if isinstance(tag, list)
                                                                 else [])
            problem = template_problem(fmt, ("name", "version"))
            filled = fmt.replace("{name}", str(name)) if problem is None else fmt
            if problem is None and filled.count("{version}") != 1:
                problem = f"{fmt!r} holds {{version}} {filled.count('{version}')} times: " \
                    "once makes a tag that can be read back"
            if problem is None and filled.startswith("refs/"):
                problem = f"{fmt!r} names a full ref: a tag format is the tag's own name"
            if problem is None and "{" in filled.replace("{version}", ""):
                problem = "{name} and {version} take no format spec in a tag format"
            if problem is None:
                sample = filled.replace("{version}", "1.2.3")
                if (ref := git.ref_name_problem(sample)) is not None:
                    problem = f"{fmt!r} makes tags git refuses ({sample!r}: {ref})"
            if problem is None and filled in made:
                problem = f"{filled!r} is also package {made[filled]}'s tag format: " \
                    "their tags would be read as each other's"
            if problem is not None:
                yield source.diagnostic(f"packages.{name}.tag: {problem}", path,
                                        hint='for example "{name}@{version}" or '
                                        '"{name}-v{version}"')
            else:
                made[filled] = str(name)


def _groups(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    """Groups name declared packages, each in one group at most."""
    seen: dict[str, str] = {}
    for kind in ("fixed", "linked"):
        for i, group in enumerate(getattr(spec.groups, kind)):
            for j, name in enumerate(group):
                path: list[PathPart] = ["groups", kind, i, j]
                if name not in spec.packages:
                    close = difflib.get_close_matches(name, list(spec.packages), n=1)
                    yield source.diagnostic(
                        f"groups.{kind}[{i}]: {name!r} is not a package", path,
                        hint=f"did you mean {close[0]!r}?" if close else
                        f"packages: {', '.join(spec.packages) or 'none'}")
                elif name in seen:
                    yield source.diagnostic(
                        f"groups.{kind}[{i}]: {name!r} is already in {seen[name]}", path,
                        hint="a package is in one group at most")
                else:
                    seen[name] = f"groups.{kind}[{i}]"


def _changelog(spec: SpecView, source: Source) -> Iterator[Diagnostic]:
    if spec.changelog is None:
        return
    for key, variables in CHANGELOG_VARIABLES.items():
        template = getattr(spec.changelog, key)
        if template is not None and (problem := template_problem(template, variables)):
            yield source.diagnostic(f"changelog.{key}: {problem}", ["changelog", key],
                                    hint=template_hint(problem))


def _version_files(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    for i, rule in enumerate(spec.policy.files):
        pattern = getattr(rule, "pattern", None)
        if pattern is None:
            continue
        path: list[PathPart] = ["version", "files", i, "pattern"]
        problem = regex_problem(pattern)
        if problem is None and "version" not in re.compile(pattern).groupindex:
            problem = "the pattern has no (?P<version>...) group, which marks the version"
        if problem is not None:
            yield source.diagnostic(f"version.files[{i}].pattern: {problem}", path,
                                    hint="for example 'release = \"(?P<version>[^\"]+)\"' "
                                    "(Python's re syntax)")


def _secrets(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    for name, decl in spec.secrets.items():
        if decl.pattern is not None and (problem := regex_problem(decl.pattern)):
            yield source.diagnostic(f"secrets.{name}.pattern: {problem}",
                                    ["secrets", name, "pattern"],
                                    hint="for example '^pypi-' (Python's re syntax)")


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a regex (with where in it), or None."""
    try:
        re.compile(pattern)
    except re.error as exc:
        at = f" at character {exc.pos + 1}" if exc.pos is not None else ""
        return f"the pattern is not a valid regex: {exc.msg}{at} of {pattern!r}"
    except (OverflowError, RecursionError, MemoryError):
        return ("the pattern is not a valid regex: too large or too deeply nested "
                f"({len(pattern):,} characters)")
    return None


def _stages(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    for index, (name, config, ordered) in enumerate(spec.stage_list()):
        base: list[PathPart] = ["stages", index] if ordered else ["stages", name]
        for key in config.env:
            path = [*base, "env", key]
            if not key or "=" in key:
                shown = repr(key) if key else "an empty name"
                yield source.diagnostic(f"stage.{name}: env has {shown} as a variable name",
                                        path, key=True,
                                        hint="a variable's name is not empty and has no '='")


def _nodes(source: Source) -> Iterator[Diagnostic]:
    """A node's `timeout` in publish and notify (a package's too), whose configs are typed
    by their provider."""
    places: list[tuple[list[PathPart], Any]] = [([], source.data)]
    places += [(["packages", name], package) for name, package in
               (source.data.get("packages") or {}).items() if isinstance(package, dict)]
    for base, data in places:
        for section in ("publish", "notify"):
            for address, raw in (data.get(section) or {}).items():
                if isinstance(raw, dict) and isinstance(raw.get("timeout"), int | float):
                    yield from _duration(source, [*base, section, address, "timeout"],
                                         raw["timeout"])


def _durations(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    for index, (name, config, ordered) in enumerate(spec.stage_list()):
        if config.timeout is not None:
            base: list[PathPart] = ["stages", index] if ordered else ["stages", name]
            yield from _duration(source, [*base, "timeout"], config.timeout)
    for name, decl in spec.secrets.items():
        yield from _duration(source, ["secrets", name, "ttl"], decl.ttl)
    if spec.alerts is not None:
        yield from _duration(source, ["alerts", "repeat_after"], spec.alerts.repeat_after)


def _duration(source: Source, path: list[PathPart], seconds: float) -> Iterator[Diagnostic]:
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds <= MAX_SECONDS:
        return  # not finite: check_data says so; not positive: the schema does
    yield source.diagnostic(f"{_dotted(path)} is {seconds:g} seconds, over the limit of "
                            f"{MAX_SECONDS:,.0f} (30 days)", path,
                            hint="give a number of seconds between 0 and 2,592,000")


def _repository(spec: Spec, source: Source) -> Iterator[Diagnostic]:
    repository = spec.project.repository
    longest = max((len(p.encode()) for p in repository.split("/")), default=0)
    if len(repository.encode()) > MAX_PATH or longest > MAX_NAME:
        yield source.diagnostic(
            f"project.repository is too long ({len(repository):,} characters; a path is at "
            f"most {MAX_PATH:,} bytes, each folder name at most {MAX_NAME})",
            ["project", "repository"], hint="give the path of the git work tree, e.g. . or ..")


def _walk(value: Any, path: list[PathPart]) -> Iterator[tuple[list[PathPart], Any, bool]]:
    """(path, value, is_key) for every key and scalar of the document (iteratively: the
    document may be deep)."""
    stack: list[tuple[list[PathPart], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                yield [*where, key], key, True
                stack.append(([*where, key], sub))
        elif isinstance(item, list):
            stack += [([*where, i], sub) for i, sub in enumerate(item)]
        else:
            yield where, item, False


def _dotted(path: Sequence[PathPart]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"
