"""What a cluster worker gets: the packets of one segment in a small file of its own. Run here,
in-process (no Ray), the workers' way gives what one run gives, without the source file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import Audio, make_video, remux_timestamps
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import probe
from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime
from vidrestore.pipeline.cluster import SegmentWorker, _monotonic_dts, excerpt
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, run_video
from vidrestore.pipeline.segments import join_segments, part_path, part_suffix, plan_segments
from vidrestore.signals import Stop

SPEC = ProcessingSpec(models=(ModelStep("bicubic", "sr", 2),), runtime=Runtime("cpu", "torch"))
FFV1 = EncodeOptions(codec="ffv1")


def _clip(kind: str, folder: Path) -> Path:
    ms = Fraction(1, 1000)
    if kind == "open-gop":
        return make_video(folder / "open-gop.mp4", frames=60, audio=[Audio()],
                          options={"bf": "3", "g": "12", "keyint_min": "12", "x264-params": "open-gop=1"})
    if kind == "b-frames.avi":  # AVI stores no times: the demuxer derives them from the B-frame delay
        return make_video(folder / "b.avi", codec="mpeg4", options={"bf": "2", "g": "12"}, frames=48)
    # Presentation times that go backwards against the decode order, as packed B-frames give
    # them: they fit no muxer as they are.
    mpeg4 = make_video(folder / "mpeg4.mkv", codec="mpeg4", options={"bf": "0", "g": "6"}, frames=24, time_base=ms,
                       pts=[40 * i for i in range(24)])
    return remux_timestamps(mpeg4, folder / "backwards.mkv", pts=[0, 80, 40] + [40 * i for i in range(3, 24)],
                            dts=[40 * i - 80 for i in range(24)])


def _frames(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        return [(frame.pts, frame.to_ndarray()) for frame in container.decode(video=0)]


def test_monotonic_decode_times_never_pass_a_presentation_time() -> None:
    times = [(0, 0), (80, 80), (40, 40), (120, 120), (None, None), (100, 100)]
    dts = [d for _, d in _monotonic_dts(times)]
    assert dts == [0, 40, 40, 100, 100, 100]
    assert all(d is None or p is None or d <= p for (p, _), d in zip(times, dts))
    assert [p for p, _ in _monotonic_dts(times)] == [p for p, _ in times]  # presentation times untouched


@pytest.mark.parametrize("kind", ["open-gop", "b-frames.avi", "backwards"])
def test_workers_need_only_their_excerpts(tmp_path: Path, kind: str) -> None:
    src = _clip(kind, tmp_path)
    info = probe(src)
    single = tmp_path / "single.mkv"
    worker = SegmentWorker(SPEC, FFV1)
    run_video(info, single, worker.processor, FFV1, RunOptions(), stop=Stop(), progress=Progress(0, enabled=False))
    segments = plan_segments(info, 0.2)
    assert len(segments) >= 3
    shipped = [excerpt(info, s) for s in segments]
    hidden = src.rename(tmp_path / "elsewhere")  # the worker cannot read the source
    parts, frames = [], 0
    try:
        for segment, (data, suffix) in zip(segments, shipped):
            result = worker.run(data, suffix, part_suffix(FFV1), segment.start, segment.end, 4)
            part = part_path(tmp_path, segment, FFV1)
            part.write_bytes(result.data)
            parts.append(part)
            frames += result.frames
            assert "temporary files in" in result.worker
    finally:
        hidden.rename(src)
    joined = tmp_path / "joined.mkv"
    report = join_segments(info, joined, parts, RunOptions())
    assert report.frames_out == frames
    a, b = _frames(single), _frames(joined)
    assert len(a) == len(b) == frames > 0
    assert [p for p, _ in a] == [p for p, _ in b]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))


def test_backwards_times_travel_in_matroska(tmp_path: Path) -> None:
    info = probe(_clip("backwards", tmp_path))
    data, suffix = excerpt(info, plan_segments(info, 0.3)[0])
    assert suffix == ".mkv"
    shipped = tmp_path / f"shipped{suffix}"
    shipped.write_bytes(data)
    with av.open(str(shipped)) as container:
        assert [p.pts for p in container.demux(video=0) if p.size][:3] == [0, 80, 40]  # as the source has them
