"""What sharding costs and buys on this machine: plan, join, size, and 1 or 2 Ray workers.

    python -m vidrestore.bench.sharding samples/sample.mp4 --frames 250 --segment-seconds 2 --x3

The input's first FRAMES frames (looped if short) become a libx264 clip (as
every bench makes one); then, in one run: the segment plan (packet index
only), a plain run, the same job in segments in this process, and on a
local Ray with 1 and 2 workers, the join alone (packet copy), and the
output sizes (the extra keyframe each segment starts with). Prints a table
and records JSON plus markdown in bench/results/. Compare ratios within a run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vidrestore.bench.common import machine, make_clip, record
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import probe
from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime, build_processor
from vidrestore.pipeline.progress import Progress
from vidrestore.pipeline.runner import RunOptions, run_video
from vidrestore.pipeline.segments import join_segments, plan_segments, run_segmented
from vidrestore.signals import Stop


def _cluster_run(info, dst: Path, spec: ProcessingSpec, encode: EncodeOptions, segments, folder: Path, workers: int) -> float:
    from vidrestore.pipeline.cluster import ClusterSpec, run_cluster_segments

    started = time.perf_counter()
    run_cluster_segments(ClusterSpec(None, workers), info, dst, spec, encode, RunOptions(batch=spec.batch), segments, folder,
                         stop=Stop())
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--model", default="espcn")
    parser.add_argument("--x2", dest="scale", action="store_const", const=2)
    parser.add_argument("--x3", dest="scale", action="store_const", const=3)
    parser.add_argument("--x4", dest="scale", action="store_const", const=4)
    parser.add_argument("--no-cluster", action="store_true", help="skip the Ray runs")
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args(argv)
    scale = args.scale or 3
    spec = ProcessingSpec(models=(ModelStep(args.model, "sr", scale),), runtime=Runtime("cpu"))
    encode = EncodeOptions()
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        clip = tmp / "clip.mp4"
        make_clip(args.input, clip, None, args.frames)
        info = probe(clip)
        started = time.perf_counter()
        segments = plan_segments(info, args.segment_seconds)
        rows["plan_s"] = time.perf_counter() - started
        processor = build_processor(spec)
        quiet = Progress(0, enabled=False)
        started = time.perf_counter()
        report = run_video(info, tmp / "plain.mp4", processor, encode, RunOptions(batch=spec.batch), stop=Stop(), progress=quiet)
        rows["plain_s"] = time.perf_counter() - started
        frames = report.frames_out
        parts = tmp / "parts"
        parts.mkdir()
        started = time.perf_counter()
        run_segmented(info, tmp / "segmented.mp4", processor, encode, RunOptions(batch=spec.batch), segments, parts,
                      stop=Stop(), progress=quiet)
        rows["segmented_s"] = time.perf_counter() - started
        started = time.perf_counter()
        files = sorted(parts.iterdir())
        join_segments(info, tmp / "joined-again.mp4", files, RunOptions())
        rows["join_s"] = time.perf_counter() - started
        rows["plain_bytes"] = (tmp / "plain.mp4").stat().st_size
        rows["segmented_bytes"] = (tmp / "segmented.mp4").stat().st_size
        if not args.no_cluster:
            for workers in (1, 2):
                folder = tmp / f"cluster-{workers}"
                folder.mkdir()
                rows[f"cluster{workers}_s"] = _cluster_run(info, tmp / f"cluster-{workers}.mp4", spec, encode, segments,
                                                           folder, workers)
    seconds = args.frames / float(info.rate)
    result = {"input": str(args.input), "size": f"{info.width}x{info.height}", "frames": frames, "video_seconds": seconds,
              "model": args.model, "scale": scale, "segments": len(segments), "segment_seconds": args.segment_seconds,
              "machine": machine(), **rows}
    extra = len(segments) - 1  # keyframes a plain run would not have placed there
    growth = (rows["segmented_bytes"] - rows["plain_bytes"]) / rows["plain_bytes"]
    table = ["| measurement | value |", "|---|---|",
             f"| plan ({len(segments)} segments of {args.segment_seconds:g} s, packet index only) | {rows['plan_s'] * 1000:.1f} ms |",
             f"| join alone (packet copy of {frames} frames, {seconds:.0f} s of video) | {rows['join_s'] * 1000:.0f} ms |",
             f"| plain run | {rows['plain_s']:.1f} s ({frames / rows['plain_s']:.1f} fps) |",
             f"| segmented, one process | {rows['segmented_s']:.1f} s ({frames / rows['segmented_s']:.1f} fps) |"]
    for workers in (1, 2):
        if f"cluster{workers}_s" in rows:
            t = rows[f"cluster{workers}_s"]
            table.append(f"| Ray, {workers} local worker{'s' if workers > 1 else ''} (start included) | {t:.1f} s ({frames / t:.1f} fps) |")
    table.append(f"| output size: plain / segmented | {rows['plain_bytes'] / 1e6:.2f} / {rows['segmented_bytes'] / 1e6:.2f} MB "
                 f"({growth * 100:+.2f} %, {extra} extra keyframes) |")
    title = f"{args.input} {result['size']} -> {args.model} x{scale}, {frames} frames; machine: {result['machine']['cpu']} ({result['machine']['cores']} cores)"
    record("sharding", result, title, table, keep=not args.no_record)


if __name__ == "__main__":
    main()
