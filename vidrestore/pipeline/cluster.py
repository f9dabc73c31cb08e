"""Segments on a Ray cluster: workers that keep their model, packets both ways.

Nothing assumes a shared filesystem. For each segment the driver copies the
compressed video packets that decode it (from its keyframe to the last
packet whose frame still belongs to it) into a small excerpt file in memory
and hands it to a worker through Ray's object store; the worker decodes,
processes and encodes the segment as the single-machine runner does and
sends the encoded segment back, also compressed. Compressed video is small
next to the frames it makes, so the network carries a fraction of what a
frame-shipping design would. The driver keeps the job folder
(`pipeline.resume`): every finished segment is written and listed there as it
arrives, so a cluster job resumes like any other, and the join happens once,
on the driver, with the source's other streams.

A worker is a Ray actor holding one processor (one GPU each where there are
GPUs). Ray restarts an actor whose process died and runs its task again
there, so a killed worker costs its segment's time, not the job.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidrestore.errors import BackendUnavailable, UsageError

if TYPE_CHECKING:
    from vidrestore.io.encode import EncodeOptions
    from vidrestore.io.probe import VideoInfo
    from vidrestore.pipeline.build import ProcessingSpec
    from vidrestore.pipeline.segments import Segment

log = logging.getLogger(__name__)


def require_ray():
    try:
        import ray
    except ImportError:
        raise BackendUnavailable("--cluster needs Ray: pip install 'vidrestore[cluster]'") from None
    return ray


@dataclass(frozen=True)
class ClusterSpec:
    """`--cluster`: `local` or `local:N` (a Ray started here with N workers), or the address
    of a running Ray cluster (`HOST:PORT`, `ray://HOST:PORT` or `auto`)."""

    address: str | None  # None: start a local Ray
    workers: int | None = None  # None: one per GPU, else one per two CPU cores

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        if text == "local" or text.startswith("local:"):
            count = text.partition(":")[2]
            if count and (not count.isdigit() or int(count) < 1):
                raise UsageError(f"--cluster {text}: expected local or local:N with N a whole number from 1")
            return cls(None, int(count) if count else None)
        if not text:
            raise UsageError("--cluster needs local, local:N or a Ray address")
        return cls(text)


def excerpt(info: VideoInfo, segment: Segment) -> tuple[bytes, str]:
    """The source's video packets that decode `segment`, copied into a small file in memory:
    from the keyframe it starts at to the keyframe after the next segment's (which may still
    be followed, in decode order, by open-GOP leading B-frames that belong to this segment; the
    worker's decoder stops at the first frame past the end). Returns (bytes, suffix)."""
    import av

    tb = info.time_base
    start_pts = None if segment.start is None else int(segment.start / tb)
    end_pts = None if segment.end is None else int(segment.end / tb)
    errors = []
    for fmt, suffix in (("mov", ".mov"), ("matroska", ".mkv")):  # QuickTime keeps any time base exactly
        buffer = io.BytesIO()
        try:
            with av.open(str(info.path), metadata_errors="ignore") as source, av.open(buffer, "w", format=fmt) as out:
                stream = source.streams[info.index]
                video = out.add_stream_from_template(stream)
                video.time_base = stream.time_base
                if start_pts:
                    source.seek(start_pts, stream=stream, backward=True)
                keys_past_end = 0
                for packet in source.demux(stream):
                    if packet.size == 0:
                        continue
                    if end_pts is not None and packet.is_keyframe and packet.pts is not None and packet.pts >= end_pts:
                        keys_past_end += 1
                        if keys_past_end > 1:
                            break
                    packet.stream = video
                    out.mux(packet)
        except (av.error.FFmpegError, ValueError) as exc:
            errors.append(f"{fmt}: {exc}")
            continue
        return buffer.getvalue(), suffix
    # Out-of-order timestamps, which the decoder repairs in a run here, cannot be muxed into a file again.
    raise UsageError(f"{info.path}: its video packets cannot be shipped to workers ({'; '.join(errors)}), as a rule "
                     "because its timestamps are out of order; run it without --cluster (--resume still works)")


class SegmentWorker:
    """One worker: a processor built once from the job's description, then any number of segments."""

    def __init__(self, processing: ProcessingSpec, encode: EncodeOptions) -> None:
        from vidrestore.pipeline.build import build_processor

        self.processing, self.encode = processing, encode
        self.processor = build_processor(processing)
        self.pid = os.getpid()

    def ping(self) -> int:
        return self.pid

    def run(self, data: bytes, suffix: str, part_suffix: str, start: Fraction | None, end: Fraction | None,
            batch: int) -> tuple[bytes, int]:
        """An excerpt in, its segment encoded out: (file bytes, frames)."""
        from vidrestore.io.probe import probe
        from vidrestore.pipeline.progress import Progress
        from vidrestore.pipeline.runner import RunOptions, run_video
        from vidrestore.signals import Stop

        with tempfile.TemporaryDirectory(prefix="vidrestore-segment-") as folder:
            src, dst = Path(folder) / f"excerpt{suffix}", Path(folder) / f"segment{part_suffix}"
            src.write_bytes(data)
            run = RunOptions(batch=batch, start=start, end=end, copy_streams=False)
            report = run_video(probe(src), dst, self.processor, self.encode, run, stop=Stop(), progress=Progress(0, enabled=False))
            return dst.read_bytes(), report.frames_out


def default_workers(ray: Any) -> tuple[int, float]:
    """(workers, GPUs each): one per GPU; without GPUs one per two CPU cores (the model and the
    encoder each want cores of their own), at least one."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, 1.0
    return max(1, int(resources.get("CPU", 1)) // 2), 0.0


def cpus_each(ray: Any, workers: int) -> int:
    """The cores each worker asks Ray for: the cluster's shared out. Ray gives an actor as many
    threads as the cores it asked for (OMP_NUM_THREADS), so one worker alone asking for one core
    would run the model and the encoder at a fraction of the machine."""
    largest = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1)
    return max(1, min(int(ray.cluster_resources().get("CPU", 1)) // max(1, workers), largest))  # an actor lives on one node


def run_on_cluster(cluster: ClusterSpec, info: VideoInfo, processing: ProcessingSpec, encode: EncodeOptions, batch: int,
                   segments: list[Segment], todo: list[int], deliver, *, stop, echo=None) -> None:
    """Run the segments numbered `todo` on the cluster; `deliver(segment, data, frames)` gets
    each encoded segment on the driver as it arrives (in any order)."""
    import contextlib

    ray = require_ray()
    first = excerpt(info, segments[todo[0]]) if todo else None  # a source whose packets cannot travel fails before Ray starts
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if cluster.address is not None:
            kwargs["address"] = cluster.address
        # Ray greets on stderr (its token authentication is on by default, as it should be): the
        # commands keep stderr for their own lines.
        with contextlib.redirect_stderr(io.StringIO()):
            ray.init(**kwargs)
    try:
        from vidrestore.pipeline.segments import part_suffix

        count, gpus = default_workers(ray)
        count = cluster.workers or count
        count = min(count, max(1, len(todo)))
        cpus = cpus_each(ray, count)
        actor = ray.remote(num_cpus=cpus, num_gpus=gpus)(SegmentWorker).options(max_restarts=-1, max_task_retries=-1)
        workers = [actor.remote(processing, encode) for _ in range(count)]
        if echo is not None:
            each = f"1 GPU and {cpus} CPU" if gpus else f"{cpus} CPU"
            echo(f"cluster: {len(workers)} worker{'s' if len(workers) != 1 else ''} ({each} each)")
        suffix_out = part_suffix(encode)
        queue = list(todo)
        running: dict[Any, tuple[Any, int]] = {}

        def submit(worker) -> None:
            nonlocal first
            index = queue.pop(0)
            segment = segments[index]
            data, suffix = first if first is not None else excerpt(info, segment)
            first = None
            ref = worker.run.remote(ray.put(data), suffix, suffix_out, segment.start, segment.end, batch)
            running[ref] = (worker, index)

        for worker in workers:
            if queue:
                submit(worker)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.25)
            if stop.is_set():
                for ref in running:
                    ray.cancel(ref, force=True)
                import signal

                from vidrestore.errors import Interrupted

                raise Interrupted(stop.signum or signal.SIGINT)
            for ref in ready:
                worker, index = running.pop(ref)
                data, frames = ray.get(ref)
                deliver(segments[index], data, frames)
                if queue:
                    submit(worker)
    finally:
        if started_here:
            ray.shutdown()


def run_cluster_segments(cluster: ClusterSpec, info: VideoInfo, dst: Path, processing: ProcessingSpec, encode: EncodeOptions,
                         run, segments: list[Segment], folder: Path, *, stop, done: dict[int, Path] | None = None,
                         finished=None, progress=None, echo=None):
    """`segments.run_segmented` on the cluster: the segments not in `done` run on workers, each
    written into `folder` as it arrives (`finished(segment, file, frames)` hears of it), then
    the join into `dst` on this machine."""
    from vidrestore.pipeline.segments import join_segments, part_suffix

    suffix = part_suffix(encode)
    parts = dict(done or {})

    def deliver(segment: Segment, data: bytes, frames: int) -> None:
        part = folder / f"segment-{segment.index:05d}{suffix}"
        part.write_bytes(data)
        parts[segment.index] = part
        if finished is not None:
            finished(segment, part, frames)
        if progress is not None:
            progress.update(frames)

    todo = [s.index for s in segments if s.index not in parts]
    run_on_cluster(cluster, info, processing, encode, run.batch, segments, todo, deliver, stop=stop, echo=echo)
    return join_segments(info, dst, [parts[s.index] for s in segments], run)
