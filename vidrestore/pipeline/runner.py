"""The runner: one time range of one video, decode -> process -> encode -> mux.

Three threads joined by bounded queues: the decoder runs ahead by at most
`queue_size` batches and the encoder lags by at most as many, so memory stays
flat and the slowest stage sets the pace. No global state: a run is fully
described by its arguments, so shards of a file can run side by side.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidrestore.errors import InputError, Interrupted, VidrestoreError
from vidrestore.signals import Stop
from vidrestore.io.decode import DecodeStats, Decoder
from vidrestore.io.encode import EncodeOptions, VideoEncoder, even_size
from vidrestore.io.mux import CopyReport, StreamCopier, container_format
from vidrestore.io.probe import VideoInfo
from vidrestore.frames import FrameBatch, StreamFormat
from vidrestore.pipeline.processor import Processor, submit
from vidrestore.pipeline.staging import Pending
from vidrestore.pipeline.progress import Progress

log = logging.getLogger(__name__)

_DONE = object()


@dataclass(frozen=True)
class RunOptions:
    batch: int = 4
    queue_size: int = 4  # batches in flight per queue: enough to absorb jitter, small enough for 4K frames
    start: float | Fraction | None = None  # seconds; a Fraction is exact (segments start at a keyframe's own time)
    end: float | Fraction | None = None
    copy_streams: bool = True  # False: video only (a segment; the join muxes the other streams once)

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError("batch must be at least 1")


@dataclass
class StageTimes:
    """Seconds each stage spent working (not waiting on its queues) and the frames it
    handled: two clock reads per batch. The slowest stage sets the pipeline's pace."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))

    def add(self, stage: str, seconds: float, frames: int) -> None:
        self.seconds[stage] += seconds
        self.frames[stage] += frames

    def fps(self, stage: str) -> float:
        t = self.seconds[stage]
        return self.frames[stage] / t if t > 0 else 0.0

    def line(self) -> str:
        return " | ".join(f"{s} {self.fps(s):.1f}" for s in STAGES if self.frames[s]) + " fps"


STAGES = ("decode", "process", "encode")


@dataclass
class RunReport:
    frames_in: int = 0
    frames_out: int = 0
    out_size: tuple[int, int] = (0, 0)
    decode: DecodeStats = field(default_factory=DecodeStats)
    streams: CopyReport = field(default_factory=CopyReport)
    cropped: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    stages: StageTimes = field(default_factory=StageTimes)
    segments: int = 0  # a segmented run: how many segments, and how many were done by an earlier run
    resumed: int = 0


class _Stage(threading.Thread):
    """A thread whose exception is kept for the main thread to re-raise."""

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.stop = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
            self.stop.set()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _DONE


def batches(decoder: Decoder, size: int) -> Iterator[FrameBatch]:
    luma, chroma, pts = [], [], []
    for y, c, t in decoder.frames():
        luma.append(y)
        chroma.append(c)
        pts.append(t)
        if len(pts) == size:
            yield FrameBatch(np.stack(luma), np.stack(chroma), pts, decoder.format.plane)
            luma, chroma, pts = [], [], []
    if pts:
        yield FrameBatch(np.stack(luma), np.stack(chroma), pts, decoder.format.plane)


def run_video(
    info: VideoInfo,
    dst: Path,
    processor: Processor,
    encode: EncodeOptions,
    options: RunOptions,
    *,
    stop: Stop,
    progress: Progress,
) -> RunReport:
    """Process `info.path` into the file `dst` (written directly: callers make it atomic)."""
    report = RunReport()
    times = report.stages
    progress.stages = times
    decoder = Decoder(info, start=options.start, end=options.end)
    stream = decoder.open()  # the format, decided once, before the threads start
    if stream is None:
        errors = decoder.stats.decode_errors
        detail = f" ({errors} decode errors)" if errors else ""
        raise InputError(f"{info.path}: no video frames could be decoded{detail}; the file is truncated or corrupt")
    q_in: queue.Queue = queue.Queue(maxsize=options.queue_size)
    q_out: queue.Queue = queue.Queue(maxsize=options.queue_size)

    def decode() -> None:
        source = batches(decoder, options.batch)
        while True:
            t = time.perf_counter()
            batch = next(source, None)
            if batch is None:
                break
            times.add("decode", time.perf_counter() - t, len(batch))
            if not _put(q_in, batch, stop):
                return
        _put(q_in, _DONE, stop)

    def process() -> None:
        while (batch := _get(q_in, stop)) is not _DONE:
            t = time.perf_counter()
            out = submit(processor, batch)  # on CUDA: queued, finished while the next is queued
            times.add("process", time.perf_counter() - t, len(batch))
            if not _put(q_out, out, stop):
                return
        _put(q_out, _DONE, stop)

    def encode_all() -> None:
        _encode(info, dst, encode, options, stream, q_out, stop, progress, report)

    stages = [_Stage("decode", decode, stop), _Stage("process", process, stop), _Stage("encode", encode_all, stop)]
    for stage in stages:
        stage.start()
    # The main thread only waits, in short joins so that signal handlers run promptly, until
    # every stage has ended. Each checks `stop` between batches; the model stage finishes the
    # batch in hand (leaving it inside torch while the interpreter exits aborts the process).
    for stage in stages:
        while stage.is_alive():
            stage.join(timeout=0.1)
    if stop.signum is not None:
        raise Interrupted(stop.signum)
    errors = [stage.error for stage in stages if stage.error is not None]
    # A user-facing error wins over the secondary errors it causes elsewhere.
    for error in errors:
        if isinstance(error, VidrestoreError):
            raise error
    if errors:
        raise errors[0]
    report.decode = decoder.stats
    report.frames_in = decoder.stats.frames
    return report


def _encode(
    info: VideoInfo,
    dst: Path,
    options: EncodeOptions,
    run: RunOptions,
    stream: StreamFormat,
    q_out: queue.Queue,
    stop: threading.Event,
    progress: Progress,
    report: RunReport,
) -> None:
    pending = _get(q_out, stop)
    if pending is _DONE:  # stopped: the decoder found a first frame before the threads started
        return
    first = _finished(pending, report.stages)
    with av.open(str(dst), "w", format=container_format(dst)) as output:
        for key, value in info.tags:
            output.metadata[key] = value
        w, h = first.size
        encoder = open_encoder(output, options, info, stream, first)
        ew, eh = encoder.size
        if (ew, eh) != (w, h):
            log.warning("output %dx%d is cropped to %dx%d: %s needs even dimensions", w, h, ew, eh, first.fmt.pix_fmt)
        report.cropped = (w - ew, h - eh)
        report.out_size = (ew, eh)
        copier = (StreamCopier(info.path, output, video_index=info.index, start=run.start, end=run.end)
                  if run.copy_streams else _NoStreams())
        try:
            batch = first
            while True:
                t = time.perf_counter()
                encode_batch(encoder, batch)
                pending.release()
                copier.mux_until(float(batch.pts[-1] * info.time_base))
                report.stages.add("encode", time.perf_counter() - t, len(batch))
                progress.update(len(batch))
                pending = _get(q_out, stop)
                if pending is _DONE:
                    break
                batch = _finished(pending, report.stages)
            if stop.is_set():
                return
            t = time.perf_counter()
            encoder.flush()
            copier.mux_until(None)
            report.stages.add("encode", time.perf_counter() - t, 0)
        finally:
            copier.close()
        report.frames_out = encoder.frames
        report.streams = copier.report


class _NoStreams:
    """The copier of a video-only run."""

    report = CopyReport()

    def mux_until(self, seconds: float | None) -> None:
        pass

    def close(self) -> None:
        pass


def _finished(pending: Pending, times: StageTimes) -> FrameBatch:
    """The batch `pending` computes; time spent waiting for it is the processor's
    (on CUDA the process thread only queues work, and the GPU finishes it here)."""
    t = time.perf_counter()
    batch = pending.result()
    times.add("process", time.perf_counter() - t, 0)
    return batch


def open_encoder(output: av.container.OutputContainer, options: EncodeOptions, info: VideoInfo, stream: StreamFormat,
                 first: FrameBatch) -> VideoEncoder:
    """The video stream for frames like `first`: its size rounded down to what the
    pixel format allows, the source's timing, colour tags, rotation and stream tags."""
    ew, eh = even_size(*first.size, first.fmt)
    stream = StreamFormat(first.fmt, stream.color, stream.rotation)  # the processor's layout (the same, as a rule)
    return VideoEncoder(output, options, width=ew, height=eh, stream=stream, time_base=info.time_base, rate=info.rate,
                        metadata=dict(info.video_tags))


def encode_batch(encoder: VideoEncoder, batch: FrameBatch) -> None:
    """Encode `batch`, cropped to the encoder's size."""
    encoder.encode(_crop(batch, *encoder.size))


def _crop(batch: FrameBatch, width: int, height: int) -> FrameBatch:
    if batch.size == (width, height):
        return batch
    cw, ch = batch.fmt.chroma_size(width, height)
    return FrameBatch(
        np.ascontiguousarray(batch.luma[:, :height, :width]),
        np.ascontiguousarray(batch.chroma[:, :, :ch, :cw]),
        batch.pts,
        batch.fmt,
    )
