"""`scalpel --version` and `scalpel --help`, answered without typer (issue 17: importing the
command framework was most of their time).

The top-level help is laid out from ``cli.top_help`` (generated from the typer app by
scripts/regenerate.py) the way click lays it out, for the same terminal width: the same
bytes as typer's (tests/test_startup_imports.py compares them at many widths).
"""

from __future__ import annotations

import sys

from scalpel_plan import __version__


def answer(args: list[str]) -> bool:
    """Whether ``args`` asked for the version or the top-level help, which is then printed."""
    if args == ["--version"]:
        text = f"scalpel {__version__}\n"
    elif args == ["--help"]:
        text = top_help(_width()) + "\n"
    else:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def _width() -> int:
    """click's: the terminal's width (or $COLUMNS) up to 80, less 2, at least 50."""
    import shutil

    return max(min(shutil.get_terminal_size().columns, 80) - 2, 50)


def top_help(width: int) -> str:
    """`scalpel --help` at ``width`` columns (without the final new line)."""
    from scalpel_plan.cli import top_help as made

    out = [_wrap(made.USAGE, width, "Usage: scalpel ", " " * len("Usage: scalpel ")), "\n"]
    if made.HELP:
        out += ["\n", _paragraphs(made.HELP, width, "  "), "\n"]
    out += _section("Options", made.OPTIONS, width)
    limit = width - 6 - max(len(name) for name, _, _ in made.COMMANDS)
    rows = [(name, (short or _short_help(text, limit)).strip())
            for name, short, text in made.COMMANDS]
    out += _section("Commands", rows, width)
    return "".join(out).rstrip("\n")


def _section(name: str, rows: list[tuple[str, str]], width: int) -> list[str]:
    """click's ``HelpFormatter.write_dl`` under a heading, indented by 2."""
    if not rows:
        return []
    out = ["\n", f"{name}:\n"]
    first_col = min(max(len(first) for first, _ in rows), 30) + 2
    for first, second in rows:
        out.append(f"  {first}")
        if not second:
            out.append("\n")
            continue
        if len(first) <= first_col - 2:
            out.append(" " * (first_col - len(first)))
        else:
            out.append("\n" + " " * (first_col + 2))
        lines = _paragraphs(second, max(width - first_col - 2, 10), "").splitlines()
        out.append(f"{lines[0]}\n" if lines else "\n")
        out += [" " * (first_col + 2) + f"{line}\n" for line in lines[1:]]
    return out


def _paragraphs(text: str, width: int, indent: str) -> str:
    """click's ``wrap_text(..., preserve_paragraphs=True)`` for text without ``\\b`` blocks."""
    found: list[tuple[int, str]] = []
    lines: list[str] = []
    for line in [*text.expandtabs().splitlines(), ""]:
        if line:
            lines.append(line if lines else line.lstrip())
            if len(lines) == 1:
                found.append((len(line) - len(line.lstrip()), ""))
        elif lines:
            found[-1] = (found[-1][0], " ".join(lines))
            lines = []
    return "\n\n".join(_wrap(body, width, indent + " " * extra, indent + " " * extra)
                       for extra, body in found)


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    import textwrap

    return textwrap.TextWrapper(width, initial_indent=first, subsequent_indent=rest,
                                replace_whitespace=False).fill(text.expandtabs())


def _short_help(text: str, limit: int) -> str:
    """click's ``make_default_short_help``: the first paragraph up to its first sentence's
    end, cut to ``limit`` with "..."."""
    words = text.split("\n\n", 1)[0].split()
    if words[:1] == ["\b"]:
        words = words[1:]
    if not words:
        return ""
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word[-1] == ".":
            return " ".join(words[:i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += 3
    while i > 0:
        total -= len(words[i]) + (i > 0)
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."
