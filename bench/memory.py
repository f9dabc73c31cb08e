"""Peak memory of one `vidrestore upscale` worker, row by row, against a formula.

    python -m vidrestore.bench.memory     (python -m bench.memory from the repository)

Each row is a real `vidrestore upscale` child process (CPU) on a synthetic clip
(PyAV: a noise texture moving a few pixels a frame, x264 ultrafast, 25 fps). Its
peak RSS is the kernel's own (wait4's ru_maxrss); /proc/PID/status is sampled
every 20 ms for RssAnon, the worker's own memory: what is not library pages
shared by every worker on one machine. fps counts the whole command, start-up
included. Then the terms, each measured on its own in a child process:

    fixed    the same command on a 64x36 clip: imports, model, session
    encoder  the pipeline's `VideoEncoder` alone at the output size and preset (its
             peak over its own start: /proc/self/clear_refs resets VmHWM)
    model    the model stage alone on one chunk of frames at the input size, the same way
    frames   the batches of 8-bit 4:2:0 codes in flight; each queue holds `queue_size`
             batches, and the decoder, the model stage and the encoder one more each:
               queues full (the encoder the slowest):  (queue_size + 2) x batch x (in + out)
               the model the slowest (output drained): (queue_size + 2) x batch x in + 2 x batch x out

    peak ~ fixed + encoder + frames + model,    model = K x chunk pixels x widest layer x 4 bytes

and prints both predictions against the measured peak, with K (the model stage's
peak over its widest activation). On a CPU the model stage runs a batch in chunks
of at most `pipeline.staging.CPU_CHUNK_PIXELS` input pixels (one 640x360 or one
1280x720 frame), so K does not grow with the batch. Records JSON plus a markdown
table in bench/results/. The encoder's term grows with its threads (x264: 1.5
per core) as well as the frame size: compare within a run, on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MB = 1 << 20


@dataclass(frozen=True)
class Row:
    name: str
    size: tuple[int, int]  # input width, height
    model: str = "espcn"
    scale: int = 3
    batch: int = 4
    codec: str = "libx264"
    preset: str | None = None  # None: the encoder's default (x264: medium)
    backend: str = "onnxruntime"

    @property
    def out_size(self) -> tuple[int, int]:
        return self.size[0] * self.scale, self.size[1] * self.scale

    @property
    def encoder(self) -> str:
        return self.codec if self.codec != "libx264" else f"x264 {self.preset or 'medium'}"


ROWS_1080 = (
    Row("espcn", (640, 360)),
    Row("espcn ffv1", (640, 360), codec="ffv1"),
    Row("espcn veryfast", (640, 360), preset="veryfast"),
    Row("bicubic", (640, 360), model="bicubic"),
    Row("bicubic ffv1", (640, 360), model="bicubic", codec="ffv1"),
    Row("espcn ffv1 batch 1", (640, 360), codec="ffv1", batch=1),
    Row("espcn ffv1 batch 16", (640, 360), codec="ffv1", batch=16),
    Row("espcn ffv1 torch", (640, 360), codec="ffv1", backend="torch"),
)
ROWS_4K = (
    Row("espcn 4K", (1280, 720)),
    Row("espcn 4K ffv1", (1280, 720), codec="ffv1"),
    Row("espcn 4K veryfast", (1280, 720), preset="veryfast"),
)


@dataclass
class Peak:
    rss: float = 0.0  # MB: the kernel's high-water mark
    anon: float = 0.0  # MB: the highest RssAnon sampled
    seconds: float = 0.0
    cpu: float = 0.0  # user + system seconds
    out: str = ""


def make_input(path: Path, size: tuple[int, int], frames: int) -> Path:
    """A 25 fps x264 clip of a seeded noise texture with a gradient, moving a few pixels a
    frame, and chroma waves moving the other way: every frame differs, as in a real video."""
    w, h = size
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 96, size=(h + 256, w + 256), dtype=np.int16)
    texture = (texture + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)) // 3  # a little smoother than noise
    ramp = (np.arange(w)[None, :] * 96 // max(w - 1, 1) + np.arange(h)[:, None] * 40 // max(h - 1, 1)).astype(np.int16)
    cy, cx = np.mgrid[: h // 2, : w // 2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "16"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            dy, dx = (2 * i) % 256, (3 * i) % 256
            luma = (texture[dy : dy + h, dx : dx + w] + ramp + 30).clip(16, 235).astype(np.uint8)
            cb = (128 + 40 * np.sin((cx + 2 * i) / 9.0)).astype(np.uint8)
            cr = (128 + 40 * np.cos((cy - i) / 7.0)).astype(np.uint8)
            frame = av.VideoFrame(w, h, "yuv420p")
            for plane, data in zip(frame.planes, (luma, cb, cr)):
                rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
                rows[: data.shape[0], : data.shape[1]] = data
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def measure(argv: list[str], period: float = 0.02) -> Peak:
    """Run `argv` to its end: its peak RSS (wait4) and highest sampled RssAnon, in MB."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = Peak()
    status = f"/proc/{proc.pid}/status"
    while True:
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak.anon = max(peak.anon, int(line.split()[1]) / 1024)
                        break
        except OSError:
            pass
        time.sleep(period)
    peak.seconds = time.perf_counter() - started
    peak.cpu = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(code)
    out, err = (stream.read().decode(errors="replace") if stream else "" for stream in (proc.stdout, proc.stderr))
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{err[-3000:]}")
    peak.rss = usage.ru_maxrss / 1024
    peak.out = out
    return peak


def upscale(clip: Path, out: Path, row: Row) -> list[str]:
    return [sys.executable, "-m", "vidrestore", "upscale", str(clip), f"--x{row.scale}", "--model", row.model,
            "--device", "cpu", "--backend", row.backend, "--batch", str(row.batch), "--codec", row.codec,
            *(["--preset", row.preset] if row.preset else []), "-o", str(out), "--overwrite", "-q"]


# Peaks measured inside a child: VmHWM reset (clear_refs 5) once everything is imported and built.
_PEAK = r"""
import json, sys
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def start():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status("VmRSS:")
def report(base, **extra):
    print(json.dumps({"base": base, "peak": status("VmHWM:"), **extra}))
"""

# The pipeline's encoder alone: moving 8-bit 4:2:0 frames in batches, as the runner hands them over.
_ENCODER = _PEAK + r"""
from fractions import Fraction
import av, numpy as np
from vidrestore.frames import FrameBatch, PlaneFormat, StreamFormat
from vidrestore.io.encode import EncodeOptions, VideoEncoder
w, h, frames, codec, preset, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
fmt = PlaneFormat("yuv420p", False, chroma_left=True)
rng = np.random.default_rng(1)
base_luma = rng.integers(16, 236, size=(h + 64, w + 64), dtype=np.uint8)
chroma = np.full((4, 2, h // 2, w // 2), 128, np.uint8)
with av.open(path, "w") as out:
    enc = VideoEncoder(out, EncodeOptions(codec, preset=None if preset == "-" else preset), width=w, height=h,
                       stream=StreamFormat(fmt, None, 0), time_base=Fraction(1, 25), rate=Fraction(25), metadata={})
    base = start()
    for i in range(0, frames, 4):
        luma = np.stack([base_luma[j % 64 : j % 64 + h, j % 64 : j % 64 + w] for j in range(i, i + 4)])
        enc.encode(FrameBatch(luma, chroma, list(range(i, i + 4)), fmt))
        del luma
    enc.flush()
report(base)
"""

# The model stage alone: one chunk of noise frames at the input size, three times (the later runs: the steady state).
_STAGE = _PEAK + r"""
import numpy as np, torch
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.models import load
from vidrestore.pipeline.build import ModelStep, ProcessingSpec, Runtime, build_processor
w, h, n, model, scale, backend = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
proc = build_processor(ProcessingSpec(models=(ModelStep(model, "sr", scale),), runtime=Runtime("cpu", backend), batch=n))
convs = [m.out_channels for m in load(model, scale=scale).module.modules() if isinstance(m, torch.nn.Conv2d)]
widest = max(convs + [scale * scale])  # the resamplers' polyphase convolution: scale^2 channels
rng = np.random.default_rng(1)
luma = rng.integers(16, 236, size=(n, h, w), dtype=np.uint8)
chroma = rng.integers(16, 241, size=(n, 2, h // 2, w // 2), dtype=np.uint8)
batch = FrameBatch(luma, chroma, list(range(n)), PlaneFormat("yuv420p", False, chroma_left=True))
base = start()
for _ in range(3):
    out = proc.process(batch)
    del out
report(base, widest=widest, chunk=n * w * h)
"""


def child_peak(code: str, *args: object) -> dict:
    peak = measure([sys.executable, "-c", code, *map(str, args)])
    return json.loads(peak.out.strip().splitlines()[-1])


def chunk_frames(row: Row) -> int:
    """Frames per model call in the row's run (`pipeline.staging.frames_per_chunk`)."""
    from vidrestore.pipeline.staging import frames_per_chunk

    return min(row.batch, frames_per_chunk(row.size[1], row.size[0]))


def frame_bytes(size: tuple[int, int]) -> float:
    return size[0] * size[1] * 1.5  # 8-bit 4:2:0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames of the 640x360 clip (1080p output)")
    parser.add_argument("--frames-4k", type=int, default=60, help="frames of the 1280x720 clip (4K output)")
    parser.add_argument("--encoder-frames", type=int, default=48, help="frames through the encoder alone (x264's lookahead: 40)")
    parser.add_argument("--only", help="comma-separated row names (default: every row)")
    parser.add_argument("--no-4k", action="store_true", help="skip the 4K rows")
    parser.add_argument("--no-record", action="store_true", help="print only; write nothing to bench/results")
    args = parser.parse_args(argv)
    from vidrestore.bench.common import machine, record
    from vidrestore.pipeline.runner import RunOptions

    queue = RunOptions().queue_size  # the command's depth
    rows = list(ROWS_1080) + ([] if args.no_4k else list(ROWS_4K))
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        rows = [row for row in rows if row.name in wanted]
    results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        clips = {(64, 36): make_input(tmp / "tiny.mp4", (64, 36), 20)}
        fixed: dict[tuple[str, str], Peak] = {}
        encoders: dict[tuple, dict] = {}
        stages: dict[tuple, dict] = {}
        for row in rows:
            if row.size not in clips:
                frames = args.frames if row.size == (640, 360) else args.frames_4k
                clips[row.size] = make_input(tmp / f"in-{row.size[0]}x{row.size[1]}.mp4", row.size, frames)
            key = (row.model, row.backend)
            if key not in fixed:  # also exports (caches) the model's graph before anything is timed
                fixed[key] = measure(upscale(clips[(64, 36)], tmp / "tiny.mkv", Row("tiny", (64, 36), row.model,
                                                                                   codec="ffv1", backend=row.backend)))
            enc_key = (row.out_size, row.codec, row.preset)
            if enc_key not in encoders:
                encoders[enc_key] = child_peak(_ENCODER, *row.out_size, args.encoder_frames, row.codec, row.preset or "-", tmp / "enc.mkv")
            stage_key = (row.size, row.model, row.backend, chunk_frames(row))
            if stage_key not in stages:
                stages[stage_key] = child_peak(_STAGE, *row.size, chunk_frames(row), row.model, row.scale, row.backend)
            frames = args.frames if row.size == (640, 360) else args.frames_4k
            run = measure(upscale(clips[row.size], tmp / "out.mkv", row))
            enc, stage = encoders[enc_key], stages[stage_key]
            src, dst = frame_bytes(row.size) / MB, frame_bytes(row.out_size) / MB
            terms = {
                "fixed": fixed[key].rss,
                "encoder": enc["peak"] - enc["base"],
                "frames": (queue + 2) * row.batch * (src + dst),
                "model": stage["peak"] - stage["base"],
            }
            drained = (queue + 2) * row.batch * src + 2 * row.batch * dst
            widest = stage["chunk"] * stage["widest"] * 4 / MB
            full = sum(terms.values())
            result = {"row": asdict(row), "frames": frames, "rss_mb": run.rss, "anon_mb": run.anon, "seconds": run.seconds,
                      "cpu_seconds": run.cpu, "fps": frames / run.seconds, "fixed_anon_mb": fixed[key].anon, "terms_mb": terms,
                      "predicted_mb": full, "predicted_model_bound_mb": full - terms["frames"] + drained,
                      "chunk_pixels": stage["chunk"], "widest_channels": stage["widest"], "widest_activation_mb": widest,
                      "k": terms["model"] / widest}
            results.append(result)
            print(f"{row.name}: {run.rss:.0f} MB RSS, {run.anon:.0f} MB anon, {frames / run.seconds:.1f} fps; "
                  f"predicted {result['predicted_model_bound_mb']:.0f}..{full:.0f} MB", flush=True)
    table = ["| run | in -> out | encoder | batch | peak RSS MB | peak anon MB | fps | fixed | encoder | frames "
             "| model (K) | predicted MB | measured / predicted |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        row, t = Row(**{**r["row"], "size": tuple(r["row"]["size"])}), r["terms_mb"]
        low, high = r["predicted_model_bound_mb"], r["predicted_mb"]
        table.append(f"| {row.name}{'' if row.backend == 'onnxruntime' else f' ({row.backend})'} "
                     f"| {row.size[0]}x{row.size[1]} -> {row.out_size[0]}x{row.out_size[1]} | {row.encoder} | {row.batch} "
                     f"| {r['rss_mb']:.0f} | {r['anon_mb']:.0f} | {r['fps']:.1f} | {t['fixed']:.0f} | {t['encoder']:.0f} "
                     f"| {low - t['fixed'] - t['encoder'] - t['model']:.0f}..{t['frames']:.0f} | {t['model']:.0f} ({r['k']:.1f}) "
                     f"| {low:.0f}..{high:.0f} | {r['rss_mb'] / low:.2f}..{r['rss_mb'] / high:.2f} |")
    info = machine()
    result = {"queue_size": queue, "machine": info, "rows": results}
    title = (f"Peak memory of one `vidrestore upscale` worker (CPU); machine: {info['cpu']} ({info['cores']} cores). "
             f"Terms in MB; frames and predicted: the model the slowest stage .. both queues full; "
             f"model = K x chunk pixels x widest layer x 4 bytes")
    record("memory", result, title, table, keep=not args.no_record)


if __name__ == "__main__":
    main()
