"""Decode the first video stream of a file into planar frames with clean timestamps."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from vidrestore.errors import InputError
from vidrestore.io.probe import VideoInfo
from vidrestore.ops.color import Matrix
from vidrestore.frames import PLANAR_FORMATS, ColorTags, PlaneFormat, StreamFormat
from vidrestore.frames.pyav import planes_of

log = logging.getLogger(__name__)

# Layouts read as they are (the j-formats are full-range twins of the plain ones).
_DIRECT = {name: (name, False) for name in PLANAR_FORMATS}
_DIRECT.update({"yuvj420p": ("yuv420p", True), "yuvj422p": ("yuv422p", True), "yuvj444p": ("yuv444p", True)})

_AVCOL_RANGE_JPEG = 2
_AVCHROMA_LOC_CENTER = 2  # FFmpeg's AVCHROMA_LOC_CENTER
_AVCOL_SPC_SMPTE170M = 6
# AVColorSpace -> the matrix the planes are read with. FCC and SMPTE 240M are
# near enough to BT.601 and BT.709 (Kb within 0.015); swscale reads
# constant-luminance BT.2020 with the non-constant matrix too.
_MATRICES: dict[int, Matrix] = {1: "bt709", 4: "bt601", 5: "bt601", 6: "bt601", 7: "bt709", 9: "bt2020", 10: "bt2020"}


@dataclass
class DecodeStats:
    frames: int = 0
    decode_errors: int = 0
    fixed_timestamps: int = 0
    converted_from: str | None = None  # source pix_fmt when swscale converted it


class TimestampFixer:
    """Makes presentation timestamps strictly increasing without drift.

    Frames whose pts is missing, repeated or goes backwards wait until the next
    good timestamp, then are spread evenly between their neighbours; at the end
    of the stream they continue at the nominal frame step.
    """

    def __init__(self, step: int, max_pending: int = 256) -> None:
        self.step = step
        self.max_pending = max_pending
        self.last: int | None = None
        self.pending: list[object] = []
        self.fixed = 0

    def push(self, item: object, pts: int | None) -> list[tuple[object, int]]:
        # A pts is good only if it leaves a free tick for every waiting frame;
        # otherwise it waits too, or the spread frames would pass it.
        good = pts is not None and (self.last is None or pts > self.last + len(self.pending))
        if good and self.pending:
            return self._spread(pts) + self._accept(item, pts)
        if good:
            return self._accept(item, pts)
        self.pending.append(item)
        if len(self.pending) >= self.max_pending:
            return self.flush()
        return []

    def flush(self) -> list[tuple[object, int]]:
        out = []
        base = self.last if self.last is not None else -self.step
        for i, item in enumerate(self.pending, start=1):
            out.append((item, base + i * self.step))
        self.fixed += len(self.pending)
        if self.pending:
            self.last = out[-1][1]
        self.pending = []
        return out

    def _accept(self, item: object, pts: int) -> list[tuple[object, int]]:
        self.last = pts
        return [(item, pts)]

    def _spread(self, next_pts: int) -> list[tuple[object, int]]:
        n = len(self.pending)
        if self.last is None:
            start = next_pts - (n + 1) * self.step
            slots = [start + i * self.step for i in range(1, n + 1)]
        else:
            gap = next_pts - self.last
            slots = [self.last + (gap * i) // (n + 1) for i in range(1, n + 1)]
        # A gap narrower than the frames it must hold: keep order with 1-tick steps.
        for i in range(len(slots)):
            low = (slots[i - 1] if i else (self.last if self.last is not None else slots[0] - 1)) + 1
            slots[i] = max(slots[i], low)
        out = list(zip(self.pending, slots))
        self.fixed += n
        self.pending = []
        self.last = slots[-1]
        if next_pts <= self.last:  # cannot happen with integer spreading, but stay monotonic
            self.last = next_pts - 1
        return out


class Decoder:
    """Iterates (luma, chroma, pts) of the first video stream in [start, end) seconds.

    `open()` decodes up to the first frame and decides the stream's format once
    (`StreamFormat`: plane layout, colour tags, rotation), before any thread
    takes the frames; `frames()` then yields every frame in that format."""

    def __init__(self, info: VideoInfo, *, start: float | None = None, end: float | None = None) -> None:
        self.info = info
        self.start = start
        self.end = end
        self.stats = DecodeStats()
        self._format: StreamFormat | None = None
        self._frames: Iterator[tuple[np.ndarray, np.ndarray, int]] | None = None
        self._first: tuple[np.ndarray, np.ndarray, int] | None = None

    def open(self) -> StreamFormat | None:
        """The stream's format, from its first frame in range; None when no frame decodes."""
        if self._frames is None:
            self._frames = self._all()
            self._first = next(self._frames, None)
        return self._format

    @property
    def format(self) -> StreamFormat:
        if self._format is None:
            raise RuntimeError("the decoder has no format until open() has found a frame")
        return self._format

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        self.open()
        assert self._frames is not None
        if self._first is not None:
            first, self._first = self._first, None
            yield first
            yield from self._frames

    def _all(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        tb = self.info.time_base
        fixer = TimestampFixer(self.info.frame_step)
        start_pts = None if self.start is None else int(self.start / tb)
        end_pts = None if self.end is None else int(self.end / tb)
        with av.open(str(self.info.path), metadata_errors="ignore") as container:
            stream = next(s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
            stream.thread_type = "AUTO"
            if start_pts:
                container.seek(start_pts, stream=stream, backward=True)
            first_pts = None
            for planes, pts in self._timed(container, stream, fixer):
                first_pts = pts if first_pts is None else first_pts
                if start_pts is not None and pts < start_pts:
                    continue
                if end_pts is not None and pts >= end_pts:
                    break
                self.stats.frames += 1
                yield planes[0], planes[1], pts
            self.stats.fixed_timestamps = fixer.fixed
            if end_pts is not None:
                return
            if self.start is None and first_pts is not None:
                self._check_complete(first_pts, fixer.last)

    def _timed(self, container, stream, fixer: TimestampFixer) -> Iterator[tuple[tuple[np.ndarray, np.ndarray], int]]:
        """Decoded planes with repaired timestamps, in presentation order."""
        for frame in self._decoded(container, stream):
            yield from fixer.push(self._planes(frame), frame.pts)
        yield from fixer.flush()

    def _check_complete(self, first_pts: int, last_pts: int) -> None:
        """Count a stream that stops well short of its declared duration as a decode error.

        Demuxers often meet a truncated tail as a plain end of file (Matroska
        does, and so does MP4 with its index up front), so without this check
        a cut-off download would become a shorter output without a word.
        """
        declared = self.info.duration
        if not declared:
            return
        decoded = float((last_pts + self.info.frame_step - first_pts) * self.info.time_base)
        # Slack for a video stream that legitimately ends a little before the audio
        # (Matroska declares one duration for the whole file).
        if declared - decoded > max(0.5, 0.1 * declared):
            self.stats.decode_errors += 1
            log.debug("%s: video ends after %.2f s of the %.2f s its header declares; the file looks truncated", self.info.path, decoded, declared)

    def _decoded(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError:
                # A demuxer error mid-file means a truncated or corrupt tail.
                self.stats.decode_errors += 1
                packet = None
            try:
                # packet None (or the final empty packet) flushes the decoder.
                yield from stream.decode(packet)
            except av.error.FFmpegError:
                self.stats.decode_errors += 1
            if packet is None:
                return

    def _planes(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray]:
        if self._format is None:
            self._format = self._first_frame(frame)
        elif frame.width != self.info.width or frame.height != self.info.height:
            raise InputError(
                f"{self.info.path}: frame size changes mid-stream from {self.info.width}x{self.info.height} "
                f"to {frame.width}x{frame.height}; split the file at that point first"
            )
        fmt = self._format.plane
        if frame.format.name not in _DIRECT:
            frame = frame.reformat(format=fmt.pix_fmt, dst_color_range=1)
        return planes_of(frame, fmt)

    def _first_frame(self, frame: av.VideoFrame) -> StreamFormat:
        name = frame.format.name
        rotation = int(round(frame.rotation)) % 360
        if name in _DIRECT:
            pix_fmt, full = _DIRECT[name]
            full = full or frame.color_range == _AVCOL_RANGE_JPEG
            matrix = source_matrix(frame.colorspace, frame.height)
            colorspace = frame.colorspace
            if colorspace not in _MATRICES:
                # Untagged: tag the output with the matrix we read it with, or a
                # player would guess again from the (now larger) output size.
                colorspace = _MATRIX_CODES[matrix]
            color = ColorTags(frame.color_primaries, frame.color_trc, colorspace, 2 if full else frame.color_range)
        else:
            deep = max(c.bits for c in frame.format.components) > 8
            pix_fmt, full = ("yuv420p10le" if deep else "yuv420p"), False
            self.stats.converted_from = name
            # swscale converts RGB/gray/packed input with its default BT.601 matrix, limited range.
            color = ColorTags(frame.color_primaries, frame.color_trc, _AVCOL_SPC_SMPTE170M, 1)
            matrix = "bt601"
            log.warning("input pixel format %s is converted to %s for processing", name, pix_fmt)
        plane = PlaneFormat(pix_fmt=pix_fmt, full_range=full, chroma_left=_chroma_left(name), matrix=matrix)
        return StreamFormat(plane, color, rotation)


_MATRIX_CODES = {"bt601": _AVCOL_SPC_SMPTE170M, "bt709": 1, "bt2020": 9}


def source_matrix(colorspace: int, height: int) -> Matrix:
    """The matrix of frames tagged `colorspace`; untagged (or unusual) ones are
    guessed as players guess: BT.709 from 720 lines up, BT.601 below."""
    return _MATRICES.get(colorspace, "bt709" if height >= 720 else "bt601")


def _chroma_left(name: str) -> bool:
    # JPEG-style (yuvj*) chroma is centred; MPEG-2/H.264/HEVC default to left siting.
    return not name.startswith("yuvj")
