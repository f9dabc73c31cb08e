"""run_video directly: time ranges, reports, stopping, inputs without frames."""

from __future__ import annotations

import signal

import av
import pytest

from tests.media import Audio, decoded_frames, make_video, stream_packets
from vidrestore.errors import InputError, Interrupted
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import probe
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, Stop, run_video

ENCODE = EncodeOptions(codec="libx264", preset="ultrafast")


def run(src, dst, processor, **options):
    return run_video(probe(src), dst, processor, ENCODE, RunOptions(**options), stop=Stop(), progress=Progress(0, enabled=False))


def test_whole_file_report(tmp_path, bicubic):
    src = make_video(tmp_path / "in.mkv", size=(64, 48), frames=12, audio=[Audio("aac")])
    report = run(src, tmp_path / "out.mkv", bicubic(2), batch=5)
    assert (report.frames_in, report.frames_out) == (12, 12)
    assert report.out_size == (128, 96) and report.cropped == (0, 0)
    assert report.streams.copied == ["#1 audio (aac)"]
    assert report.decode.decode_errors == 0 and report.decode.fixed_timestamps == 0
    frames = decoded_frames(tmp_path / "out.mkv")
    assert [(f.width, f.height) for f in frames] == [(128, 96)] * 12


def test_time_range_gives_only_the_frames_inside_it(tmp_path, bicubic):
    # Keyframes every 5 frames, so the range starts between two of them.
    src = make_video(tmp_path / "in.mkv", frames=25, rate=25, options={"g": "5"}, audio=[Audio("aac")])
    dst = tmp_path / "out.mkv"
    report = run(src, dst, bicubic(2), start=0.3, end=0.6)
    expected = [0.32, 0.36, 0.40, 0.44, 0.48, 0.52, 0.56]  # [0.3, 0.6) at 25 fps
    assert report.frames_out == len(expected)
    assert [f.seconds for f in decoded_frames(dst)] == pytest.approx(expected)
    audio = [float(p.pts * p.time_base) for p in stream_packets(dst, "audio")]
    assert audio and min(audio) >= 0.3 - 1e-6 and max(audio) < 0.6


def test_time_range_from_the_start(tmp_path, bicubic):
    src = make_video(tmp_path / "in.mp4", frames=20, rate=25)
    report = run(src, tmp_path / "out.mp4", bicubic(2), end=0.2)
    assert [f.seconds for f in decoded_frames(tmp_path / "out.mp4")] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16])
    assert report.frames_in == report.frames_out == 5


def test_a_stop_request_interrupts_the_run(tmp_path, bicubic):
    src = make_video(tmp_path / "in.mp4", frames=12)
    stop = Stop()
    stop.request(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught:
        run_video(probe(src), tmp_path / "out.mp4", bicubic(2), ENCODE, RunOptions(), stop=stop, progress=Progress(0, enabled=False))
    assert caught.value.exit_code == 128 + signal.SIGTERM


def test_a_file_that_yields_no_frames_is_an_input_error(tmp_path, bicubic):
    whole = make_video(tmp_path / "whole.mkv", frames=12)
    with av.open(str(whole)) as container:
        first = next(p for p in container.demux(container.streams.video[0]) if p.size)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: first.pos + 8])  # the header and a few bytes of the first frame
    with pytest.raises(InputError, match="no video frames could be decoded"):
        run(cut, tmp_path / "out.mkv", bicubic(2))
