"""Options shared by several commands."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from vidrestore.errors import UsageError

from vidrestore.pipeline.build import BACKEND_NAMES, DEVICES, PRECISIONS, ProcessingSpec, Runtime
from vidrestore.pipeline.segments import DEFAULT_SEGMENT_SECONDS

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


def runtime_options(*, repeatable: bool = False) -> Callable[[F], F]:
    """``--device --backend --precision``, handed to the command as one ``runtime: Runtime``.

    With `repeatable` (the benchmark), ``--backend`` and ``--precision`` may be given
    several times and arrive as ``device: str``, ``backends`` and ``precisions`` (tuples;
    empty: the defaults)."""

    def decorate(func: F) -> F:
        if repeatable:
            wrapper = func
        else:
            @functools.wraps(func)
            def wrapper(*args: Any, device: str, backend: str, precision: str, **kwargs: Any) -> Any:  # type: ignore[misc]
                from vidrestore.pipeline.build import Runtime

                return func(*args, runtime=Runtime(device, backend, precision), **kwargs)

        options = [
            click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                         help="Where models run; auto: a CUDA GPU if PyTorch sees one."),
            click.option("--backend", "backends" if repeatable else "backend", type=click.Choice(BACKEND_NAMES),
                         **({"multiple": True} if repeatable else {"default": "auto", "show_default": True}),
                         help="Inference runtime" + ("; repeatable (default: auto). The first that runs drives the pipeline."
                                                     if repeatable else "; auto takes the fastest installed one and says which.")),
            click.option("--precision", "precisions" if repeatable else "precision", type=click.Choice(PRECISIONS),
                         **({"multiple": True} if repeatable else {"default": "fp32", "show_default": True}),
                         help="Arithmetic precision of the model (fp16/bf16 are for GPUs)" + ("; repeatable (default: fp32)." if repeatable else ".")),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def encoder_options(*, preset: str | None = None) -> Callable[[F], F]:
    """``--codec --crf --preset``, handed to the command as one ``encode: EncodeOptions``;
    `preset` is the command's default (None: the encoder's own)."""
    default = preset

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, codec: str, crf: int | None, preset: str | None, **kwargs: Any) -> Any:
            from vidrestore.io.encode import ENCODERS, EncodeOptions

            if preset is None and default is not None and codec in ENCODERS and ENCODERS[codec].crf_range is not None:
                preset = default  # the command's default, for encoders that have presets (not lossless FFV1)
            return func(*args, encode=EncodeOptions(codec=codec, crf=crf, preset=preset), **kwargs)

        options = [
            click.option("--codec", default="libx264", show_default=True,
                         help="Video encoder: libx264, libx265, libsvtav1, ffv1, h264_nvenc, hevc_nvenc, av1_nvenc."),
            click.option("--crf", type=int, help="Quality (lower is better); mapped to the encoder's own option."),
            click.option("--preset", help="Encoder speed preset (x264 names; mapped for SVT-AV1 and NVENC)."
                                           + (f" Default here: {default}." if default else "")),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


@dataclass(frozen=True)
class Processing:
    """What the shared processing options gave: where outputs go and how the models run."""

    output: Path | None
    runtime: Runtime
    encode: EncodeOptions
    batch: int = 4
    tile: int | None = None  # None: whole frames, tiled automatically when memory runs out
    tile_overlap: int = 16
    overwrite: bool = False
    quiet: bool = False
    resume: bool = False
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    cluster: str | None = None

    def plan(self, input_path: Path, tag: str, spec: ProcessingSpec) -> list:
        """The jobs for INPUT with `spec`, as these options ask (see `pipeline.jobs.plan_jobs`)."""
        from vidrestore.pipeline.jobs import plan_jobs

        return plan_jobs(input_path, self.output, tag, spec, self.encode, overwrite=self.overwrite, resume=self.resume,
                         segment_seconds=self.segment_seconds, cluster=self.cluster)

    def spec(self, models: tuple = (), filters: tuple[str, ...] = ()) -> ProcessingSpec:
        """The processing description for `models` (ModelSteps) then `filters`, run as asked here."""
        from vidrestore.pipeline.build import ProcessingSpec

        return ProcessingSpec(tuple(models), tuple(filters), self.runtime, self.tile, self.tile_overlap, self.batch)

    @property
    def echo(self):
        """Where lines for the user go: stderr, or nowhere with --quiet."""
        return None if self.quiet else (lambda line: click.echo(line, err=True))


def processing_options(func: F) -> F:
    """``-o --device --backend --precision --batch --tile --tile-overlap --codec --crf
    --preset --overwrite --quiet``, handed to the command as one ``processing:
    Processing``. Put it below ``@user_errors``."""

    @functools.wraps(func)
    def wrapper(*args: Any, output: Path | None, runtime: Runtime, encode: EncodeOptions, batch: int,
                tile: int | None, tile_overlap: int, overwrite: bool, quiet: bool, resume: bool,
                segment_seconds: float | None, cluster: str | None, **kwargs: Any) -> Any:
        if segment_seconds is not None and not (resume or cluster):
            raise UsageError("--segment-seconds sets the segments of a --resume or --cluster run; add one of them")
        processing = Processing(output, runtime, encode, batch, tile, tile_overlap, overwrite, quiet, resume,
                                segment_seconds or DEFAULT_SEGMENT_SECONDS, cluster)
        return func(*args, processing=processing, **kwargs)

    options = [
        click.option("-o", "--output", type=click.Path(path_type=Path),
                     help="Output file, or folder for a folder input. Default: beside the input, tagged (in.x3.mp4, in.deblur.mp4, ...)."),
        runtime_options(),
        click.option("--batch", type=click.IntRange(1, 256), default=4, show_default=True, help="Frames per inference batch."),
        click.option("--tile", type=click.IntRange(8, None), default=None,
                     help="Run the model on N x N tiles (input pixels), blended seamlessly. Default: whole frames, "
                          "tiles chosen automatically when memory runs out."),
        click.option("--tile-overlap", type=click.IntRange(0, None), default=16, show_default=True,
                     help="Pixels of context each tile shares with its neighbours."),
        encoder_options(),
        click.option("--overwrite", is_flag=True, help="Replace an existing output."),
        click.option("--resume", is_flag=True,
                     help="Run videos in segments through a job folder beside the output, and finish the job an "
                          "interrupted or crashed run of the same command left."),
        click.option("--cluster", metavar="local[:N]|ADDRESS",
                     help="Run videos' segments on Ray workers: local (one per GPU, else one per two cores), local:N, "
                          "or the address of a running Ray cluster (needs pip install 'vidrestore[cluster]')."),
        click.option("--segment-seconds", type=click.FloatRange(1, None, min_open=False), default=None,
                     help=f"Segment length of a --resume or --cluster run (cut at keyframes).  [default: {DEFAULT_SEGMENT_SECONDS:g}]"),
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
