"""The command line: the only package that imports typer. Each command is a thin shell over
library functions; errors a user can cause exit 1, bugs exit 3 with a log, Ctrl-C exits 130.

The commands live by theme in ``project``, ``release``, ``content`` and ``observe``; importing
them registers them on ``app`` (in ``common``), in the order ``scalpel --help`` lists them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from importlib import import_module
from pathlib import Path

import typer

from scalpel_plan import __version__
from scalpel_plan.cli.common import app, console_ui

__all__ = ["app", "main"]

for _commands in ("project", "release", "content", "observe"):  # in `scalpel --help` order
    import_module(f"scalpel_plan.cli.{_commands}")  # registers its commands on `app`


def main(argv: list[str] | None = None) -> int:
    """The console script: runs the app and maps every outcome to an exit code."""
    from scalpel_plan.errors import ScalpelError

    try:
        code = app(args=argv, prog_name="scalpel", standalone_mode=False)
    except ScalpelError as exc:
        console_ui().error(exc)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # bad usage: say so, exit 1 (2 means "changes")
        exc.show()  # type: ignore[attr-defined]
        return 1
    except (KeyboardInterrupt, typer.Abort):
        console_ui().info("Interrupted. What was done is recorded; `scalpel apply` finishes "
                          "the job.")
        return 130
    except Exception:
        log = Path(tempfile.gettempdir()) / f"scalpel-crash-{os.getpid()}.log"
        from scalpel_plan.masking import mask

        log.write_text(mask(f"scalpel {__version__}\nargv: {sys.argv}\n\n"
                            f"{traceback.format_exc()}"))
        try:
            console_ui().bug(str(log))
        except Exception:  # the UI itself is broken: still say where the log is
            sys.stderr.write(f"scalpel: internal error; details in {log}\n")
        return 3
    return code if isinstance(code, int) else 0

