"""The ``legato`` command line: run flows from files, inspect and resume recorded runs.

This module stays cheap to import; typer, rich and the history reader are
imported when :func:`main` runs. The commands live in :mod:`legato.cli.app`.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Exit codes: 0 success, 1 the flow failed (or history could not be read),
    2 bad usage or input (unknown run id, missing file or flow, bad parameter).
    """
    from legato.cli.app import run_app

    return run_app(argv)


__all__ = ["main"]
