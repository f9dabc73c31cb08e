"""The live filter on this machine: every rung's cost, quality and frame rate, and real sessions.

    python -m vidrestore.bench.live     (python -m bench.live from the repository)

1. Quality: each rung of the ESPCN ladder (espcn, espcn-lite, bicubic) at x2, x3
   and x4 on the training runs' held-out photos (`training.photos.BUILTIN_VAL`,
   found in --photos), the way `live.quality` measures it: the camera frame is the
   photo made N times smaller and converted to the live format; PSNR-Y of the
   rung's output against the full photo's luma.
2. Cost and frame rate: each rung held alone (a one-rung ladder) for
   --rung-seconds on the 30 fps test pattern at 320x240 and 640x480, into the
   null sink: the calibrated cost, fps, latency p50/p95.
3. Sessions: `vidrestore live` as a user runs it, --seconds each, x2, the default
   100 ms budget, into the null sink, with --stats-json: the test pattern and a
   real clip played as a camera (samples/sample.mp4 scaled to the size, 25 fps),
   at 320x240 and 640x480. Each session's JSON is kept whole; the table adds the
   held-out quality of the rung it held.

Writes bench/results/live-STAMP.{json,md}. Run nothing else meanwhile: the
filter and the source share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vidrestore.bench.common import machine, make_clip, record
from vidrestore.live.engine import Engine
from vidrestore.live.governor import open_ladder
from vidrestore.live.quality import ladder_gains, scene
from vidrestore.live.sinks import SinkOptions, open_sink
from vidrestore.live.sources import PatternSource
from vidrestore.pipeline.build import Runtime
from vidrestore.training.photos import BUILTIN_VAL

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((320, 240), (640, 480))
SCALES = (2, 3, 4)


def held_out_photos(folders: list[Path]) -> dict[str, np.ndarray]:
    from PIL import Image

    found = {p.name: p for folder in folders if folder.is_dir() for p in folder.iterdir()}
    missing = [name for name in BUILTIN_VAL if name not in found]
    if missing:
        sys.exit(f"held-out photos not found in {', '.join(map(str, folders))}: {missing}")
    return {name: np.asarray(Image.open(found[name]).convert("RGB")) for name in BUILTIN_VAL}


def quality(photos: dict[str, np.ndarray], runtime: Runtime) -> dict[int, dict[str, float]]:
    gains = {}
    for scale in SCALES:
        rungs = open_ladder("espcn", scale, runtime)
        gains[scale] = ladder_gains(rungs, [scene(name, rgb, scale) for name, rgb in photos.items()])
        print(f"x{scale} gain over bicubic on the held-out photos: "
              + ", ".join(f"{k} {v:+.2f} dB" for k, v in gains[scale].items()), flush=True)
    return gains


def held_rung(scale: int, size: tuple[int, int], rung, seconds: float) -> dict:
    """`rung` alone on the test pattern for `seconds`: what it costs and the rate it reaches."""
    engine = Engine(PatternSource(size, 30.0), open_sink("null", SinkOptions()), [rung], scale=scale,
                    budget_ms=100.0, duration=seconds)
    stats = engine.run()
    summary = stats.summary()
    return {"rung": rung.label, "scale": scale, "size": f"{size[0]}x{size[1]}",
            "calibrated_ms": stats.calibration_ms[rung.label], "fps": summary["fps"],
            "latency_ms": summary["latency_ms"], "process_ms": summary["process_ms"]}


def session(source: str, size: tuple[int, int], seconds: float, folder: Path) -> dict:
    stats = folder / f"{Path(source).stem}-{size[0]}x{size[1]}.json"
    cmd = [sys.executable, "-m", "vidrestore", "live", "--source", source, "--x2", "--sink", "null",
           "--duration", str(seconds), "--stats-json", str(stats), "-q", "--overwrite"]
    if source == "testsrc":
        cmd += ["--size", f"{size[0]}x{size[1]}"]
    subprocess.run(cmd, check=True)
    return json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = ROOT.parent / "shared" / "datasets"
    parser.add_argument("--photos", type=Path, action="append",
                        help=f"a folder holding held-out photos, repeatable (default: {shared}/photos-hr and photos-extra)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each `vidrestore live` session")
    parser.add_argument("--rung-seconds", type=float, default=10.0, help="how long each rung is held alone")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args()
    runtime = Runtime(backend=args.backend)
    photos = held_out_photos(args.photos or [shared / "photos-hr", shared / "photos-extra"])

    started = time.time()
    gains = quality(photos, runtime)
    rungs = []
    for scale in SCALES:
        ladder = open_ladder("espcn", scale, runtime)
        for size in SIZES:
            for rung in ladder:
                rungs.append(held_rung(scale, size, rung, args.rung_seconds) | {"gain_db": gains[scale][rung.label]})
                r = rungs[-1]
                print(f"x{scale} {r['size']} {r['rung']}: {r['calibrated_ms']:.1f} ms, {r['fps']:.1f} fps, "
                      f"p95 {r['latency_ms']['p95']:.0f} ms", flush=True)

    sessions = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in SIZES:
            clip = folder / f"clip-{size[0]}x{size[1]}.mp4"
            make_clip(ROOT / "samples" / "sample.mp4", clip, size, frames=250)
            for source in ("testsrc", str(clip)):
                data = session(source, size, args.seconds, folder)
                data["source"] = "testsrc" if source == "testsrc" else "samples/sample.mp4 scaled, 25 fps"
                data["rung_held_live_gain_db"] = gains[2].get(data["rung_held"])
                sessions.append(data)
                print(f"{data['source']} {size[0]}x{size[1]}: {data['fps']:.1f} fps, "
                      f"p95 {data['latency_ms']['p95']:.0f} ms, held {data['rung_held']}", flush=True)

    result = {"machine": machine(), "backend": args.backend, "seconds": time.time() - started,
              "held_out_photos": list(BUILTIN_VAL), "live_gain_db": {str(k): v for k, v in gains.items()},
              "rungs": rungs, "sessions": sessions}
    table = ["| scale | rung | quality vs bicubic (held-out, PSNR-Y) | cost 320x240 | fps 320x240 | cost 640x480 | fps 640x480 | p95 640x480 |",
             "|---|---|---|---|---|---|---|---|"]
    for scale in SCALES:
        for label, gain in gains[scale].items():
            small, large = (next(r for r in rungs if r["scale"] == scale and r["rung"] == label and r["size"] == f"{w}x{h}")
                            for w, h in SIZES)
            table.append(f"| x{scale} | {label} | {gain:+.2f} dB | {small['calibrated_ms']:.1f} ms | {small['fps']:.1f} | "
                         f"{large['calibrated_ms']:.1f} ms | {large['fps']:.1f} | {large['latency_ms']['p95']:.0f} ms |")
    table += ["", "| session (x2, budget 100 ms) | size | fps | latency p50 / p95 / max | drops/min | rung held (frames) | its quality |",
              "|---|---|---|---|---|---|---|"]
    for s in sessions:
        lat = s["latency_ms"]
        held = ", ".join(f"{k} {v}" for k, v in s["rung_frames"].items())
        table.append(f"| {s['source']} | {s['input_size']} | {s['fps']:.1f} | {lat['p50']:.0f} / {lat['p95']:.0f} / "
                     f"{lat['max']:.0f} ms | {s['drops_per_minute']:.0f} | {held} | {s['rung_held_live_gain_db']:+.2f} dB |")
    title = f"live filter on {result['machine']['cpu']} ({result['machine']['cores']} cores), backend {args.backend}"
    for path in record("live", result, title, table, keep=not args.no_record):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
