"""A built TensorRT engine, run natively on its own CUDA stream.

Inputs and outputs are torch CUDA tensors whose memory TensorRT reads and
writes directly, so nothing goes through numpy or a second CUDA binding.
`run` takes and returns CPU batches like every backend; `run_cuda` keeps both
ends on the GPU for a pipeline that overlaps copies with compute.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vidrestore.errors import BackendUnavailable, UsageError


class TensorRTBackend:
    name = "tensorrt"
    device = "cuda"

    def __init__(self, engine_path: Path, *, scale: int) -> None:
        try:
            import tensorrt as trt
        except ImportError:
            raise BackendUnavailable("TensorRT is not installed; pip install 'vidrestore[gpu]' on a machine with an NVIDIA GPU") from None
        if not torch.cuda.is_available():
            raise BackendUnavailable("the tensorrt backend needs a CUDA GPU, and PyTorch sees none on this machine")
        self.scale = scale
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self._engine is None:
            raise BackendUnavailable(
                f"TensorRT {trt.__version__} cannot load {engine_path} (built by another version or for another GPU?); "
                "delete it and it is rebuilt"
            )
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise UsageError(f"{engine_path} has inputs {inputs} and outputs {outputs}; expected one of each")
        self._input, self._output = inputs[0], outputs[0]
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.BF16: torch.bfloat16}
        try:
            self._in_dtype = dtypes[self._engine.get_tensor_dtype(self._input)]
            self._out_dtype = dtypes[self._engine.get_tensor_dtype(self._output)]
        except KeyError as e:
            raise UsageError(f"{engine_path} has a tensor of type {e.args[0]}; expected float32, float16 or bfloat16") from None
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream()

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """CPU batch in, float32 CPU batch out."""
        host = batch.contiguous()
        if not host.is_pinned():
            host = host.pin_memory()  # lets the upload below run asynchronously
        out = self.run_cuda(host.to("cuda", non_blocking=True))
        self._stream.synchronize()
        return out.float().cpu()

    def run_cuda(self, batch: torch.Tensor) -> torch.Tensor:
        """CUDA batch in, CUDA batch out (the engine's output dtype), ordered on the caller's stream."""
        if not batch.is_cuda:
            raise ValueError("run_cuda takes a CUDA tensor; use run for CPU batches")
        caller = torch.cuda.current_stream(batch.device)
        x = batch.to(self._in_dtype).contiguous()
        if not self._context.set_input_shape(self._input, tuple(x.shape)):
            lo, _, hi = self._engine.get_tensor_profile_shape(self._input, 0)
            raise UsageError(
                f"batch shape {tuple(x.shape)} is outside the engine's range {tuple(lo)}..{tuple(hi)}; "
                "build the engine for this video size and batch"
            )
        out = torch.empty(tuple(self._context.get_tensor_shape(self._output)), dtype=self._out_dtype, device=x.device)
        if out.shape[-2:] != (x.shape[-2] * self.scale, x.shape[-1] * self.scale):
            raise UsageError(f"the engine maps {tuple(x.shape)} to {tuple(out.shape)}, which is not x{self.scale}")
        self._context.set_tensor_address(self._input, x.data_ptr())
        self._context.set_tensor_address(self._output, out.data_ptr())
        # TensorRT's stream waits for whatever produced the input; the caller's
        # stream then waits for TensorRT, so `out` is ready for anything queued after.
        self._stream.wait_stream(caller)
        x.record_stream(self._stream)  # the allocator must not hand x's memory out before the engine has read it
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise RuntimeError("TensorRT failed to enqueue the engine; its messages above say why")
        caller.wait_stream(self._stream)
        return out

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        """A CUDA batch in, float32 CUDA batch out, ordered on the caller's stream."""
        return self.run_cuda(batch).float()


def require_tensorrt() -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise BackendUnavailable("TensorRT is not installed: pip install 'vidrestore[gpu]' on a machine "
                                 "with an NVIDIA GPU") from None
    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU, and PyTorch sees none on this machine")


class LazyTensorRT:
    """The `tensorrt` backend as `open_backend` makes it: the engine is built (or
    taken from the engine cache) at the first batch, when the frame size and
    batch are known, for an optimisation profile from 1x1 up to that batch
    and size. Later batches at other sizes (tiles after an out-of-memory
    retry) fit the profile; larger ones are refused by the engine."""

    name = "tensorrt"
    device = "cuda"

    def __init__(self, model, options) -> None:  # model: models.LoadedModel, options: BackendOptions
        require_tensorrt()
        if options.precision == "bf16":
            raise UsageError("--backend tensorrt builds fp32 or fp16 engines; bf16 is for --backend torch")
        self.model, self.precision = model, options.precision
        self.engine: TensorRTBackend | None = None
        self.scale = model.scale

    def _build(self, batch: torch.Tensor) -> TensorRTBackend:
        import sys
        import tempfile

        from vidrestore.export.cache import CacheFolder
        from vidrestore.export.onnx import cached_onnx
        from vidrestore.export.tensorrt import build_engine, engine_cache_dir, spec_for

        n, c, h, w = batch.shape
        data, onnx_path = cached_onnx(self.model, fp16=self.precision == "fp16")
        engines = engine_cache_dir()
        # Without a usable cache (unsafe or unwritable; already warned about) the graph
        # and the engine go to a private temporary folder, gone once the engine is loaded.
        with tempfile.TemporaryDirectory(prefix="vidrestore-tensorrt-") as scratch:
            if onnx_path is None:
                onnx_path = Path(scratch) / "model.onnx"
                onnx_path.write_bytes(data)
            if not CacheFolder(engines).usable():
                engines = Path(scratch)
            engine = build_engine(onnx_path, spec_for(onnx_path, c, w, h, n, self.precision), cache_dir=engines,
                                  progress=lambda line: print(line, file=sys.stderr, flush=True))
            return TensorRTBackend(engine, scale=self.scale)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        if self.engine is None:
            self.engine = self._build(batch)
        return self.engine.run(batch)

    def run_cuda(self, batch: torch.Tensor) -> torch.Tensor:
        if self.engine is None:
            self.engine = self._build(batch)
        return self.engine.run_cuda(batch)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        return self.run_cuda(batch).float()
