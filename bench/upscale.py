"""Upscale throughput on one clip: decode alone, model alone, end to end.

    python -m vidrestore.bench.upscale samples/sample.mp4 --x3 --models espcn,bicubic

Prints a table and records JSON plus a markdown table in bench/results/.
Numbers come from one run on one machine: compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from vidrestore.backends import open_backend
from vidrestore.io.decode import Decoder
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import probe
from vidrestore.models import build_model, get_spec
from vidrestore.pipeline.processor import SuperResolution
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, Stop, batches, run_video

RESULTS = Path(__file__).parent / "results"


def _decode_fps(info) -> tuple[float, list]:
    started = time.perf_counter()
    decoded = list(batches(Decoder(info), 4))
    frames = sum(len(b) for b in decoded)
    return frames / (time.perf_counter() - started), decoded


def _model_fps(processor: SuperResolution, batches: list) -> float:
    processor.process(batches[0])  # warm-up
    started = time.perf_counter()
    for batch in batches:
        processor.process(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - started)


def _end_to_end_fps(info, processor, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = run_video(info, Path(tmp) / "out.mp4", processor, EncodeOptions(), RunOptions(batch=batch), stop=Stop(), progress=Progress(0, enabled=False))
        return report.frames_out / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--x2", dest="scale", action="store_const", const=2)
    parser.add_argument("--x3", dest="scale", action="store_const", const=3)
    parser.add_argument("--x4", dest="scale", action="store_const", const=4)
    parser.add_argument("--models", default="espcn,bicubic")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args(argv)
    scale = args.scale or 3
    info = probe(args.input)
    decode_fps, decoded = _decode_fps(info)
    rows = []
    for name in args.models.split(","):
        processor = SuperResolution(open_backend("torch", build_model(get_spec(name), scale), "auto"), scale)
        rows.append({"model": name, "model_fps": _model_fps(processor, decoded), "end_to_end_fps": _end_to_end_fps(info, processor, args.batch)})
    result = {
        "input": str(args.input),
        "size": f"{info.width}x{info.height}",
        "scale": scale,
        "frames": sum(len(b) for b in decoded),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "decode_fps": decode_fps,
        "models": rows,
    }
    table = ["| model | decode fps | model fps | end-to-end fps (libx264) |", "|---|---|---|---|"]
    table += [f"| {r['model']} x{scale} | {decode_fps:.1f} | {r['model_fps']:.1f} | {r['end_to_end_fps']:.1f} |" for r in rows]
    print(f"{args.input} {result['size']} -> x{scale}, {result['frames']} frames, {result['machine']}")
    print("\n".join(table))
    if not args.no_record:
        RESULTS.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"upscale-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / f"upscale-{stamp}.md").write_text(f"{args.input} {result['size']} x{scale}, machine: {result['machine']}\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
