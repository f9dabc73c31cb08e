"""Upscale throughput on one clip: decode alone, model alone, end to end.

    python -m vidrestore.bench.upscale samples/sample.mp4 --x3 --models espcn,bicubic

Prints a table and records JSON plus a markdown table in bench/results/.
Numbers come from one run on one machine: compare ratios within a run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vidrestore.bench.common import decode_fps, end_to_end_fps, machine, process_fps, record
from vidrestore.io.probe import probe
from vidrestore.models import load
from vidrestore.pipeline.build import Runtime, open_model, stage_for


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
    decode_rate, decoded = decode_fps(info)
    rows = []
    for name in args.models.split(","):
        loaded = load(name, scale=scale, task="sr", untrained_ok=True)  # timings only: an architecture needs no weights
        processor = stage_for(loaded, open_model(loaded, Runtime(backend="torch")))
        rows.append({"model": name, "model_fps": process_fps(processor, decoded), "end_to_end_fps": end_to_end_fps(info, processor, args.batch)})
    result = {
        "input": str(args.input),
        "size": f"{info.width}x{info.height}",
        "scale": scale,
        "frames": sum(len(b) for b in decoded),
        "machine": machine(),
        "decode_fps": decode_rate,
        "models": rows,
    }
    table = ["| model | decode fps | model fps | end-to-end fps (libx264) |", "|---|---|---|---|"]
    table += [f"| {r['model']} x{scale} | {decode_rate:.1f} | {r['model_fps']:.1f} | {r['end_to_end_fps']:.1f} |" for r in rows]
    title = f"{args.input} {result['size']} -> x{scale}, {result['frames']} frames, machine: {result['machine']}"
    record("upscale", result, title, table, keep=not args.no_record)


if __name__ == "__main__":
    main()
