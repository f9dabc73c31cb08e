"""`vidrestore bench`: every stage alone, then the pipeline and a naive loop, in one run.

The input's first FRAMES frames (scaled to SIZE if given) are written to a
temporary clip (libx264 ultrafast, CRF 16), which every measurement reads:

- decode alone (the first 60 frames, as for every stage alone); the model
  alone for each backend, precision and batch asked for, on inputs already on
  its device (on CUDA the clock stops when the GPU has finished); the
  processor alone (conversions + model, planes in and out of host memory);
  encode alone (the chosen encoder on the processor's output, and NVENC
  beside it when a GPU is in use);
- the pipeline (decode, process and encode threads with bounded queues;
  on CUDA the staging's copy and compute streams);
- a naive loop: one frame decoded, processed and encoded at a time, in one thread.

Efficiency is the pipeline's fps over the slowest stage's fps alone: 1.0 means
the overlap hides everything but the bottleneck. That holds only when the
stages do not compete for the same cores, so every measurement also records
its CPU time per frame (all threads), and the CPU ceiling is what the cores
could do if they ran the stages' summed CPU work back to back without a gap:
on a machine whose model and encoder both need every core, the pipeline's
fraction of that ceiling shows how much of the hardware the overlap uses.
Peak RSS and peak GPU memory cover the whole run.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from vidrestore.bench.common import decode_fps as decode_rate
from vidrestore.bench.common import CpuMeter, machine, make_clip, pipeline_run, process_all, record
from vidrestore.errors import VidrestoreError
from vidrestore.io.decode import Decoder
from vidrestore.io.encode import EncodeOptions
from vidrestore.io.probe import VideoInfo, probe
from vidrestore.frames import FrameBatch
from vidrestore.frames.color import model_input
from vidrestore.pipeline.build import Runtime, open_model, stage_for
from vidrestore.pipeline.runner import batches, encode_batch, open_encoder


@dataclass(frozen=True)
class BenchConfig:
    model: str
    scale: int
    backends: tuple[str, ...] = ("auto",)
    precisions: tuple[str, ...] = ("fp32",)
    batches: tuple[int, ...] = (4,)
    frames: int = 100
    size: tuple[int, int] | None = None
    device: str = "auto"
    naive: bool = True
    stage_frames: int = 60  # frames each stage is timed on alone; the pipeline and naive loop run them all
    encode: EncodeOptions = EncodeOptions()  # the commands' default: libx264, CRF 18-ish, preset medium


def _infer_fps(backend, inputs: list[torch.Tensor]) -> float:
    """The model alone on inputs already on its device; on CUDA the clock stops
    when the GPU has finished, not when the last launch returns."""
    cuda = backend.device == "cuda"
    if cuda:
        inputs = [x.to("cuda") for x in inputs]
    backend.run_device(inputs[0])  # warm-up: lazy engine builds, compilation, cuDNN autotuning, allocator
    _sync(cuda)
    started = time.perf_counter()
    for x in inputs:
        backend.run_device(x)
    _sync(cuda)
    return sum(len(x) for x in inputs) / (time.perf_counter() - started)


def _sync(cuda: bool) -> None:
    if cuda:
        torch.cuda.synchronize()


def _regroup(decoded: list[FrameBatch], size: int) -> list[FrameBatch]:
    frames = [(b.luma[i], b.chroma[i], b.pts[i], b.fmt) for b in decoded for i in range(len(b))]
    out = []
    for k in range(0, len(frames), size):
        chunk = frames[k : k + size]
        out.append(FrameBatch(np.stack([f[0] for f in chunk]), np.stack([f[1] for f in chunk]), [f[2] for f in chunk], chunk[0][3]))
    return out


def _encode_fps(info: VideoInfo, outputs: list[FrameBatch], tmp: Path, options: EncodeOptions) -> float:
    """libx264 (or `options`) alone on ready output batches, set up as the pipeline's encode stage."""
    started = time.perf_counter()
    with av.open(str(tmp / "encode-only.mp4"), "w") as container:
        encoder = open_encoder(container, options, info, _stream_format(info), outputs[0])
        for batch in outputs:
            encode_batch(encoder, batch)
        encoder.flush()
    return sum(len(b) for b in outputs) / (time.perf_counter() - started)


def _stream_format(info: VideoInfo):
    """The clip's format as the decoder decides it (the encoder writes its colour tags back)."""
    stream = Decoder(info).open()
    if stream is None:
        raise VidrestoreError(f"{info.path}: no video frames to benchmark")
    return stream


def _naive_fps(info: VideoInfo, processor, tmp: Path, options: EncodeOptions) -> float:
    """One frame at a time: decode it, process it, encode it, in this one thread."""
    started = time.perf_counter()
    frames = 0
    decoder = Decoder(info)
    with av.open(str(tmp / "naive.mp4"), "w") as container:
        encoder = None
        for batch in batches(decoder, 1):
            out = processor.process(batch)
            encoder = encoder or open_encoder(container, options, info, decoder.format, out)
            encode_batch(encoder, out)
            frames += 1
        if encoder is not None:
            encoder.flush()
    return frames / (time.perf_counter() - started)


def _gpu_encoders(config: BenchConfig) -> list[str]:
    """NVENC, timed beside the chosen encoder when a GPU is in use: where the end-to-end ceiling would move."""
    if config.device == "cpu" or not torch.cuda.is_available():
        return []
    return [c for c in ("h264_nvenc", "hevc_nvenc") if c != config.encode.codec]


def _other_encoder(info: VideoInfo, outputs: list[FrameBatch], tmp: Path, codec: str, log) -> dict[str, Any]:
    try:
        fps = _encode_fps(info, outputs, tmp, EncodeOptions(codec=codec))
    except (VidrestoreError, av.error.FFmpegError) as exc:
        log(f"  encode {codec}: unavailable: {exc}")
        return {"codec": codec, "fps": None, "error": str(exc)}
    log(f"  encode {codec} alone: {fps:.1f} fps")
    return {"codec": codec, "fps": fps}


def run_bench(src: Path, config: BenchConfig, log=print) -> dict[str, Any]:
    from vidrestore.models import get_spec, load
    from vidrestore.models.registry import check_scale

    spec = get_spec(config.model)
    check_scale(spec, config.scale)
    config.encode.spec.options(config.encode.crf, config.encode.preset)  # a bad preset fails now, not after minutes
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clip = tmp / "clip.mp4"
        make_clip(src, clip, config.size, config.frames)
        info = probe(clip)
        log(f"clip: {info.width}x{info.height}, {config.frames} frames; {config.model} x{config.scale}")
        cpu: dict[str, float] = {}  # CPU milliseconds per frame, all threads, of each measurement
        # The stages alone run on the first frames only, so memory stays flat however long the clip.
        with CpuMeter() as meter:
            decode_fps, decoded = decode_rate(info, max(config.batches), config.stage_frames)
        n_frames = sum(len(b) for b in decoded)
        cpu["decode"] = meter.ms_per(n_frames)
        infer: list[dict[str, Any]] = []
        chosen = None  # the first configuration that runs drives the pipeline measurements
        for name in config.backends:
            for precision in config.precisions:
                try:
                    # A model of its own: backends convert their module's device and dtype in place.
                    # Timings only: an architecture without shipped weights is timed as initialised.
                    loaded = load(config.model, scale=config.scale, untrained_ok=True)
                    backend = open_model(loaded, Runtime(config.device, name, precision))
                except VidrestoreError as exc:
                    infer.append({"backend": name, "precision": precision, "batch": None, "fps": None, "error": str(exc)})
                    log(f"  {name} {precision}: skipped: {exc}")
                    continue
                for size in config.batches:
                    inputs = [model_input(b, loaded.color) for b in _regroup(decoded, size)]
                    fps = _infer_fps(backend, inputs)
                    infer.append({"backend": backend.name, "asked": name, "device": backend.device,
                                  "precision": precision, "batch": size, "fps": fps})
                    log(f"  infer {backend.name} ({backend.device}) {precision} batch {size}: {fps:.2f} fps")
                    if chosen is None:
                        chosen = (loaded, backend, size)
        if chosen is None:
            raise VidrestoreError("no backend/precision asked for can run here: " + "; ".join(r["error"] for r in infer))
        loaded, backend, size = chosen
        processor = stage_for(loaded, backend)
        regrouped = _regroup(decoded, size)
        processor.process(regrouped[0])  # warm-up outside the meter, as process_all does
        with CpuMeter() as meter:
            process_fps, outputs = process_all(processor, regrouped, warm=False)
        cpu["process"] = meter.ms_per(n_frames)
        with CpuMeter() as meter:
            encode_fps = _encode_fps(info, outputs, tmp, config.encode)
        cpu["encode"] = meter.ms_per(n_frames)
        other_encoders = [_other_encoder(info, outputs, tmp, codec, log) for codec in _gpu_encoders(config)]
        del outputs, decoded, regrouped
        log(f"  decode {decode_fps:.1f} fps, process {process_fps:.2f} fps, encode {encode_fps:.1f} fps (each alone)")
        with CpuMeter() as meter:
            pipeline_fps, report = pipeline_run(info, processor, size, config.encode)
        cpu["pipeline"] = meter.ms_per(report.frames_out)
        log(f"  pipeline {pipeline_fps:.2f} fps (stages inside it: {report.stages.line()})")
        naive_fps = None
        if config.naive:
            with CpuMeter() as meter:
                naive_fps = _naive_fps(info, processor, tmp, config.encode)
            cpu["naive"] = meter.ms_per(report.frames_out)
            log(f"  naive loop {naive_fps:.2f} fps")
    slowest = min(decode_fps, process_fps, encode_fps)
    cores = os.cpu_count() or 1
    # The most any schedule of these stages can reach on this CPU: every core busy, the
    # CPU time each frame needs in the three stages (GPU work excluded) spent and nothing else.
    ceiling = cores * 1000.0 / (cpu["decode"] + cpu["process"] + cpu["encode"])
    return {
        "input": str(src),
        "size": f"{info.width}x{info.height}",
        "frames": report.frames_out,
        "stage_frames": n_frames,
        "model": config.model,
        "scale": config.scale,
        "encoder": {"codec": config.encode.codec, "crf": config.encode.crf, "preset": config.encode.preset},
        "machine": machine(),
        "decode_fps": decode_fps,
        "encode_fps": encode_fps,
        "process_fps": process_fps,
        "infer": infer,
        "pipeline": {"backend": backend.name, "device": backend.device, "batch": size},
        "pipeline_fps": pipeline_fps,
        "pipeline_stages_fps": {s: report.stages.fps(s) for s in report.stages.seconds},
        "naive_fps": naive_fps,
        "efficiency": pipeline_fps / slowest,
        "cpu_ms_per_frame": cpu,
        "cpu_ceiling_fps": ceiling,
        "of_cpu_ceiling": pipeline_fps / ceiling,
        "other_encoders": other_encoders,
        "speedup_over_naive": pipeline_fps / naive_fps if naive_fps else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0,
    }


def table(result: dict[str, Any]) -> list[str]:
    rows = ["| measurement | fps |", "|---|---|"]
    rows.append(f"| decode alone | {result['decode_fps']:.1f} |")
    for r in result["infer"]:
        if r["fps"] is None:
            rows.append(f"| infer {r['backend']} {r['precision']} | skipped: {r['error']} |")
        else:
            rows.append(f"| infer {r['backend']} ({r['device']}) {r['precision']} batch {r['batch']} | {r['fps']:.2f} |")
    rows.append(f"| process alone (conversions + model) | {result['process_fps']:.2f} |")
    enc = result["encoder"]
    rows.append(f"| encode alone ({enc['codec']}, preset {enc['preset'] or 'default'}) | {result['encode_fps']:.1f} |")
    p = result["pipeline"]
    rows.append(f"| pipeline ({p['backend']}, batch {p['batch']}) | {result['pipeline_fps']:.2f} |")
    if result["naive_fps"]:
        rows.append(f"| naive loop | {result['naive_fps']:.2f} |")
    for other in result.get("other_encoders", []):
        value = f"{other['fps']:.1f}" if other["fps"] is not None else f"unavailable: {other['error']}"
        rows.append(f"| encode alone ({other['codec']}) | {value} |")
    rows.append(f"| efficiency (pipeline / slowest stage) | {result['efficiency']:.3f} |")
    cpu = result["cpu_ms_per_frame"]
    rows.append("| CPU ms per frame: decode / process / encode alone; pipeline | "
                f"{cpu['decode']:.1f} / {cpu['process']:.1f} / {cpu['encode']:.1f}; {cpu['pipeline']:.1f} |")
    rows.append(f"| CPU ceiling ({result['machine']['cores']} cores / summed stage CPU time) | {result['cpu_ceiling_fps']:.2f} |")
    rows.append(f"| pipeline / CPU ceiling | {result['of_cpu_ceiling']:.3f} |")
    if result["speedup_over_naive"]:
        rows.append(f"| pipeline / naive | {result['speedup_over_naive']:.2f}x |")
    rows.append(f"| peak RSS / GPU memory | {result['peak_rss_mb']:.0f} / {result['peak_gpu_mb']:.0f} MB |")
    return rows


def save(result: dict[str, Any], json_path: Path | None, keep: bool) -> list[Path]:
    """Print the table; write `json_path` if given and, with `keep`, the record in bench/results/."""
    m = result["machine"]
    title = (f"{result['input']} {result['size']}, {result['frames']} frames, {result['model']} x{result['scale']}; "
             f"machine: {m['cpu']} ({m['cores']} cores), GPU: {m['gpu']}")
    written = record(f"bench-{result['model']}-x{result['scale']}", result, title, table(result), keep=keep)
    if json_path is not None:
        from vidrestore.io.paths import atomic_output

        with atomic_output(json_path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        written.append(json_path)
    return written
