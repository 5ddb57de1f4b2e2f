"""The command line: the only package that imports typer. Each command is a thin shell over
library functions; errors a user can cause exit 1 (a full disk or a read-only folder too: an
``OSError`` saying so is no bug), bugs exit 3 with a log, Ctrl-C exits 130.

The commands live by theme in ``project``, ``release``, ``content`` and ``observe``; importing
them registers them on ``app`` (in ``common``), in the order ``scalpel --help`` lists them.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

from scalpel_plan import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`scalpel --version`)

if TYPE_CHECKING:
    from typing import Any

    import typer

    from scalpel_plan.ui import UI

__all__ = ["app", "main"]
INTERRUPTED = "Interrupted. What was done is recorded; `scalpel apply` finishes the job."
COMMAND_MODULES = ("project", "release", "content", "observe")  # in `scalpel --help` order
QUICK_COMMANDS = ("changelog", "plan")  # run without typer when their options are well formed
COMPLETE_VAR = "_SCALPEL_COMPLETE"  # set by the completion scripts when they ask


def load_app() -> typer.Typer:
    """The typer app with every command registered on it."""
    from scalpel_plan.cli.common import app

    for commands in COMMAND_MODULES:
        import_module(f"scalpel_plan.cli.{commands}")  # registers its commands on `app`
    return app


def main(argv: list[str] | None = None) -> int:
    """The console script: runs the command and maps every outcome to an exit code.
    `scalpel changelog` and `scalpel plan` with well-formed options run without typer
    (``cli.changelog``, ``cli.plan``), and so do `scalpel --version` and `scalpel --help`
    (``cli.quick``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["--version"], ["--help"], ["-h"]):
        from scalpel_plan.cli import quick

        if quick.answer(["--help" if a == "-h" else a for a in args]):
            return 0
    from scalpel_plan.cli.arguments import normalize
    from scalpel_plan.errors import ScalpelError, resource_error

    args = normalize(args)
    try:
        if args[:1] and args[0] in QUICK_COMMANDS:
            command = import_module(f"scalpel_plan.cli.{args[0]}")
            options = command.arguments(args[1:])
            if options is not None:
                return command.run(**options) or 0
        return _typer_main(args)
    except ScalpelError as exc:
        console_ui().error(exc)
        return 1
    except KeyboardInterrupt:
        console_ui().info(INTERRUPTED)
        return 130
    except OSError as exc:
        if (error := resource_error(exc)) is None:
            return _crash()
        console_ui().error(error)  # a full disk, a read-only folder: the user's to fix
        return 1
    except Exception:
        return _crash()


def _typer_main(args: list[str]) -> int:
    import typer

    if COMPLETE_VAR in os.environ:  # a shell asks for completions (`scalpel completion SHELL`)
        from typer._completion_classes import completion_init

        completion_init()
    try:
        code = load_app()(args=args, prog_name="scalpel", standalone_mode=False)
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer's word for a Ctrl-C
            console_ui().info(INTERRUPTED)
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: say so, exit 1 (2 means "changes")
        exc.show()  # type: ignore[attr-defined]
        return 1
    except typer.Abort:
        console_ui().info(INTERRUPTED)
        return 130
    return code if isinstance(code, int) else 0


if not TYPE_CHECKING:  # hidden from type checkers, which would take any name as Any

    def __getattr__(name: str) -> Any:
        """``app``, loaded on first use: `scalpel changelog` never needs typer."""
        if name == "app":
            return load_app()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def console_ui() -> UI:
    from scalpel_plan.cli.plain import console_ui as made

    return made()


def _crash() -> int:
    """A bug: the traceback goes to a log file (masked), the user is told where."""
    import traceback

    from scalpel_plan.files import private_file
    from scalpel_plan.masking import mask

    details = mask(f"scalpel {__version__}\nargv: {sys.argv}\n\n{traceback.format_exc()}")
    try:
        fd, log = private_file("crash-", ".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as out:
            out.write(details)
        where = str(log)
    except OSError:  # no room for the log either: the details go to stderr
        sys.stderr.write(details)
        where = "the lines above"
    try:
        console_ui().bug(where)
    except Exception:  # the UI itself is broken: still say where the log is
        sys.stderr.write(f"scalpel: internal error; details in {where}\n")
    return 3
