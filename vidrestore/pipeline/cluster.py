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
from collections.abc import Callable
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
    worker's decoder stops at the first frame past the end). Returns (bytes, suffix).

    QuickTime first: it keeps every packet's presentation and decode time exactly, in any time
    base. Packets whose presentation times run backwards against their decode times (packed
    B-frames, broken muxers: what the decoder's timestamp repair exists for) fit no muxer as they
    are; Matroska stores presentation times only, so they go there with decode times made
    monotonic, and the worker's decoder reads back the very times the source gave."""
    import av

    tb = info.time_base
    start_pts = None if segment.start is None else int(segment.start / tb)
    end_pts = None if segment.end is None else int(segment.end / tb)
    with av.open(str(info.path), metadata_errors="ignore") as source:
        stream = source.streams[info.index]
        if start_pts:
            source.seek(start_pts, stream=stream, backward=True)
        packets = []
        keys_past_end = 0
        for packet in source.demux(stream):
            if packet.size == 0:
                continue
            if end_pts is not None and packet.is_keyframe and packet.pts is not None and packet.pts >= end_pts:
                keys_past_end += 1
                if keys_past_end > 1:
                    break
            packets.append(packet)
        given = [(p.pts, p.dts) for p in packets]  # muxing rescales a packet's times in place
        errors = []
        for fmt, suffix, times in (("mov", ".mov", _as_given), ("matroska", ".mkv", _as_given),
                                   ("matroska", ".mkv", _monotonic_dts)):
            buffer = io.BytesIO()
            try:
                with av.open(buffer, "w", format=fmt) as out:
                    video = out.add_stream_from_template(stream)
                    video.time_base = stream.time_base
                    for packet, (pts, dts) in zip(packets, times(given)):
                        packet.stream = video
                        packet.time_base = stream.time_base
                        packet.pts, packet.dts = pts, dts
                        out.mux(packet)
            except (av.error.FFmpegError, ValueError) as exc:
                errors.append(f"{fmt}: {exc}")
                continue
            return buffer.getvalue(), suffix
    raise UsageError(f"{info.path}: its video packets cannot be shipped to workers ({'; '.join(errors)}); "
                     "run it without --cluster (--resume still works)")


Times = list[tuple[int | None, int | None]]  # (pts, dts) of each packet


def _as_given(times: Times) -> Times:
    return times


def _monotonic_dts(times: Times) -> Times:
    """Each packet's pts kept, its dts the smallest pts from it on: never after its own pts,
    never going backwards (Matroska writes the pts alone)."""
    out: Times = []
    low = None
    for pts, _ in reversed(times):
        if pts is not None:
            low = pts if low is None else min(low, pts)
        out.append((pts, low))
    return out[::-1]


class SegmentWorker:
    """One worker: a processor built once from the job's description, then any number of
    segments, one at a time. `frames()` (in a concurrency group of its own) says how far the
    segment in hand has got, for the driver's progress line."""

    def __init__(self, processing: ProcessingSpec, encode: EncodeOptions) -> None:
        from vidrestore.pipeline.build import build_processor

        self.processing, self.encode = processing, encode
        self.processor = build_processor(processing)
        self.pid = os.getpid()
        self.current = None  # the Progress of the segment in hand

    def ping(self) -> int:
        return self.pid

    def frames(self) -> int:
        current = self.current
        return current.done if current is not None else 0

    def run(self, data: bytes, suffix: str, part_suffix: str, start: Fraction | None, end: Fraction | None,
            batch: int) -> SegmentResult:
        """An excerpt in, its segment encoded out."""
        from vidrestore.io.probe import probe
        from vidrestore.pipeline.progress import Progress
        from vidrestore.pipeline.runner import RunOptions, run_video
        from vidrestore.signals import Stop

        with tempfile.TemporaryDirectory(prefix="vidrestore-segment-") as folder:
            src, dst = Path(folder) / f"excerpt{suffix}", Path(folder) / f"segment{part_suffix}"
            src.write_bytes(data)
            run = RunOptions(batch=batch, start=start, end=end, copy_streams=False)
            self.current = Progress(0, enabled=False)
            try:
                report = run_video(probe(src), dst, self.processor, self.encode, run, stop=Stop(), progress=self.current)
            finally:
                self.current = None
            return SegmentResult(dst.read_bytes(), report.frames_out, report.decode.decode_errors,
                                 report.decode.fixed_timestamps, self.where())

    def where(self) -> str:
        """This worker, for the log: its process, its Ray node, and the temporary folder it uses."""
        node = ""
        try:
            import ray

            node = f" on node {ray.get_runtime_context().get_node_id()[:12]}"
        except Exception:  # noqa: BLE001 - outside Ray (the tests run a worker in-process)
            pass
        return f"worker {self.pid}{node} (temporary files in {tempfile.gettempdir()})"


@dataclass(frozen=True)
class SegmentResult:
    """One encoded segment, back from a worker: the file's bytes, its frames, and what its
    decoder met (for the warnings a single run prints)."""

    data: bytes
    frames: int
    decode_errors: int = 0
    fixed_timestamps: int = 0
    worker: str = ""


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


@dataclass(frozen=True)
class Task:
    """One segment of one input, for whichever worker is free. `key` names the input for the
    driver: a failing input fails its own tasks, not the others'."""

    key: Any
    info: VideoInfo
    segment: Segment


Deliver = Callable[[Task, "SegmentResult"], None]


class ClusterPool:
    """Ray and its workers for one command: started once, every input's segments shared out
    among the same workers, which keep their model loaded from the first segment to the last.
    A folder of many files keeps every worker busy: the next file's segments start while the
    last ones of the file before are still running."""

    PREFETCH = 2  # segments handed to a worker at a time: the next one travels while this one runs

    def __init__(self, cluster: ClusterSpec, processing: ProcessingSpec, encode: EncodeOptions, batch: int, *,
                 echo: Callable[[str], None] | None = None) -> None:
        self.cluster, self.processing, self.encode, self.batch, self.echo = cluster, processing, encode, batch, echo
        self.ray = require_ray()
        self.started_here = False
        self.workers: list[Any] = []

    def __enter__(self) -> ClusterPool:
        import contextlib

        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.cluster.address is not None:
                kwargs["address"] = self.cluster.address
            # Ray greets on stderr (its token authentication is on by default, as it should be):
            # the commands keep stderr for their own lines.
            with contextlib.redirect_stderr(io.StringIO()):
                ray.init(**kwargs)
            self.started_here = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False

    def start_workers(self, tasks: int) -> None:
        """The workers, started once: as many as asked (or one per GPU, else per two cores), at most `tasks`."""
        if self.workers:
            return
        ray = self.ray
        count, gpus = default_workers(ray)
        count = min(self.cluster.workers or count, max(1, tasks))
        cpus = cpus_each(ray, count)
        actor = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=-1,
                           concurrency_groups={"progress": 1})(SegmentWorker)
        self.workers = [actor.remote(self.processing, self.encode) for _ in range(count)]
        if self.echo is not None:
            each = f"1 GPU and {cpus} CPU" if gpus else f"{cpus} CPU"
            self.echo(f"cluster: {count} worker{'s' if count != 1 else ''} ({each} each)")

    def run(self, tasks: list[Task], deliver: Deliver, *, stop, progress=None, done_frames: int = 0) -> dict[Any, BaseException]:
        """Every task on the workers; `deliver(task, result)` gets each encoded segment on
        this machine as it arrives (in any order). A worker that dies has its segment run again
        (Ray restarts it). A task whose input turns out bad (its packets cannot be shipped, the
        worker meets a corrupt segment) fails its key: that key's other tasks are dropped.
        Returns {key: error} for the failed keys. `progress` (a `Progress`) shows the frames
        of all workers, `done_frames` included, and how many workers answer."""
        from vidrestore.errors import Interrupted, VidrestoreError
        from vidrestore.pipeline.segments import part_suffix

        ray = self.ray
        queue = list(tasks)
        if not queue:
            return {}
        self.start_workers(len(queue))
        suffix_out = part_suffix(self.encode)
        failed: dict[Any, BaseException] = {}
        running: dict[Any, tuple[int, Task]] = {}  # task ref -> (worker, task)
        load = [0] * len(self.workers)
        finished_frames = done_frames
        poll = _Poll(ray, self.workers)

        def fail(key: Any, error: BaseException) -> None:
            failed[key] = error
            queue[:] = [t for t in queue if t.key != key]

        def submit(worker: int) -> None:
            while queue:
                task = queue.pop(0)
                try:
                    data, suffix = excerpt(task.info, task.segment)
                except VidrestoreError as exc:
                    fail(task.key, exc)
                    continue
                ref = self.workers[worker].run.remote(ray.put(data), suffix, suffix_out, task.segment.start,
                                                      task.segment.end, self.batch)
                running[ref] = (worker, task)
                load[worker] += 1
                return

        for _ in range(self.PREFETCH):
            for worker in range(len(self.workers)):
                submit(worker)
        if progress is not None:
            progress.set(finished_frames, note=poll.line())
        while running:
            ready, _ = ray.wait(list(running) + poll.refs(), num_returns=1, timeout=0.25)
            if stop.is_set():
                for actor in self.workers:  # their segments in hand are lost; the finished ones are kept
                    ray.kill(actor, no_restart=True)
                self.workers = []
                import signal

                raise Interrupted(stop.signum or signal.SIGINT)
            for ref in ready:
                if poll.answer(ref):
                    continue
                worker, task = running.pop(ref)
                load[worker] -= 1
                poll.delivered(worker)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                    if not isinstance(cause, VidrestoreError):
                        raise
                    fail(task.key, cause)
                else:
                    if task.key not in failed:
                        log.debug("%s: segment %d, %d frames, from %s", task.info.path.name, task.segment.index + 1,
                                  result.frames, result.worker)
                        finished_frames += result.frames
                        if progress is not None:
                            progress.set(finished_frames + poll.frames, note=poll.line())
                        deliver(task, result)
                while load[worker] < self.PREFETCH and queue:
                    submit(worker)
            if progress is not None:
                progress.set(finished_frames + poll.frames, note=poll.line())
        return failed


class _Poll:
    """The workers' frames in hand, asked every second: the answers arrive through the same
    `ray.wait` as the segments, so nobody waits on them. A worker that has not answered within
    two seconds (dead, or restarting) does not count as alive; one that has never answered yet
    is still starting (loading its model)."""

    def __init__(self, ray: Any, workers: list[Any]) -> None:
        self.ray, self.workers = ray, workers
        self.asked: dict[Any, int] = {}  # outstanding ref -> worker
        self.answers: dict[int, int] = {}
        self.since = 0.0
        self.alive = 0
        self.seen: set[int] = set()
        self.stale: set[Any] = set()

    def refs(self) -> list[Any]:
        import time

        now = time.monotonic()
        if now - self.since >= 2.0 or (not self.asked and now - self.since >= 1.0):
            if self.since:
                self.alive = len(set(range(len(self.workers))) - set(self.asked.values()))
                for worker in self.asked.values():
                    self.answers.pop(worker, None)
            self.stale.clear()
            self.asked = {w.frames.options(concurrency_group="progress").remote(): i for i, w in enumerate(self.workers)}
            self.since = now
        return list(self.asked)

    def delivered(self, worker: int) -> None:
        """`worker`'s segment has arrived: its frames now count as finished, not in hand, and
        an answer it gave before it finished must not count them again."""
        self.answers.pop(worker, None)
        self.stale.update(ref for ref, w in self.asked.items() if w == worker)

    def answer(self, ref: Any) -> bool:
        """Take `ref`'s answer if it is a poll's; False if it is not."""
        worker = self.asked.pop(ref, None)
        if worker is None:
            return False
        if ref in self.stale:
            self.stale.discard(ref)
            self.seen.add(worker)
            return True
        try:
            self.answers[worker] = self.ray.get(ref)
            self.seen.add(worker)
        except Exception:  # noqa: BLE001 - a worker that died between two asks
            self.answers.pop(worker, None)
        return True

    @property
    def frames(self) -> int:
        return sum(self.answers.values())

    def line(self) -> str:
        starting = len(self.workers) - len(self.seen)
        return f"{self.alive}/{len(self.workers)} workers alive" + (f", {starting} starting" if starting else "")


def run_cluster_segments(pool: ClusterPool, info: VideoInfo, dst: Path, run, segments: list[Segment], folder: Path, *,
                         stop, done: dict[int, Path] | None = None, finished=None, progress=None):
    """`segments.run_segmented` on the pool's workers: the segments not in `done` run there,
    each written into `folder` as it arrives (`finished(segment, file, frames)` hears of it),
    then the join into `dst` on this machine."""
    from vidrestore.pipeline.segments import join_segments

    parts = dict(done or {})

    def deliver(task: Task, result: SegmentResult) -> None:
        parts[task.segment.index] = store(folder, task.segment, pool.encode, result)
        if finished is not None:
            finished(task.segment, parts[task.segment.index], result.frames)

    tasks = [Task(0, info, s) for s in segments if s.index not in parts]
    failed = pool.run(tasks, deliver, stop=stop, progress=progress)
    if failed:
        raise failed[0]
    return join_segments(info, dst, [parts[s.index] for s in segments], run)


def store(folder: Path, segment: Segment, encode: EncodeOptions, result: SegmentResult) -> Path:
    """A worker's encoded segment, written where the job keeps that segment."""
    from vidrestore.pipeline.segments import part_path

    part = part_path(folder, segment, encode)
    part.write_bytes(result.data)
    return part
