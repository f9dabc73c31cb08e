"""The video jobs of one command on a Ray cluster: every file's segments through one pool.

`jobs.run_jobs` hands the video jobs of a `--cluster` run here. Each file gets
its job folder (`resume.ResumableJob`: a manifest, so a cluster job resumes
like any other) and its atomic output, then all files' missing segments go
to the same workers (`cluster.ClusterPool`), in file order. A file is joined
and committed as soon as its last segment arrives, so in a folder of short
clips the workers move on to the next files while the driver joins; one
progress line counts the frames of every file and worker.

A file that fails (its input turns out corrupt, its packets cannot travel)
is reported and its temporary output removed; its job folder stays for
`--resume`, and the other files go on. Ctrl-C removes every temporary output
and keeps every job folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidrestore.errors import VidrestoreError

if TYPE_CHECKING:
    from vidrestore.io.probe import VideoInfo
    from vidrestore.pipeline.cluster import ClusterPool, SegmentResult, Task
    from vidrestore.pipeline.resume import ResumableJob
    from vidrestore.pipeline.runner import RunOptions, RunReport

log = logging.getLogger("vidrestore.jobs")


@dataclass
class _File:
    """One video job while its segments are out on the cluster."""

    job: Any  # jobs.Job (which imports this module)
    info: VideoInfo
    run: RunOptions
    resumable: ResumableJob
    output: Any  # the atomic_output context of job.dst
    tmp: Path
    started: float
    parts: dict[int, Path] = field(default_factory=dict)
    decode_errors: int = 0
    fixed_timestamps: int = 0

    @property
    def complete(self) -> bool:
        return len(self.parts) == len(self.resumable.segments)

    def abort(self, error: BaseException) -> None:
        """The temporary output goes; the job folder stays for --resume."""
        try:
            self.output.__exit__(type(error), error, error.__traceback__)
        except BaseException as raised:  # noqa: BLE001 - the context re-raises what it was given
            if raised is not error:
                raise


def open_file(job: Any, settings: dict) -> _File:
    from vidrestore.io.paths import atomic_output
    from vidrestore.io.probe import probe
    from vidrestore.pipeline.resume import ResumableJob
    from vidrestore.pipeline.runner import RunOptions

    info = probe(job.src)
    run = RunOptions(batch=job.processing.batch, start=job.start, end=job.end)
    resumable = ResumableJob(info, job.dst, settings, job.segment_seconds, run)
    output = atomic_output(job.dst, overwrite=job.overwrite)
    tmp = output.__enter__()
    return _File(job, info, run, resumable, output, tmp, time.monotonic(), dict(resumable.done))


def run_cluster_jobs(jobs: list, settings: list[dict], *, stop, echo: Any, written: list[Path],
                     failed: Any, report_line: Any) -> None:
    """Run `jobs` (videos, one `--cluster`) on one pool. `written` gets each output as it is
    committed; `failed(job, error)` hears of each file that failed (and may raise to end the
    run); `report_line(job, report, seconds)` prints a finished file's line."""
    from vidrestore.pipeline.cluster import ClusterPool, ClusterSpec, Task
    from vidrestore.pipeline.progress import Progress

    first = jobs[0]
    pool_spec = ClusterSpec.parse(first.cluster or "local")
    files: dict[int, _File] = {}
    try:
        tasks: list[Task] = []
        total = done_frames = 0
        for key, (job, job_settings) in enumerate(zip(jobs, settings)):
            try:
                file = open_file(job, job_settings)
            except (VidrestoreError, OSError) as exc:
                failed(job, exc)
                continue
            files[key] = file
            info = file.info
            total += info.expected_frames
            done_frames += file.resumable.done_frames
            tasks += [Task(key, info, s) for s in file.resumable.segments if s.index not in file.parts]
        label = first.src.name if len(jobs) == 1 else f"{len(jobs)} files"
        progress = Progress(total, label=label, enabled=echo is not None)

        def finish(key: int) -> None:
            file = files.pop(key)
            try:
                report = _join(file)
                file.output.__exit__(None, None, None)  # the commit
            except (VidrestoreError, OSError) as exc:
                file.abort(exc)
                failed(file.job, exc)
                return
            file.resumable.folder.remove()  # the output is complete: nothing is left to resume
            written.append(file.job.dst)
            progress.clear()
            report_line(file.job, report, time.monotonic() - file.started)

        for key in [k for k, f in files.items() if f.complete]:  # every segment done by an earlier run
            finish(key)
        lost: dict = {}
        if tasks:
            with ClusterPool(pool_spec, first.processing, first.encode, first.processing.batch, echo=echo) as pool:

                def deliver(task: Task, result: SegmentResult) -> None:
                    file = files[task.key]
                    part = _write_part(file, task, result, pool)
                    file.parts[task.segment.index] = part
                    if file.complete:
                        finish(task.key)

                try:
                    lost = pool.run([t for t in tasks if t.key in files], deliver, stop=stop, progress=progress,
                                    done_frames=done_frames)
                finally:
                    progress.close()
        for key, error in lost.items():
            file = files.pop(key, None)
            if file is not None:
                file.abort(error)
                failed(file.job, error)
    except BaseException as exc:
        for file in files.values():
            file.abort(exc)
        raise


def _write_part(file: _File, task: Task, result: SegmentResult, pool: ClusterPool) -> Path:
    from vidrestore.pipeline.cluster import store

    part = store(file.resumable.folder.path, task.segment, pool.encode, result)
    file.resumable.finished(task.segment, part, result.frames)
    file.decode_errors += result.decode_errors
    file.fixed_timestamps += result.fixed_timestamps
    return part


def _join(file: _File) -> RunReport:
    from vidrestore.pipeline.segments import join_segments

    segments = file.resumable.segments
    report = join_segments(file.info, file.tmp, [file.parts[s.index] for s in segments], file.run)
    report.segments, report.resumed = len(segments), len(file.resumable.done)
    report.decode.decode_errors, report.decode.fixed_timestamps = file.decode_errors, file.fixed_timestamps
    report.decode.frames = report.frames_out
    return report
