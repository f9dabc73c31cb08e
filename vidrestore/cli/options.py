"""Options shared by several commands."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import click

from vidrestore.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def resolve_scale(x2: bool, x3: bool, x4: bool, scale: int | None) -> int:
    chosen = [s for s, on in ((2, x2), (3, x3), (4, x4)) if on]
    if scale is not None:
        chosen.append(scale)
    if len(set(chosen)) > 1:
        raise UsageError(f"give one scale, not {' and '.join(f'x{s}' for s in chosen)}")
    if not chosen:
        raise UsageError("give a scale: --x2, --x3, --x4 or --scale N")
    return chosen[0]


def scale_options(help_template: str) -> Callable[[F], F]:
    """``--x2 --x3 --x4 --scale N``, handed to the command as one ``scale: int``.

    ``help_template`` words each option's help with ``{n}``, e.g. "Upscale {n}x.".
    Put it below ``@user_errors`` so a missing or doubled scale is a one-line error.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, x2: bool, x3: bool, x4: bool, scale: int | None, **kwargs: Any) -> Any:
            return func(*args, scale=resolve_scale(x2, x3, x4, scale), **kwargs)

        options = [click.option(f"--x{n}", f"x{n}", is_flag=True, help=help_template.format(n=n)) for n in (2, 3, 4)]
        options.append(click.option("--scale", type=int, help=help_template.format(n="N") + " N must be one the model supports."))
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
