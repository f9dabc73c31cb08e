"""What every benchmark shares: the test clip, the timings, the machine line and the record in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import torch

from vidrestore.backends.base import cpu_name
from vidrestore.errors import InputError
from vidrestore.io.decode import Decoder
from vidrestore.io.encode import EncodeOptions
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, RunReport, Stop, batches, run_video

RESULTS = Path(__file__).parent / "results"


def make_clip(src: Path, dst: Path, size: tuple[int, int] | None, frames: int) -> None:
    """`frames` frames of `src` at `size` (default: its own) as a 25 fps libx264
    clip (ultrafast, CRF 16); a short input is played again from the start."""
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "16"}
        written = 0
        while written < frames:
            with av.open(str(src)) as inp:
                before = written
                for frame in inp.decode(video=0):
                    if written == frames:
                        break
                    if written == 0:
                        w, h = size or (frame.width - frame.width % 2, frame.height - frame.height % 2)
                        stream.width, stream.height = w, h
                    scaled = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
                    scaled.pts, scaled.time_base = written, Fraction(1, 25)
                    out.mux(stream.encode(scaled))
                    written += 1
                if written == before:
                    raise InputError(f"{src}: no video frames to benchmark")
        out.mux(stream.encode(None))


def decode_fps(info, batch: int = 4, limit: int | None = None) -> tuple[float, list]:
    """Frames per second of decoding alone (the first `limit` frames, or all), and
    the decoded batches for the other timings."""
    started = time.perf_counter()
    decoded, frames = [], 0
    for b in batches(Decoder(info), batch):
        decoded.append(b)
        frames += len(b)
        if limit is not None and frames >= limit:
            break
    return frames / (time.perf_counter() - started), decoded


class CpuMeter:
    """CPU time (user + system, every thread of this process) spent inside the block."""

    def __enter__(self) -> "CpuMeter":
        self._start = _cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = _cpu_seconds() - self._start

    def ms_per(self, frames: int) -> float:
        return 1000.0 * self.seconds / max(frames, 1)


def _cpu_seconds() -> float:
    return time.process_time()  # CLOCK_PROCESS_CPUTIME_ID: every thread, nanosecond resolution (os.times ticks at 10 ms)


def process_all(processor, decoded: list, *, warm: bool = True) -> tuple[float, list]:
    """Frames per second of the processor alone on already decoded batches (after
    one warm-up batch unless `warm` is False), and its output batches."""
    if warm:
        processor.process(decoded[0])
    started = time.perf_counter()
    outputs = [processor.process(batch) for batch in decoded]
    return sum(len(b) for b in decoded) / (time.perf_counter() - started), outputs


def process_fps(processor, decoded: list) -> float:
    return process_all(processor, decoded)[0]


def pipeline_run(info, processor, batch: int, encode: EncodeOptions | None = None) -> tuple[float, RunReport]:
    """Frames per second of the whole pipeline (decode, process, encode, mux), and its report."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = run_video(info, Path(tmp) / "out.mp4", processor, encode or EncodeOptions(), RunOptions(batch=batch),
                           stop=Stop(), progress=Progress(0, enabled=False))
        return report.frames_out / (time.perf_counter() - started), report


def end_to_end_fps(info, processor, batch: int) -> float:
    """Frames per second of the whole pipeline with libx264 at its defaults."""
    return pipeline_run(info, processor, batch)[0]


def machine() -> dict[str, Any]:
    versions = {"python": platform.python_version(), "torch": torch.__version__, "av": av.__version__}
    for name in ("onnxruntime", "tensorrt"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "gpu": gpu, "versions": versions}


def record(prefix: str, result: dict[str, Any], title: str, table: list[str], *, keep: bool = True) -> list[Path]:
    """Print the table and, if `keep`, store it with the JSON result as
    bench/results/PREFIX-STAMP.{json,md}; returns the files written."""
    print(title)
    print("\n".join(table))
    if not keep:
        return []
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = [RESULTS / f"{prefix}-{stamp}.json", RESULTS / f"{prefix}-{stamp}.md"]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    paths[1].write_text(title + "\n\n" + "\n".join(table) + "\n")
    return paths
