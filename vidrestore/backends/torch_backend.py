"""PyTorch inference on CPU or CUDA, eager or compiled.

On CUDA the model runs in fp16 or bf16 when asked (the weights converted, not
autocast: fewer casts per layer) and in channels-last layout, which lets cuDNN
pick its tensor-core convolutions.

`compile=True` (the `torch-compile` backend) hands the model to
`torch.compile` with static shapes: Inductor fuses the elementwise work into
the convolutions' neighbours on both devices, and on CUDA its
"reduce-overhead" mode records the whole forward pass as a CUDA graph and
replays it, so a small model such as ESPCN is no longer bound by kernel
launches. A video has one frame size, so one compilation serves the whole
run; the last, shorter batch is padded to the batch size instead of
compiling again. The first batch pays for the compilation (seconds to a
minute).
"""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.backends.base import Device, Precision, resolve_device
from vidrestore.errors import UsageError
from vidrestore.models import LoadedModel

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    def __init__(self, model: LoadedModel, *, device: Device = "auto", precision: Precision = "fp32", compile: bool = False) -> None:
        """Takes `model.module` over: it is moved to the device and precision, its parameters frozen."""
        self.device = resolve_device(device)
        self.loaded = model
        if self.device == "cpu" and precision == "fp16":
            raise UsageError("fp16 needs a GPU; on a CPU use --precision fp32 (or bf16)")
        self.name = "torch-compile" if compile else "torch"
        self.dtype = DTYPES[precision]
        self.model: nn.Module = model.module.eval().to(self.device, self.dtype)
        self.channels_last = self.device == "cuda"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.compiled = None
        self._shape: tuple[int, ...] | None = None  # the batch shape compiled for
        if compile:
            from vidrestore.ops.resize import prepare_for_compile

            prepare_for_compile()  # the resamplers' numpy weights are called, not traced
            mode = "reduce-overhead" if self.device == "cuda" else None  # reduce-overhead: CUDA graphs
            self.compiled = torch.compile(self.model, mode=mode, dynamic=False, fullgraph=False)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        """The batch on the backend's device in, the result there out (float32)."""
        x = batch.to(self.device, self.dtype, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.compiled is not None:
            return self._run_compiled(x)
        with torch.inference_mode():
            return self.model(x).float()

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return self.run_device(batch).cpu()

    def _run_compiled(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self._shape is None or self._shape[1:] != tuple(x.shape[1:]) or n > self._shape[0]:
            self._shape = tuple(x.shape)  # a new size compiles again (tiles after an out-of-memory retry)
        elif n < self._shape[0]:  # the last batch: repeat its last frame rather than compile for n
            x = torch.cat([x, x[-1:].expand(self._shape[0] - n, *x.shape[1:])])
        # Dynamo traces outside inference mode (its guards reject inference tensors made
        # while tracing); no_grad keeps autograd out of it all the same.
        with torch.inference_mode(False), torch.no_grad():
            if self.device == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            out = self.compiled(x)[:n]
            # A CUDA graph's output lives in memory the next replay overwrites: copy it out.
            return out.float().clone() if self.device == "cuda" else out.float()
