"""Deblurring and filter throughput at a chosen frame size: processing alone and end to end.

    python -m vidrestore.bench.restore samples/sample.mp4 --size 640x360 --frames 24 \\
        --run deblur:srn --run deblur:deepdeblur --run filter:clahe --run filter:richardson-lucy=motion:15:30

The input's first FRAMES frames are scaled to SIZE and written to a temporary
clip (libx264, ultrafast), which every configuration then processes: the
processor alone on decoded batches, and the whole pipeline (decode, process,
libx264 encode, mux). Prints a table and records JSON plus markdown in
bench/results/. Numbers come from one run on one machine: compare ratios
within a run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


from vidrestore.bench.common import make_clip, decode_fps, end_to_end_fps, machine, process_fps, record
from vidrestore.io.probe import probe


def _processor(spec: str, device: str):
    from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime, build_processor

    kind, _, value = spec.partition(":")
    if kind == "deblur":
        processing = ProcessingSpec(models=(ModelStep(value, "deblur"),), runtime=Runtime(device, "torch"))
    elif kind == "filter":
        processing = ProcessingSpec(filters=tuple(value.split("+")))
    else:
        raise SystemExit(f"--run {spec!r}: expected deblur:MODEL or filter:NAME[=VALUE][+NAME...]")
    processing.check()
    return build_processor(processing)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--size", default="640x360", help="WxH the frames are scaled to")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--run", action="append", default=[], help="deblur:MODEL or filter:NAME[=VALUE][+NAME...]; repeatable")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    runs = args.run or ["deblur:srn", "deblur:deepdeblur"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(args.input, clip, size, args.frames)  # type: ignore[arg-type]
        info = probe(clip)
        decode_rate, decoded = decode_fps(info)
        for spec in runs:
            processor = _processor(spec, args.device)
            rows.append({"run": spec, "process_fps": process_fps(processor, decoded),
                         "end_to_end_fps": end_to_end_fps(info, processor, args.batch)})
    frames = sum(len(b) for b in decoded)
    result = {
        "input": str(args.input),
        "size": args.size,
        "frames": frames,
        "machine": machine(),
        "decode_fps": decode_rate,
        "runs": rows,
    }
    table = ["| run | decode fps | processing fps | end-to-end fps (libx264) |", "|---|---|---|---|"]
    table += [f"| {r['run']} | {decode_rate:.1f} | {r['process_fps']:.2f} | {r['end_to_end_fps']:.2f} |" for r in rows]
    title = f"{args.input} scaled to {args.size}, {frames} frames, machine: {result['machine']}"
    record("restore", result, title, table, keep=not args.no_record)


if __name__ == "__main__":
    main()
