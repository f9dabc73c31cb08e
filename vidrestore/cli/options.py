"""Options shared by several commands."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from vidrestore.errors import UsageError

# vidrestore.backends.BACKEND_NAMES, spelled out here: importing that module imports torch,
# which `--help` should not wait for (tests/cli check the two agree).
BACKEND_NAMES = ("auto", "torch", "torch-compile", "onnxruntime", "tensorrt")

if TYPE_CHECKING:
    from vidrestore.io.encode import EncodeOptions

F = TypeVar("F", bound=Callable[..., Any])


def resolve_scale(x2: bool, x3: bool, x4: bool, scale: int | None, *, required: bool = True) -> int | None:
    chosen = [s for s, on in ((2, x2), (3, x3), (4, x4)) if on]
    if scale is not None:
        chosen.append(scale)
    if len(set(chosen)) > 1:
        raise UsageError(f"give one scale, not {' and '.join(f'x{s}' for s in chosen)}")
    if not chosen:
        if not required:
            return None
        raise UsageError("give a scale: --x2, --x3, --x4 or --scale N")
    return chosen[0]


def scale_options(help_template: str, *, required: bool = True) -> Callable[[F], F]:
    """``--x2 --x3 --x4 --scale N``, handed to the command as one ``scale: int``
    (``int | None`` when not `required`).

    ``help_template`` words each option's help with ``{n}``, e.g. "Upscale {n}x.".
    Put it below ``@user_errors`` so a missing or doubled scale is a one-line error.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, x2: bool, x3: bool, x4: bool, scale: int | None, **kwargs: Any) -> Any:
            return func(*args, scale=resolve_scale(x2, x3, x4, scale, required=required), **kwargs)

        options = [click.option(f"--x{n}", f"x{n}", is_flag=True, help=help_template.format(n=n)) for n in (2, 3, 4)]
        options.append(click.option("--scale", type=int, help=help_template.format(n="N") + " N must be one the model supports."))
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def parse_size(value: str | None) -> tuple[int, int] | None:
    """`--size WxH` as (width, height): even, at least 16."""
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {value!r}: expected WxH, e.g. 640x360") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise UsageError(f"--size {value}: width and height must be even and at least 16")
    return w, h


@dataclass(frozen=True)
class Processing:
    """Where and how a processing command writes: built once from the shared options."""

    output: Path | None
    device: str
    batch: int
    encode: EncodeOptions
    overwrite: bool
    quiet: bool
    backend: str = "auto"
    precision: str = "fp32"
    tile: int | None = None  # None: whole frames, tiled automatically when memory runs out
    tile_overlap: int = 16


def processing_options(func: F) -> F:
    """``-o --device --backend --precision --batch --tile --tile-overlap --codec --crf
    --preset --overwrite --quiet``, handed to the command as one ``processing:
    Processing``. Put it below ``@user_errors``."""

    @functools.wraps(func)
    def wrapper(*args: Any, output: Path | None, device: str, backend: str, precision: str, batch: int,
                tile: int | None, tile_overlap: int, codec: str, crf: int | None,
                preset: str | None, overwrite: bool, quiet: bool, **kwargs: Any) -> Any:
        from vidrestore.io.encode import EncodeOptions

        encode = EncodeOptions(codec=codec, crf=crf, preset=preset)
        processing = Processing(output, device, batch, encode, overwrite, quiet, backend, precision, tile, tile_overlap)
        return func(*args, processing=processing, **kwargs)

    options = [
        click.option("-o", "--output", type=click.Path(path_type=Path),
                     help="Output file, or folder for a folder input. Default: beside the input, tagged (in.x3.mp4, in.deblur.mp4, ...)."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
        click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto",
                     show_default=True, help="Inference runtime; auto takes the fastest installed one and says which."),
        click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
                     help="Arithmetic precision of the model (fp16/bf16 are for GPUs)."),
        click.option("--batch", type=click.IntRange(1, 256), default=4, show_default=True, help="Frames per inference batch."),
        click.option("--tile", type=click.IntRange(8, None), default=None,
                     help="Run the model on N x N tiles (input pixels), blended seamlessly. Default: whole frames, "
                          "tiles chosen automatically when memory runs out."),
        click.option("--tile-overlap", type=click.IntRange(0, None), default=16, show_default=True,
                     help="Pixels of context each tile shares with its neighbours."),
        click.option("--codec", default="libx264", show_default=True,
                     help="Video encoder: libx264, libx265, libsvtav1, ffv1, h264_nvenc, hevc_nvenc, av1_nvenc."),
        click.option("--crf", type=int, help="Quality (lower is better); mapped to the encoder's own option."),
        click.option("--preset", help="Encoder speed preset (x264 names; mapped for SVT-AV1 and NVENC)."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]



def filter_option(func: F) -> F:
    """``--filter NAME[=VALUE]`` (repeatable), handed over as the raw strings ``filters``;
    `parse_filters` turns them into `Filter`s inside the command (so errors are one line)."""
    return click.option(
        "--filter", "filters", multiple=True, metavar="NAME[=VALUE]",
        help="A filter, NAME[=VALUE]; repeat for several, applied in order (`vidrestore enhance --help` lists them).",
    )(func)


def parse_filters(values: tuple[str, ...]) -> tuple:
    from vidrestore.filters import parse_filter

    return tuple(parse_filter(v) for v in values)
