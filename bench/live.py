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
4. With --webrtc: the video call, `--sink webrtc` with the page open in headless
   Chromium, whose fake camera plays the same clip at 640x480 (a y4m file); the
   filter then shares the cores with Chromium's VP8 encoder and decoder and
   aiortc's, as on a laptop in a call.

Writes bench/results/live-STAMP.{json,md}. Run nothing else meanwhile: the
filter and the source share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
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


def quality(photos: dict[str, np.ndarray], ladders: dict[int, list]) -> dict[int, dict[str, float]]:
    gains = {}
    for scale, rungs in ladders.items():
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


def y4m_camera(clip: Path, dst: Path) -> Path:
    """`clip`'s frames as a y4m file, the format Chromium's fake camera plays (looped)."""
    import av

    with av.open(str(clip)) as inp, dst.open("wb") as out:
        stream = inp.streams.video[0]
        rate = stream.average_rate
        out.write(f"YUV4MPEG2 W{stream.width} H{stream.height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode())
        for frame in inp.decode(stream):
            out.write(b"FRAME\n")
            out.write(frame.reformat(format="yuv420p").to_ndarray().tobytes())
    return dst


def webrtc_session(clip: Path, seconds: float, folder: Path) -> dict:
    """`vidrestore live --x2 --sink webrtc` with the page open in headless Chromium, its camera `clip`."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("--webrtc needs chromium (apt-get install chromium)")
    camera = y4m_camera(clip, folder / "camera.y4m")
    stats = folder / "webrtc.json"
    with socket.socket() as probe:  # a free port for the page
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    live = subprocess.Popen([sys.executable, "-m", "vidrestore", "live", "--x2", "--sink", "webrtc", "--port", str(port),
                             "--duration", str(seconds), "--stats-json", str(stats), "-q", "--overwrite"],
                            stderr=subprocess.PIPE, text=True)
    url = None
    for line in live.stderr:  # the page's address, token included, is the first line
        if m := re.search(r"http://\S+", line):
            url = m[0]
            break
    if url is None:
        sys.exit(f"the live command printed no address (exit {live.wait()})")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={folder / 'profile'}", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         f"--use-file-for-fake-video-capture={camera}", "--autoplay-policy=no-user-gesture-required", f"{url}&autostart=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(folder)})
    try:
        live.stderr.read()
        live.wait(timeout=seconds + 120)
    finally:
        browser.kill()
        browser.wait()
    if live.returncode != 0:
        sys.exit(f"the live command failed (exit {live.returncode})")
    return json.loads(stats.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = ROOT.parent / "shared" / "datasets"
    parser.add_argument("--photos", type=Path, action="append",
                        help=f"a folder holding held-out photos, repeatable (default: {shared}/photos-hr and photos-extra)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each `vidrestore live` session")
    parser.add_argument("--rung-seconds", type=float, default=10.0, help="how long each rung is held alone")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--webrtc", action="store_true", help="add a video call through headless Chromium (640x480)")
    parser.add_argument("--only-webrtc", action="store_true", help="run the video call alone (no quality, rungs or sessions)")
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args()
    runtime = Runtime(backend=args.backend)
    photos = held_out_photos(args.photos or [shared / "photos-hr", shared / "photos-extra"])

    started = time.time()
    if args.only_webrtc:
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "clip-640x480.mp4"
            make_clip(ROOT / "samples" / "sample.mp4", clip, (640, 480), frames=250)
            data = webrtc_session(clip, args.seconds, Path(tmp))
        return _record_webrtc(data, args, started)
    ladders = {scale: open_ladder("espcn", scale, runtime) for scale in SCALES}
    gains = quality(photos, ladders)
    rungs = []
    for scale, ladder in ladders.items():
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
        if args.webrtc:
            data = webrtc_session(folder / "clip-640x480.mp4", args.seconds, folder)
            data["source"] = "browser camera (Chromium, sample.mp4 at 640x480), WebRTC"
            data["rung_held_live_gain_db"] = gains[2].get(data["rung_held"])
            sessions.append(data)

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


def _record_webrtc(data: dict, args: argparse.Namespace, started: float) -> None:
    lat = data["latency_ms"]
    reports = [r for r in data.get("browser_reports", []) if r.get("framesDecoded", 0) > 0]
    shown = ""
    if len(reports) > 1:
        span = (reports[-1]["t"] - reports[0]["t"]) / 1000
        shown = f", the page decoded {(reports[-1]['framesDecoded'] - reports[0]['framesDecoded']) / span:.1f} fps"
    table = [f"| WebRTC, Chromium camera 640x480 | {data['fps']:.1f} fps | {lat['p50']:.0f} / {lat['p95']:.0f} / {lat['max']:.0f} ms "
             f"| {data['drops_per_minute']:.0f} drops/min | {data['rung_frames']}{shown} |"]
    result = {"machine": machine(), "backend": args.backend, "seconds": time.time() - started, "sessions": [data]}
    for path in record("live-webrtc", result, "live filter in a video call (headless Chromium)", table, keep=not args.no_record):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
