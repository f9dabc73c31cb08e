"""ONNX -> TensorRT engine, built once per configuration and kept on disk.

An engine is only valid for the graph, the shape range, the precision, the
TensorRT release and the GPU it was built for, so `cache_key` hashes all of
them and a cached engine is reused only when none has changed. Building is slow
mostly because of kernel timing: a timing cache per TensorRT version and GPU
makes rebuilds (a new video size, a new precision) much quicker. Engines and
timing caches are kept by `export.cache`: written atomically with their content
hash, and used only from a private folder of this user's when the hash still
fits, so a damaged or planted engine is rebuilt (one warning), never run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from vidrestore.errors import BackendUnavailable, InputError, OutputError, UsageError

Shape = tuple[int, int, int, int]  # NCHW
Precision = Literal["fp32", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
CACHE_FORMAT = 1  # bump when the build settings below change, so old engines are not reused
MIN_SIDE = 1  # the tiler may cut a frame just over --tile into parts of half a tile
INSTALL_HINT = "pip install 'vidrestore[gpu]' on a machine with an NVIDIA GPU"


@dataclass(frozen=True)
class EngineSpec:
    """Everything that changes a built engine; `cache_key` hashes all of it."""

    onnx_sha256: str
    input_name: str
    channels: int
    min_shape: Shape
    opt_shape: Shape
    max_shape: Shape
    precision: Precision
    trt_version: str
    gpu_name: str
    workspace_mb: int = 4096

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; expected one of {', '.join(PRECISIONS)}")
        shapes = (self.min_shape, self.opt_shape, self.max_shape)
        if any(len(s) != 4 or min(s) < 1 for s in shapes):
            raise UsageError(f"engine shapes must be four positive sizes (NCHW), got {shapes}")
        if not all(lo <= mid <= hi for lo, mid, hi in zip(*shapes)):
            raise UsageError(f"engine shapes must satisfy min <= opt <= max in every axis, got {shapes}")


def profile_shapes(channels: int, width: int, height: int, batch: int) -> tuple[Shape, Shape, Shape]:
    """The optimisation profile for a video: (min, opt, max) NCHW shapes.

    opt and max are the full batch of full frames: that is what almost every
    call runs, and tiles are never larger than the frame. min is one frame of
    MIN_SIDE pixels a side, so that the last, partial batch and every tile the
    tiler can cut (a few pixels, for a small --tile) run on the same engine
    without a rebuild; TensorRT tunes its kernels for opt, so a low min costs
    little for convolutional models.
    """
    if min(channels, width, height, batch) < 1:
        raise UsageError(f"channels, size and batch must be positive, got {channels}, {width}x{height}, {batch}")
    full: Shape = (batch, channels, height, width)
    return (1, channels, min(MIN_SIDE, height), min(MIN_SIDE, width)), full, full


def cache_key(spec: EngineSpec) -> str:
    """A sha256 hex digest of every field of `spec` (and of the cache format)."""
    fields = {"cache_format": CACHE_FORMAT, **dataclasses.asdict(spec)}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def engine_cache_dir() -> Path:
    """The engines and timing caches: `vidrestore.io.paths.cache_dir`/tensorrt (see `export.cache`)."""
    from vidrestore.io.paths import cache_dir

    return cache_dir("tensorrt")


def spec_for(
    onnx_path: Path, channels: int, width: int, height: int, batch: int, precision: Precision,
    workspace_mb: int = 4096, *, input_name: str = "input",
) -> EngineSpec:
    """The spec for building `onnx_path` for a video on this machine's TensorRT and GPU."""
    trt = _import_tensorrt()
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU, and PyTorch sees none on this machine; use --format onnx")
    try:
        with open(onnx_path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise InputError(f"cannot read the ONNX file {onnx_path}: {e.strerror}") from None
    lo, opt, hi = profile_shapes(channels, width, height, batch)
    gpu = torch.cuda.get_device_name()
    return EngineSpec(digest, input_name, channels, lo, opt, hi, precision, trt.__version__, gpu, workspace_mb)


def build_engine(
    onnx_path: Path,
    spec: EngineSpec,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The engine file for `spec`: from the cache if there and sound, else built now and cached.
    `cache_dir` must be usable (`CacheFolder.usable`): the engine is returned as a file there."""
    from vidrestore.export.cache import CacheFolder

    cache = CacheFolder(cache_dir if cache_dir is not None else engine_cache_dir())
    engine_name = f"{cache_key(spec)}.engine"
    if cache.read(engine_name) is not None:  # checked before importing TensorRT: a cache hit needs none of it
        return cache.folder / engine_name
    trt = _import_tensorrt()
    report = progress or (lambda line: None)

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        first = " ".join(str(parser.get_error(0)).split()) if parser.num_errors else "no details given"
        raise InputError(f"TensorRT cannot parse {onnx_path} ({parser.num_errors} error(s)); first: {first}")
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    if inputs != [spec.input_name]:
        raise UsageError(f"{onnx_path} has inputs {inputs}; expected exactly one named {spec.input_name!r}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    if spec.precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif spec.precision == "bf16":
        config.set_flag(trt.BuilderFlag.BF16)
    else:
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 would cost ~3 decimal digits
    profile = builder.create_optimization_profile()
    profile.set_shape(spec.input_name, spec.min_shape, spec.opt_shape, spec.max_shape)
    config.add_optimization_profile(profile)

    timing_name = f"timing-{spec.trt_version}-{_slug(spec.gpu_name)}.cache"
    blob = cache.read(timing_name) or b""
    config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=False)
    monitor = _progress_monitor(trt, report)
    config.progress_monitor = monitor

    report(f"building a TensorRT {spec.precision} engine for {spec.gpu_name} (once; it is cached in {cache.folder})")
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendUnavailable(f"TensorRT could not build an engine from {onnx_path}; its messages above say why")
    cache.write(timing_name, bytes(memoryview(config.get_timing_cache().serialize())))
    engine_path = cache.write(engine_name, bytes(memoryview(serialized)))
    if engine_path is None:
        raise OutputError(f"cannot keep the TensorRT engine in {cache.folder} (see the warning above); "
                          "set VIDRESTORE_CACHE to a private folder of your own")
    report(f"built the TensorRT engine in {time.monotonic() - started:.0f} s: {engine_path}")
    return engine_path


def _import_tensorrt() -> ModuleType:
    try:
        import tensorrt
    except ImportError:
        raise BackendUnavailable(f"TensorRT is not installed; {INSTALL_HINT}") from None
    return tensorrt


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "gpu"


def _progress_monitor(trt: ModuleType, report: Callable[[str], None], every_s: float = 1.0) -> Any:
    """A TensorRT progress monitor that reports the nested phases at most once per `every_s`."""

    class Monitor(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.phases: dict[str, list[int]] = {}  # name -> [step, steps], in nesting order
            self.last = 0.0

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self.phases[phase_name] = [0, num_steps]
            self.show()

        def step_complete(self, phase_name: str, step: int) -> bool:
            if phase_name in self.phases:
                self.phases[phase_name][0] = step + 1
            self.show()
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self.phases.pop(phase_name, None)

        def show(self) -> None:
            now = time.monotonic()
            if now - self.last >= every_s:
                self.last = now
                report("  " + " > ".join(f"{name} {s}/{n}" for name, (s, n) in self.phases.items()))

    return Monitor()
