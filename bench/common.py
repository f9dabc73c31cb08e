"""What every benchmark shares: the three timings, the machine line and the record in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from vidrestore.errors import InputError
from vidrestore.io.decode import Decoder
from vidrestore.io.encode import EncodeOptions
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, Stop, batches, run_video

RESULTS = Path(__file__).parent / "results"


def make_clip(src: Path, dst: Path, size: tuple[int, int] | None, frames: int) -> None:
    """`frames` frames of `src` at `size` (default: its own) as a 25 fps libx264
    clip (ultrafast, CRF 16); a short input is played again from the start."""
    import av

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


def decode_fps(info) -> tuple[float, list]:
    """Frames per second of decoding alone, and the decoded batches for the other timings."""
    started = time.perf_counter()
    decoded = list(batches(Decoder(info), 4))
    frames = sum(len(b) for b in decoded)
    return frames / (time.perf_counter() - started), decoded


def process_fps(processor, decoded: list) -> float:
    """Frames per second of the processor alone on already decoded batches (after one warm-up batch)."""
    processor.process(decoded[0])
    started = time.perf_counter()
    for batch in decoded:
        processor.process(batch)
    return sum(len(b) for b in decoded) / (time.perf_counter() - started)


def end_to_end_fps(info, processor, batch: int) -> float:
    """Frames per second of the whole pipeline: decode, process, libx264 encode, mux."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = run_video(info, Path(tmp) / "out.mp4", processor, EncodeOptions(), RunOptions(batch=batch),
                           stop=Stop(), progress=Progress(0, enabled=False))
        return report.frames_out / (time.perf_counter() - started)


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def record(prefix: str, result: dict[str, Any], title: str, table: list[str], *, keep: bool = True) -> None:
    """Print the table and, if `keep`, store it with the JSON result as bench/results/PREFIX-STAMP.{json,md}."""
    print(title)
    print("\n".join(table))
    if not keep:
        return
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{prefix}-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{prefix}-{stamp}.md").write_text(title + "\n\n" + "\n".join(table) + "\n")
