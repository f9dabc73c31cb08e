"""ONNX Runtime inference: the CPU execution provider tuned for throughput,
or the CUDA / TensorRT providers of onnxruntime-gpu with I/O binding.

A model handed over as a PyTorch module is exported (`export.onnx.cached_onnx`,
which keeps the graph on disk, so the next run starts at once).
On the CPU the session uses every core for one frame batch at a time (intra-op
threads, sequential execution) with all graph optimisations; that beats
running several small sessions side by side for convolution-heavy graphs.
Its memory stays near what one call needs (`_bounded_cpu_memory`); the
pipeline keeps calls small on a CPU (`pipeline.staging.CPU_CHUNK_PIXELS`).
"""

from __future__ import annotations


from typing import TYPE_CHECKING

import numpy as np
import torch

from vidrestore.backends.base import BackendOptions, resolve_device
# The graphs' mirrored padding needs frames of MIN_SIDE pixels: smaller ones are mirrored out first.
from vidrestore.backends.tiling import MIN_SIDE, run_at_least
from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.export.onnx import cached_onnx, require_onnx

if TYPE_CHECKING:
    from vidrestore.models import LoadedModel


def available() -> bool:
    try:
        require_onnx()
    except BackendUnavailable:
        return False
    return True


def gpu_providers() -> list[str]:
    """The GPU execution providers this onnxruntime build has, fastest first."""
    if not available():
        return []
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]


def _bounded_cpu_memory(ort, so) -> None:
    """Session options that keep a CPU session's memory near what one call needs.

    By default the CPU arena grows in powers of two and the "memory pattern" plans one
    block for all of a call's intermediates after the first call has already filled the
    arena tensor by tensor: together about 4x the widest activation (ESPCN, one 640x360
    frame, whose 64-channel layer is 56 MB: +217 MB). Without the pattern, and with an
    arena that grows by exactly what is asked (kSameAsRequested), it is about 2x (+111 MB;
    a 1280x720 frame: +863 -> +440 MB), at the same speed (the arena itself stays: without
    it every call faults its buffers in afresh, 40-60 % slower). The arena is registered
    once per process and shared by its CPU sessions (a chain's models reuse one another's
    free memory); where this onnxruntime cannot, only the pattern is turned off."""
    so.enable_mem_pattern = False
    if _shared_cpu_arena(ort):
        so.add_session_config_entry("session.use_env_allocators", "1")


_SHARED_ARENA: bool | None = None  # None: not tried yet


def _shared_cpu_arena(ort) -> bool:
    global _SHARED_ARENA
    if _SHARED_ARENA is None:
        try:
            config = ort.OrtArenaCfg({"arena_extend_strategy": 1})  # kSameAsRequested
            where = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(where, config)
            _SHARED_ARENA = True
        except Exception:  # noqa: BLE001 - an older or trimmed onnxruntime: its own arena then
            _SHARED_ARENA = False
    return _SHARED_ARENA


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, model: LoadedModel | bytes, options: BackendOptions) -> None:
        """`model` exported (through the graph cache), or a serialised ONNX graph as it is."""
        require_onnx()
        import onnxruntime as ort

        self.device = resolve_device(options.device)
        if options.precision == "bf16":
            raise UsageError("ONNX Runtime runs fp32 or fp16 graphs; bf16 is for --backend torch")
        if self.device == "cpu" and options.precision != "fp32":
            raise UsageError(f"ONNX Runtime on a CPU runs fp32 only; {options.precision} needs a GPU")
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda":
            gpu = gpu_providers()
            if not gpu:
                raise BackendUnavailable("--backend onnxruntime on a GPU needs onnxruntime-gpu (pip install 'vidrestore[gpu]'); "
                                         "this onnxruntime has only the CPU provider")
            providers = gpu + providers
        data = model if isinstance(model, bytes) else cached_onnx(model, fp16=options.precision == "fp16")[0]
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads = options.threads or torch.get_num_threads()
        # Idle worker threads sleep instead of spinning: in the pipeline the cores they
        # would burn belong to the colour conversions and the encoder (measured on
        # 2 cores: the processor alone 10.3 -> 11.3 fps, the pipeline 6.0 -> 6.3 fps).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        if self.device == "cpu":
            _bounded_cpu_memory(ort, so)
        self.session = ort.InferenceSession(data, sess_options=so, providers=providers)
        self.provider = self.session.get_providers()[0]
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return run_at_least(self._run_host, batch, MIN_SIDE)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        """A batch on the backend's device in, float32 out there."""
        return run_at_least(self.run_cuda, batch, MIN_SIDE) if self.device == "cuda" else self.run(batch)

    def _run_host(self, batch: torch.Tensor) -> torch.Tensor:
        if self.device == "cuda":
            return self.run_cuda(batch.to("cuda", non_blocking=True)).cpu()
        x = np.ascontiguousarray(batch.detach().float().numpy())
        return torch.from_numpy(self.session.run([self.output], {self.input: x})[0])

    def run_cuda(self, batch: torch.Tensor) -> torch.Tensor:
        """CUDA tensor in, CUDA tensor out: I/O binding, no trip through host memory."""
        x = batch.detach().float().contiguous()
        binding = self.session.io_binding()
        binding.bind_input(self.input, "cuda", x.device.index or 0, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output, "cuda", x.device.index or 0)
        torch.cuda.current_stream(x.device).synchronize()  # the input must be written before ORT reads it
        self.session.run_with_iobinding(binding)
        out = binding.get_outputs()[0]
        return torch.from_dlpack(out.to_dlpack()) if hasattr(out, "to_dlpack") else torch.from_numpy(out.numpy()).to(x.device)
