"""The command line: the only package that imports typer. Each command is a thin shell over
library functions; errors a user can cause exit 1 (a full disk or a read-only folder too: an
``OSError`` saying so is no bug), bugs exit 3 with a log, Ctrl-C exits 130.

The commands live by theme in ``project``, ``release``, ``content`` and ``observe``; importing
them registers them on ``app`` (in ``common``), in the order ``scalpel --help`` lists them.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import import_module

import typer

from scalpel_plan import __version__
from scalpel_plan.cli.common import app, console_ui

__all__ = ["app", "main"]
INTERRUPTED = "Interrupted. What was done is recorded; `scalpel apply` finishes the job."

for _commands in ("project", "release", "content", "observe"):  # in `scalpel --help` order
    import_module(f"scalpel_plan.cli.{_commands}")  # registers its commands on `app`


def main(argv: list[str] | None = None) -> int:
    """The console script: runs the app and maps every outcome to an exit code."""
    from scalpel_plan.errors import ScalpelError, resource_error

    try:
        code = app(args=argv, prog_name="scalpel", standalone_mode=False)
    except ScalpelError as exc:
        console_ui().error(exc)
        return 1
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer's word for a Ctrl-C
            console_ui().info(INTERRUPTED)
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: say so, exit 1 (2 means "changes")
        exc.show()  # type: ignore[attr-defined]
        return 1
    except (KeyboardInterrupt, typer.Abort):
        console_ui().info(INTERRUPTED)
        return 130
    except OSError as exc:
        if (error := resource_error(exc)) is None:
            return _crash()
        console_ui().error(error)  # a full disk, a read-only folder: the user's to fix
        return 1
    except Exception:
        return _crash()
    return code if isinstance(code, int) else 0


def _crash() -> int:
    """A bug: the traceback goes to a log file (masked), the user is told where."""
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
