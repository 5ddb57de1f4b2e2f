"""Release notes: named Jinja2 templates (built-in or custom) rendered in a sandbox.

An unknown variable is an error that lists the variables a template can use. Rendering is
bounded (sizes, steps, time): a template can make an error, never a hang or a crash.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from scalpel_plan.content.changelog import ReleaseChanges
from scalpel_plan.errors import ScalpelError
from scalpel_plan.spec.checks import MAX_WIDTH, format_spec_problem

MAX_TEMPLATE = 1_000_000  # bytes of a template file
MAX_OUTPUT = 1_000_000  # characters of release notes
MAX_SEQUENCE = 100_000  # a repeat, a range, a number given to a filter (as Jinja2's MAX_RANGE)
MAX_POWER = 1_000  # the exponent of **
MAX_STEPS = 2_000_000  # lines of the template run in one rendering
MAX_SECONDS = 10.0  # one rendering
PRINTF_FIELD = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]")

BUILTIN = {
    "default": "Sections and entries, with thanks to the contributors.",
    "minimal": "One line per change.",
    "detailed": "A migration guide from the breaking changes, every entry with its body.",
    "breaking": "Breaking changes first and in full; the rest in brief.",
}


@dataclass(frozen=True)
class Template:
    name: str
    source: str
    description: str = ""


class TemplateRegistry:
    """The templates by name: the built-ins, plus custom ones from text or a file."""

    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}
        folder = resources.files("scalpel_plan.content") / "templates"
        for name, description in BUILTIN.items():
            source = (folder / f"{name}.md.j2").read_text(encoding="utf-8")
            self.register(Template(name, source, description))

    def register(self, template: Template) -> Template:
        self._templates[template.name] = template
        return template

    def create_custom(self, name: str, source: str, description: str = "") -> Template:
        """A template from text, e.g. ``create_custom("mine", "Content with {{variables}}")``."""
        return self.register(Template(name, source, description or "custom"))

    def load_file(self, path: Path, name: str | None = None) -> Template:
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_TEMPLATE + 1)
            if len(data) > MAX_TEMPLATE:
                raise ScalpelError(f"template {path} is over {MAX_TEMPLATE:,} bytes")
            source = data.decode("utf-8")
        except OSError as exc:
            raise ScalpelError(f"cannot read template {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ScalpelError(f"template {path} is not UTF-8 text (byte {exc.start})"
                               ) from None
        return self.register(Template(name or path.name, source, f"from {path}"))

    def get(self, name: str) -> Template:
        if name not in self._templates:
            raise ScalpelError(f"no release-notes template '{name}'",
                               hint=f"templates: {', '.join(self.names())}, or a file path")
        return self._templates[name]

    def names(self) -> list[str]:
        return list(self._templates)


class ReleaseNotesTemplate:
    """Renders release notes for a release with a template of the registry."""

    def __init__(self, registry: TemplateRegistry | None = None) -> None:
        self.registry = registry or TemplateRegistry()

    def create_custom(self, name: str, source: str) -> Template:
        return self.registry.create_custom(name, source)

    def render(self, name: str, release: ReleaseChanges | None = None, *, project: str = "",
               previous: str | None = None, **variables: Any) -> str:
        """Render template ``name`` for ``release``; ``variables`` add to (or override) the
        release's own (project, version, previous, tag, date, sections, entries, breaking,
        migration, contributors)."""
        from jinja2 import TemplateError, UndefinedError

        template = self.registry.get(name)
        if (problem := template_problem(template.source)) is not None:
            raise ScalpelError(f"release-notes template '{name}' is broken: {problem}")
        context = {**(context_for(release, project, previous) if release else {}), **variables}
        try:
            compiled = _environment().from_string(template.source)
            return _bounded_render(compiled, context)
        except UndefinedError as exc:
            raise ScalpelError(f"release-notes template '{name}': {exc.message}",
                               hint="available variables: " + ", ".join(sorted(context))
                               ) from None
        except (TemplateError, TypeError) as exc:  # no loader: {% include %} and the like
            lineno = getattr(exc, "lineno", None)
            line = f" (line {lineno})" if lineno else ""
            raise ScalpelError(f"release-notes template '{name}' is broken{line}: {exc}"
                               ) from None
        except RecursionError:
            raise ScalpelError(f"release-notes template '{name}' calls itself without end "
                               "(a macro that calls itself)",
                               hint="give the recursion a condition that stops it") from None
        except (OverflowError, MemoryError, ValueError) as exc:
            raise ScalpelError(f"release-notes template '{name}' makes a value too large to "
                               f"render: {exc or type(exc).__name__}") from None


def template_problem(source: str) -> str | None:
    """Why ``source`` cannot be a release-notes template (it does not compile, or it includes,
    extends or imports another one: templates are single files), or None."""
    from jinja2 import TemplateSyntaxError, nodes

    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except RecursionError:
        return "it is nested too deeply to compile"
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        tag = {"Include": "include", "Extends": "extends", "Import": "import",
               "FromImport": "from ... import"}[type(node).__name__]
        return f"line {node.lineno}: {{% {tag} %}} is not supported: a template is one file " \
               "that names no other (write the text, or a macro, in it)"
    return None


class RenderLimit(ScalpelError):
    """A template went over a bound of rendering: size, steps or time."""


def _environment() -> Any:
    from jinja2 import StrictUndefined

    return _sandbox_class()(undefined=StrictUndefined, keep_trailing_newline=True,
                            autoescape=False)


def _bounded_render(compiled: Any, context: dict[str, Any]) -> str:
    """Render ``compiled`` in chunks: at most MAX_OUTPUT characters, MAX_STEPS lines of the
    template run and MAX_SECONDS (a line counter in the template's own frames)."""
    budget = _Budget(time.monotonic() + MAX_SECONDS)
    previous = sys.gettrace()
    sys.settrace(budget.trace)
    try:
        parts: list[str] = []
        size = 0
        for part in compiled.generate(context):
            size += len(part)
            if size > MAX_OUTPUT:
                raise RenderLimit(f"release notes over {MAX_OUTPUT:,} characters",
                                  hint="render fewer or shorter entries")
            parts.append(part)
        return "".join(parts)
    finally:
        sys.settrace(previous)


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def trace(self, frame: Any, event: str, arg: Any) -> Any:
        # only the template's own code (compiled from "<template>") is counted
        return self.count if frame.f_code.co_filename == "<template>" else None

    def count(self, frame: Any, event: str, arg: Any) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise RenderLimit(f"release notes: the template ran over {MAX_STEPS:,} steps "
                              "(a loop too long, or loops nested too deep)",
                              hint="loop over the release's entries, not over large ranges")
        if self.steps % 4096 == 0 and time.monotonic() > self.deadline:
            raise RenderLimit(f"release notes: the template ran over {MAX_SECONDS:g} s",
                              hint="loop over the release's entries, not over large ranges")
        return self.count


def _too_large(what: str, limit: int = MAX_SEQUENCE) -> RenderLimit:
    return RenderLimit(f"release notes: {what}, over the limit of {limit:,}",
                       hint="templates make text from the release's entries: keep repeats, "
                       "ranges and widths small")


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_SEQUENCE * 10:
        raise _too_large(f"a value of {len(value):,} items", MAX_SEQUENCE * 10)
    return value


def _check_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and \
                abs(value) > MAX_SEQUENCE:
            raise _too_large(f"the number {value:,} given to a filter or a call")


def _bounded_filter(func: Any) -> Any:
    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[1:] if args and isinstance(args[0], str | int) else args, kwargs)
        return _check_size(func(*args, **kwargs))
    return bounded


def _bounded_range(*args: int) -> range:
    _check_args(args, {})
    found = range(*args)
    if len(found) > MAX_SEQUENCE:
        raise _too_large(f"a range of {len(found):,}")
    return found


def _printf_problem(template: str) -> str | None:
    for match in PRINTF_FIELD.finditer(template):
        if "*" in match[0] or any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", match[0])):
            return f"the %-format {match[0]!r} has a width or precision over {MAX_WIDTH}"
    return None


@functools.cache
def _sandbox_class() -> type[Any]:
    """The sandbox class, made on first use (importing Jinja2 is not free)."""
    from jinja2 import pass_eval_context
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedSandbox(SandboxedEnvironment):
        """Jinja2's sandbox, with every way to make a large value bounded: string and list
        repetition, powers, %-formatting and str.format widths, ranges, numbers given to filters
        and calls, and what a filter returns."""

        intercepted_binops = frozenset({"*", "**", "%"})

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.globals["range"] = _bounded_range
            self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}
            self.filters["format"] = _bounded_filter(_format_filter)
            self.filters["replace"] = _bounded_filter(pass_eval_context(_replace_filter))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if isinstance(seq, str | list | tuple) and isinstance(times, int) and \
                            len(seq) * times > MAX_SEQUENCE:
                        raise _too_large(f"{len(seq):,} item(s) repeated {times:,} times")
            elif operator == "**" and isinstance(right, int) and isinstance(left, int | float) \
                    and abs(right) > MAX_POWER:
                raise _too_large(f"the power {right:,}", MAX_POWER)
            elif operator == "%" and isinstance(left, str) and \
                    (problem := _printf_problem(left)) is not None:
                raise RenderLimit(f"release notes: {problem}")
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _check_args(args, kwargs)
            if getattr(__obj, "__name__", None) == "replace" and \
                    isinstance(getattr(__obj, "__self__", None), str) and len(args) >= 2:
                _check_replace(__obj.__self__, *args[:2])
            return _check_size(super().call(__context, __obj, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Any:
            wrapped = super().wrap_str_format(value)
            if wrapped is not None:
                from string import Formatter

                try:
                    for _, name, spec, _ in Formatter().parse(value.__self__):
                        if spec and (problem := format_spec_problem(name or "", spec)):
                            raise RenderLimit(f"release notes: {problem}")
                except ValueError:
                    pass  # str.format itself says what is wrong
            return wrapped

    return BoundedSandbox


def _check_replace(text: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        grows = (text.count(old) if old else len(text) + 1) * (len(new) - len(old))
        if len(text) + grows > MAX_SEQUENCE * 10:
            raise _too_large(f"a replace making {len(text) + grows:,} characters",
                             MAX_SEQUENCE * 10)


def _replace_filter(eval_ctx: Any, text: Any, old: Any, new: Any,
                    count: int | None = None) -> Any:
    from jinja2.filters import do_replace

    if isinstance(text, str):
        _check_replace(text, old, new)
    return do_replace(eval_ctx, text, old, new, count)


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    from jinja2.filters import do_format

    if isinstance(value, str) and (problem := _printf_problem(value)) is not None:
        raise RenderLimit(f"release notes: {problem}")
    return str(do_format(value, *args, **kwargs))


def context_for(release: ReleaseChanges, project: str, previous: str | None) -> dict[str, Any]:
    """The variables a template sees for ``release``."""
    return {
        "project": project, "version": release.version, "tag": release.tag,
        "previous": previous or release.previous_tag, "date": release.date,
        "sections": release.sections, "entries": release.entries,
        "breaking": release.breaking, "contributors": list(release.contributors),
        "migration": [{"scope": e.scope, "description": e.description,
                       "note": e.breaking_note} for e in release.breaking],
    }
