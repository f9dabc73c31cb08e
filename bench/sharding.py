"""What sharding costs and buys on this machine: plan, join, size, and 1 or 2 Ray workers.

    python -m vidrestore.bench.sharding samples/sample.mp4 --frames 250 --segment-seconds 2 --x3

The input's first FRAMES frames (looped if short) become a libx264 clip (as
every bench makes one); then, in one run: the segment plan (packet index
only), a plain run, the same job in segments in this process, and on a
local Ray with 1 and 2 workers (their start-up timed apart from the work),
the join alone (packet copy), what travels per segment (the excerpt the
driver ships, the encoded segment that comes back), and the output sizes
(the extra keyframe each segment starts with). Prints a table, a projection
for N workers on an hour of video built from those measured costs, and
records JSON plus markdown in bench/results/. Compare ratios within a run.
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


def _cluster_run(info, dst: Path, spec: ProcessingSpec, encode: EncodeOptions, segments, folder: Path,
                 workers: int) -> tuple[float, float]:
    """(seconds in all, seconds of start-up: Ray, and the workers' imports and model loads)."""
    from vidrestore.pipeline.cluster import ClusterPool, ClusterSpec, run_cluster_segments

    started = time.perf_counter()
    with ClusterPool(ClusterSpec(None, workers), spec, encode, spec.batch) as pool:
        pool.start_workers(len(segments))
        pool.ray.get([w.ping.remote() for w in pool.workers])
        ready = time.perf_counter() - started
        run_cluster_segments(pool, info, dst, RunOptions(batch=spec.batch), segments, folder, stop=Stop())
    return time.perf_counter() - started, ready


def _default_size(src: Path, tmp: Path, encode: EncodeOptions, seconds: float) -> dict[str, float]:
    """Output size, plain against segmented, at the default segment length: on a clip long enough
    for a few segments, with the cheapest model (bicubic x2 from 240x136), since the growth
    comes from the encoder restarting on a keyframe, not from the model."""
    from vidrestore.pipeline.segments import DEFAULT_SEGMENT_SECONDS

    clip = tmp / "long.mp4"
    make_clip(src, clip, (240, 136), int(seconds * 25))
    info = probe(clip)
    processor = build_processor(ProcessingSpec(models=(ModelStep("bicubic", "sr", 2),), runtime=Runtime("cpu")))
    quiet, run = Progress(0, enabled=False), RunOptions()
    run_video(info, tmp / "long-plain.mp4", processor, encode, run, stop=Stop(), progress=quiet)
    segments = plan_segments(info, DEFAULT_SEGMENT_SECONDS)
    parts = tmp / "long-parts"
    parts.mkdir()
    run_segmented(info, tmp / "long-segmented.mp4", processor, encode, run, segments, parts, stop=Stop(), progress=quiet)
    return {"default_seconds": seconds, "default_segments": len(segments),
            "default_plain_bytes": (tmp / "long-plain.mp4").stat().st_size,
            "default_segmented_bytes": (tmp / "long-segmented.mp4").stat().st_size}


def _shipping(info, segments) -> tuple[float, int]:
    """(seconds, bytes) of the excerpts the driver ships for all segments."""
    from vidrestore.pipeline.cluster import excerpt

    started = time.perf_counter()
    size = sum(len(excerpt(info, s)[0]) for s in segments)
    return time.perf_counter() - started, size


def projection(rows: dict, frames: int, rate: float, segments: int, workers: tuple[int, ...] = (1, 2, 4, 8, 16),
               hour: float = 3600.0, segment_seconds: float = 60.0, link_bits: float = 1e9,
               worker_fps: float | None = None) -> list[str]:
    """An hour of this video in `segment_seconds` segments on N workers, each as fast as one worker
    alone here, from the costs measured in this run: start-up, one segment's time, the join, and
    the bytes each segment moves (over `link_bits`/s when the workers are on other machines)."""
    fps = worker_fps or frames / rows["segmented_s"]  # one process, segments and all
    seg_frames = segment_seconds * rate
    per_segment = seg_frames / fps
    count = int(hour // segment_seconds)
    join = rows["join_s"] / frames * hour * rate
    plan = rows["plan_s"] / segments * count
    moved = (rows["shipped_bytes"] + rows["segmented_bytes"]) / frames * seg_frames  # both ways, per segment
    ship = rows["ship_s"] / frames * seg_frames  # the driver's excerpt copy, per segment
    transfer = moved * 8 / link_bits
    start = rows.get("cluster_start_s", 0.0)
    lines = [f"| workers | one machine | several machines ({link_bits / 1e9:g} Gbit/s) | speed-up |", "|---|---|---|---|"]
    single = count * per_segment
    for n in workers:
        rounds = -(-count // n)
        here = plan + start + rounds * per_segment + join
        # A segment's packets go out and come back while others compute; the driver ships one at a
        # time, so with many workers its copying (and the link) can become the bound.
        feed = count * (ship + transfer)
        there = plan + start + max(rounds * (per_segment + transfer), feed) + join
        lines.append(f"| {n} | {here / 3600:.2f} h | {there / 3600:.2f} h | {single / here:.1f}x |")
    return lines


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
    parser.add_argument("--default-size-seconds", type=float, default=200.0,
                        help="length of the clip that measures the size growth at the default segment length (0: skip)")
    parser.add_argument("--worker-fps", type=float, help="project with workers this fast (e.g. a GPU's pipeline fps "
                        "from `vidrestore bench` there) instead of this machine's")
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
        rows["ship_s"], rows["shipped_bytes"] = _shipping(info, segments)
        if args.default_size_seconds:
            rows.update(_default_size(args.input, tmp, encode, args.default_size_seconds))
        if not args.no_cluster:
            for workers in (1, 2):
                folder = tmp / f"cluster-{workers}"
                folder.mkdir()
                rows[f"cluster{workers}_s"], rows[f"cluster{workers}_start_s"] = _cluster_run(
                    info, tmp / f"cluster-{workers}.mp4", spec, encode, segments, folder, workers)
            rows["cluster_start_s"] = rows["cluster1_start_s"]
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
            t, ready = rows[f"cluster{workers}_s"], rows[f"cluster{workers}_start_s"]
            table.append(f"| Ray, {workers} local worker{'s' if workers > 1 else ''}: all / start-up / work | {t:.1f} / "
                         f"{ready:.1f} / {t - ready:.1f} s ({frames / (t - ready):.1f} fps working) |")
    table.append(f"| shipped per segment, out / back (excerpt, encoded segment) | {rows['shipped_bytes'] / len(segments) / 1e3:.0f}"
                 f" / {rows['segmented_bytes'] / len(segments) / 1e3:.0f} kB; excerpts made at "
                 f"{frames / rows['ship_s']:.0f} frames/s |")
    table.append(f"| output size: plain / segmented | {rows['plain_bytes'] / 1e6:.2f} / {rows['segmented_bytes'] / 1e6:.2f} MB "
                 f"({growth * 100:+.2f} %, {extra} extra keyframes) |")
    if "default_segments" in rows:
        grow = (rows["default_segmented_bytes"] - rows["default_plain_bytes"]) / rows["default_plain_bytes"]
        table.append(f"| output size at the default 60 s segments ({rows['default_seconds']:.0f} s clip, bicubic x2 to "
                     f"480x272, {rows['default_segments']} segments): plain / segmented | {rows['default_plain_bytes'] / 1e6:.2f} / "
                     f"{rows['default_segmented_bytes'] / 1e6:.2f} MB ({grow * 100:+.2f} %) |")
    speed = f"{args.worker_fps:g} fps each (given)" if args.worker_fps else "each as fast as one process here"
    table += ["", f"Projection: an hour of this video (60 s segments) on N workers, {speed}; start-up, join and bytes "
              "moved as measured above:", "", *projection(rows, frames, float(info.rate), len(segments),
                                                          worker_fps=args.worker_fps)]
    title = f"{args.input} {result['size']} -> {args.model} x{scale}, {frames} frames; machine: {result['machine']['cpu']} ({result['machine']['cores']} cores)"
    record("sharding", result, title, table, keep=not args.no_record)


if __name__ == "__main__":
    main()
