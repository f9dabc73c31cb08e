"""Jobs: planning the (input, output) pairs, and running a processor over videos,
images and folders with atomic outputs, signals and a one-line report.

A `Job` is frozen and picklable: input, output, the time range, the
processing (`build.ProcessingSpec`) and the encoder options. `run_job`
rebuilds everything from it, so any process can run any job; the commands
(`upscale`, `deblur`, `enhance`, `restore`) differ only in the spec they
build and the tag of their default output name. Nothing here prints: lines
for the user go to an `echo` callback (None: quiet), warnings and per-file
errors to logging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidrestore import signals
from vidrestore.errors import InputError, Interrupted, OutputError, UsageError, VidrestoreError
from vidrestore.io.encode import EncodeOptions
from vidrestore.pipeline.build import ProcessingSpec
from vidrestore.pipeline.segments import DEFAULT_SEGMENT_SECONDS

if TYPE_CHECKING:  # it imports torch, which `--help` must not wait for
    from vidrestore.pipeline.processor import Processor

log = logging.getLogger("vidrestore.jobs")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One (input, output) pair of a plan."""

    src: Path
    dst: Path
    kind: str  # "video" or "image"


@dataclass(frozen=True)
class Job:
    """One input into one output: all a process needs to rebuild the processor and run it."""

    src: Path
    dst: Path
    kind: str  # "video" or "image"
    processing: ProcessingSpec
    encode: EncodeOptions = EncodeOptions()
    overwrite: bool = False
    start: float | None = None  # seconds; None: from the start
    end: float | None = None  # seconds; None: to the end
    resume: bool = False  # run in segments through a job folder that a later run can resume
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    cluster: str | None = None  # run the segments on Ray: "local", "local:N" or an address (`cluster.ClusterSpec`)

    def __post_init__(self) -> None:
        if self.kind not in ("video", "image"):
            raise ValueError(f"a job's kind is video or image, not {self.kind!r}")
        if self.kind == "image" and (self.start is not None or self.end is not None):
            raise ValueError("an image has no time range")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"a job's range must not be empty: [{self.start}, {self.end})")
        if self.segment_seconds <= 0:
            raise ValueError(f"segments must be longer than 0 s, not {self.segment_seconds}")


def _media_kind(path: Path) -> str:
    from vidrestore.io.paths import is_image

    return "image" if is_image(path) else "video"


def plan_targets(src: Path, output: Path | None, tag: str, *, overwrite: bool) -> list[Target]:
    """Every (input, output) pair, checked before any work starts."""
    from vidrestore.io.images import check_image_suffix
    from vidrestore.io.paths import is_image
    from vidrestore.io.mux import container_format
    from vidrestore.io.paths import check_output, default_output, warn_stale_partials

    if not src.exists():
        raise InputError(f"{src}: no such file or folder")
    if src.is_dir():
        jobs = _plan_folder(src, output if output is not None else default_output(src, tag), overwrite=overwrite)
        warn_stale_partials([job.dst for job in jobs])
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
    warn_stale_partials([dst])
    return [Target(src, dst, kind)]


def _plan_folder(src: Path, out_dir: Path, *, overwrite: bool) -> list[Target]:
    import os

    from vidrestore.io.paths import is_image
    from vidrestore.io.mux import VIDEO_SUFFIXES
    from vidrestore.io.paths import writable_suffix

    # Hidden files are never inputs: they include our own temporaries of killed runs.
    files = sorted(p for p in src.iterdir()
                   if not p.name.startswith(".") and p.is_file() and (is_image(p) or p.suffix.lower() in VIDEO_SUFFIXES))
    if not files:
        raise InputError(f"{src}: folder holds no images or videos")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder")
    if out_dir.resolve() == src.resolve():
        raise OutputError("the output folder is the input folder; choose another -o")
    if not out_dir.parent.is_dir():
        raise OutputError(f"output folder {out_dir.parent} does not exist")
    writable_at = out_dir if out_dir.is_dir() else out_dir.parent
    if not os.access(writable_at, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {writable_at} is not writable")
    jobs: dict[Path, Target] = {}
    for f in files:
        kind = _media_kind(f)
        name = f.name if kind == "image" else f.with_suffix(writable_suffix(f)).name
        job = Target(f, out_dir / name, kind)
        if job.dst in jobs:  # clip.flv and clip.mkv both become clip.mkv
            raise OutputError(f"{jobs[job.dst].src} and {f} would both be written to {job.dst}; "
                              "rename one of them or run them separately")
        jobs[job.dst] = job
    for job in jobs.values():
        if job.dst.exists() and not overwrite:
            raise OutputError(f"{job.dst} already exists; pass --overwrite to replace it")
    return list(jobs.values())


def plan_jobs(src: Path, output: Path | None, tag: str, processing: ProcessingSpec, encode: EncodeOptions, *,
              overwrite: bool, resume: bool = False, segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
              cluster: str | None = None) -> list[Job]:
    """The jobs for INPUT (a file or a folder), every output and the encoder checked
    against every video output before any work starts. Without `resume`, a job folder an
    interrupted run left for an output is one error line: it is never reused or deleted unasked."""
    from vidrestore.pipeline.resume import JobFolder

    from vidrestore.io.encode import check_encoder_usable
    from vidrestore.io.mux import check_codec_fits, container_format

    targets = plan_targets(src, output, tag, overwrite=overwrite)
    if any(t.kind == "video" for t in targets):
        check_encoder_usable(encode.codec)
        for t in targets:
            if t.kind == "video":
                check_codec_fits(container_format(t.dst), encode.spec.format_codec, encode.codec)
    if not resume:
        for t in targets:
            folder = JobFolder(t.dst)
            if t.kind == "video" and folder.exists():
                raise OutputError(folder.leftover_line())
    if cluster is not None:
        from vidrestore.pipeline.cluster import ClusterSpec, require_ray

        ClusterSpec.parse(cluster)
        require_ray()
    # A cluster's segments live in a job folder too: what they cost is never lost to a crash.
    segmented = resume or cluster is not None
    return [Job(t.src, t.dst, t.kind, processing, encode, overwrite, resume=segmented and t.kind == "video",
                segment_seconds=segment_seconds, cluster=cluster if t.kind == "video" else None) for t in targets]


def run_job(job: Job, processor: Processor | None = None, *, stop: signals.Stop | None = None, echo: Echo | None = None) -> None:
    """Run one job; `processor` None: built from `job.processing` here (a cluster job builds
    none here: its workers do)."""
    _run_job(job, _Processors(processor, echo), stop or signals.Stop(), echo)


class _Processors:
    """The processor of a run of jobs, built at the first job that needs one here."""

    def __init__(self, processor: Processor | None, echo: Echo | None) -> None:
        self.processor, self.echo = processor, echo

    def get(self, job: Job) -> Processor:
        if self.processor is None:
            from vidrestore.pipeline.build import build_processor

            self.processor = build_processor(job.processing, self.echo)
        return self.processor


def _run_job(job: Job, processors: _Processors, stop: signals.Stop, echo: Echo | None) -> None:
    if job.kind == "video" and job.cluster is not None:
        def failed(_job: Job, exc: BaseException) -> None:
            raise exc

        _run_on_cluster([job], stop, echo, [], failed)
    elif job.kind == "video":
        _process_video(job, processors.get(job), stop, echo)
    else:
        _process_image(job, processors.get(job), echo)


def _run_on_cluster(jobs: list[Job], stop: signals.Stop, echo: Echo | None, written: list[Path],
                    failed: Callable[[Job, BaseException], None]) -> None:
    from vidrestore.pipeline.cluster_jobs import run_cluster_jobs

    run_cluster_jobs(jobs, [_settings(job) for job in jobs], stop=stop, echo=echo, written=written, failed=failed,
                     report_line=lambda job, report, seconds: _report(job, report, seconds, echo))


def run_jobs(src: Path, jobs: list[Job], processor: Processor | None = None, *, echo: Echo | None = None) -> None:
    """Process every job of INPUT with one processor; in a folder, a failing file is
    reported and the rest go on (but a full disk or a read-only file system ends the
    folder: every later file would fail too). `echo` None: quiet."""
    if src.is_dir():
        try:
            jobs[0].dst.parent.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {jobs[0].dst.parent}: {exc.strerror or exc}") from None
    stop = signals.Stop()
    processors = _Processors(processor, echo)
    written: list[Path] = []
    failures = 0

    def outcome() -> str:
        return _written_so_far(written, len(jobs))

    def failed(job: Job, exc: BaseException) -> None:
        """One file's error: the end of a single-file run or of a folder on a full disk,
        else a line, and the folder goes on."""
        nonlocal failures
        if isinstance(exc, OSError):
            exc = _os_error(job, exc)
        if isinstance(exc, Interrupted):
            raise Interrupted(exc.signum, outcome()) from None
        if not isinstance(exc, VidrestoreError):
            raise exc
        if len(jobs) == 1 or isinstance(exc, _EndsTheFolder):
            if written:
                log.error("%s", exc)
                raise OutputError(f"stopped: {outcome()}") from None
            raise exc
        failures += 1
        log.error("%s", exc)

    on_cluster = [job for job in jobs if job.cluster is not None]
    with signals.graceful(stop.request, outcome=outcome) as handle:
        for job in jobs:
            if job.cluster is not None:
                continue
            if stop.signum is not None:
                raise Interrupted(stop.signum, outcome())
            # The video runner stops between batches; an image is one model call that cannot
            # stop halfway, so a signal ends the process at once (its temporary removed).
            handle.grace = 1.0 if job.kind == "video" else 0.0
            try:
                _run_job(job, processors, stop, echo)
            except (VidrestoreError, OSError) as exc:
                failed(job, exc)
            else:
                written.append(job.dst)
        if on_cluster:
            handle.grace = 10.0  # cancelling the workers' segments and stopping a local Ray
            try:
                _run_on_cluster(on_cluster, stop, echo, written, failed)
            except Interrupted as exc:
                raise Interrupted(exc.signum, outcome()) from None
    if failures:
        raise InputError(f"{failures} of {len(jobs)} files failed (see above)")


class _EndsTheFolder(OutputError):
    """The output's file system cannot take more: no point trying the other files."""


def _os_error(job: Job, exc: OSError) -> VidrestoreError:
    """An OSError while processing one file, as one line naming the file and the cause."""
    import errno

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return _EndsTheFolder(f"cannot write {job.dst}: {reason}")
    if exc.errno == errno.EFBIG:
        return OutputError(f"cannot write {job.dst}: {reason} (a file size limit)")
    where = Path(exc.filename) if isinstance(exc.filename, str) else None
    if where is not None and where.parent == job.dst.parent and where != job.src:
        return OutputError(f"cannot write {job.dst}: {reason}")
    return InputError(f"{job.src}: {reason}")


def _written_so_far(written: list[Path], total: int) -> str:
    if not written:
        return "nothing was written"
    if total == 1:
        return f"{written[0]} was written"
    shown = ", ".join(str(p) for p in written[:3]) + (", ..." if len(written) > 3 else "")
    return f"{len(written)} of {total} files were written ({shown}); the rest were not"


def _process_video(job: Job, processor: Processor | None, stop: signals.Stop, echo: Echo | None) -> None:
    from vidrestore.io.paths import atomic_output
    from vidrestore.io.probe import probe
    from vidrestore.pipeline.progress import Progress
    from vidrestore.pipeline.runner import RunOptions, run_video

    info = probe(job.src)
    progress = Progress(info.expected_frames, label=job.src.name, enabled=echo is not None)
    started = time.monotonic()
    run = RunOptions(batch=job.processing.batch, start=job.start, end=job.end)
    with atomic_output(job.dst, overwrite=job.overwrite) as tmp:
        try:
            if job.resume:
                from vidrestore.pipeline.resume import run_resumable

                report = run_resumable(info, job.dst, tmp, processor, job.encode, run, _settings(job),
                                       job.segment_seconds, stop=stop, progress=progress)
            else:
                report = run_video(info, tmp, processor, job.encode, run, stop=stop, progress=progress)
        finally:
            progress.close()
    if job.resume:
        from vidrestore.pipeline.resume import JobFolder

        JobFolder(job.dst).remove()  # the output is complete: nothing is left to resume
    _report(job, report, time.monotonic() - started, echo)


def _report(job: Job, report, elapsed: float, echo: Echo | None) -> None:
    """A finished video's warnings and its line."""
    stats = report.decode
    if stats.decode_errors:
        log.warning("%s: %d decode errors (corrupt input); %d frames were decoded and written", job.src, stats.decode_errors, stats.frames)
    if stats.fixed_timestamps:
        log.warning("%s: %d missing or out-of-order timestamps were repaired", job.src, stats.fixed_timestamps)
    if echo is not None:
        w, h = report.out_size
        fps = report.frames_out / elapsed if elapsed > 0 else 0.0
        extra = []
        if report.streams.copied:
            extra.append(f"{len(report.streams.copied)} streams copied")
        if report.streams.transcoded:
            extra.append(f"{len(report.streams.transcoded)} transcoded")
        if report.segments:
            extra.append(f"{report.segments} segments" + (f", {report.resumed} from the interrupted run" if report.resumed else ""))
        tail = f"; {', '.join(extra)}" if extra else ""
        echo(f"wrote {job.dst}: {report.frames_out} frames {w}x{h} in {elapsed:.1f} s ({fps:.1f} fps){tail}")


def _settings(job: Job) -> dict:
    """Everything that changes the picture or the encoding, as a resumed job checks it: the
    models and their weights files' hashes, filters, tiles, runtime, encoder, container, range,
    segment length, and vidrestore's version (a release may change the processing)."""
    from dataclasses import asdict

    from vidrestore import __version__
    from vidrestore.io.mux import container_format
    from vidrestore.models.registry import get_spec
    from vidrestore.pipeline.resume import file_sha256

    models = []
    for step in job.processing.models:
        weights = step.weights if step.weights is not None else get_spec(step.name).weights_path(step.scale)
        digest = file_sha256(weights) if weights is not None and weights.is_file() else None
        models.append({"name": step.name, "task": step.task, "scale": step.scale, "weights_sha256": digest})
    p = job.processing
    return {"vidrestore": __version__, "models": models, "filters": list(p.filters), "tile": p.tile,
            "tile_overlap": p.tile_overlap, "runtime": asdict(p.runtime), "encoder": asdict(job.encode),
            "container": container_format(job.dst), "range": [job.start, job.end], "segment_seconds": job.segment_seconds}


def _process_image(job: Job, processor: Processor, echo: Echo | None) -> None:
    from dataclasses import replace

    from vidrestore.io.images import read_image, resize_alpha, write_image
    from vidrestore.io.paths import atomic_output

    picture = read_image(job.src)
    out = processor.process(picture.batch)
    w, h = out.size
    alpha = resize_alpha(picture.alpha, (w, h)) if picture.alpha is not None else None
    with atomic_output(job.dst, overwrite=job.overwrite) as tmp:
        write_image(tmp, replace(picture, batch=out, alpha=alpha), format_suffix=job.dst.suffix, shown_as=job.dst)
    if echo is not None:
        echo(f"wrote {job.dst}: {w}x{h}")
