"""Keyframe-aligned segments of one video, run one by one and joined by packet copy.

The groundwork of sharded and resumable jobs: a segment is a half-open range
of presentation times `[start, end)` whose start is a keyframe's own time, so
its decoder can seek there; its end is the next segment's start. Each segment
is decoded, processed and encoded on its own (its first frame becomes a
keyframe of the output), and the encoded segments are then joined by copying
their packets into one file, where the source's other streams (audio,
subtitles, data) are muxed once, as in a single run.

Why the joins lose and double nothing, even with B-frames and open GOPs: the
decoder gives frames in presentation order, and a segment keeps exactly the
frames whose time lies in its range. A segment that ends at an open-GOP
keyframe decodes past it to the leading B-frames that still belong to it
(their times come before the keyframe's, so they come out before it); the
next segment starts decoding at that keyframe and drops those leading frames,
which it could not decode anyway, as lying before its start. Times are exact
fractions (a packet's pts times the stream's time base), never rounded
floats.

The plan reads the packet index only: no frame is decoded to make it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vidrestore.errors import InputError

if TYPE_CHECKING:  # PyAV too, imported where it is used: the CLI's --help reads the default here
    from vidrestore.io.probe import VideoInfo
    from vidrestore.io.encode import EncodeOptions
    from vidrestore.pipeline.processor import Processor
    from vidrestore.pipeline.progress import Progress
    from vidrestore.pipeline.runner import RunOptions, RunReport
    from vidrestore.signals import Stop

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_SECONDS = 60.0


@dataclass(frozen=True)
class Segment:
    """Frames whose presentation time t satisfies start <= t < end (seconds, exact);
    None: from the first frame, to the last."""

    index: int
    start: Fraction | None
    end: Fraction | None


def keyframe_times(info: VideoInfo) -> list[Fraction]:
    """The presentation times of the video stream's keyframes, in order, from its packets alone."""
    import av

    times: set[int] = set()
    with av.open(str(info.path), metadata_errors="ignore") as container:
        stream = container.streams[info.index]
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None and packet.size:
                times.add(packet.pts)
    return [pts * info.time_base for pts in sorted(times)]


def plan_segments(info: VideoInfo, seconds: float = DEFAULT_SEGMENT_SECONDS, *, start: Fraction | None = None,
                  end: Fraction | None = None) -> list[Segment]:
    """Segments of about `seconds` each, every one but the first starting at a keyframe,
    covering `[start, end)` of the video (None: all of it)."""
    if seconds <= 0:
        raise ValueError(f"segments must be longer than 0 s, not {seconds}")
    length = Fraction(str(seconds))
    bounds: list[Fraction] = []
    last = start if start is not None else None
    for t in keyframe_times(info):
        if (start is not None and t <= start) or (end is not None and t >= end):
            continue
        if last is None:  # the first frame's own segment starts wherever the video does
            last = t
            continue
        if t - last >= length:
            bounds.append(t)
            last = t
    edges: list[Fraction | None] = [start, *bounds, end]
    return [Segment(i, a, b) for i, (a, b) in enumerate(zip(edges, edges[1:]))]


def run_segmented(info: VideoInfo, dst: Path, processor: Processor, encode: EncodeOptions, run: RunOptions,
                  segments: list[Segment], folder: Path, *, stop: Stop, progress: Progress,
                  done: dict[int, Path] | None = None,
                  finished: Callable[[Segment, Path, int], None] | None = None) -> RunReport:
    """Each segment through the runner into `folder`, then joined into `dst` with the
    source's other streams: the file a single run over the same range would write.

    `done` maps segments finished earlier to their files (a resumed job): those are not
    run again. `finished(segment, file, frames)` hears of each segment as its file is complete."""
    from vidrestore.pipeline.runner import RunReport, run_video

    report = RunReport()
    parts = dict(done or {})
    for segment in segments:
        if segment.index in parts:
            continue
        part = part_path(folder, segment, encode)
        try:
            result = run_video(info, part, processor, encode,
                               replace(run, start=segment.start, end=segment.end, copy_streams=False),
                               stop=stop, progress=progress)
        except BaseException:
            part.unlink(missing_ok=True)  # half a segment is no segment
            raise
        parts[segment.index] = part
        if finished is not None:
            finished(segment, part, result.frames_out)
        report.frames_in += result.frames_in
        report.cropped = result.cropped
        report.decode.decode_errors += result.decode.decode_errors
        report.decode.fixed_timestamps += result.decode.fixed_timestamps
        for stage in result.stages.seconds:
            report.stages.add(stage, result.stages.seconds[stage], result.stages.frames[stage])
    joined = join_segments(info, dst, [parts[s.index] for s in segments], run)
    report.frames_out, report.streams, report.out_size = joined.frames_out, joined.streams, joined.out_size
    return report


def part_path(folder: Path, segment: Segment, encode: EncodeOptions) -> Path:
    """Where a job keeps one encoded segment."""
    return folder / f"segment-{segment.index:05d}{part_suffix(encode)}"


def part_suffix(encode: EncodeOptions) -> str:
    """QuickTime for the encoded segments where it takes the codec: it keeps both the presentation
    and the decode time of every packet, which B-frames need at the joins (Matroska keeps the
    presentation times only). Matroska otherwise: FFV1 is intra-only, decode time = presentation time."""
    from vidrestore.errors import UsageError
    from vidrestore.io.mux import check_codec_fits

    try:
        check_codec_fits("mov", encode.spec.format_codec, encode.codec)
    except UsageError:
        return ".mkv"
    return ".mov"


def join_segments(info: VideoInfo, dst: Path, parts: list[Path], run: RunOptions) -> RunReport:
    """The encoded segments' video packets, in order, into `dst`, with the source's other
    streams muxed alongside as the runner does. The report gives the frames written, the
    copied streams and the frame size."""
    import av

    from vidrestore.pipeline.runner import RunReport

    from vidrestore.io.decode import Decoder
    from vidrestore.io.mux import StreamCopier, container_format

    if not parts:
        raise InputError(f"{info.path}: nothing to join")
    stream_format = Decoder(info, start=run.start, end=run.end).open()
    frames = 0
    with av.open(str(dst), "w", format=container_format(dst)) as output:
        for key, value in info.tags:
            output.metadata[key] = value
        with av.open(str(parts[0])) as first:
            template = first.streams.video[0]
            video = output.add_stream_from_template(template)
            size = (template.codec_context.width, template.codec_context.height)
        for key, value in info.video_tags:  # as the runner's encoder tags its stream
            video.metadata[key] = value
        video.time_base = info.time_base
        if stream_format is not None and stream_format.rotation:
            video.set_display_rotation(stream_format.rotation)
        copier = StreamCopier(info.path, output, video_index=info.index, start=run.start, end=run.end)
        try:
            for part in parts:
                with av.open(str(part)) as source:
                    stream = source.streams.video[0]
                    for packet in source.demux(stream):
                        if packet.size == 0:
                            continue  # the demuxer's end-of-stream marker
                        seconds = float(packet.pts * stream.time_base) if packet.pts is not None else None
                        packet.stream = video
                        output.mux(packet)
                        frames += 1
                        if seconds is not None:
                            copier.mux_until(seconds)
            copier.mux_until(None)
        finally:
            copier.close()
    return RunReport(frames_out=frames, out_size=size, streams=copier.report)
