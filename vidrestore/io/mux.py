"""The output container, and copying audio, subtitle and data streams into it.

Streams are copied packet for packet when the container can hold their codec.
Otherwise audio is transcoded (AAC, or Opus for WebM) and subtitles and data
are dropped, each with a one-line warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from vidrestore.errors import UsageError
from vidrestore.io.paths import CONTAINERS, VIDEO_SUFFIXES
from vidrestore.io.tags import stream_tags

log = logging.getLogger(__name__)



def container_format(path: Path) -> str:
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise UsageError(f"cannot write {path.suffix or 'files without an extension'}; output video extensions: {', '.join(CONTAINERS)}") from None


def check_codec_fits(fmt: str, codec_name: str, encoder: str) -> None:
    with av.open(_null_sink(), "w", format=fmt) as probe_container:
        supported = probe_container.supported_codecs
    if codec_name not in supported:
        hint = "use --codec libsvtav1" if fmt == "webm" else "choose another --codec or output extension"
        raise UsageError(f"{fmt} files cannot hold {codec_name} video from {encoder}; {hint}")


def _null_sink():
    import io

    return io.BytesIO()


@dataclass
class CopyReport:
    copied: list[str] = field(default_factory=list)
    transcoded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


class StreamCopier:
    """Moves the input's non-video streams into the output, in step with the video.

    It reads the input through its own handle so that packets can be muxed
    just behind the encoded video, which keeps the output well interleaved.
    """

    def __init__(self, src: Path, output: av.container.OutputContainer, *, video_index: int, start: float | None, end: float | None) -> None:
        self.output = output
        self.start, self.end = start, end
        self.report = CopyReport()
        self.input = av.open(str(src), metadata_errors="ignore")
        self.map: dict[int, av.stream.Stream] = {}
        self.transcode: dict[int, tuple[av.stream.Stream, av.stream.Stream]] = {}
        supported = output.supported_codecs
        for stream in self.input.streams:
            if stream.index == video_index:
                continue
            self._plan(stream, supported)
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self.done = not (self.map or self.transcode)

    def _plan(self, stream: av.stream.Stream, supported: set[str]) -> None:
        name = stream.codec_context.name if stream.codec_context is not None else "unknown"
        label = f"#{stream.index} {stream.type} ({name})"
        if stream.type in ("audio", "subtitle", "data") and name in supported:
            out = self.output.add_stream_from_template(stream)
            if stream.type == "audio":
                out.codec_context.layout = _named_layout(stream.codec_context.layout)
            _copy_tags(stream, out)
            self.map[stream.index] = out
            self.report.copied.append(label)
        elif stream.type == "audio":
            codec = "libopus" if self.output.format.name == "webm" else "aac"
            rate = stream.codec_context.sample_rate or 48000
            if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            out = self.output.add_stream(codec, rate=rate)
            out.layout = _named_layout(stream.codec_context.layout)
            _copy_tags(stream, out)
            self.transcode[stream.index] = (stream, out)
            self.report.transcoded.append(label)
            log.warning("%s cannot go into %s as is; transcoding it to %s", label, self.output.format.name, codec)
        else:
            self.report.dropped.append(label)
            log.warning("%s cannot go into %s; dropping it", label, self.output.format.name)

    def _demux(self) -> Iterator[av.Packet]:
        indices = [*self.map, *self.transcode]
        streams = [self.input.streams[i] for i in indices]
        if self.start:
            self.input.seek(int(self.start * av.time_base), backward=True)
        try:
            yield from self.input.demux(streams)
        except av.error.FFmpegError:
            log.warning("the input's non-video streams end early (truncated or corrupt file)")

    def mux_until(self, seconds: float | None) -> None:
        """Mux copied packets up to `seconds` of presentation time (None: all)."""
        if self.done:
            return
        if self._packets is None:
            self._packets = self._demux()
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._finish()
                return
            t = _seconds(packet)
            if seconds is not None and t is not None and t > seconds:
                self._pending = packet
                return
            self._mux(packet, t)

    def _mux(self, packet: av.Packet, t: float | None) -> None:
        if t is not None and ((self.start is not None and t < self.start) or (self.end is not None and t >= self.end)):
            return
        index = packet.stream.index
        if index in self.transcode:
            src, out = self.transcode[index]
            try:
                for frame in src.decode(packet):
                    frame.pts = None  # let the encoder's resampler keep sample-exact timing
                    self.output.mux(out.encode(frame))
            except av.error.FFmpegError:
                log.warning("skipped an undecodable audio packet in stream #%d", index)
            return
        if packet.size == 0:  # the demuxer's end-of-stream marker
            return
        packet.stream = self.map[index]
        self.output.mux(packet)

    def _finish(self) -> None:
        for src, out in self.transcode.values():
            try:
                for frame in src.decode(None):
                    self.output.mux(out.encode(frame))
            except av.error.FFmpegError:
                pass
            self.output.mux(out.encode(None))
        self.done = True

    def close(self) -> None:
        self.input.close()


def _seconds(packet: av.Packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float(ts * packet.time_base)


def _named_layout(layout: av.AudioLayout) -> av.AudioLayout:
    """The default layout for a channel count given in unspecified order.

    Matroska PCM comes as "2 channels"; the mp4 muxer and the AAC encoder
    refuse that, so 2 channels become stereo, 6 become 5.1.
    """
    if layout.nb_channels and all(channel.name == "NONE" for channel in layout.channels):
        try:
            return av.AudioLayout(f"{layout.nb_channels}c")
        except ValueError:  # no default layout for this many channels
            pass
    return layout


def _copy_tags(src: av.stream.Stream, dst: av.stream.Stream) -> None:
    for key, value in stream_tags(src).items():
        dst.metadata[key] = value
    try:
        dst.disposition = src.disposition
    except (AttributeError, TypeError):
        pass
