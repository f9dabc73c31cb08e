"""User errors as one line and an exit code; tracebacks only with --debug.

Every command wears `user_errors`; it also sets up the one-line log format
("vidrestore: warning: ...") the library's warnings and errors print in.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from vidrestore.errors import VidrestoreError

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """A `VidrestoreError` on its way out: one line on stderr, its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"vidrestore: error: {self.format_message()}", err=True)


def user_errors(func: F) -> F:
    """Turn user errors into one line and an exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = kwargs.get("debug", False)
        _setup_logging(debug)
        try:
            return func(*args, **kwargs)
        except VidrestoreError as exc:
            if debug:
                raise
            raise CommandError(str(exc), exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:  # the machine's side: a full disk, a read-only folder, a vanished file
            if debug:
                raise
            where = f"{exc.filename}: " if isinstance(exc.filename, str) else ""
            raise CommandError(f"{where}{exc.strerror or exc}", 1) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence for users
            if debug:
                raise
            raise CommandError(f"internal error: {type(exc).__name__}: {exc} (run again with --debug for details)", 1) from None

    return wrapper  # type: ignore[return-value]


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"vidrestore: {record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(debug: bool) -> None:
    root = logging.getLogger("vidrestore")
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_vidrestore", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    handler._vidrestore = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
