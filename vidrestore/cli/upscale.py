"""`vidrestore upscale`: super-resolution of videos, images and folders."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from vidrestore.cli import user_errors
from vidrestore.cli.options import scale_options
from vidrestore.errors import InputError, Interrupted, OutputError, UsageError, VidrestoreError

log = logging.getLogger("vidrestore.cli")


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    kind: str  # "video" or "image"


def _media_kind(path: Path) -> str:
    from vidrestore.io.images import is_image

    return "image" if is_image(path) else "video"


def plan_jobs(src: Path, output: Path | None, tag: str, *, overwrite: bool) -> list[Job]:
    """Every (input, output) pair, checked before any work starts."""
    from vidrestore.io.images import check_image_suffix, is_image
    from vidrestore.io.mux import VIDEO_SUFFIXES, container_format
    from vidrestore.io.paths import check_output, default_output, writable_suffix

    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and (is_image(p) or p.suffix.lower() in VIDEO_SUFFIXES))
        if not files:
            raise InputError(f"{src}: folder holds no images or videos")
        out_dir = output if output is not None else default_output(src, tag)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"{out_dir} exists and is not a folder")
        if out_dir.resolve() == src.resolve():
            raise OutputError("the output folder is the input folder; choose another -o")
        if not out_dir.parent.is_dir():
            raise OutputError(f"output folder {out_dir.parent} does not exist")
        jobs = []
        for f in files:
            kind = _media_kind(f)
            name = f.name if kind == "image" else f.with_suffix(writable_suffix(f)).name
            jobs.append(Job(f, out_dir / name, kind))
        for job in jobs:
            if job.dst.exists() and not overwrite:
                raise OutputError(f"{job.dst} already exists; pass --overwrite to replace it")
        return jobs
    kind = _media_kind(src)
    dst = output if output is not None else default_output(src, tag, video=kind == "video")
    if kind == "image":
        check_image_suffix(dst)
    else:
        if is_image(dst):
            raise UsageError(f"{dst}: a video cannot be written as an image; use a video extension")
        container_format(dst)
    check_output(dst, src, overwrite=overwrite)
    return [Job(src, dst, kind)]


@contextmanager
def _signals_stop(stop) -> Iterator[None]:
    """SIGINT/SIGTERM ask the run to stop instead of killing it mid-write."""
    previous = {}

    def handler(signum, frame):  # noqa: ARG001
        stop.request(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. some test runners)
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command(short_help="Upscale videos, images or folders x2, x3 or x4.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file, or folder for a folder input. Default: INPUT.xN.ext beside the input.")
@click.option("--model", default=None, help="Model name (see the README); default: espcn.")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file for the model instead of the shipped one.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--batch", type=click.IntRange(1, 256), default=4, show_default=True, help="Frames per inference batch.")
@click.option("--codec", default="libx264", show_default=True, help="Video encoder: libx264, libx265, libsvtav1, ffv1, h264_nvenc, hevc_nvenc, av1_nvenc.")
@click.option("--crf", type=int, help="Quality (lower is better); mapped to the encoder's own option.")
@click.option("--preset", help="Encoder speed preset (x264 names; mapped for SVT-AV1 and NVENC).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("Upscale {n}x.")
def upscale(
    input_path: Path,
    output: Path | None,
    scale: int,
    model: str | None,
    weights: Path | None,
    device: str,
    batch: int,
    codec: str,
    crf: int | None,
    preset: str | None,
    overwrite: bool,
    quiet: bool,
    debug: bool,
) -> None:
    """Make INPUT (a video, an image or a folder of them) N times larger."""
    from vidrestore.io.encode import EncodeOptions
    from vidrestore.models import DEFAULT_SR_MODEL, get_spec
    from vidrestore.models.registry import check_scale

    factor = scale
    spec = get_spec(model or DEFAULT_SR_MODEL)
    check_scale(spec, factor)
    encode = EncodeOptions(codec=codec, crf=crf, preset=preset)
    jobs = plan_jobs(input_path, output, f"x{factor}", overwrite=overwrite)
    if any(job.kind == "video" for job in jobs):
        _check_video_output(jobs, encode)
    processor = _processor(spec, factor, weights, device)
    if input_path.is_dir():
        jobs[0].dst.parent.mkdir(exist_ok=True)
    failures = _run_jobs(jobs, processor, encode, batch, quiet)
    if failures:
        raise InputError(f"{failures} of {len(jobs)} files failed (see above)")


def _check_video_output(jobs: list[Job], encode) -> None:
    from vidrestore.io.encode import check_encoder_usable
    from vidrestore.io.mux import check_codec_fits, container_format

    check_encoder_usable(encode.codec)
    for job in jobs:
        if job.kind == "video":
            check_codec_fits(container_format(job.dst), encode.spec.format_codec, encode.codec)


def _processor(spec, factor: int, weights: Path | None, device: str):
    from vidrestore.backends import open_backend
    from vidrestore.models import build_model
    from vidrestore.pipeline.processor import SR_PROCESSORS

    model = build_model(spec, factor, weights)
    return SR_PROCESSORS[spec.color](open_backend("torch", model, device), factor)


def _run_jobs(jobs: list[Job], processor, encode, batch: int, quiet: bool) -> int:
    from vidrestore.pipeline.runner import Stop

    stop = Stop()
    failures = 0
    with _signals_stop(stop):
        for job in jobs:
            if stop.signum is not None:
                raise Interrupted(stop.signum)
            try:
                if job.kind == "video":
                    _upscale_video(job, processor, encode, batch, quiet, stop)
                else:
                    _upscale_image(job, processor, quiet)
            except Interrupted:
                raise
            except VidrestoreError as exc:
                if len(jobs) == 1:
                    raise
                failures += 1
                click.echo(f"vidrestore: error: {exc}", err=True)
    return failures


def _upscale_video(job: Job, processor, encode, batch: int, quiet: bool, stop) -> None:
    from vidrestore.io.paths import atomic_output
    from vidrestore.io.probe import probe
    from vidrestore.pipeline.progress import Progress
    from vidrestore.pipeline.runner import RunOptions, run_video

    info = probe(job.src)
    total = info.frames or (round(info.duration * info.rate) if info.duration else 0)
    progress = Progress(total, label=job.src.name, enabled=not quiet)
    started = time.monotonic()
    with atomic_output(job.dst) as tmp:
        try:
            report = run_video(info, tmp, processor, encode, RunOptions(batch=batch), stop=stop, progress=progress)
        finally:
            progress.close()
    elapsed = time.monotonic() - started
    stats = report.decode
    if stats.decode_errors:
        log.warning("%s: %d decode errors (corrupt input); %d frames were decoded and written", job.src, stats.decode_errors, stats.frames)
    if stats.fixed_timestamps:
        log.warning("%s: %d missing or out-of-order timestamps were repaired", job.src, stats.fixed_timestamps)
    if not quiet:
        w, h = report.out_size
        fps = report.frames_out / elapsed if elapsed > 0 else 0.0
        extra = []
        if report.streams.copied:
            extra.append(f"{len(report.streams.copied)} streams copied")
        if report.streams.transcoded:
            extra.append(f"{len(report.streams.transcoded)} transcoded")
        tail = f"; {', '.join(extra)}" if extra else ""
        click.echo(f"wrote {job.dst}: {report.frames_out} frames {w}x{h} in {elapsed:.1f} s ({fps:.1f} fps){tail}", err=True)


def _upscale_image(job: Job, processor, quiet: bool) -> None:
    from vidrestore.io.images import read_image, to_rgb, upscale_alpha, write_image
    from vidrestore.io.paths import atomic_output

    batch, alpha = read_image(job.src)
    out = processor.process(batch)
    w, h = out.size
    if alpha is not None:
        alpha = upscale_alpha(alpha, (w, h))
    with atomic_output(job.dst) as tmp:
        write_image(tmp, to_rgb(out), alpha, format_suffix=job.dst.suffix)
    if not quiet:
        click.echo(f"wrote {job.dst}: {w}x{h}", err=True)
